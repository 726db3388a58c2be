// Code generated from the Go types of the UI contract (app/contract_test.go,
// `make contract`). DO NOT EDIT. lib/contract.check.ts checks the frontend's
// own types against these at compile time.

/** Go's store.AppendResult. */
export interface AppendResult {
  results: ChangeResult[];
  accepted: number;
  duplicates: number;
  rejected: number;
}

/** Go's service.Audit. */
export interface Audit {
  seq: number;
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
  rules?: Record<string, string>;
  remote?: boolean;
}

/** Go's store.Change. */
export interface Change {
  change_id: string;
  collection: string;
  record_id: string;
  op: string;
  doc?: unknown;
  version: string;
  parents: string[];
  device: string;
  author?: string;
  edited_at: number;
  resolution?: Resolution | null;
}

/** Go's store.ChangeResult. */
export interface ChangeResult {
  change_id: string;
  outcome: string;
  seq?: number;
  mseq?: number;
  conflicted?: boolean;
  reason?: string;
}

/** Go's service.Check. */
export interface Check {
  name: string;
  status: string;
  detail: string;
  hint?: string;
}

/** Go's app.CheckOutcome. */
export interface CheckOutcome {
  ok: boolean;
  error?: string;
}

/** Go's agent.Choice. */
export interface Choice {
  take: string;
  version?: string;
  doc?: unknown;
  author?: string;
}

/** Go's schema.Collection. */
export interface Collection {
  name: string;
  label?: string;
  policy?: string;
  title?: string;
  fields: Field[];
  rules?: Record<string, string>;
  reference?: Reference | null;
}

/** Go's store.Conflict. */
export interface Conflict {
  collection: string;
  record_id: string;
  leaves: Change[];
  ancestor?: Change | null;
  missing?: string[];
  winner: string;
  detected_at: number;
  updated_at: number;
  note?: string;
}

/** Go's service.ConflictFilter. */
export interface ConflictFilter {
  collection?: string;
  device?: string;
  older_than_ms?: number;
}

/** Go's service.DrillInfo. */
export interface DrillInfo {
  configured: boolean;
  urls: string[];
  workspace: string;
}

/** Go's schema.Field. */
export interface Field {
  name: string;
  label?: string;
  type: string;
  required?: boolean;
  options?: string[];
  options_from?: OptionsFrom | null;
}

/** Go's service.History. */
export interface History {
  changes: Change[];
  audit: Audit[];
}

/** Go's service.Info. */
export interface Info {
  device: string;
  author: string;
  version: string;
  hlc: string;
  collections: Collection[];
  drill: DrillInfo;
  schedule: string;
  schedule_text: string;
  demo: boolean;
}

/** Go's service.KeepBothResult. */
export interface KeepBothResult {
  kept: Change;
  copy: Change;
}

/** Go's store.MirrorEntry. */
export interface MirrorEntry {
  mseq: number;
  origin: string;
  batch?: string;
  change: Change;
  winner: string;
  deleted: boolean;
  conflicted: boolean;
}

/** Go's service.MirrorPage. */
export interface MirrorPage {
  entries: MirrorEntry[];
  last_mseq: number;
  first_mseq: number;
  truncated: boolean;
}

/** Go's schema.OptionsFrom. */
export interface OptionsFrom {
  collection: string;
  field: string;
}

/** Go's service.PasswordResult. */
export interface PasswordResult {
  stored_in: string;
}

/** Go's service.PendingRecords. */
export interface PendingRecords {
  collection: string;
  record_ids: string[];
}

/** Go's agent.Progress. */
export interface Progress {
  phase: string;
  done: number;
  total: number;
}

/** Go's service.RecordPage. */
export interface RecordPage {
  records: StoreRecord[];
  next: string;
  total: number;
}

/** Go's service.RecordRef. */
export interface RecordRef {
  collection: string;
  record_id: string;
}

/** Go's agent.RefResult. */
export interface RefResult {
  collection: string;
  unchanged: boolean;
  rows_read: number;
  added: number;
  changed: number;
  removed: number;
  row_errors: number;
  error?: string;
}

/** Go's store.RefRow. */
export interface RefRow {
  record_id: string;
  doc: unknown;
}

/** Go's schema.Reference. */
export interface Reference {
  query?: string;
  table?: string;
  key: string;
  map?: Record<string, string>;
  schedule?: string;
}

