// The IndexedDB data layer: DataStore (store.ts) is its one public API, a
// facade over one module per job; its opening comment lists them.

export { DataStore, type DataStoreOptions, type PutItem } from './store';
export { CollectionIndex, sortValue } from './memindex';
export type { Readable } from './readable';
export {
  DataError,
  type ChangeNotice,
  type DataStatus,
  type ListPage,
  type ListQuery,
  type LocalRecord,
  type MirrorState,
  type OutboxEntry,
  type Progress,
  type RejectedChange,
  type Removed,
  type SortDir,
  type SyncState,
} from './types';
export {
  explainRefusal,
  recordLabel,
  refusedExport,
  refusedFileName,
  refusedKind,
  type FieldProblem,
  type Refusal,
  type RefusedExport,
  type RefusedExportItem,
  type RefusedKind,
} from './refusal';
