// Test fixtures for the screens (imported by *.test.ts only): a collection
// declaration, conflicts, and a FakeApi that records calls.

import type {
  Api,
  Audit,
  Change,
  Check,
  Collection,
  Conflict,
  ConflictFilter,
  History,
  Info,
  Progress,
  RecordRef,
  RefRow,
  ReferencePage,
  Report,
  SettingsValues,
  SettingsView,
  Status,
} from '../lib/ui/ports';

/** inspections is a collection using every field type. */
export const inspections: Collection = {
  name: 'inspections',
  label: 'Inspections',
  fields: [
    { name: 'site', label: 'Site', type: 'text', required: true },
    { name: 'status', label: 'Status', type: 'enum', required: true, options: ['open', 'closed', 'follow-up'] },
    { name: 'score', label: 'Score', type: 'integer' },
    { name: 'temperature', label: 'Temperature', type: 'number' },
    { name: 'safe', label: 'Safe', type: 'boolean' },
    { name: 'visited_at', label: 'Visited at', type: 'datetime' },
    { name: 'notes', label: 'Notes', type: 'note' },
  ],
};

export const T0 = Date.UTC(2026, 10, 20, 9, 30);

export function change(p: Partial<Change> & Pick<Change, 'version' | 'device'>): Change {
  return {
    change_id: p.version.padEnd(32, '0').slice(0, 32),
    collection: 'inspections',
    record_id: 'r1',
    op: 'put',
    parents: [],
    edited_at: T0,
    ...p,
  };
}

/** conflictR1 has two versions from two devices and a common ancestor. */
export function conflictR1(): Conflict {
  const ancestor = change({
    version: '000000000000001-0000-tab-1',
    device: 'tab-1',
    author: 'ana',
    doc: { site: 'North well', status: 'open', score: 3, notes: 'first visit' },
  });
  return {
    collection: 'inspections',
    record_id: 'r1',
    ancestor,
    leaves: [
      change({
        version: '000000000000002-0000-tab-1',
        device: 'tab-1',
        author: 'ana',
        parents: [ancestor.version],
        edited_at: T0 + 60_000,
        doc: { site: 'North well', status: 'closed', score: 3, notes: 'first visit' },
      }),
      change({
        version: '000000000000003-0000-tab-2',
        device: 'tab-2',
        author: 'ben',
        parents: [ancestor.version],
        edited_at: T0 + 120_000,
        doc: { site: 'North well B', status: 'open', score: 4, notes: 'first visit' },
      }),
    ],
    winner: '000000000000003-0000-tab-2',
    detected_at: T0 + 180_000,
    updated_at: T0 + 180_000,
  };
}

export const baseSettings: SettingsValues = {
  drill_urls: ['http://drill.example:8047'],
  workspace: 'dfs.fieldsync',
  auth: 'form',
  user: 'ana',
  ca_file: '',
  schedule: '@every 5m',
  collections: [inspections],
};

/** FakeApi answers from fields the test sets and records every call. */
export class FakeApi implements Api {
  calls: { method: string; args: unknown[] }[] = [];
  info_: Info = {
    device: 'tab-1',
    author: 'ana',
    version: 'test',
    hlc: '',
    collections: [inspections],
    drill: { configured: true, urls: ['http://drill.example:8047'], workspace: 'dfs.fieldsync' },
    schedule: '@every 5m',
    schedule_text: 'every 5 minutes',
    demo: false,
  };
  status_: Status = {
    state: 'idle',
    device: 'tab-1',
    pending: 0,
    conflicts: 0,
    failures: 0,
    quarantined: 0,
    clock_skew_ms: 0,
    progress: { phase: '', done: 0, total: 0 },
  };
  conflicts_: Conflict[] = [conflictR1()];
  settings_: SettingsView = {
    settings: baseSettings,
    locked: [],
    locked_by: {},
    password: 'keyring',
    schedule_text: 'every 5 minutes',
    file: '/home/ana/.config/fieldsync/config.json',
  };
  checks_: Check[] = [];
  schedules: Record<string, { text: string; error?: string }> = {
    '@every 5m': { text: 'every 5 minutes' },
    '*/15 * * * *': { text: 'every 15 minutes' },
  };
  history_: History = { changes: [], audit: [] };
  /** What settledByRules answers (newest first, as Go lists them). */
  settled_: Audit[] = [];
  /** Reference rows by collection, as Go would list them. */
  refs_: Record<string, RefRow[]> = {};
  private readonly listeners = new Map<string, Set<(p: never) => void>>();

  private rec<T>(method: string, args: unknown[], value: T): Promise<T> {
    this.calls.push({ method, args });
    return Promise.resolve(structuredClone(value));
  }

  /** callsOf lists the arguments of every call of method. */
  callsOf(method: string): unknown[][] {
    return this.calls.filter((c) => c.method === method).map((c) => c.args);
  }

