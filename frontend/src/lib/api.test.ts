import { describe, expect, it } from 'vitest';
import { createApi, type Api } from './api';
import { FakeTransport } from '../testing/fakeTransport';

describe('createApi', () => {
  const settings = {
    drill_urls: ['http://127.0.0.1:8047'],
    workspace: 'dfs.fieldsync',
    auth: 'none' as const,
    user: '',
    ca_file: '',
    schedule: '*/5 * * * *',
    collections: [],
  };
  it.each<[string, (a: Api) => Promise<unknown>, string, unknown[]]>([
    ['info', (a) => a.info(), 'UI.Info', []],
    ['accept', (a) => a.accept([]), 'UI.Accept', [[]]],
    ['mirrorSince', (a) => a.mirrorSince(7, 500), 'UI.MirrorSince', [7, 500]],
    ['records', (a) => a.records('trees', 'r1', 100), 'UI.Records', ['trees', 'r1', 100]],
    ['record', (a) => a.record('trees', 'r1'), 'UI.Record', ['trees', 'r1']],
    ['history', (a) => a.history('trees', 'r1'), 'UI.History', ['trees', 'r1']],
    ['pendingIDs', (a) => a.pendingIDs(), 'UI.PendingIDs', []],
    ['status', (a) => a.status(), 'UI.Status', []],
    ['syncNow', (a) => a.syncNow(), 'UI.SyncNow', []],
    ['conflicts', (a) => a.conflicts({ collection: 'trees' }), 'UI.Conflicts', [{ collection: 'trees' }]],
    ['conflict', (a) => a.conflict('trees', 'r1'), 'UI.Conflict', ['trees', 'r1']],
    ['settledByRules', (a) => a.settledByRules(20), 'UI.SettledByRules', [20]],
    ['resolve', (a) => a.resolve('trees', 'r1', { take: 'merge', doc: { a: 1 } }), 'UI.Resolve', ['trees', 'r1', { take: 'merge', doc: { a: 1 } }]],
    ['keepBoth', (a) => a.keepBoth('trees', 'r1'), 'UI.KeepBoth', ['trees', 'r1']],
    ['resolveMany', (a) => a.resolveMany([{ collection: 'trees', record_id: 'r1' }], 'newest'), 'UI.ResolveMany', [[{ collection: 'trees', record_id: 'r1' }], 'newest']],
    ['settings', (a) => a.settings(), 'UI.Settings', []],
    ['saveSettings', (a) => a.saveSettings(settings), 'UI.SaveSettings', [settings]],
    ['setPassword', (a) => a.setPassword('s3cret'), 'UI.SetPassword', ['s3cret']],
    ['testConnection', (a) => a.testConnection(settings), 'UI.TestConnection', [settings]],
    ['describeSchedule', (a) => a.describeSchedule('@hourly'), 'UI.DescribeSchedule', ['@hourly']],
  ])('%s calls %s', async (_name, call, method, args) => {
    const t = new FakeTransport();
    t.handlers[method] = () => ({ ok: true });
    const a = createApi(t);
    await call(a);
    expect(t.calls).toEqual([{ method, args }]);
  });

  it.each<[string, (a: Api) => Promise<unknown>, string]>([
    ['pendingIDs', (a) => a.pendingIDs(), 'UI.PendingIDs'],
    ['conflicts', (a) => a.conflicts({}), 'UI.Conflicts'],
    ['settledByRules', (a) => a.settledByRules(0), 'UI.SettledByRules'],
    ['testConnection', (a) => a.testConnection({} as never), 'UI.TestConnection'],
  ])('%s turns Go nil into an empty list', async (_name, call, method) => {
    const t = new FakeTransport();
    t.handlers[method] = () => null;
    await expect(call(createApi(t))).resolves.toEqual([]);
  });

  it('hands events their first argument', () => {
    const t = new FakeTransport();
    const a = createApi(t);
    const got: unknown[] = [];
    const offs = [
      a.onStatus((s) => got.push(['status', s.state])),
      a.onProgress((p) => got.push(['progress', p.done])),
      a.onApplied((e) => got.push(['applied', e.collection])),
      a.onConflict((e) => got.push(['conflict', e.record_id])),
      a.onReset(() => got.push(['reset'])),
    ];
    t.emit('sync:status', { state: 'pushing' });
    t.emit('sync:progress', { phase: 'push', done: 3, total: 9 });
    t.emit('sync:applied', { collection: 'trees', batch: 'b', changes: [] });
    t.emit('sync:conflict', { collection: 'trees', record_id: 'r1' });
    t.emit('reset');
    for (const off of offs) off();
    t.emit('sync:status', { state: 'idle' });
    expect(got).toEqual([['status', 'pushing'], ['progress', 3], ['applied', 'trees'], ['conflict', 'r1'], ['reset']]);
  });
});
