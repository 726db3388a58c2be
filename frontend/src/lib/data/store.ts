// DataStore: the IndexedDB data layer the screens work on. This file is the
// facade: it opens the database, wires the jobs together and is the one
// public API (pages, components, boot, bench and tests use it). Each job
// lives in its own module:
//   writes.ts    put/putMany/remove/undo (one record object per save)
//   pending.ts   where pending changes wait: records above the watermark, outbox
//   drain.ts     the drain (mirror loop) of pending changes into Go, with back-off
//   rejected.ts  retry and discard of changes Go refused
//   catchup.ts   catch-up from Go's mirror sequence
//   rebuild.ts   rebuild from Go's records
//   states.ts    sync states (which records Drill has)
//   crosstab.ts  telling other tabs which records changed
//   cache.ts     reads and the loaded in-memory indexes
//   status.ts    the status and change notices; context.ts what they share
// Each module's opening comment says how its job works.
//
// Raw IndexedDB, not Dexie 4. Measured in headless Chromium 156 on the 2-core
// dev box while the team's builds ran (load average 8-13, so single runs
// varied 2-3x): 10,000 records of ~300 bytes in chunks of 500, median of 5
// interleaved runs per sitting, records/s, raw vs Dexie, three sittings:
//   blind bulk put, one store:           6834/6347  6290/6547  5643/7607
//   import via the data layer (new ids): 1782/1584  2506/2148  2394/1905
//   edit via the data layer (read+put):  1140/1190  1286/1494  1167/1260
// (the design of the time: record + outbox entry with its two indexes + meta in one transaction per
// chunk; Dexie with bulkGet/bulkPut/bulkAdd in one db.transaction.) Raw is
// 12-26% ahead on the import path, Dexie 4-16% ahead on the edit path, both
// inside the noise; Dexie would add ~32 KB gzipped (+60% on the main chunk).
// It does not earn its place: the layer needs a handful of operations that
// raw IndexedDB expresses directly, and read-then-write chains inside one
// transaction are plain callbacks. Re-measure with bench.ts in `make bench`.

import type { Api } from '../api';
import { META_STORE, openDatabase, REJECTED_STORE } from '../db';
import { HLC, uiNode } from '../hlc';
import type {
  Change,
  Doc,
  Info,
  KeepBothResult,
  RecordRef,
  ResolveChoice,
  ResolveManyResult,
  ResolveManyTake,
} from '../types';
import { RecordCache } from './cache';
import { CatchUp } from './catchup';
import { META_DEVICE, META_HLC, META_LAST_MSEQ, type Context } from './context';
import { CrossTab, fromOtherTab, openChannel, type TabChannel } from './crosstab';
import { OutboxDrain } from './drain';
import { request } from './idb';
import type { CollectionIndex } from './memindex';
import { countPending, PENDING_SCOPE } from './pending';
import type { Readable } from './readable';
import { Rebuild } from './rebuild';
import { RejectedChanges } from './rejected';
import { SyncStates } from './states';
import { StatusBox } from './status';
import type {
  ChangeNotice,
  DataStatus,
  ListPage,
  ListQuery,
  LocalRecord,
  Progress,
  RejectedChange,
  Removed,
  SyncState,
} from './types';
import { checkName, Writes, type PutItem } from './writes';

export type { PutItem } from './writes';
export type { TabChannel } from './crosstab';

/** What DataStore needs from its surroundings; tests pass fakes. */
export interface DataStoreOptions {
  indexedDB: IDBFactory;
  api: Api;
  /** Info() from Go; fetched with api.info() when absent. */
  info?: Info;
  /** Wall clock in epoch ms (default Date.now). */
  now?: () => number;
  /** Fills bytes with random values (default crypto.getRandomValues). */
  random?: (bytes: Uint8Array) => void;
  /**
   * Delay between an edit and the mirror loop's run (default 0: the next
   * task; saves made meanwhile go in the same batch, and saves made while
   * a batch is with Go in the next).
   */
  debounceMs?: number;
  /** Changes per Accept call (default and maximum 500). */
  batchSize?: number;
  /** Entries per MirrorSince call and records per Records call (default 500). */
  pageSize?: number;
  /** Records per IndexedDB read while loading a collection (default 5000). */
  loadChunk?: number;
  /** Back-off of the mirror loop after a failure: first and largest delay in ms. */
  retryMinMs?: number;
  retryMaxMs?: number;
  /** Called with errors nobody awaits (background runs); default: none. */
  onError?: (err: unknown) => void;
  /**
   * Tells other tabs of this profile which records changed, so their lists
   * stay current (default: a BroadcastChannel named "fieldsync-data" where
   * there is one; null: none).
   */
  channel?: TabChannel | null;
}