  info() {
    return this.rec('info', [], this.info_);
  }
  status() {
    return this.rec('status', [], this.status_);
  }
  syncNow(): Promise<Report> {
    return this.rec<Report>('syncNow', [], {
      pushed: 0,
      batches: 0,
      pulled: 0,
      pulled_batches: 0,
      incomplete: 0, waiting: 0, quarantined: 0,
      conflicts: 0,
      auto_resolved: 0,
      views_refreshed: 0,
      unpushable: [],
      started_at: 0,
      finished_at: 0,
    });
  }
  conflicts(filter: ConflictFilter) {
    const now = Date.now();
    const out = this.conflicts_.filter(
      (c) =>
        (!filter.collection || c.collection === filter.collection) &&
        (!filter.device || c.leaves.some((l) => l.device === filter.device)) &&
        (!filter.older_than_ms || now - c.detected_at >= filter.older_than_ms),
    );
    return this.rec('conflicts', [filter], out);
  }
  conflict(collection: string, id: string) {
    const c = this.conflicts_.find((x) => x.collection === collection && x.record_id === id);
    if (!c) return Promise.reject(new Error('no such conflict'));
    return this.rec('conflict', [collection, id], c);
  }
  settledByRules(limit: number) {
    return this.rec('settledByRules', [limit], limit > 0 ? this.settled_.slice(0, limit) : this.settled_);
  }
  resolve(collection: string, id: string, choice: Parameters<Api['resolve']>[2]) {
    this.conflicts_ = this.conflicts_.filter((x) => !(x.collection === collection && x.record_id === id));
    return this.rec('resolve', [collection, id, choice], change({ version: '000000000000009-0000-tab-1', device: 'tab-1' }));
  }
  keepBoth(collection: string, id: string) {
    const c = change({ version: '000000000000009-0000-tab-1', device: 'tab-1' });
    return this.rec('keepBoth', [collection, id], { kept: c, copy: { ...c, record_id: 'r1-copy' } });
  }
  resolveMany(items: RecordRef[], take: 'device' | 'server' | 'newest') {
    return this.rec('resolveMany', [items, take], { resolved: items.length, failed: [] });
  }
  history(collection: string, id: string) {
    return this.rec('history', [collection, id], this.history_);
  }
  settings() {
    return this.rec('settings', [], this.settings_);
  }
  saveSettings(s: SettingsValues) {
    this.settings_ = { ...this.settings_, settings: s };
    return this.rec('saveSettings', [s], this.settings_);
  }
  setPassword(password: string) {
    return this.rec('setPassword', [password], { stored_in: 'keyring' as const });
  }
  testConnection(s: SettingsValues) {
    return this.rec('testConnection', [s], this.checks_);
  }
  referenceRows(collection: string, search: string, after: string, limit: number) {
    const rows = (this.refs_[collection] ?? [])
      .filter((r) => r.record_id > after)
      .filter((r) => !search || JSON.stringify(r).toLowerCase().includes(search.toLowerCase()));
    const page: ReferencePage = {
      rows: rows.slice(0, limit),
      next: rows.length > limit ? (rows[limit - 1]?.record_id ?? '') : '',
      total: (this.refs_[collection] ?? []).length,
      pulled: collection in this.refs_,
      checked_at: T0,
      changed_at: T0,
      errors: [],
      schedule: 'every hour, on the hour',
    };
    return this.rec('referenceRows', [collection, search, after, limit], page);
  }
  referenceOptions(collection: string, field: string) {
    const values = [...new Set((this.refs_[collection] ?? []).map((r) => r.doc[field]).filter((v) => typeof v === 'string'))].sort();
    return this.rec('referenceOptions', [collection, field], { values, more: false, pulled: collection in this.refs_ });
  }
  pullReferences() {
    return this.rec('pullReferences', [], []);
  }
  describeSchedule(spec: string) {
    return this.rec('describeSchedule', [spec], this.schedules[spec] ?? { text: '', error: `cannot read "${spec}"` });
  }

  private on<T>(name: string, fn: (p: T) => void): () => void {
    let set = this.listeners.get(name);
    if (!set) this.listeners.set(name, (set = new Set()));
    set.add(fn as (p: never) => void);
    return () => set.delete(fn as (p: never) => void);
  }
  onStatus(fn: (s: Status) => void) {
    return this.on('sync:status', fn);
  }
  onProgress(fn: (p: Progress) => void) {
    return this.on('sync:progress', fn);
  }
  onConflict(fn: (e: RecordRef) => void) {
    return this.on('sync:conflict', fn);
  }
  onApplied(fn: (e: Parameters<Parameters<Api['onApplied']>[0]>[0]) => void) {
    return this.on('sync:applied', fn);
  }

  /** emit sends a Go event to the listeners. */
  emit(name: string, payload: unknown): void {
    for (const fn of this.listeners.get(name) ?? []) (fn as (p: unknown) => void)(payload);
  }
}
