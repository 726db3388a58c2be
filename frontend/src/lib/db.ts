// The fieldsync IndexedDB database: its name, version and the ordered list of
// schema migrations. The data layer (records, outbox) adds its object stores
// here as new migrations; never edit a migration that has shipped.

export const DB_NAME = 'fieldsync';

/** Object store for small key/value facts (probe records, cursors). */
export const META_STORE = 'meta';

/** Object store of the records the UI works on, key [collection, record_id]. */
export const RECORDS_STORE = 'records';

/**
 * Object store of captured changes not yet acknowledged by Go that their
 * record no longer carries (key seq; see data/pending.ts).
 */
export const OUTBOX_STORE = 'outbox';

/** Object store of changes Go rejected, kept with the reason (key change_id). */
export const REJECTED_STORE = 'rejected';

/**
 * Object store of the drain's progress (key "key"): the acknowledged
 * watermark of data/pending.ts, apart from the meta store so that an
 * acknowledgement never waits for the saves queued on the meta store.
 */
export const ACKED_STORE = 'acked';

/**
 * Object store of the capture log (key "last"): one object per write
 * transaction that gave records a capture sequence, listing those seqs and
 * their records' keys (data/pending.ts); it replaced the records' seq index.
 */
export const CAPTURES_STORE = 'captures';

/**
 * Object store of the unsynced log (key "id", auto-numbered): one object
 * per transaction that left records "local" or "pending", listing their
 * keys, until the sync-state refresh finds them synced (data/states.ts);
 * it replaced the records' state index.
 */
export const UNSYNCED_STORE = 'unsynced';

/** Meta key of the last capture sequence issued (data/pending.ts). */
export const META_CAPTURE_SEQ = 'capture_seq';

/**
 * One object of the capture log: the capture sequences a write transaction
 * gave to records, ascending, and the key of each record (data/pending.ts).
 */
export interface CaptureEntry {
  /** The key: the highest seq listed. */
  last: number;
  seqs: number[];
  keys: [string, string][];
}

/** One object of the unsynced log: keys of records a transaction left "local" or "pending". */
export interface UnsyncedEntry {
  /** The key, given by the store. */
  id?: number;
  keys: [string, string][];
}

/** A schema step; migrations[i] upgrades a database from version i to i+1. */
export type Migration = (db: IDBDatabase, tx: IDBTransaction) => void;

