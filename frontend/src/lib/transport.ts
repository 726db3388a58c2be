// The one module that talks to Go. Nothing else in the frontend may touch
// window.go or the network bridge: screens and the data layer take a
// Transport and stay testable with a fake.
//
// - In the desktop window, WailsTransport calls the bindings Wails injects as
//   window.go.app.App.<Method> (see app/app.go). We wrap window.go ourselves
//   instead of importing the generated wailsjs/ folder, so nothing generated
//   has to be committed or built first.
// - In a browser (issue 4: `fieldsync serve`), HttpTransport will make the
//   same calls over the loopback HTTP bridge. Until then it reports that it
//   is not connected.

import type { SelfCheckResult } from './types';

/** What the frontend can ask of Go. Every method maps to one App binding. */
export interface Transport {
  /** Which implementation this is; shown in the status bar. */
  readonly kind: 'wails' | 'http';
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
    readonly method: string,
    message: string,
  ) {
    super(message);
  }
}

/** The transport has no connection to Go. */
export class NotConnectedError extends TransportError {
  override readonly name = 'NotConnectedError';
}

/** The bound methods of app.App as Wails exposes them on window.go. */
export interface WailsAppBindings {
  Ping(msg: string): Promise<string>;
  Version(): Promise<string>;
  ReportSelfCheck(result: SelfCheckResult): Promise<void>;
}

/** The part of window this module reads. */
export interface TransportHost {
  go?: { app?: { App?: Partial<WailsAppBindings> } };
}

/** Finds the Wails bindings of app.App on host, or undefined outside Wails. */
export function wailsBindings(host: TransportHost): WailsAppBindings | undefined {
  const app = host.go?.app?.App;
  if (
    app &&
    typeof app.Ping === 'function' &&
    typeof app.Version === 'function' &&
    typeof app.ReportSelfCheck === 'function'
  ) {
    return app as WailsAppBindings;
  }
  return undefined;
}

/** Turns whatever a binding rejected with into a TransportError. */
function toTransportError(method: string, err: unknown): TransportError {
  if (err instanceof TransportError) return err;
  if (err instanceof Error) return new TransportError(method, err.message);
  // Wails rejects with the Go error's text as a plain string.
  if (typeof err === 'string' && err !== '') return new TransportError(method, err);
  return new TransportError(method, `${method} failed without a message`);
}

async function call<T>(method: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw toTransportError(method, err);
  }
}

/** Transport over the Wails bindings in the desktop window. */
export class WailsTransport implements Transport {
  readonly kind = 'wails';
  constructor(private readonly app: WailsAppBindings) {}

  ping(msg: string): Promise<string> {
    return call('Ping', () => this.app.Ping(msg));
  }

  version(): Promise<string> {
    return call('Version', () => this.app.Version());
  }

  async reportSelfCheck(result: SelfCheckResult): Promise<void> {
    await call('ReportSelfCheck', () => this.app.ReportSelfCheck(result));
  }
}

/**
 * Transport over the loopback HTTP bridge of `fieldsync serve`. The bridge
 * does not exist yet (issue 4); every call fails with NotConnectedError so
 * the UI says so instead of hanging.
 */
export class HttpTransport implements Transport {
  readonly kind = 'http';
  constructor(readonly baseURL: string) {}

  private notConnected(method: string): Promise<never> {
    return Promise.reject(
      new NotConnectedError(
        method,
        'Not connected to fieldsync: this page runs outside the desktop window and the browser bridge is not available yet.',
      ),
    );
  }

  ping(): Promise<string> {
    return this.notConnected('Ping');
  }

  version(): Promise<string> {
    return this.notConnected('Version');
  }

  reportSelfCheck(): Promise<void> {
    return this.notConnected('ReportSelfCheck');
  }
}

/**
 * Picks the transport for this page: the Wails bindings when they are
 * present, otherwise the HTTP bridge at the page's own origin.
 */
export function createTransport(host: TransportHost & { location?: { origin: string } }): Transport {
  const app = wailsBindings(host);
  if (app) return new WailsTransport(app);
  return new HttpTransport(host.location?.origin ?? '');
}
