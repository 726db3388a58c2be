// Typed wrappers over Transport.call for every method of Go's app.UI (and
// the App methods the screens use), and typed event subscriptions. Screens
// and the data layer call these, never transport.call with a string.

import type { ConnectionStatus, Transport } from './transport';
import type {
  AppendResult,
  AppliedEvent,
  Audit,
  Change,
  Check,
  Conflict,
  ConflictEvent,
  ConflictFilter,
  History,
  Info,
  KeepBothResult,
  MirrorPage,
  PendingIDs,
  Progress,
  RecordRef,
  RecordsPage,
  RefResult,
  ReferenceOptions,
  ReferencePage,
  ResolveChoice,
  ResolveManyResult,
  ResolveManyTake,
  ScheduleText,
  SetPasswordResult,
  Settings,
  SettingsValues,
  Status,
  StoreRecord,
  SyncReport,
} from './types';

/** Go refuses more changes than this in one Accept call. */
export const MAX_ACCEPT = 1000;

/** The Go methods of app.UI, typed. Every method rejects with a TransportError. */
export interface Api {
  /** Device, author, Go's last HLC version, collections, Drill and schedule. */
  info(): Promise<Info>;
  /** Appends changes to the journal, idempotent by change_id (at most MAX_ACCEPT). */
  accept(changes: Change[]): Promise<AppendResult>;
  /** Mirror entries after mseq `after`, at most limit of them. */
  mirrorSince(after: number, limit: number): Promise<MirrorPage>;
  /** One page of a collection's records, from cursor after ('' for the first). */
  records(collection: string, after: string, limit: number): Promise<RecordsPage>;
  /** One record as Go holds it. */
  record(collection: string, id: string): Promise<StoreRecord>;
  /** A record's changes (ascending version) and resolution audit. */
  history(collection: string, id: string): Promise<History>;
  /** Records with local changes not yet in Drill. */
  pendingIDs(): Promise<PendingIDs[]>;
  status(): Promise<Status>;
  /** Runs a sync now and reports what it did. */
  syncNow(): Promise<SyncReport>;
  /** A page of a reference collection's rows whose key or values hold search. */
  referenceRows(collection: string, search: string, after: string, limit: number): Promise<ReferencePage>;
  /** The values a form field with options_from offers. */
  referenceOptions(collection: string, field: string): Promise<ReferenceOptions>;
  /** Checks every reference collection against Drill now. */
  pullReferences(): Promise<RefResult[]>;
  conflicts(filter: ConflictFilter): Promise<Conflict[]>;
  conflict(collection: string, id: string): Promise<Conflict>;
  /** The conflicts merge rules settled by themselves, newest first (at most limit; 0 = a screenful). */
  settledByRules(limit: number): Promise<Audit[]>;
  /** Resolves one conflict; the data layer catches up afterwards. */
  resolve(collection: string, id: string, choice: ResolveChoice): Promise<Change>;
  /** Keeps the winner; the other leaf becomes a new record. */
  keepBoth(collection: string, id: string): Promise<KeepBothResult>;
  resolveMany(items: RecordRef[], take: ResolveManyTake): Promise<ResolveManyResult>;
  settings(): Promise<Settings>;
  saveSettings(s: SettingsValues): Promise<Settings>;
  setPassword(password: string): Promise<SetPasswordResult>;
  testConnection(s: SettingsValues): Promise<Check[]>;
  describeSchedule(spec: string): Promise<ScheduleText>;
  /** The running fieldsync version (App.Version). */
  version(): Promise<string>;

  /** sync:status: after every state change of the agent. */
  onStatus(fn: (s: Status) => void): () => void;
  /** sync:progress: a push or pull phase advanced. */
  onProgress(fn: (p: Progress) => void): () => void;
  /** sync:applied: pulled changes are now in Go's mirror. */
  onApplied(fn: (e: AppliedEvent) => void): () => void;
  /** sync:conflict: a conflict appeared or changed. */
  onConflict(fn: (e: ConflictEvent) => void): () => void;
  /** reset (bridge only): events were missed; catch up. */
  onReset(fn: () => void): () => void;
  /** The event connection's state; reconnected means catch up now. */
  onConnection(fn: (status: ConnectionStatus, reconnected: boolean) => void): () => void;
  /** Which transport carries the calls. */
  readonly kind: Transport['kind'];
}

/** Returns the Api over t. */
export function createApi(t: Transport): Api {
  const ui = <T>(method: string, ...args: unknown[]) => t.call<T>(`UI.${method}`, ...args);
  // Event payloads are the first argument; the cast trusts Go's contract.
  const event =
    <T>(name: string) =>
    (fn: (payload: T) => void) =>
      t.on(name, (...data: unknown[]) => fn(data[0] as T));
  return {
    kind: t.kind,
    info: () => ui<Info>('Info'),
    accept: (changes) => ui<AppendResult>('Accept', changes),
    mirrorSince: (after, limit) => ui<MirrorPage>('MirrorSince', after, limit),
    records: (collection, after, limit) => ui<RecordsPage>('Records', collection, after, limit),
    record: (collection, id) => ui<StoreRecord>('Record', collection, id),
    history: (collection, id) => ui<History>('History', collection, id),
    pendingIDs: async () => (await ui<PendingIDs[] | null>('PendingIDs')) ?? [],
    status: () => ui<Status>('Status'),
    syncNow: () => ui<SyncReport>('SyncNow'),
    referenceRows: (collection, search, after, limit) => ui<ReferencePage>('ReferenceRows', collection, search, after, limit),
    referenceOptions: (collection, field) => ui<ReferenceOptions>('ReferenceOptions', collection, field),
    pullReferences: async () => (await ui<RefResult[] | null>('PullReferences')) ?? [],
    conflicts: async (filter) => (await ui<Conflict[] | null>('Conflicts', filter)) ?? [],
    conflict: (collection, id) => ui<Conflict>('Conflict', collection, id),
    settledByRules: async (limit) => (await ui<Audit[] | null>('SettledByRules', limit)) ?? [],
    resolve: (collection, id, choice) => ui<Change>('Resolve', collection, id, choice),
    keepBoth: (collection, id) => ui<KeepBothResult>('KeepBoth', collection, id),
    resolveMany: (items, take) => ui<ResolveManyResult>('ResolveMany', items, take),
    settings: () => ui<Settings>('Settings'),
    saveSettings: (s) => ui<Settings>('SaveSettings', s),
    setPassword: (password) => ui<SetPasswordResult>('SetPassword', password),
    testConnection: async (s) => (await ui<Check[] | null>('TestConnection', s)) ?? [],
    describeSchedule: (spec) => ui<ScheduleText>('DescribeSchedule', spec),
    version: () => t.version(),
    onStatus: event<Status>('sync:status'),
    onProgress: event<Progress>('sync:progress'),
    onApplied: event<AppliedEvent>('sync:applied'),
    onConflict: event<ConflictEvent>('sync:conflict'),
    onReset: (fn) => t.on('reset', () => fn()),
    onConnection: (fn) => t.onStatus(fn),
  };
}
