import { describe, expect, it } from 'vitest';
import { adviceFor, stateLabel } from './advice';
import type { Status } from './ports';

function status(state: Status['state']): Status {
  return { state, device: 'd1', pending: 0, conflicts: 0, failures: 0, quarantined: 0, clock_skew_ms: 0, progress: { phase: '', done: 0, total: 0 } };
}

describe('stateLabel', () => {
  const cases: { name: string; s: Status | undefined; connected: boolean; configured: boolean; text: string; tone: string }[] = [
    { name: 'fieldsync not answering', s: status('idle'), connected: false, configured: true, text: 'Not connected', tone: 'error' },
    { name: 'no Drillbit set up', s: status('idle'), connected: true, configured: false, text: 'Sync not set up', tone: 'idle' },
    { name: 'no status yet', s: undefined, connected: true, configured: true, text: 'Checking…', tone: 'idle' },
    { name: 'pushing', s: status('pushing'), connected: true, configured: true, text: 'Sending changes', tone: 'busy' },
    { name: 'pulling', s: status('pulling'), connected: true, configured: true, text: 'Receiving changes', tone: 'busy' },
    // Says which side is offline: fieldsync itself runs.
    { name: 'Drillbit unreachable', s: status('offline'), connected: true, configured: true, text: 'Drill is offline', tone: 'warn' },
    { name: 'last sync failed', s: status('error'), connected: true, configured: true, text: 'Sync failed', tone: 'error' },
    { name: 'idle', s: status('idle'), connected: true, configured: true, text: 'Online', tone: 'ok' },
  ];
  for (const c of cases) {
    it(c.name, () => {
      expect(stateLabel(c.s, c.connected, c.configured)).toEqual({ text: c.text, tone: c.tone });
    });
  }
});

describe('adviceFor', () => {
  const info = { drill: { configured: true } } as Parameters<typeof adviceFor>[1];
  const cases: { name: string; state: Status['state']; cause: string; want: RegExp }[] = [
    {
      name: 'a refused connection on a port holding 401 is not a login problem',
      state: 'offline',
      cause: 'every Drillbit is unreachable: Post "http://127.0.0.1:40181/query.json": dial tcp 127.0.0.1:40181: connect: connection refused',
      want: /cannot be reached/,
    },
    { name: 'a 401 is a login problem', state: 'error', cause: 'drill: HTTP 401 Unauthorized', want: /refused the user name or password/ },
    { name: 'a redirect to the login page is one too', state: 'error', cause: 'drill: auth: redirected to /mainLogin', want: /refused the user name or password/ },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const s = { ...status(c.state), cause: c.cause };
      expect(adviceFor(s, info, true)?.title).toMatch(c.want);
    });
  }
});
