// Browser side of the loopback HTTP bridge (Go: package app/bridge), for
// `fieldsync serve`, written with the bridge's Go side; transport.ts wraps it
// as HttpTransport behind the Transport interface.
//
// Contract (see app/bridge/doc.go and docs/SECURITY.md):
// - The page is opened once as http://127.0.0.1:PORT/?key=KEY. The server
//   swaps the key for an HttpOnly session cookie and redirects to the same
//   address without the key, so this module never sees the key.
// - Calls: POST /api/call/{Struct}.{Method}, body = JSON array of the
//   arguments, header X-CSRF-Token = value of the cookie named by
//   GET /api/session ("fieldsync-csrf-PORT"). 200 {"result": ...} or
//   4xx/5xx {"error": "text for people"}.
// - A response with the header X-Bridge-Refused (host|origin|auth|csrf) was
//   refused before any Go method ran; only then is a call retried (once,
//   after refreshing the CSRF cookie).
// - Events: EventSource on /api/events (cookie auth). Each event's name is
//   the SSE event type, its data a JSON array of the arguments (the same as
//   Wails' EventsOn hands a listener). EventSource sends Last-Event-ID itself
//   when it reconnects; when it gives up (e.g. after a 401/503) we open a new
//   one with ?lastEventId=. The event "reset" means events were missed and
//   the UI must resync (catch up by mirror sequence).

/** Why a call failed. status 0: no answer (network, server stopped). */
export class BridgeError extends Error {
  override readonly name: string = 'BridgeError';
  constructor(
    /** "App.Ping" */
    readonly method: string,
    /** HTTP status, or 0 when the server did not answer. */
    readonly status: number,
    /** The error text for people. */
    message: string,
    /** Set when a guard refused the request before any Go method ran. */
    readonly refused?: 'host' | 'origin' | 'auth' | 'csrf' | string,
  ) {
    super(message);
  }

  /** The page has no valid session: the user must open the printed URL. */
  get unauthorized(): boolean {
    return this.refused === 'auth';
  }
}

/** State of the event stream. */
export type BridgeStatus =
  | 'connecting' // first connection under way
  | 'open' // events flow
  | 'reconnecting' // lost; retrying (EventSource or our back-off)
  | 'unauthorized' // the session is gone: open the URL fieldsync serve printed
  | 'closed'; // close() was called

/** A listener for one event; gets the arguments as Wails would. */
export type EventListener = (...data: unknown[]) => void;

/** What the transport needs of its surroundings; tests pass fakes. */
export interface BridgeOptions {
  /** Origin of the bridge; '' (default) means this page's own origin. */
  baseURL?: string;
  /** fetch to use; default globalThis.fetch. */
  fetch?: typeof fetch;
  /** EventSource constructor; default globalThis.EventSource. */
  EventSource?: typeof EventSource;
  /** Reads document.cookie; default () => document.cookie. */
  cookies?: () => string;
  /** The page's port, for the default CSRF cookie name; default location.port. */
  port?: string;
  /** Back-off when EventSource gave up: first and largest delay, in ms. */
  retryMinMs?: number;
  retryMaxMs?: number;
  /** Timer functions, for tests. */
  setTimeout?: (fn: () => void, ms: number) => unknown;
  clearTimeout?: (handle: unknown) => void;
}

interface SessionInfo {
  ok: boolean;
  csrfCookie: string;
  csrfHeader: string;
}

/** Calls Go methods and receives Go events over the loopback bridge. */
export class BridgeTransport {
  private readonly base: string;
  private readonly fetchFn: typeof fetch;
  private readonly ES: typeof EventSource | undefined;
  private readonly readCookies: () => string;
  private readonly retryMin: number;
  private readonly retryMax: number;
  private readonly setTimer: (fn: () => void, ms: number) => unknown;
  private readonly clearTimer: (handle: unknown) => void;

  private csrfCookie: string;
  private csrfHeader = 'X-CSRF-Token';
  private session: Promise<void> | undefined;

  private source: EventSource | undefined;
  private lastEventId = '';
  private wasOpen = false;
  private retryDelay: number;
  private retryTimer: unknown;
  private status: BridgeStatus = 'closed';
  private closed = false;
  private readonly listeners = new Map<string, Set<EventListener>>();
  private readonly attached = new Set<string>(); // names listened to on source
  private readonly statusListeners = new Set<(s: BridgeStatus, reconnected: boolean) => void>();

