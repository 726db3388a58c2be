// Shapes exchanged with Go. They mirror app/selfcheck.go; keep the JSON
// names in step with the Go struct tags.

/** The result of one start-up check run in the webview. */
export interface CheckOutcome {
  ok: boolean;
  /** Set only when ok is false: the failure, written for people. */
  error?: string;
}

/** What the frontend reports to Go after its start-up self-check. */
export interface SelfCheckResult {
  indexedDB: CheckOutcome;
  binding: CheckOutcome;
  userAgent: string;
  durationMs: number;
}

// ---------------------------------------------------------------------------
// The UI contract (issue 4, app.UI). JSON names follow the Go struct tags.

/** A JSON document: the fields of one record. */
export type Doc = Record<string, unknown>;

/** What a change does to its record. */
export type Op = 'put' | 'delete';

/** One edit of one record (store.Change). */
export interface Change {
  /** 32 lowercase hex characters, unique across devices. */
  change_id: string;
  collection: string;
  record_id: string;
  op: Op;
  /** The whole document after a put; absent for a delete. */
  doc?: Doc;
  /** HLC text form WWWWWWWWWWWWWWW-CCCC-node. */
  version: string;
  /** The versions the edit was made from; empty for a create. */
  parents: string[];
  device: string;
  author?: string;
  /** Epoch milliseconds. */
  edited_at: number;
  /** Set on a conflict resolution only: how it was resolved (its audit entry, which travels with it). */
  resolution?: Resolution | null;
}

/** How a conflict was resolved (store.Resolution); who, when and where are the change's author, edited_at and device. */
export interface Resolution {
  /** A person's take (device, server, merge, version, newest) or what a policy did (lww, rules, …). */
  how: string;
  /** The leaf version kept whole, when one was. */
  chosen?: string;
  /** The version shown while the conflict was open. */
  winner_before?: string;
  note?: string;
  /** Field → the merge rule that decided it. */
  rules?: Record<string, string>;
}

/** A record as the Go store holds it. */
export interface StoreRecord {
  collection: string;
  record_id: string;
  doc?: Doc;
  version: string;
  change_id: string;
  deleted: boolean;
  device: string;
  author?: string;
  edited_at: number;
  /** More than one leaf means the record is in conflict. */
  leaves: string[];
  mseq: number;
  last_seq?: number;
  /** The record has local changes not yet in Drill. */
  pending: boolean;
}

/** A conflict: a record with more than one leaf version. */
export interface Conflict {
  collection: string;
  record_id: string;
  leaves: Change[];
  ancestor?: Change;
  missing?: string[];
  winner: string;
  detected_at: number;
  updated_at: number;
  note?: string;
}

/** What Go did with one change handed to Accept. */
export type AppendOutcome = 'accepted' | 'duplicate' | 'rejected';

/** The answer for one change of an Accept call. */
export interface AppendItem {
  change_id: string;
  outcome: AppendOutcome;
  seq?: number;
  mseq?: number;
  conflicted?: boolean;
  /** Why the change was rejected, for people. */
  reason?: string;
}

/** The answer of UI.Accept. */
export interface AppendResult {
  results: AppendItem[];
  accepted: number;
  duplicates: number;
  rejected: number;
}

/** One change applied to Go's mirror, in mirror-sequence order. */
export interface MirrorEntry {
  mseq: number;
  origin: 'local' | 'remote';
  batch?: string;
  change: Change;
  /** The record's winning version after this change was applied. */
  winner: string;
  /** Whether the record is deleted after this change. */
  deleted: boolean;
  conflicted: boolean;
}

/** The answer of UI.MirrorSince. */
export interface MirrorPage {
  entries: MirrorEntry[];
  last_mseq: number;
  first_mseq: number;
  /** `after` is older than what Go keeps: rebuild from UI.Records. */
  truncated: boolean;
}

/** The answer of UI.Records. */
export interface RecordsPage {
  records: StoreRecord[];
  /** Cursor for the next page; '' after the last one. */
  next: string;
  total: number;
}

/** The type of a declared field. */
export type FieldType = 'text' | 'number' | 'integer' | 'boolean' | 'enum' | 'datetime' | 'note' | 'list';

/** A field whose value must be a value of a reference collection's field (a site from the site list). */
export interface OptionsFrom {
  collection: string;
  field: string;
}