/** The IndexedDB data layer; create with DataStore.open. */
export class DataStore {
  /** What the data layer is doing (Svelte-store compatible). */
  readonly status: Readable<DataStatus>;
  /** Which records changed last (Svelte-store compatible); re-query list() on it. */
  readonly changes: Readable<ChangeNotice>;

  readonly device: string;
  readonly author: string;
  readonly info: Info;

  private readonly ctx: Context;
  private readonly box: StatusBox;
  private readonly tabs: CrossTab;
  private readonly cache: RecordCache;
  private readonly drain: OutboxDrain;
  private readonly writes: Writes;
  private readonly rebuilder: Rebuild;
  private readonly catching: CatchUp;
  private readonly refused: RejectedChanges;
  private readonly states: SyncStates;
  private readonly unsubscribe: (() => void)[] = [];
  private started = false;

  private constructor(
    db: IDBDatabase,
    api: Api,
    info: Info,
    opts: DataStoreOptions,
    initial: { outbox: number; rejected: number; lastMseq: number; hlc: string | undefined },
  ) {
    this.info = info;
    this.device = info.device;
    this.author = info.author;
    const now = opts.now ?? Date.now;
    const random = opts.random ?? ((b: Uint8Array) => crypto.getRandomValues(b));
    const hlc = new HLC(uiNode(info.device, random), now);
    hlc.observe(info.hlc);
    hlc.observe(initial.hlc);
    this.ctx = {
      db,
      api,
      info,
      device: info.device,
      author: info.author,
      hlc,
      now,
      random,
      onError: opts.onError ?? (() => {}),
      debounceMs: opts.debounceMs ?? 0,
      batchSize: Math.min(Math.max(1, opts.batchSize ?? 500), 500),
      pageSize: Math.max(1, opts.pageSize ?? 500),
      loadChunk: Math.max(1, opts.loadChunk ?? 5000),
      retryMin: opts.retryMinMs ?? 1000,
      retryMax: opts.retryMaxMs ?? 30_000,
      closed: false,
      echoes: new Map(),
    };
    this.box = new StatusBox({
      mirror: 'idle',
      outbox: initial.outbox,
      rejected: initial.rejected,
      catchingUp: false,
      lastMseq: initial.lastMseq,
    });
    this.status = this.box.status;
    this.changes = this.box.changes;
    this.tabs = new CrossTab(openChannel(opts.channel));
    this.cache = new RecordCache(this.ctx, this.box, this.tabs);
    this.drain = new OutboxDrain(this.ctx, this.box, this.cache, this.tabs);
    this.states = new SyncStates(this.ctx, this.cache);
    this.writes = new Writes(this.ctx, this.box, this.cache, this.drain, this.states);
    this.rebuilder = new Rebuild(this.ctx, this.box, this.cache);
    this.catching = new CatchUp(this.ctx, this.box, this.cache, this.rebuilder, this.drain);
    this.refused = new RejectedChanges(this.ctx, this.box, this.cache, this.tabs, this.drain);
    this.tabs.listen((msg) => {
      fromOtherTab(this.ctx, this.box, this.cache, msg).catch((err: unknown) => this.ctx.onError(err));
    });
  }

