// The data layer's two notices: its status (what it is doing, the outbox and
// refused counts) and which records changed last. Svelte-store compatible.

import { Value } from './readable';
import type { ChangeNotice, DataStatus } from './types';

/** Holds the status and the change notices every job updates. */
export class StatusBox {
  readonly status: Value<DataStatus>;
  readonly changes: Value<ChangeNotice>;

  constructor(initial: DataStatus) {
    this.status = new Value<DataStatus>(initial);
    this.changes = new Value<ChangeNotice>({ revision: 0, collection: '', ids: [], cause: 'init' });
  }

  /** The current status. */
  get(): DataStatus {
    return this.status.get();
  }

  /** Changes part of the status; an undefined value removes an optional field. */
  set(patch: { [K in keyof DataStatus]?: DataStatus[K] | undefined }): void {
    const next = { ...this.status.get(), ...patch };
    for (const k of Object.keys(patch) as (keyof DataStatus)[]) {
      if (patch[k] === undefined) delete next[k];
    }
    this.status.set(next as DataStatus); // required fields are never patched to undefined
  }

  /** Tells subscribers that these records changed. */
  notify(collection: string, ids: string[], cause: ChangeNotice['cause']): void {
    this.changes.set({ revision: this.changes.get().revision + 1, collection, ids, cause });
  }
}