/** One declared field of a collection. Datetime values are epoch ms numbers; list values arrays of texts. */
export interface Field {
  name: string;
  label?: string;
  type: FieldType;
  required?: boolean;
  options?: string[];
  options_from?: OptionsFrom | null;
}

/** How concurrent edits of one field merge when a conflict is settled automatically. */
export type MergeRule = 'newest' | 'higher' | 'lower' | 'device' | 'server' | 'join' | 'union';

/** Where a reference collection's read-only rows come from in Drill. */
export interface Reference {
  query?: string;
  table?: string;
  /** The source column whose value is the record id. */
  key: string;
  /** Source column → field. */
  map?: Record<string, string>;
  /** Cron spec of the reference pull (default hourly). */
  schedule?: string;
}

/** A collection declaration. */
export interface Collection {
  name: string;
  label?: string;
  policy?: string;
  /** The field whose value names a record for people (a text or enum field). */
  title?: string;
  fields: Field[];
  /** Field name → merge rule. */
  rules?: Record<string, MergeRule>;
  /** Set for a read-only reference collection. */
  reference?: Reference | null;
}

/** Where the Drillbit is. */
export interface DrillInfo {
  configured: boolean;
  urls: string[];
  workspace: string;
}

/** The answer of UI.Info. */
export interface Info {
  device: string;
  author: string;
  version: string;
  /** Go's last HLC version; the UI clock starts after it. */
  hlc: string;
  collections: Collection[];
  drill: DrillInfo;
  schedule: string;
  schedule_text: string;
  /** The data dir holds the example records `make run` seeds: the header says "Demo data". */
  demo: boolean;
}

/** Sync phases reported in progress. */
export type SyncPhase = 'push' | 'pull';

/** Progress of a sync phase. */
export interface Progress {
  phase: SyncPhase | '';
  done: number;
  total: number;
}

/** The state of the sync agent. */
export type SyncStateName = 'idle' | 'pushing' | 'pulling' | 'offline' | 'error';

/** The answer of UI.Status and the payload of sync:status. */
export interface Status {
  state: SyncStateName;
  device: string;
  pending: number;
  conflicts: number;
  /** RFC 3339. */
  last_success?: string;
  last_error?: string;
  cause?: string;
  failures: number;
  /** RFC 3339. */
  next_run?: string;
  progress: Progress;
  /** How many changes can never be written to Drill (they stay in the journal). */
  unpushable?: number;
  /** Why, in plain words. */
  unpushable_reason?: string;
  /** Pulled rows and batches kept out of the store (never applied). */
  quarantined: number;
  /** Why, for the newest few, in plain words. */
  quarantine_reasons?: string[];
  /** Pulled batches not read completely yet, read again with backoff. */
  pull_retries?: number;
  /** This computer's clock minus Drill's, in ms, at clock_checked_at. */
  clock_skew_ms: number;
  /** RFC 3339. */
  clock_checked_at?: string;
  /** Plain words when this computer's clock is off; absent when it is fine. */
  clock_warning?: string;
}

/** One change of a record's history as the resolution audit holds it. */
export interface Audit {
  seq: number;
  /** Epoch ms. */
  at: number;
  collection: string;
  record_id: string;
  author: string;
  device: string;
  take: string;
  chosen_version?: string;
  resolution_version: string;
  leaves: string[];
  note?: string;
  /** For a resolution made by merge rules (take "rules"): the rule that decided each field. */
  rules?: Record<string, string>;
  /** Resolved on another device (`device`) and pulled with its change. */
  remote?: boolean;
}

/** The answer of UI.History. */
export interface History {
  /** Ascending version. */
  changes: Change[];
  audit: Audit[];
}

/** Records of one collection with local changes not yet in Drill. */
export interface PendingIDs {
  collection: string;
  record_ids: string[];
}