  /**
   * Opens the database (running migrations) and reads the pending and
   * rejected counts. Call start() to begin mirroring and catching up.
   */
  static async open(opts: DataStoreOptions): Promise<DataStore> {
    const info = opts.info ?? (await opts.api.info());
    checkName('device', info.device);
    const db = await openDatabase(opts.indexedDB);
    try {
      const tx = db.transaction([...PENDING_SCOPE, REJECTED_STORE, META_STORE], 'readonly');
      const outbox = countPending(tx);
      const rejected = request(tx.objectStore(REJECTED_STORE).count());
      const meta = tx.objectStore(META_STORE);
      const lastMseq = request(meta.get(META_LAST_MSEQ) as IDBRequest<{ value?: unknown } | undefined>);
      const hlc = request(meta.get(META_HLC) as IDBRequest<{ value?: unknown } | undefined>);
      const device = request(meta.get(META_DEVICE) as IDBRequest<{ value?: unknown } | undefined>);
      const [o, r, m, h, d] = await Promise.all([outbox, rejected, lastMseq, hlc, device]);
      let last = typeof m?.value === 'number' ? m.value : -1;
      if (d?.value !== undefined && d.value !== info.device) last = -1; // another device's copy: rebuild
      return new DataStore(db, opts.api, info, opts, {
        outbox: o,
        rejected: r,
        lastMseq: last,
        hlc: typeof h?.value === 'string' ? h.value : undefined,
      });
    } catch (err) {
      db.close();
      throw err;
    }
  }

  /**
   * Svelte-store contract over `changes`: run is called at once and after
   * every change to the records (local writes, catch-up, rebuild, states).
   */
  subscribe(run: (notice: ChangeNotice) => void): () => void {
    return this.box.changes.subscribe(run);
  }

  /** Changes captured here that Go has not acknowledged yet. */
  outboxCount(): Promise<number> {
    return this.cache.outboxCount();
  }

  /** The UI clock's node, "<device>.ui<4 hex>". */
  get node(): string {
    return this.ctx.hlc.node;
  }

  /** The greatest version issued or observed here. */
  lastVersion(): string {
    return this.ctx.hlc.lastText();
  }