  constructor(opts: BridgeOptions = {}) {
    this.base = (opts.baseURL ?? '').replace(/\/$/, '');
    const f = opts.fetch ?? globalThis.fetch;
    this.fetchFn = (input, init) => f(input, init); // keep `this` of window.fetch
    this.ES = opts.EventSource ?? globalThis.EventSource;
    this.readCookies = opts.cookies ?? (() => globalThis.document?.cookie ?? '');
    this.retryMin = opts.retryMinMs ?? 1000;
    this.retryMax = opts.retryMaxMs ?? 30000;
    this.retryDelay = this.retryMin;
    this.setTimer = opts.setTimeout ?? ((fn, ms) => globalThis.setTimeout(fn, ms));
    this.clearTimer = opts.clearTimeout ?? ((h) => globalThis.clearTimeout(h as number));
    const loc = globalThis.location;
    const port = opts.port ?? (loc ? loc.port || (loc.protocol === 'https:' ? '443' : '80') : '');
    this.csrfCookie = port ? `fieldsync-csrf-${port}` : 'fieldsync-csrf';
  }

  /**
   * Checks that the page has a session and (re)gets the CSRF cookie.
   * Rejects with a BridgeError whose `unauthorized` is true when the user
   * must open the URL that fieldsync serve printed.
   */
  checkSession(): Promise<void> {
    this.session ??= this.fetchSession().finally(() => {
      this.session = undefined;
    });
    return this.session;
  }

  private async fetchSession(): Promise<void> {
    const info = await this.request<SessionInfo>('session', 'GET', '/api/session');
    if (info.csrfCookie) this.csrfCookie = info.csrfCookie;
    if (info.csrfHeader) this.csrfHeader = info.csrfHeader;
  }

  /**
   * Calls a bound Go method, e.g. call<string>('App.Ping', 'hi'). Resolves
   * with its result; rejects with a BridgeError carrying the Go error text.
   */
  async call<T = unknown>(method: string, ...args: unknown[]): Promise<T> {
    const body = JSON.stringify(args);
    if (!this.csrfToken()) await this.checkSession();
    try {
      return await this.post<T>(method, body);
    } catch (err) {
      // Only a guard refusal is retried: no Go method ran.
      if (err instanceof BridgeError && err.refused === 'csrf') {
        await this.checkSession();
        return this.post<T>(method, body);
      }
      throw err;
    }
  }

  private post<T>(method: string, body: string): Promise<T> {
    const headers: Record<string, string> = { 'Content-Type': 'application/json' };
    const token = this.csrfToken();
    if (token) headers[this.csrfHeader] = token;
    return this.request<{ result: T }>(method, 'POST', `/api/call/${encodeURIComponent(method)}`, {
      headers,
      body: bodyOf(body),
    }).then((r) => r.result);
  }

  /** Sends one request and decodes the JSON answer or the JSON error. */
  private async request<T>(what: string, httpMethod: string, path: string, init: RequestInit = {}): Promise<T> {
    let resp: Response;
    try {
      resp = await this.fetchFn(this.base + path, {
        ...init,
        method: httpMethod,
        credentials: 'same-origin',
        cache: 'no-store',
      });
    } catch {
      throw new BridgeError(what, 0, 'fieldsync is not answering: is `fieldsync serve` still running?');
    }
    const refused = resp.headers.get('X-Bridge-Refused') ?? undefined;
    let payload: unknown;
    try {
      payload = await resp.json();
    } catch {
      payload = undefined;
    }
    if (resp.ok && payload !== undefined) return payload as T;
    let message =
      payload && typeof payload === 'object' && typeof (payload as { error?: unknown }).error === 'string'
        ? (payload as { error: string }).error
        : `${what} failed: HTTP ${resp.status} ${resp.statusText}`.trim();
    if (refused === 'auth') {
      message = `${message} (Open the address that \`fieldsync serve\` printed; it includes the key.)`;
    }
    throw new BridgeError(what, resp.status, message, refused);
  }

  /**
   * Asks GET /api/health (no key needed) whether `fieldsync serve` answers
   * at all. Resolves false when nothing answers (the process is gone); never
   * rejects.
   */
  async health(): Promise<boolean> {
    try {
      const resp = await this.fetchFn(`${this.base}/api/health`, { method: 'GET', credentials: 'omit', cache: 'no-store' });
      return resp.ok;
    } catch {
      return false;
    }
  }

  /** Reads the CSRF token from its cookie, or '' when it is not set. */
  csrfToken(): string {
    for (const part of this.readCookies().split(';')) {
      const eq = part.indexOf('=');
      if (eq < 0) continue;
      if (part.slice(0, eq).trim() === this.csrfCookie) {
        return decodeURIComponent(part.slice(eq + 1).trim());
      }
    }
    return '';
  }

