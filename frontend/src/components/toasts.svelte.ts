// Short-lived messages at the bottom of the window ("Record deleted. Undo").
// One Toasts value is shared by the screens through App.svelte.

/** Toast is one message, with an optional action such as Undo. */
export interface Toast {
  id: number;
  text: string;
  kind: 'info' | 'error';
  action?: { label: string; run: () => void | Promise<void> };
}

/** Toasts keeps the messages on screen; each goes away after its time or when acted on. */
export class Toasts {
  items: Toast[] = $state([]);
  private next = 1;
  private readonly timers = new Map<number, ReturnType<typeof setTimeout>>();

  /** At most `max` messages stay on screen; a new one pushes out the oldest. */
  constructor(
    private readonly ttlMs = 8000,
    private readonly max = 3,
  ) {}

  /** show adds a message and returns its id. */
  show(text: string, opts: { kind?: Toast['kind']; action?: Toast['action']; ttlMs?: number } = {}): number {
    const id = this.next++;
    const t: Toast = { id, text, kind: opts.kind ?? 'info' };
    if (opts.action) t.action = opts.action;
    this.items = [...this.items, t];
    while (this.items.length > this.max) {
      const oldest = this.items[0];
      if (oldest) this.dismiss(oldest.id);
    }
    const ttl = opts.ttlMs ?? this.ttlMs;
    if (ttl > 0) this.timers.set(id, setTimeout(() => this.dismiss(id), ttl));
    return id;
  }

  /** dismiss removes a message. */
  dismiss(id: number): void {
    const h = this.timers.get(id);
    if (h !== undefined) clearTimeout(h);
    this.timers.delete(id);
    this.items = this.items.filter((t) => t.id !== id);
  }

  /** act runs a message's action once and removes it. */
  async act(id: number): Promise<void> {
    const t = this.items.find((x) => x.id === id);
    this.dismiss(id);
    await t?.action?.run();
  }
}
