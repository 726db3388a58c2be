// Small promise helpers over raw IndexedDB requests and transactions.

/** Resolves with req's result, rejects with its error. */
export function request<T>(req: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error ?? new Error('the IndexedDB request failed'));
  });
}

/** Resolves when tx commits; rejects when it aborts or fails. */
export function txDone(tx: IDBTransaction): Promise<void> {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onabort = () => reject(tx.error ?? new Error('the IndexedDB transaction was aborted'));
    tx.onerror = () => {
      // An error event aborts the transaction (unless handled); onabort reports it.
    };
  });
}

/** The key range of every record of one collection in a store keyed [collection, id]. */
export function collectionRange(collection: string): IDBKeyRange {
  // Arrays sort after strings, so [collection, []] is above every [collection, id].
  return IDBKeyRange.bound([collection], [collection, []]);
}