/** Go's service.ReferenceOptions. */
export interface ReferenceOptions {
  values: string[];
  more: boolean;
  pulled: boolean;
}

/** Go's service.ReferencePage. */
export interface ReferencePage {
  rows: RefRow[];
  next: string;
  total: number;
  pulled: boolean;
  checked_at: number;
  changed_at: number;
  errors: string[];
  last_error?: string;
  schedule: string;
}

/** Go's agent.Report. */
export interface Report {
  pushed: number;
  batches: number;
  pulled: number;
  pulled_batches: number;
  incomplete: number;
  waiting: number;
  quarantined: number;
  auto_resolved: number;
  conflicts: number;
  unpushable: string[];
  started_at: number;
  finished_at: number;
  views_refreshed: number;
  views_error?: string;
  references?: RefResult[];
}

/** Go's store.Resolution. */
export interface Resolution {
  how: string;
  chosen?: string;
  winner_before?: string;
  note?: string;
  rules?: Record<string, string>;
}

/** Go's service.ResolveFailure. */
export interface ResolveFailure {
  collection: string;
  record_id: string;
  error: string;
}

/** Go's service.ResolveManyResult. */
export interface ResolveManyResult {
  resolved: number;
  failed: ResolveFailure[];
}

/** Go's service.ScheduleText. */
export interface ScheduleText {
  text: string;
  error?: string;
}

/** Go's app.SelfCheckResult. */
export interface SelfCheckResult {
  indexedDB: CheckOutcome;
  binding: CheckOutcome;
  userAgent: string;
  durationMs: number;
}

/** Go's service.Settings. */
export interface Settings {
  drill_urls: string[];
  workspace: string;
  auth: string;
  user: string;
  ca_file: string;
  schedule: string;
  collections: string;
}

/** Go's service.SettingsView. */
export interface SettingsView {
  settings: Settings;
  locked: string[];
  locked_by: Record<string, string>;
  password: string;
  schedule_text: string;
  file: string;
}

/** Go's agent.Status. */
export interface Status {
  state: string;
  device: string;
  pending: number;
  conflicts: number;
  last_success?: string;
  last_error?: string;
  cause?: string;
  failures: number;
  next_run?: string;
  progress: Progress;
  unpushable?: number;
  unpushable_reason?: string;
  quarantined: number;
  quarantine_reasons?: string[];
  pull_retries?: number;
  clock_skew_ms: number;
  clock_checked_at?: string;
  clock_warning?: string;
}

/** Go's store.Record. */
export interface StoreRecord {
  collection: string;
  record_id: string;
  doc?: unknown;
  version: string;
  change_id: string;
  deleted: boolean;
  device: string;
  author?: string;
  edited_at: number;
  leaves: string[];
  mseq: number;
  last_seq?: number;
  pending: boolean;
}

/** The calls of Go's UI, by method name. */
export interface UICalls {
  Accept: { args: [Change[]]; result: AppendResult };
  Conflict: { args: [string, string]; result: Conflict };
  Conflicts: { args: [ConflictFilter]; result: Conflict[] };
  DescribeSchedule: { args: [string]; result: ScheduleText };
  History: { args: [string, string]; result: History };
  Info: { args: []; result: Info };
  KeepBoth: { args: [string, string]; result: KeepBothResult };
  MirrorSince: { args: [number, number]; result: MirrorPage };
  PendingIDs: { args: []; result: PendingRecords[] };
  PullReferences: { args: []; result: RefResult[] };
  Record: { args: [string, string]; result: StoreRecord };
  Records: { args: [string, string, number]; result: RecordPage };
  ReferenceOptions: { args: [string, string]; result: ReferenceOptions };
  ReferenceRows: { args: [string, string, string, number]; result: ReferencePage };
  Resolve: { args: [string, string, Choice]; result: Change };
  ResolveMany: { args: [RecordRef[], string]; result: ResolveManyResult };
  SaveSettings: { args: [Settings]; result: SettingsView };
  SetPassword: { args: [string]; result: PasswordResult };
  Settings: { args: []; result: SettingsView };
  SettledByRules: { args: [number]; result: Audit[] };
  Status: { args: []; result: Status };
  SyncNow: { args: []; result: Report };
  TestConnection: { args: [Settings]; result: Check[] };
}

/** The calls of Go's App, by method name. */
export interface AppCalls {
  Ping: { args: [string]; result: string };
  ReportSelfCheck: { args: [SelfCheckResult]; result: void };
  Version: { args: []; result: string };
}
