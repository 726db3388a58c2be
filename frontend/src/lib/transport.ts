// The one module that talks to Go. Nothing else in the frontend may touch
// window.go, window.runtime or the network bridge: api.ts wraps call() in
// typed methods, and screens and the data layer take a Transport (or an Api)
// so they stay testable with a fake.
//
// - In the desktop window, WailsTransport calls the bindings Wails injects as
//   window.go.app.<Struct>.<Method> (App: app/app.go, UI: app/ui.go) and
//   listens with window.runtime.EventsOn. We wrap window.go ourselves instead
//   of importing the generated wailsjs/ folder, so nothing generated has to
//   be committed or built first.
// - In a browser (`fieldsync serve`), HttpTransport makes the same calls over
//   the loopback HTTP bridge (bridge.ts: session cookie + CSRF token, events
//   over server-sent events with reconnect).
//
// Method names are "Struct.Method": "UI.Accept", "App.Ping".

import { BridgeError, BridgeTransport, type BridgeOptions } from './bridge';
import type { SelfCheckResult } from './types';

/** A listener for one Go event; gets the event's arguments as Wails passes them. */
export type EventListener = (...data: unknown[]) => void;

/**
 * The state of the connection that carries events. Wails is always 'open';
 * the bridge goes through the others when `fieldsync serve` stops or the
 * session is lost.
 */
export type ConnectionStatus = 'connecting' | 'open' | 'reconnecting' | 'unauthorized' | 'closed';

/**
 * What a finished call says about Go: 'ok' it answered (even with an
 * error), 'down' nothing answered, 'unauthorized' the page's session is not
 * valid any more (fieldsync restarted with a new key).
 */
export type CallOutcome = 'ok' | 'down' | 'unauthorized';

/** What the frontend can ask of Go. */
export interface Transport {
  /** Which implementation this is; shown in the status bar. */
  readonly kind: 'wails' | 'http';
  /**
   * Calls the bound Go method "Struct.Method" with args and resolves with its
   * result. Rejects with a TransportError (NotConnectedError when Go cannot
   * be reached) whose message is for people.
   */
  call<T>(method: string, ...args: unknown[]): Promise<T>;
  /** Listens to a Go event; returns a function that stops listening. */
  on(event: string, listener: EventListener): () => void;
  /**
   * Follows the event connection. The listener is called at once with the
   * current status; `reconnected` is true when the connection is open again
   * after it was lost (time to run the mirror loop and catch up).
   */
  onStatus(listener: (status: ConnectionStatus, reconnected: boolean) => void): () => void;
  /**
   * Follows what calls find out about Go (bridge only: in the window Go
   * cannot be gone while the page is there).
   */
  onCall?(listener: (outcome: CallOutcome) => void): () => void;
  /** Resolves whether the Go process answers at all, without a session (bridge only). */
  probe?(): Promise<boolean>;
  /** Round-trips msg through Go unchanged (App.Ping). */
  ping(msg: string): Promise<string>;
  /** The running fieldsync version (App.Version). */
  version(): Promise<string>;
  /** Hands the start-up self-check result to Go (App.ReportSelfCheck). */
  reportSelfCheck(result: SelfCheckResult): Promise<void>;
}

/** A call reached Go (or tried to) and failed; message is for people. */
export class TransportError extends Error {
  override readonly name: string = 'TransportError';
  constructor(
    /** "UI.Accept" */
    readonly method: string,
    message: string,
  ) {
    super(message);
  }
}

/** The transport has no connection to Go: nothing ran there. */
export class NotConnectedError extends TransportError {
  override readonly name = 'NotConnectedError';
}

/** The bound methods of app.App as Wails exposes them on window.go. */
export interface WailsAppBindings {
  Ping(msg: string): Promise<string>;
  Version(): Promise<string>;
  ReportSelfCheck(result: SelfCheckResult): Promise<void>;
}

/** A bound Go method as Wails exposes it: any arguments, a promise. */
// unknown[] and Promise<unknown>: the shapes are checked by api.ts's types.
export type WailsMethod = (...args: unknown[]) => Promise<unknown>;

/** The window.runtime functions this module uses. */
export interface WailsRuntime {
  EventsOn(event: string, callback: (...data: unknown[]) => void): () => void;
}

/** The part of window this module reads. */
export interface TransportHost {
  /** Bound structs by name: window.go.app.App, window.go.app.UI. */
  go?: { app?: Record<string, Record<string, unknown> | undefined> };
  runtime?: Partial<WailsRuntime>;
}