/** The answer of UI.SyncNow. */
export interface SyncReport {
  pushed: number;
  batches: number;
  pulled: number;
  pulled_batches: number;
  /** Batches not read completely; read again later with backoff. */
  incomplete: number;
  /** Batches waiting to be read again, not due yet. */
  waiting: number;
  /** Pulled rows and batches newly quarantined by this sync. */
  quarantined: number;
  conflicts: number;
  auto_resolved: number;
  /** Analyst views in Drill refreshed by this sync. */
  views_refreshed: number;
  /** Why the views could not be refreshed, when they could not. */
  views_error?: string;
  /** Change ids that cannot be written, with why; Go may send null. */
  unpushable: string[] | null;
  /** Epoch milliseconds. */
  started_at: number;
  /** Epoch milliseconds. */
  finished_at: number;
  /** Reference collections checked in this sync. */
  references?: RefResult[];
}

/** One reference collection checked against Drill. */
export interface RefResult {
  collection: string;
  /** Drill's fingerprint matched: no row was read. */
  unchanged: boolean;
  rows_read: number;
  added: number;
  changed: number;
  removed: number;
  /** Source rows that could not be mapped (kept as they were). */
  row_errors: number;
  error?: string;
}

/** One row of a reference collection. */
export interface RefRow {
  record_id: string;
  doc: Doc;
}

/** The answer of UI.ReferenceRows. */
export interface ReferencePage {
  rows: RefRow[];
  next: string;
  total: number;
  /** False until the first pull worked. */
  pulled: boolean;
  /** Epoch ms of the last check and the last change (0: never). */
  checked_at: number;
  changed_at: number;
  /** Source rows that could not be mapped, with why. */
  errors: string[];
  last_error?: string;
  /** When the collection is pulled, in words. */
  schedule: string;
}

/** The answer of UI.ReferenceOptions. */
export interface ReferenceOptions {
  values: string[];
  /** The list was cut. */
  more: boolean;
  /** False before the first pull: any value is accepted. */
  pulled: boolean;
}

/** Filter of UI.Conflicts. */
export interface ConflictFilter {
  collection?: string;
  device?: string;
  older_than_ms?: number;
}

/** How to resolve one conflict (UI.Resolve). */
export interface ResolveChoice {
  take: 'device' | 'server' | 'merge' | 'version';
  /** The leaf to keep when take is "version". */
  version?: string;
  /** The merged document when take is "merge". */
  doc?: Doc;
  /** Who resolves; empty means this device's author. */
  author?: string;
}

/** The answer of UI.KeepBoth. */
export interface KeepBothResult {
  kept: Change;
  /** The other leaf as a new record (new id). */
  copy: Change;
}

/** One conflict named by ResolveMany. */
export interface RecordRef {
  collection: string;
  record_id: string;
}

/** The policy ResolveMany applies. */
export type ResolveManyTake = 'device' | 'server' | 'newest';

/** The answer of UI.ResolveMany. */
export interface ResolveManyResult {
  resolved: number;
  failed: (RecordRef & { error: string })[];
}

/** How the Drillbit asks for credentials. */
export type AuthMode = 'none' | 'basic' | 'form';

/** The user's settings (config.json). */
export interface SettingsValues {
  drill_urls: string[];
  workspace: string;
  auth: AuthMode;
  user: string;
  ca_file: string;
  schedule: string;
  /** Collection declarations as configured. */
  collections: Collection[];
}

/** Where the Drill password is kept. */
export type PasswordStore = 'keyring' | 'file' | 'env' | 'none';

/** The answer of UI.Settings and UI.SaveSettings. */
export interface Settings {
  settings: SettingsValues;
  /** Keys that cannot be changed here (IT's managed file, a variable, a flag): shown read-only. */
  locked: string[];
  /** For each locked key, where its value comes from in plain words. */
  locked_by: Record<string, string>;
  password: PasswordStore;
  schedule_text: string;
  /** The config file the settings are saved to. */
  file: string;
}

/** The answer of UI.SetPassword. */
export interface SetPasswordResult {
  stored_in: 'keyring' | 'file';
}

/** One check of UI.TestConnection. */
export interface Check {
  name: string;
  status: 'ok' | 'warn' | 'fail';
  detail: string;
  hint?: string;
}

/** The answer of UI.DescribeSchedule. */
export interface ScheduleText {
  text: string;
  error?: string;
}

/** Payload of the sync:applied event. */
export interface AppliedEvent {
  collection: string;
  batch: string;
  changes: { mseq: number; conflicted: boolean; change: Change }[];
}

/** Payload of the sync:conflict event. */
export type ConflictEvent = RecordRef;
