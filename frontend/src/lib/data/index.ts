// The IndexedDB data layer: see store.ts for how writes, the mirror loop and
// catch-up work together.

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