  /**
   * Starts the background work: listens to Go's events, drains the pending changes
   * and catches up. Resolves when the first drain and catch-up finished (or
   * failed; failures show in status).
   */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    const api = this.ctx.api;
    this.unsubscribe.push(
      api.onApplied((e) => {
        for (const c of e?.changes ?? []) this.ctx.hlc.observe(c.change?.version);
        this.catching.request();
      }),
      api.onStatus((st) => {
        this.catching.request();
        this.states.observe(st);
      }),
      api.onConflict(() => this.catching.request()),
      api.onReset(() => this.catching.request()),
      api.onConnection((s, reconnected) => {
        if (s === 'open' && reconnected) {
          this.drain.schedule(0);
          this.catching.request();
        }
      }),
    );
    await Promise.all([
      this.flush().catch(() => undefined),
      this.catchUp().then(
        () => this.refreshStates(),
        () => undefined,
      ),
    ]).catch((err: unknown) => this.ctx.onError(err));
  }

  /** Stops the background work and closes the database. */
  close(): void {
    this.ctx.closed = true;
    for (const off of this.unsubscribe.splice(0)) off();
    this.drain.stop();
    this.states.stop();
    this.tabs.close();
    this.ctx.db.close();
  }

  // ---------------------------------------------------------------- writes

  /**
   * Saves doc as record id of collection (id null: a new record with a new
   * id): one record object that carries its change (pending.ts), in one
   * transaction.
   * Resolves with the stored record once IndexedDB committed it.
   */
  put(collection: string, id: string | null | undefined, doc: Doc): Promise<LocalRecord> {
    return this.writes.put(collection, id, doc);
  }

  /**
   * Saves many records of one collection in ONE transaction (bulk import):
   * all of them (and any unsent change they replace, moved into the
   * outbox), or none.
   */
  putMany(collection: string, items: PutItem[]): Promise<LocalRecord[]> {
    return this.writes.putMany(collection, items);
  }

  /**
   * Deletes record id of collection (a tombstone that carries the delete
   * change). Resolves with what undo() needs to bring it back.
   */
  remove(collection: string, id: string): Promise<Removed> {
    return this.writes.remove(collection, id);
  }

  /** Undoes a remove(): puts the previous document back as a new change. */
  undo(removed: Removed): Promise<LocalRecord> {
    return this.writes.undo(removed);
  }

  // ----------------------------------------------------------------- reads

  /** One record, deleted ones included; undefined when there is none. */
  get(collection: string, id: string): Promise<LocalRecord | undefined> {
    return this.cache.get(collection, id);
  }

  /** The sync state of a loaded record, or undefined. */
  stateOf(collection: string, id: string): SyncState | undefined {
    return this.cache.stateOf(collection, id);
  }

  /**
   * Loads the in-memory index of collection from IndexedDB once, reporting
   * progress (also in status.loading). Later calls return at once.
   */
  load(collection: string, onProgress?: (p: Progress) => void): Promise<CollectionIndex> {
    return this.cache.load(collection, onProgress);
  }

  /** Searches, sorts and pages collection (loading it first if needed). */
  list(collection: string, q: ListQuery = {}): Promise<ListPage> {
    return this.cache.list(collection, q);
  }

  /** The changes Go rejected, oldest first. */
  rejected(): Promise<RejectedChange[]> {
    return this.cache.rejected();
  }

  /** Captured changes not yet acknowledged by Go, in capture order. */
  outbox(limit?: number): Promise<Change[]> {
    return this.cache.outbox(limit);
  }

  // ----------------------------------------------------------- mirror loop

  /**
   * Drains the pending changes into Go now, batch after batch, until none is left or a
   * call fails (then it retries with back-off in the background and this
   * rejects). Concurrent calls share one run.
   */
  flush(): Promise<void> {
    return this.drain.flush();
  }

  // ------------------------------------------------------- refused changes

  /**
   * Moves a refused change back into the outbox, in ONE IndexedDB
   * transaction (it is never in both stores, nor in neither), clears the
   * refusal mark of its record and runs the mirror loop at once. If Go
   * refuses it again it comes back to rejected() with the new reason.
   * A change replaced by a later save (superseded_by) cannot be retried.
   */
  retryRejected(changeId: string): Promise<void> {
    return this.refused.retry(changeId);
  }

  /**
   * Gives up a refused change and returns it. When its record still shows
   * the refused version (no later save here), the record goes back to what
   * Go holds, or is removed when Go never had it (a refused create); that
   * needs Go to answer. A change replaced by a later save is only dropped.
   */
  discardRejected(changeId: string): Promise<RejectedChange> {
    return this.refused.discard(changeId);
  }

  // ------------------------------------------------- Go-side resolutions

  /** Resolves a conflict in Go (api.resolve) and catches up with the result. */
  async resolve(collection: string, id: string, choice: ResolveChoice): Promise<Change> {
    const c = await this.ctx.api.resolve(collection, id, choice);
    this.ctx.hlc.observe(c.version);
    await this.catchUp();
    return c;
  }

  /** Keeps both versions as separate records (api.keepBoth) and catches up. */
  async keepBoth(collection: string, id: string): Promise<KeepBothResult> {
    const r = await this.ctx.api.keepBoth(collection, id);
    await this.catchUp();
    return r;
  }

  /** Applies a policy to many conflicts (api.resolveMany) and catches up. */
  async resolveMany(items: RecordRef[], take: ResolveManyTake): Promise<ResolveManyResult> {
    const r = await this.ctx.api.resolveMany(items, take);
    await this.catchUp();
    return r;
  }

  // ------------------------------------------------ catch-up and rebuild

  /**
   * Applies what changed in Go since the last mirror sequence seen here
   * (paged), rebuilding from UI.Records when the sequence was truncated or
   * this IndexedDB never caught up. Concurrent calls share one run.
   */
  catchUp(): Promise<void> {
    return this.catching.run();
  }

  /**
   * Holds the catch-ups Go's events ask for until the returned function is
   * called (then one runs): for work that floods Go with changes not made
   * through this data layer, such as the capture benchmark's Go-alone run.
   */
  holdCatchUp(): () => void {
    return this.catching.hold();
  }

  /**
   * Rebuilds the local copy from Go's records, paged, with progress in
   * status.rebuild. Local edits newer than Go's copy are kept.
   */
  rebuild(): Promise<void> {
    return this.rebuilder.run();
  }

  /**
   * Asks Go which records still have changes not in Drill and marks the
   * others synced (records with changes not yet in Go or in conflict stay as they
   * are).
   */
  /** Resolves once no sync-state refresh is scheduled or running. */
  statesSettled(): Promise<void> {
    return this.states.settled();
  }

  refreshStates(): Promise<void> {
    return this.states.refresh();
  }
}
