// The app-wide view of Go: Info, the latest sync Status and progress, and
// whether Go answers at all. App.svelte creates one and hands it to the
// screens and the header, which read it reactively.

import type { DataStatus, Info, Progress, Services, Status } from '../lib/ui/ports';

/** Session follows Go's status events and keeps what the screens show. */
export class Session {
  info: Info | undefined = $state();
  status: Status | undefined = $state();
  progress: Progress | undefined = $state();
  /** False when Go did not answer the last call. */
  connected = $state(true);
  /** Why Go did not answer, in plain words. */
  error = $state('');
  outbox = $state(0);
  /** The data layer's mirror loop: outbox, rejected changes, rebuild progress. */
  data: DataStatus | undefined = $state();
  loaded = $state(false);
  /** Bumped when a conflict appears or changes, so lists reload. */
  conflictTick = $state(0);

  private offs: (() => void)[] = [];

  constructor(private readonly services: Services) {}

  /** start loads Info and Status and subscribes to Go's events. */
  async start(): Promise<void> {
    const { api, data } = this.services;
    this.offs.push(
      api.onStatus((s) => {
        this.status = s;
        this.connected = true;
        if (s.state !== 'pushing' && s.state !== 'pulling') this.progress = undefined;
      }),
      api.onProgress((p) => (this.progress = p)),
      api.onConflict(() => this.conflictTick++),
      data.status.subscribe((d) => {
        this.data = d;
        this.outbox = d.outbox;
      }),
    );
    if (this.services.info) this.info = this.services.info;
    await Promise.all([this.services.info ? Promise.resolve() : this.loadInfo(), this.refresh()]);
    this.loaded = true;
  }

  /** stop drops the event subscriptions. */
  stop(): void {
    for (const off of this.offs) off();
    this.offs = [];
  }

  async loadInfo(): Promise<void> {
    try {
      this.info = await this.services.api.info();
      this.connected = true;
    } catch (err) {
      this.fail(err);
    }
  }

  /** refresh asks Go for the status now. */
  async refresh(): Promise<void> {
    try {
      this.status = await this.services.api.status();
      this.connected = true;
      this.error = '';
    } catch (err) {
      this.fail(err);
    }
  }

  private fail(err: unknown): void {
    this.connected = false;
    this.error = err instanceof Error ? err.message : String(err);
  }
}