  /**
   * Listens to a Go event (the Wails EventsOn of the browser). The stream
   * opens with the first listener. "reset" means events were missed: resync.
   * Returns a function that removes the listener.
   */
  on(name: string, listener: EventListener): () => void {
    let set = this.listeners.get(name);
    if (!set) {
      set = new Set();
      this.listeners.set(name, set);
    }
    set.add(listener);
    if (this.source) this.attach(this.source, name);
    else this.connect();
    return () => {
      set.delete(listener);
    };
  }

  /**
   * Follows the stream's state. `reconnected` is true when the stream is
   * open again after it was lost: time to run the mirror loop.
   */
  onStatus(listener: (status: BridgeStatus, reconnected: boolean) => void): () => void {
    this.statusListeners.add(listener);
    listener(this.status, false);
    return () => {
      this.statusListeners.delete(listener);
    };
  }

  /** Opens the event stream unless it is open; safe to call again. */
  connect(): void {
    if (this.source || !this.ES) return;
    this.closed = false;
    const query = this.lastEventId ? `?lastEventId=${encodeURIComponent(this.lastEventId)}` : '';
    const es = new this.ES(`${this.base}/api/events${query}`);
    this.source = es;
    this.attached.clear();
    for (const name of this.listeners.keys()) this.attach(es, name);
    this.attach(es, 'reset');
    this.setStatus(this.wasOpen ? 'reconnecting' : 'connecting', false);
    es.onopen = () => {
      const reconnected = this.wasOpen;
      this.wasOpen = true;
      this.retryDelay = this.retryMin;
      this.setStatus('open', reconnected);
    };
    es.onerror = () => {
      if (es.readyState !== es.CLOSED) {
        // EventSource retries by itself and sends Last-Event-ID.
        this.setStatus('reconnecting', false);
        return;
      }
      // It gave up (HTTP error or wrong content type): find out why.
      es.close();
      if (this.source === es) this.source = undefined;
      void this.recover();
    };
  }

  /** Closes the stream; listeners stay registered for a later connect(). */
  close(): void {
    this.closed = true;
    if (this.retryTimer !== undefined) this.clearTimer(this.retryTimer);
    this.retryTimer = undefined;
    this.source?.close();
    this.source = undefined;
    this.setStatus('closed', false);
  }

  private async recover(): Promise<void> {
    if (this.closed) return;
    try {
      await this.checkSession();
    } catch (err) {
      if (err instanceof BridgeError && err.unauthorized) {
        this.setStatus('unauthorized', false); // retrying cannot help
        return;
      }
    }
    if (this.closed) return;
    this.setStatus('reconnecting', false);
    const delay = this.retryDelay;
    this.retryDelay = Math.min(this.retryDelay * 2, this.retryMax);
    this.retryTimer = this.setTimer(() => {
      this.retryTimer = undefined;
      if (!this.closed) this.connect();
    }, delay);
  }

  private attach(es: EventSource, name: string): void {
    if (this.attached.has(name)) return;
    this.attached.add(name);
    es.addEventListener(name, (ev: Event) => {
      const msg = ev as MessageEvent<string>;
      if (msg.lastEventId) this.lastEventId = msg.lastEventId;
      let args: unknown[] = [];
      try {
        const parsed: unknown = JSON.parse(msg.data);
        args = Array.isArray(parsed) ? parsed : [parsed];
      } catch {
        args = [];
      }
      for (const l of [...(this.listeners.get(name) ?? [])]) {
        try {
          l(...args);
        } catch (err) {
          // One listener's bug must not stop the others.
          globalThis.setTimeout(() => {
            throw err;
          }, 0);
        }
      }
    });
  }

  private setStatus(status: BridgeStatus, reconnected: boolean): void {
    if (status === this.status && !reconnected) return;
    this.status = status;
    for (const l of [...this.statusListeners]) l(status, reconnected);
  }
}

/** Bodies at least this long are sent as a Blob (bodyOf). */
export const BLOB_BODY_MIN = 32 * 1024;

/**
 * The request body for a call's JSON: a long one (a drain batch of 500
 * changes is ~300 KB) as a Blob, which Chromium hands to the network
 * service for about half the page's and the browser process's CPU of the
 * same text as a string (docs/BENCHMARKS.md, issue 12, sixth round); a
 * short one as the string.
 */
export function bodyOf(json: string): string | Blob {
  return json.length >= BLOB_BODY_MIN ? new Blob([json], { type: 'application/json' }) : json;
}
