// Test helper (only *.test.ts import it): an in-memory stand-in for Go's
// app.UI behind a FakeTransport. Accept is idempotent by change_id like the
// bbolt journal; every applied change gets a mirror sequence; records keep
// leaves so concurrent edits show up as conflicts. Knobs let tests lose
// acknowledgements, reject changes, go offline and truncate the mirror.

import { FakeTransport } from './fakeTransport';
import { compareVersions } from '../lib/hlc';
import { NotConnectedError } from '../lib/transport';
import type { UICalls } from '../lib/contract.gen';
import type {
  AppendItem,
  AppendResult,
  Change,
  Collection,
  Info,
  MirrorEntry,
  MirrorPage,
  PendingIDs,
  RecordsPage,
  ResolveChoice,
  StoreRecord,
} from '../lib/types';

interface GoRecord {
  rec: StoreRecord;
  byVersion: Map<string, Change>;
}

/** An in-memory Go side of the UI contract. */
export class FakeGo {
  readonly transport = new FakeTransport();
  /** Every change appended, in journal order (seq = index + 1). */
  readonly journal: Change[] = [];
  readonly mirror: MirrorEntry[] = [];
  /** Accept calls: how many changes each carried. */
  readonly acceptSizes: number[] = [];
  /** Mirror entries with mseq <= this are forgotten (MirrorSince reports truncated). */
  truncatedBelow = 0;
  /** The next n Accept calls apply the changes but the answer is lost. */
  loseAcks = 0;
  /** While true, every call fails as if Go were unreachable. */
  offline = false;
  /** Returns a reason to reject a change, or undefined to accept it. */
  reject: (c: Change) => string | undefined = () => undefined;
  /** Record ids Go reports as pending (not in Drill); undefined: every record with local origin. */
  pending: PendingIDs[] | undefined;
  readonly records = new Map<string, GoRecord>();
  readonly collections: Collection[];
  readonly device: string;
  private seq = 0;
  private mseq = 0;

  constructor(opts: { device?: string; collections?: string[] } = {}) {
    this.device = opts.device ?? 'dev1';
    this.collections = (opts.collections ?? ['trees']).map((name) => ({
      name,
      fields: [{ name: 'name', type: 'text' as const }],
    }));
    const h = this.transport.handlers;
    // Each handler is a call of Go's UI with as many arguments as the Go
    // method takes (contract.gen.ts): a renamed or reshaped call fails the
    // typecheck here too.
    const handle = <M extends keyof UICalls, A extends unknown[] & { length: UICalls[M]['args']['length'] }, R>(
      method: M,
      fn: (...args: A) => R,
    ): void => {
      h[`UI.${method}`] = (...args: unknown[]): R => {
        if (this.offline) throw new NotConnectedError(`UI.${method}`, 'fieldsync is not answering');
        return fn(...(args as A)); // the contract's argument types
      };
    };
    handle('Info', () => this.info());
    handle('Accept', (changes: Change[]) => this.accept(changes));
    handle('MirrorSince', (after: number, limit: number) => this.mirrorSince(after, limit));
    handle('Records', (c: string, after: string, limit: number) => this.recordsPage(c, after, limit));
    handle('Record', (c: string, id: string) => {
      const r = this.records.get(`${c}/${id}`);
      if (!r) throw new Error(`record ${id} of ${c} not found`);
      return r.rec;
    });
    handle('PendingIDs', () => this.pendingIDs());
    handle('Resolve', (c: string, id: string, choice: ResolveChoice) => this.resolve(c, id, choice));
  }

  info(): Info {
    return {
      device: this.device,
      author: 'ana',
      version: 'test',
      hlc: this.lastVersion(),
      collections: this.collections,
      drill: { configured: false, urls: [], workspace: '' },
      schedule: '',
      schedule_text: '',
      demo: false,
    };
  }

  lastVersion(): string {
    let last = '';
    for (const c of this.journal) if (compareVersions(c.version, last) > 0) last = c.version;
    return last;
  }

  /** Journal entries of one change id (the no-duplicate proof counts them). */
  count(changeId: string): number {
    return this.journal.filter((c) => c.change_id === changeId).length;
  }

