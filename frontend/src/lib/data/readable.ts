// A minimal Svelte-store-compatible value holder: subscribe(run) calls run at
// once and after every change, and returns the unsubscribe function, so
// components can use `$store`. No dependency on svelte/store keeps the data
// layer framework-free.

/** A value that can be subscribed to, compatible with Svelte's store contract. */
export interface Readable<T> {
  subscribe(run: (value: T) => void): () => void;
}

/** A Readable whose owner sets the value. */
export class Value<T> implements Readable<T> {
  private readonly runs = new Set<(value: T) => void>();

  constructor(private current: T) {}

  /** The current value. */
  get(): T {
    return this.current;
  }

  /** Replaces the value and tells every subscriber. */
  set(value: T): void {
    this.current = value;
    for (const run of [...this.runs]) run(value);
  }

  /** Changes part of an object value. */
  update(fn: (value: T) => T): void {
    this.set(fn(this.current));
  }

  subscribe(run: (value: T) => void): () => void {
    this.runs.add(run);
    run(this.current);
    return () => {
      this.runs.delete(run);
    };
  }
}