/** Finds the Wails bindings of app.App on host, or undefined outside Wails. */
export function wailsBindings(host: TransportHost): WailsAppBindings | undefined {
  const app = host.go?.app?.['App'] as Partial<WailsAppBindings> | undefined;
  if (
    app &&
    typeof app.Ping === 'function' &&
    typeof app.Version === 'function' &&
    typeof app.ReportSelfCheck === 'function'
  ) {
    return app as WailsAppBindings; // every method checked above
  }
  return undefined;
}

/** Turns whatever a binding rejected with into a TransportError. */
function toTransportError(method: string, err: unknown): TransportError {
  if (err instanceof TransportError) return err;
  if (err instanceof BridgeError) {
    if (err.status === 0 || err.unauthorized) return new NotConnectedError(method, err.message);
    return new TransportError(method, err.message);
  }
  if (err instanceof Error) return new TransportError(method, err.message);
  // Wails rejects with the Go error's text as a plain string.
  if (typeof err === 'string' && err !== '') return new TransportError(method, err);
  return new TransportError(method, `${method} failed without a message`);
}

/** Splits "UI.Accept" into its struct and method, or throws a TransportError. */
export function splitMethod(method: string): [string, string] {
  const dot = method.indexOf('.');
  if (dot <= 0 || dot === method.length - 1 || method.indexOf('.', dot + 1) >= 0) {
    throw new TransportError(method, `"${method}" is not a Go method name (want Struct.Method)`);
  }
  return [method.slice(0, dot), method.slice(dot + 1)];
}

/** The helpers every transport derives from call(). */
abstract class BaseTransport {
  abstract call<T>(method: string, ...args: unknown[]): Promise<T>;

  ping(msg: string): Promise<string> {
    return this.call<string>('App.Ping', msg);
  }

  version(): Promise<string> {
    return this.call<string>('App.Version');
  }

  async reportSelfCheck(result: SelfCheckResult): Promise<void> {
    await this.call<unknown>('App.ReportSelfCheck', result);
  }
}

/** Transport over the Wails bindings in the desktop window. */
export class WailsTransport extends BaseTransport implements Transport {
  readonly kind = 'wails';
  private readonly host: TransportHost;

  /** host is window (or a fake): window.go and window.runtime are read at each call. */
  constructor(host: TransportHost) {
    super();
    this.host = host;
  }

  async call<T>(method: string, ...args: unknown[]): Promise<T> {
    try {
      const [struct, name] = splitMethod(method);
      const fn = this.host.go?.app?.[struct]?.[name];
      if (typeof fn !== 'function') {
        throw new NotConnectedError(method, `${method} is not bound in this fieldsync build`);
      }
      return (await (fn as WailsMethod)(...args)) as T;
    } catch (err) {
      throw toTransportError(method, err);
    }
  }

  on(event: string, listener: EventListener): () => void {
    const eventsOn = this.host.runtime?.EventsOn;
    if (typeof eventsOn !== 'function') return () => {};
    const off = eventsOn(event, listener);
    return typeof off === 'function' ? off : () => {};
  }

  onStatus(listener: (status: ConnectionStatus, reconnected: boolean) => void): () => void {
    // The bindings live in the same process: always connected.
    listener('open', false);
    return () => {};
  }
}

/** Transport over the loopback HTTP bridge of `fieldsync serve`. */
export class HttpTransport extends BaseTransport implements Transport {
  readonly kind = 'http';
  readonly bridge: BridgeTransport;

  constructor(
    readonly baseURL: string,
    opts: Omit<BridgeOptions, 'baseURL'> = {},
  ) {
    super();
    this.bridge = new BridgeTransport({ ...opts, baseURL });
  }

  private readonly callListeners = new Set<(outcome: CallOutcome) => void>();

  async call<T>(method: string, ...args: unknown[]): Promise<T> {
    try {
      splitMethod(method);
      const out = await this.bridge.call<T>(method, ...args);
      this.tell('ok');
      return out;
    } catch (err) {
      if (err instanceof BridgeError) this.tell(err.unauthorized ? 'unauthorized' : err.status === 0 ? 'down' : 'ok');
      throw toTransportError(method, err);
    }
  }

  onCall(listener: (outcome: CallOutcome) => void): () => void {
    this.callListeners.add(listener);
    return () => {
      this.callListeners.delete(listener);
    };
  }

  probe(): Promise<boolean> {
    return this.bridge.health();
  }

  private tell(outcome: CallOutcome): void {
    for (const l of [...this.callListeners]) l(outcome);
  }

