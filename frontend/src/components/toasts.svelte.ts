// Short-lived messages below the page ("“Weir 2” deleted. Undo"). One
// Toasts value is shared by the screens through App.svelte. Repeats
// collapse into one message ("3 records created: …") and at most a few are
// on screen; ToastRegion puts them in a band of their own below the page, so
// they never cover the page's buttons.

/** Toast is one message on screen, with an optional action such as Undo. */
export interface Toast {
  id: number;
  text: string;
  kind: 'info' | 'error';
  /** How many messages this one stands for (1 unless repeats collapsed into it). */
  count: number;
  action?: { label: string; run: () => void | Promise<void> };
}

/** Repeat says how messages of one kind collapse while one is on screen. */
export interface Repeat {
  /** Messages with the same key collapse into one. */
  key: string;
  /** many words n messages about subjects, e.g. "3 records created: “A”, “B”, “C”." */
  many: (n: number, subjects: string[]) => string;
}

/** ShowOptions are what Toasts.show takes besides the text. */
export interface ShowOptions {
  kind?: Toast['kind'];
  action?: Toast['action'];
  ttlMs?: number;
  /** What the message is about, e.g. a record's name; listed when repeats collapse. */
  subject?: string;
  /** How repeats collapse; by default the same text collapses to "text (3 times)". */
  repeat?: Repeat;
}

/** What Toasts keeps of a message besides what is shown. */
interface Entry {
  key: string;
  repeat: Repeat | undefined;
  subjects: string[];
  actions: Toast['action'][];
  ttlMs: number;
}

/** Toasts keeps the messages on screen; each goes away after its time or when acted on. */
export class Toasts {
  items: Toast[] = $state([]);
  private next = 1;
  private readonly timers = new Map<number, ReturnType<typeof setTimeout>>();
  private readonly entries = new Map<number, Entry>();

  /** At most `max` messages stay on screen; a new one pushes out the oldest. */
  constructor(
    private readonly ttlMs = 8000,
    private readonly max = 3,
  ) {}

  /**
   * show adds a message and returns its id. A message of the same kind as
   * one on screen (same repeat key, or same text) joins it instead: the
   * count goes up, the text says how many, its time starts again, and its
   * action (Undo) then acts on all of them, newest first.
   */
  show(text: string, opts: ShowOptions = {}): number {
    const kind = opts.kind ?? 'info';
    const key = `${kind}\u0000${opts.repeat?.key ?? `text\u0000${text}`}`;
    const ttl = opts.ttlMs ?? this.ttlMs;
    const same = this.items.find((t) => this.entries.get(t.id)?.key === key);
    if (same) return this.join(same, text, opts, ttl);
    const id = this.next++;
    const t: Toast = { id, text, kind, count: 1 };
    if (opts.action) t.action = opts.action;
    this.entries.set(id, { key, repeat: opts.repeat, subjects: opts.subject ? [opts.subject] : [], actions: [opts.action], ttlMs: ttl });
    this.items = [...this.items, t];
    while (this.items.length > this.max) {
      const oldest = this.items[0];
      if (oldest) this.dismiss(oldest.id);
    }
    this.arm(id, ttl);
    return id;
  }

  /** join folds a repeat into the message on screen and moves it to the newest place. */
  private join(t: Toast, text: string, opts: ShowOptions, ttl: number): number {
    const e = this.entries.get(t.id);
    if (!e) return t.id;
    const count = t.count + 1;
    if (opts.subject) e.subjects.push(opts.subject);
    e.actions.push(opts.action);
    e.ttlMs = Math.max(e.ttlMs, ttl);
    const merged: Toast = {
      id: t.id,
      kind: t.kind,
      count,
      text: e.repeat ? e.repeat.many(count, e.subjects) : `${text} (${count} times)`,
    };
    const actions = e.actions.filter((a): a is NonNullable<Toast['action']> => a !== undefined);
    const last = actions.at(-1);
    if (last) {
      merged.action = {
        label: last.label,
        run: async () => {
          for (const a of [...actions].reverse()) await a.run();
        },
      };
    }
    this.items = [...this.items.filter((x) => x.id !== t.id), merged];
    this.arm(t.id, e.ttlMs);
    return t.id;
  }

  /** arm (re)starts a message's timer. */
  private arm(id: number, ttl: number): void {
    const h = this.timers.get(id);
    if (h !== undefined) clearTimeout(h);
    this.timers.delete(id);
    if (ttl > 0) this.timers.set(id, setTimeout(() => this.dismiss(id), ttl));
  }

  /** dismiss removes a message. */
  dismiss(id: number): void {
    const h = this.timers.get(id);
    if (h !== undefined) clearTimeout(h);
    this.timers.delete(id);
    this.entries.delete(id);
    this.items = this.items.filter((t) => t.id !== id);
  }

  /** act runs a message's action once and removes it. */
  async act(id: number): Promise<void> {
    const t = this.items.find((x) => x.id === id);
    this.dismiss(id);
    await t?.action?.run();
  }
}

/** The most names a collapsed message lists; the rest are counted. */
const MAX_NAMES = 3;

/**
 * names lists subjects for a collapsed message: distinct, at most three,
 * then how many more ("“A”, “B”, “C” and 2 more").
 */
export function names(subjects: string[]): string {
  const distinct = [...new Set(subjects)];
  const shown = distinct.slice(0, MAX_NAMES).join(', ');
  const more = distinct.length - MAX_NAMES;
  return more > 0 ? `${shown} and ${more} more` : shown;
}

/**
 * aboutRecord is the options of a message about one record, named subject
 * (see lib/labels recordName): repeats with the same key collapse into
 * "<n> <plural>: “A”, “B”, “C”." ("3 records created: …").
 */
export function aboutRecord(key: string, subject: string, plural: string, opts: Omit<ShowOptions, 'subject' | 'repeat'> = {}): ShowOptions {
  return {
    ...opts,
    subject,
    repeat: { key, many: (n, subjects) => `${n} ${plural}: ${names(subjects)}.` },
  };
}
