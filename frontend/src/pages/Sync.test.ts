// @vitest-environment jsdom
import { cleanup, fireEvent, render, screen } from '@testing-library/svelte';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { MemoryData, unconnectedApi } from './memory';
import type { Report } from './ports';
import { Session } from './session.svelte';
import Sync from './Sync.svelte';
import { FakeApi } from './testing';

vi.setConfig({ testTimeout: 20_000 });
afterEach(cleanup);

async function setup(api: FakeApi | ReturnType<typeof unconnectedApi> = new FakeApi()) {
  const services = { api, data: new MemoryData() };
  const session = new Session(services);
  await session.start();
  render(Sync, { services, session });
  return { session, services };
}

describe('Sync', () => {
  it('says why nothing is pushed when no Drillbit is set up, and keeps capture working', async () => {
    const api = new FakeApi();
    api.info_.drill = { configured: false, urls: [], workspace: '' };
    await setup(api);
    expect(screen.getByTestId('sync-state').textContent).toContain('Sync not set up');
    const advice = screen.getByTestId('sync-advice');
    expect(advice.textContent).toContain('Nothing is pushed: no Drillbit is set up yet.');
    expect(advice.textContent).toContain('Capture and browsing work on this device');
    expect(screen.getByRole('link', { name: 'Open Settings' }).getAttribute('href')).toBe('#/settings');
    expect(screen.getByRole<HTMLButtonElement>('button', { name: 'Sync now' }).disabled).toBe(true);
  });

  it('explains a refused password in plain words with what to do', async () => {
    const api = new FakeApi();
    api.status_ = { ...api.status_, state: 'error', last_error: 'drill: login: 401 Unauthorized', failures: 2 };
    await setup(api);
    expect(screen.getByTestId('sync-state').textContent).toContain('Sync failed');
    expect(screen.getByTestId('sync-advice').textContent).toContain('Drill refused the user name or password.');
    expect(screen.getByTestId('sync-advice').textContent).toContain('set the password again in Settings');
  });

  it('counts pending changes in Go and in this window, and the last and next run', async () => {
    const api = new FakeApi();
    api.status_ = { ...api.status_, pending: 5, last_success: new Date(Date.now() - 120_000).toISOString(), next_run: new Date(Date.now() + 300_000).toISOString() };
    const { services } = await setup(api);
    await services.data.put('inspections', undefined, { site: 'a', status: 'open' });
    await vi.waitFor(() => expect(screen.getByTestId('pending-count').textContent).toBe('6'));
    expect(screen.getByTestId('last-success').textContent).toBe('2 min ago');
    expect(screen.getByTestId('next-run').textContent).toContain('in 5 min');
  });

  it('disables Sync now while running, shows progress from sync:progress, then the result', async () => {
    const api = new FakeApi();
    let finish!: (r: Report) => void;
    api.syncNow = () => new Promise<Report>((r) => (finish = r));
    await setup(api);
    const button = screen.getByTestId('sync-now') as HTMLButtonElement;
    await fireEvent.click(button);
    expect(button.disabled).toBe(true);
    expect(button.textContent?.trim()).toBe('Syncing…');
    api.emit('sync:progress', { phase: 'push', done: 30, total: 120 });
    await vi.waitFor(() => expect(screen.getByTestId('sync-progress').textContent).toContain('30 of 120'));
    expect(screen.getByRole('progressbar', { name: 'Sending changes to Drill' })).toBeTruthy();
    finish({ pushed: 120, batches: 1, pulled: 3, pulled_batches: 1, conflicts: 1, auto_resolved: 0, unpushable: [], started_at: 0, finished_at: 0 });
    await vi.waitFor(() => expect(screen.getByTestId('sync-result').textContent).toContain('120 sent, 3 received; 1 conflict to review'));
    expect(button.disabled).toBe(false);
  });

  it('hands the window\'s queued changes to Go before asking it to sync', async () => {
    const api = new FakeApi();
    const order: string[] = [];
    const { services } = await setup(api);
    const data = services.data as MemoryData & { flush?: () => Promise<void> };
    data.flush = () => {
      order.push('flush');
      return Promise.resolve();
    };
    const sync = api.syncNow.bind(api);
    api.syncNow = () => {
      order.push('sync');
      return sync();
    };
    await fireEvent.click(screen.getByTestId('sync-now'));
    await vi.waitFor(() => expect(order).toEqual(['flush', 'sync']));
  });

  it('counts changes Drill refuses as Go reports them (a number in Status)', async () => {
    const api = new FakeApi();
    Object.assign(api.status_, { unpushable: 3, unpushable_reason: 'doc is larger than 1 MiB' });
    await setup(api);
    expect(screen.getByTestId('unpushable').textContent).toContain('3 changes cannot be sent');
    expect(screen.getByTestId('unpushable').textContent).toContain('Why: doc is larger than 1 MiB');
  });

  it('says the window is not connected when Go does not answer', async () => {
    await setup(unconnectedApi('fieldsync is not answering'));
    expect(screen.getByTestId('sync-state').textContent).toContain('Not connected');
    expect(screen.getByTestId('sync-advice').textContent).toContain('handed to fieldsync once it answers again');
  });
});
