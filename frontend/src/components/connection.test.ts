import { describe, expect, it } from 'vitest';
import type { Link } from '../lib/transport';
import type { Status } from '../lib/ui/ports';
import { noticeFor, pillFor, type PillInput } from './connection';

const status = (state: Status['state']): Status => ({
  state,
  device: 'tab-1',
  pending: 0,
  conflicts: 0,
  failures: 0,
  quarantined: 0,
  clock_skew_ms: 0,
  progress: { phase: '', done: 0, total: 0 },
});

const base: PillInput = { link: 'up', status: status('idle'), connected: true, configured: true };

describe('pillFor', () => {
  const cases: { name: string; in: Partial<PillInput>; text: string; tone: string }[] = [
    { name: 'online', in: {}, text: 'Online', tone: 'ok' },
    { name: 'fieldsync gone', in: { link: 'down' }, text: 'fieldsync is not running', tone: 'error' },
    { name: 'gone wins over an old offline status', in: { link: 'down', status: status('offline') }, text: 'fieldsync is not running', tone: 'error' },
    { name: 'restarted with a new key', in: { link: 'session-lost' }, text: 'Reconnect needed', tone: 'warn' },
    { name: 'Drill unreachable, fieldsync up', in: { status: status('offline') }, text: 'Drill is offline', tone: 'warn' },
    { name: 'Drill not set up', in: { configured: false, status: status('offline') }, text: 'Sync not set up', tone: 'idle' },
    { name: 'a sync running', in: { status: status('pushing') }, text: 'Sending changes', tone: 'busy' },
    { name: 'Go answered with an error', in: { connected: false }, text: 'Not connected', tone: 'error' },
    { name: 'still booting', in: { link: 'connecting', booting: { error: '' } }, text: 'Starting…', tone: 'idle' },
    { name: 'boot failing', in: { link: 'connecting', booting: { error: 'still starting' } }, text: 'Not connected', tone: 'error' },
    { name: 'boot failing because it is gone', in: { link: 'down', booting: { error: 'not answering' } }, text: 'fieldsync is not running', tone: 'error' },
  ];
  for (const tc of cases) {
    it(tc.name, () => {
      const p = pillFor({ ...base, ...tc.in });
      expect([p.text, p.tone]).toEqual([tc.text, tc.tone]);
    });
  }
});

describe('noticeFor', () => {
  it('explains only the states where fieldsync cannot be reached', () => {
    const links: Link[] = ['connecting', 'up', 'down', 'session-lost'];
    expect(links.map((l) => noticeFor(l)?.title)).toEqual([
      undefined,
      undefined,
      'fieldsync is not running.',
      'fieldsync was restarted with a new key, so this page is no longer signed in to it.',
    ]);
    expect(noticeFor('down')?.todo).toMatch(/kept in this window/);
  });
});