export const migrations: readonly Migration[] = [
  // v1: key/value store for metadata.
  (db) => {
    db.createObjectStore(META_STORE, { keyPath: 'key' });
  },
  // v2: the data layer (src/lib/data): records, outbox, rejected changes.
  (db) => {
    const records = db.createObjectStore(RECORDS_STORE, { keyPath: ['collection', 'record_id'] });
    records.createIndex('state', 'state');
    const outbox = db.createObjectStore(OUTBOX_STORE, { keyPath: 'seq', autoIncrement: true });
    outbox.createIndex('change_id', 'change_id', { unique: true });
    outbox.createIndex('record', ['collection', 'record_id']);
    db.createObjectStore(REJECTED_STORE, { keyPath: 'change_id' });
  },
  // v3: a save writes only the record, which carries its change and capture
  // sequence (data/pending.ts): records get an index on seq, the drain's
  // watermark a store of its own (nothing pending yet); the capture
  // counter starts above the outbox's keys, so entries already there stay
  // pending and are sent first; existing records carry no change. Nothing
  // reads the outbox by change_id any more: its unique index goes (it cost
  // a B-tree insert per save).
  (db, tx) => {
    tx.objectStore(RECORDS_STORE).createIndex('seq', 'seq');
    db.createObjectStore(ACKED_STORE, { keyPath: 'key' });
    const outbox = tx.objectStore(OUTBOX_STORE);
    outbox.deleteIndex('change_id');
    const last = outbox.openKeyCursor(null, 'prev');
    last.onsuccess = () => {
      // Unset means 0: a new database's meta store stays empty.
      if (typeof last.result?.key === 'number') tx.objectStore(META_STORE).put({ key: META_CAPTURE_SEQ, value: last.result.key });
    };
  },
  // v4: the records' two indexes give way to logs of one small object per
  // transaction: an index entry per save cost ~250 ms (seq) and ~100 ms
  // (state) of IndexedDB's CPU per 10,000 records (docs/BENCHMARKS.md,
  // issue 12, seventh round). The capture log (data/pending.ts) gets the
  // records still pending (seq above the watermark) from the seq index,
  // the unsynced log (data/states.ts) the "local" and "pending" records
  // from the state index, in chunks, before the indexes go.
  (db, tx) => {
    const captures = db.createObjectStore(CAPTURES_STORE, { keyPath: 'last' });
    const unsynced = db.createObjectStore(UNSYNCED_STORE, { keyPath: 'id', autoIncrement: true });
    const records = tx.objectStore(RECORDS_STORE);
    const byState = records.index('state');
    const local = byState.getAllKeys('local');
    const pending = byState.getAllKeys('pending');
    pending.onsuccess = () => {
      const keys = [...local.result, ...pending.result] as [string, string][];
      for (let i = 0; i < keys.length; i += 500) unsynced.put({ keys: keys.slice(i, i + 500) } satisfies UnsyncedEntry);
      records.deleteIndex('state');
    };
    const acked = tx.objectStore(ACKED_STORE).get('acked_seq') as IDBRequest<{ value?: unknown } | undefined>;
    acked.onsuccess = () => {
      const from = typeof acked.result?.value === 'number' ? acked.result.value : 0;
      let entry: CaptureEntry = { last: 0, seqs: [], keys: [] };
      const flush = () => {
        if (entry.seqs.length > 0) captures.put(entry);
        entry = { last: 0, seqs: [], keys: [] };
      };
      // No IDBKeyRange (a migration uses only the factory it was given):
      // the cursor skips to the first seq above the watermark itself.
      const cursor = records.index('seq').openKeyCursor();
      cursor.onsuccess = () => {
        const c = cursor.result;
        if (!c) {
          flush();
          records.deleteIndex('seq');
          return;
        }
        const seq = c.key as number;
        if (seq <= from) {
          c.continue(from + 1);
          return;
        }
        entry.seqs.push(seq);
        entry.keys.push(c.primaryKey as [string, string]);
        entry.last = seq;
        if (entry.seqs.length >= 500) flush();
        c.continue();
      };
    };
  },
];

export const DB_VERSION = migrations.length;

// Error names that add nothing for people; DOMException names such as
// QuotaExceededError or InvalidStateError do, so those are kept.
const genericErrorNames = new Set(['Error', 'TransportError', 'NotConnectedError']);

/** Describes a failure for people: "Name: message", the name only when it says something. */
export function describeError(err: unknown): string {
  if (err !== null && typeof err === 'object' && 'message' in err && 'name' in err) {
    const { name, message } = err as { name: unknown; message: unknown };
    const n = typeof name === 'string' ? name : '';
    const m = typeof message === 'string' ? message : '';
    if (!m) return n || 'unknown error';
    return n && !genericErrorNames.has(n) ? `${n}: ${m}` : m;
  }
  if (typeof err === 'string' && err !== '') return err;
  return 'unknown error';
}

/**
 * Opens the fieldsync database at DB_VERSION, running the migrations it is
 * missing. It fails when the database is newer than this code, or when
 * another tab holds an older version open for longer than blockedMs.
 */
export function openDatabase(factory: IDBFactory, blockedMs = 5000): Promise<IDBDatabase> {
  return new Promise((resolve, reject) => {
    let req: IDBOpenDBRequest;
    try {
      req = factory.open(DB_NAME, DB_VERSION);
    } catch (err) {
      reject(err);
      return;
    }
    let blockedTimer: ReturnType<typeof setTimeout> | undefined;
    req.onupgradeneeded = (ev) => {
      const db = req.result;
      const tx = req.transaction;
      if (!tx) return;
      for (let v = ev.oldVersion; v < DB_VERSION; v++) {
        migrations[v]?.(db, tx);
      }
    };
    req.onblocked = () => {
      blockedTimer = setTimeout(
        () => reject(new Error('the database is held open at an older version by another fieldsync window')),
        blockedMs,
      );
    };
    req.onsuccess = () => {
      clearTimeout(blockedTimer);
      const db = req.result;
      // Let a newer version elsewhere upgrade instead of being blocked by us.
      db.onversionchange = () => db.close();
      resolve(db);
    };
    req.onerror = () => {
      clearTimeout(blockedTimer);
      reject(req.error ?? new Error('opening the database failed'));
    };
  });
}
