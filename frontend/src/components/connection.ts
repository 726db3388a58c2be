// What the header says about the connection to fieldsync and the sync
// state, in plain words: "fieldsync is not running" (the process is gone:
// nothing answers this page) is a different thing from "Drill is offline"
// (fieldsync runs, the Drillbit cannot be reached).

import { stateLabel } from '../lib/ui/advice';
import type { Link } from '../lib/transport';
import type { Status } from '../lib/ui/ports';

/** Tone is the colour of the pill's dot. */
export type Tone = 'ok' | 'busy' | 'warn' | 'error' | 'idle';

/** Pill is the header's sync pill: a few words, a tone, and a longer hint. */
export interface Pill {
  text: string;
  tone: Tone;
  /** One sentence more, shown as the pill's tooltip and read with its name. */
  hint?: string;
}

/** LinkNotice is the banner under the header while fieldsync cannot be reached. */
export interface LinkNotice {
  title: string;
  todo: string;
}

/** PillInput is what the pill depends on. */
export interface PillInput {
  link: Link;
  /** Undefined before the first status arrived (or while booting). */
  status: Status | undefined;
  /** False when fieldsync's last answer to the session was an error. */
  connected: boolean;
  /** False when no Drillbit is set up. */
  configured: boolean;
  /** Set while the page has not booted: why it is still waiting, if it failed. */
  booting?: { error: string };
}

/** pillFor picks the header pill's words. */
export function pillFor(p: PillInput): Pill {
  if (p.link === 'down') {
    return { text: 'fieldsync is not running', tone: 'error', hint: 'Records are kept in this window until it is back.' };
  }
  if (p.link === 'session-lost') {
    return { text: 'Reconnect needed', tone: 'warn', hint: 'fieldsync was restarted: open the address it printed.' };
  }
  if (p.booting) {
    return p.booting.error ? { text: 'Not connected', tone: 'error' } : { text: 'Starting…', tone: 'idle' };
  }
  const label = stateLabel(p.status, p.connected, p.configured);
  if (p.connected && p.configured && p.status?.state === 'offline') {
    return { ...label, hint: 'fieldsync is running; the Drillbit cannot be reached. Changes are kept and sent when it is back.' };
  }
  return label;
}

/** noticeFor says what happened and what to do while fieldsync cannot be reached, or undefined. */
export function noticeFor(link: Link): LinkNotice | undefined {
  switch (link) {
    case 'down':
      return {
        title: 'fieldsync is not running.',
        todo:
          'Records you capture are kept in this window and handed to fieldsync when it is back. ' +
          'Start fieldsync again; this page notices by itself.',
      };
    case 'session-lost':
      return {
        title: 'fieldsync was restarted with a new key, so this page is no longer signed in to it.',
        todo:
          'Open the address fieldsync printed when it started (it holds a new key) in this browser. ' +
          'Records captured here are kept and handed over then.',
      };
    default:
      return undefined;
  }
}