  on(event: string, listener: EventListener): () => void {
    return this.bridge.on(event, listener);
  }

  onStatus(listener: (status: ConnectionStatus, reconnected: boolean) => void): () => void {
    return this.bridge.onStatus((s, reconnected) => {
      // BridgeStatus may grow; anything unknown counts as reconnecting.
      const known: readonly ConnectionStatus[] = ['connecting', 'open', 'reconnecting', 'unauthorized', 'closed'];
      listener(known.includes(s) ? s : 'reconnecting', reconnected);
    });
  }

  /** Opens the event stream (it also opens with the first on()). */
  connect(): void {
    this.bridge.connect();
  }

  /** Closes the event stream. */
  close(): void {
    this.bridge.close();
  }
}

/**
 * Picks the transport for this page: the Wails bindings when they are
 * present, otherwise the HTTP bridge at the page's own origin.
 */
export function createTransport(host: TransportHost & { location?: { origin: string } }): Transport {
  if (wailsBindings(host)) return new WailsTransport(host);
  return new HttpTransport(host.location?.origin ?? '');
}

/**
 * Link is whether this page can reach fieldsync, in the terms people need:
 * - 'connecting': not known yet (the page just loaded);
 * - 'up': fieldsync answers;
 * - 'down': nothing answers: the fieldsync process is not running (or not
 *   reachable); records stay in this window's storage meanwhile;
 * - 'session-lost': fieldsync answers but no longer knows this page (it was
 *   restarted with a new key): the address it printed must be opened again.
 */
export type Link = 'connecting' | 'up' | 'down' | 'session-lost';

/** Options of watchLink; tests pass fake timers. */
export interface LinkOptions {
  /** How often to ask whether fieldsync is back while the stream is lost (ms). */
  probeEveryMs?: number;
  setTimeout?: (fn: () => void, ms: number) => unknown;
  clearTimeout?: (handle: unknown) => void;
}

/**
 * watchLink follows whether fieldsync is reachable and calls listener with
 * each change (at once with the current value). It combines the event
 * stream's state (lost at once when the process dies), what calls find out,
 * and, while the stream is lost, a probe that tells a dead process ('down')
 * from a stream that is merely reconnecting. Returns a function that stops.
 */
export function watchLink(t: Transport, listener: (link: Link) => void, opts: LinkOptions = {}): () => void {
  const every = opts.probeEveryMs ?? 2000;
  const setTimer = opts.setTimeout ?? ((fn, ms) => globalThis.setTimeout(fn, ms));
  const clearTimer = opts.clearTimeout ?? ((h) => globalThis.clearTimeout(h as number));
  let link: Link = 'connecting';
  let stream: ConnectionStatus = 'connecting';
  let timer: unknown;
  let stopped = false;
  let probing = false;

  const set = (l: Link) => {
    if (stopped || l === link) return;
    link = l;
    listener(l);
  };
  const cancel = () => {
    if (timer !== undefined) clearTimer(timer);
    timer = undefined;
  };
  const lost = () => stream === 'connecting' || stream === 'reconnecting';

  async function probe(): Promise<void> {
    timer = undefined;
    if (stopped || probing || !lost()) return;
    probing = true;
    let answers = false;
    try {
      answers = t.probe ? await t.probe() : false;
    } finally {
      probing = false;
    }
    if (stopped || !lost()) return;
    // It answers: the stream is only reconnecting (or the session check will
    // say 'unauthorized'). It does not: the process is gone.
    if (!answers) set('down');
    cancel();
    timer = setTimer(() => void probe(), every);
  }

  listener(link);
  const offStatus = t.onStatus((s) => {
    stream = s;
    switch (s) {
      case 'open':
        cancel();
        set('up');
        break;
      case 'unauthorized':
        cancel();
        set('session-lost');
        break;
      case 'connecting':
      case 'reconnecting':
        if (timer === undefined) void probe();
        break;
      case 'closed':
        // Closed by the page itself (or not opened yet): nothing learnt.
        cancel();
        break;
    }
  });
  const offCall =
    t.onCall?.((o) => {
      // A call needs the session: any answer means fieldsync is there and knows this page.
      if (o === 'ok') set('up');
      else if (o === 'unauthorized') set('session-lost');
      // With the stream open, one failed request (e.g. cut by a page
      // unload) is no proof: the stream breaks at once when the process dies.
      else if (stream !== 'open') set('down');
    }) ?? (() => {});
  return () => {
    stopped = true;
    cancel();
    offStatus();
    offCall();
  };
}
