// What the screens need from the rest of the frontend, in one place: the Go
// UI methods (lib/api.ts), the Go events, and the IndexedDB data layer
// (lib/data). Screens take a Services value as a prop and use only the parts
// named here, so component tests and previews pass small fakes.

import type { Api as LibApi } from '../api';
import type { DataStatus, ListPage, ListQuery, LocalRecord, Removed } from '../data/types';
import type { Readable } from '../data/readable';
import type { Doc, Info } from '../types';

export type {
  Audit,
  AuthMode,
  Change,
  Check,
  Collection,
  Conflict,
  ConflictFilter,
  Doc,
  Field,
  FieldType,
  History,
  Info,
  Progress,
  RecordRef,
  RefRow,
  ReferencePage,
  ResolveChoice,
  Settings as SettingsView,
  SettingsValues,
  Status,
  SyncReport as Report,
} from '../types';
export type { DataStatus, ListQuery, LocalRecord, Removed, SyncState as RecordState } from '../data/types';

/** Api is the part of lib/api's Api the screens call. */
export type Api = Pick<
  LibApi,
  | 'info'
  | 'status'
  | 'syncNow'
  | 'conflicts'
  | 'conflict'
  | 'settledByRules'
  | 'resolve'
  | 'keepBoth'
  | 'resolveMany'
  | 'history'
  | 'settings'
  | 'saveSettings'
  | 'setPassword'
  | 'testConnection'
  | 'describeSchedule'
  | 'referenceRows'
  | 'referenceOptions'
  | 'pullReferences'
  | 'onStatus'
  | 'onProgress'
  | 'onConflict'
  | 'onApplied'
>;

/** Data is the part of lib/data's DataStore the screens use (the only write API). */
export interface Data {
  list(collection: string, q: ListQuery): Promise<ListPage>;
  get(collection: string, id: string): Promise<LocalRecord | undefined>;
  /** put writes doc as a new version; id null/undefined creates a record. */
  put(collection: string, id: string | null | undefined, doc: Doc): Promise<LocalRecord>;
  remove(collection: string, id: string): Promise<Removed>;
  undo(removed: Removed): Promise<LocalRecord>;
  /** subscribe calls fn at once and after any change to the cached records. */
  subscribe(fn: () => void): () => void;
  /** outboxCount is the number of local changes Go has not acknowledged. */
  outboxCount(): Promise<number>;
  /** status is the mirror loop's state: outbox, rejected, rebuild/loading progress. */
  readonly status: Readable<DataStatus>;
  /** catchUp applies what Go changed (run after the UI's own resolutions). */
  catchUp?(): Promise<void>;
  /** flush hands the outbox to Go now (before "Sync now"). */
  flush?(): Promise<void>;
}

/** Services bundles what a screen may use (lib/boot's Services fits). */
export interface Services {
  api: Api;
  data: Data;
  /** Info as boot() fetched it; the session asks Go again when absent. */
  info?: Info;
}