  accept(changes: Change[]): AppendResult {
    this.acceptSizes.push(changes.length);
    if (changes.length > 1000) throw new Error('accept: more than 1000 changes');
    const results: AppendItem[] = [];
    let accepted = 0;
    let duplicates = 0;
    let rejected = 0;
    for (const c of changes) {
      if (this.journal.some((j) => j.change_id === c.change_id)) {
        results.push({ change_id: c.change_id, outcome: 'duplicate' });
        duplicates++;
        continue;
      }
      const reason = this.reject(c);
      if (reason) {
        results.push({ change_id: c.change_id, outcome: 'rejected', reason });
        rejected++;
        continue;
      }
      const entry = this.apply(c, 'local');
      results.push({ change_id: c.change_id, outcome: 'accepted', seq: this.seq, mseq: entry.mseq, conflicted: entry.conflicted });
      accepted++;
    }
    if (this.loseAcks > 0) {
      this.loseAcks--;
      throw new NotConnectedError('UI.Accept', 'the connection broke before the answer arrived');
    }
    return { results, accepted, duplicates, rejected };
  }

  /** Applies a change pulled from Drill (another device's edit). */
  remote(c: Change): MirrorEntry {
    return this.apply(c, 'remote');
  }

  private apply(c: Change, origin: 'local' | 'remote'): MirrorEntry {
    this.seq++;
    this.journal.push(c);
    const key = `${c.collection}/${c.record_id}`;
    let r = this.records.get(key);
    const leaves = r ? r.rec.leaves.filter((l) => !c.parents.includes(l)) : [];
    leaves.push(c.version);
    leaves.sort();
    const winner = leaves[leaves.length - 1] ?? c.version;
    if (!r) {
      r = { rec: {} as StoreRecord, byVersion: new Map() };
      this.records.set(key, r);
    }
    r.byVersion.set(c.version, c);
    const w = r.byVersion.get(winner) ?? c;
    const rec: StoreRecord = {
      collection: c.collection,
      record_id: c.record_id,
      version: w.version,
      change_id: w.change_id,
      deleted: w.op === 'delete',
      device: w.device,
      edited_at: w.edited_at,
      leaves,
      mseq: ++this.mseq,
      pending: origin === 'local',
    };
    if (w.doc && w.op === 'put') rec.doc = w.doc;
    r.rec = rec;
    const entry: MirrorEntry = {
      mseq: this.mseq,
      origin,
      change: c,
      winner,
      deleted: rec.deleted,
      conflicted: leaves.length > 1,
    };
    this.mirror.push(entry);
    return entry;
  }

  mirrorSince(after: number, limit: number): MirrorPage {
    const first = this.truncatedBelow + 1;
    const entries = this.mirror.filter((e) => e.mseq > after && e.mseq > this.truncatedBelow).slice(0, limit);
    return { entries, last_mseq: this.mseq, first_mseq: first, truncated: after + 1 < first };
  }

  recordsPage(collection: string, after: string, limit: number): RecordsPage {
    const all = [...this.records.values()]
      .map((r) => r.rec)
      .filter((r) => r.collection === collection)
      .sort((a, b) => (a.record_id < b.record_id ? -1 : 1));
    const rest = all.filter((r) => r.record_id > after);
    const page = rest.slice(0, limit);
    const next = rest.length > limit ? (page[page.length - 1]?.record_id ?? '') : '';
    return { records: page, next, total: all.length };
  }

  pendingIDs(): PendingIDs[] {
    if (this.pending) return this.pending;
    const by = new Map<string, string[]>();
    for (const r of this.records.values()) {
      if (!r.rec.pending) continue;
      const l = by.get(r.rec.collection) ?? [];
      l.push(r.rec.record_id);
      by.set(r.rec.collection, l);
    }
    return [...by].map(([collection, record_ids]) => ({ collection, record_ids }));
  }

  /** Resolves a conflict the way Go does: a new change whose parents are every leaf. */
  resolve(collection: string, id: string, choice: ResolveChoice): Change {
    const r = this.records.get(`${collection}/${id}`);
    if (!r || r.rec.leaves.length < 2) throw new Error(`resolve: ${id} is not in conflict`);
    const top = r.rec.leaves[r.rec.leaves.length - 1] ?? '';
    const wall = Number(top.slice(0, 15)) + 1;
    const c: Change = {
      change_id: `go${String(this.seq).padStart(30, '0')}`,
      collection,
      record_id: id,
      op: 'put',
      doc: choice.doc ?? r.byVersion.get(choice.version ?? r.rec.version)?.doc ?? {},
      version: `${String(wall).padStart(15, '0')}-0000-${this.device}`,
      parents: [...r.rec.leaves],
      device: this.device,
      edited_at: wall,
    };
    this.apply(c, 'local');
    return c;
  }

  /** Marks every record as pushed to Drill. */
  pushAll(): void {
    for (const r of this.records.values()) r.rec = { ...r.rec, pending: false };
  }
}
