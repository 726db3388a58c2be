// Plain words for sync states and errors, with what to do about them.

import type { Info, Status } from './ports';

/** Advice is a sentence saying what happened and one saying what to do. */
export interface Advice {
  title: string;
  todo: string;
  /** Where the fix is made, when it is in the app. */
  link?: { href: string; label: string };
}

const settings = { href: '#/settings', label: 'Open Settings' };

/**
 * adviceFor explains why nothing is pushed or why the last sync failed, or
 * returns undefined when all is well.
 */
export function adviceFor(status: Status | undefined, info: Info | undefined, connected: boolean): Advice | undefined {
  if (!connected) {
    return {
      title: 'This window is not connected to fieldsync.',
      todo: 'Records you capture are kept in this window’s storage and are handed to fieldsync once it answers again. If this lasts, restart fieldsync.',
    };
  }
  if (info && !info.drill.configured) {
    return {
      title: 'Nothing is pushed: no Drillbit is set up yet.',
      todo: 'Capture and browsing work on this device as usual. Add the Drillbit address in Settings to start syncing.',
      link: settings,
    };
  }
  if (!status) return undefined;
  const text = `${status.last_error ?? ''} ${status.cause ?? ''}`.toLowerCase();
  if (status.state !== 'error' && status.state !== 'offline' && !status.last_error) return undefined;
  // Whole words for the status codes: a port such as 40181 in a URL is not a 401.
  if (/\b40[13]\b|auth|password|credential|login|unauthori[sz]ed|forbidden/.test(text)) {
    return {
      title: 'Drill refused the user name or password.',
      todo: 'Check the user and set the password again in Settings, then use “Test connection”.',
      link: settings,
    };
  }
  if (/certificate|x509|tls/.test(text)) {
    return {
      title: 'The Drillbit’s certificate is not trusted.',
      todo: 'Ask IT for the CA file and set it in Settings.',
      link: settings,
    };
  }
  if (/workspace|schema|not found|permission denied|read-only/.test(text)) {
    return {
      title: 'Drill cannot write to the workspace.',
      todo: 'Check the workspace name in Settings; the workspace must be writable. “Test connection” shows which check fails.',
      link: settings,
    };
  }
  if (status.state === 'offline' || /refused|unreachable|timeout|no such host|dial|connect|network|eof/.test(text)) {
    return {
      title: 'The Drillbit cannot be reached.',
      todo: 'Your changes are kept on this device and sent automatically when it is reachable again. Check the network, or whether the Drillbit is running.',
    };
  }
  return {
    title: 'The last sync failed.',
    todo: 'Your changes are kept on this device. Try “Sync now”; if it fails again, “Test connection” in Settings shows which step fails.',
    link: settings,
  };
}

/** stateLabel names the sync state for people. */
export function stateLabel(s: Status | undefined, connected: boolean, configured: boolean): { text: string; tone: 'ok' | 'busy' | 'warn' | 'error' | 'idle' } {
  if (!connected) return { text: 'Not connected', tone: 'error' };
  if (!configured) return { text: 'Sync not set up', tone: 'idle' };
  if (!s) return { text: 'Checking…', tone: 'idle' };
  switch (s.state) {
    case 'pushing':
      return { text: 'Sending changes', tone: 'busy' };
    case 'pulling':
      return { text: 'Receiving changes', tone: 'busy' };
    case 'offline':
      return { text: 'Drill is offline', tone: 'warn' };
    case 'error':
      return { text: 'Sync failed', tone: 'error' };
    default:
      return { text: 'Online', tone: 'ok' };
  }
}
