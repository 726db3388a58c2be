// @vitest-environment jsdom
import { cleanup, render, screen } from '@testing-library/svelte';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import App from './App.svelte';
import { FakeTransport } from './testing/fakeTransport';
import { MemoryData } from './testing/memoryData';
import type { Services } from './lib/ui/ports';
import { FakeApi } from './testing/fixtures';

vi.setConfig({ testTimeout: 20_000 });
afterEach(cleanup);
beforeEach(() => {
  window.location.hash = '#/records';
});

const selfCheck = Promise.resolve({
  result: { indexedDB: { ok: true }, binding: { ok: true }, userAgent: 'ua', durationMs: 1 },
  reported: true,
});

describe('App boot', () => {
  it('keeps trying while fieldsync starts, says so, then shows the records screen', async () => {
    const api = new FakeApi();
    let tries = 0;
    const bootServices = vi.fn((): Promise<Services> => {
      tries++;
      if (tries === 1) return Promise.reject(new Error('fieldsync is still starting: try again in a moment'));
      return Promise.resolve({ api, data: new MemoryData(), info: api.info_ });
    });
    render(App, { transport: new FakeTransport(), selfCheck, bootServices });
    await vi.waitFor(() => expect(screen.getByTestId('booting').textContent).toContain('fieldsync is still starting'));
    expect(screen.getByTestId('sync-pill').textContent).toContain('Not connected');
    await vi.waitFor(() => expect(screen.getByRole('button', { name: 'New record' })).toBeTruthy(), { timeout: 5000 });
    expect(bootServices).toHaveBeenCalledTimes(2);
    await vi.waitFor(() => expect(screen.getByTestId('sync-pill').textContent).toContain('Online'));
  });

  it('says why nothing is pushed when no Drillbit is set up, while capture works', async () => {
    const api = new FakeApi();
    api.info_.drill = { configured: false, urls: [], workspace: '' };
    render(App, { transport: new FakeTransport(), selfCheck, services: { api, data: new MemoryData(), info: api.info_ } });
    await vi.waitFor(() => expect(screen.getByRole('button', { name: 'New record' })).toBeTruthy());
    expect(screen.getByTestId('sync-pill').textContent).toContain('Sync not set up');
  });

  const demoCases = [
    { name: 'marks demo data in the header', demo: true, badge: true },
    { name: 'says nothing of a demo over real data', demo: false, badge: false },
  ];
  for (const c of demoCases) {
    it(c.name, async () => {
      const api = new FakeApi();
      api.info_.demo = c.demo;
      render(App, { transport: new FakeTransport(), selfCheck, services: { api, data: new MemoryData(), info: api.info_ } });
      await vi.waitFor(() => expect(screen.getByRole('button', { name: 'New record' })).toBeTruthy());
      const badge = screen.queryByTestId('demo-badge');
      expect(badge !== null).toBe(c.badge);
      if (badge) expect(badge.closest('header')?.textContent).toContain('Demo data');
    });
  }

  it('says fieldsync is not running when the transport loses it, and recovers when it is back', async () => {
    const api = new FakeApi();
    const transport = new FakeTransport();
    render(App, { transport, selfCheck, services: { api, data: new MemoryData(), info: api.info_ } });
    const pill = () => screen.getByTestId('sync-pill');
    await vi.waitFor(() => expect(pill().textContent).toContain('Online'));
    expect(screen.getByTestId('connection-notice').textContent?.trim()).toBe('');

    transport.setStatus('reconnecting'); // the stream broke and nothing answers
    await vi.waitFor(() => expect(pill().textContent).toContain('fieldsync is not running'));
    expect(pill().getAttribute('aria-label')).toContain('Records are kept in this window');
    const notice = screen.getByRole('alert');
    expect(notice.textContent).toContain('fieldsync is not running.');
    expect(notice.textContent).toContain('kept in this window');

    const before = api.callsOf('status').length;
    transport.setStatus('open', true);
    await vi.waitFor(() => expect(pill().textContent).toContain('Online'));
    expect(api.callsOf('status').length).toBeGreaterThan(before);
    expect(screen.getByTestId('connection-notice').textContent?.trim()).toBe('');
  });

  it('asks to open the printed address again when fieldsync restarted with a new key', async () => {
    const api = new FakeApi();
    const transport = new FakeTransport();
    render(App, { transport, selfCheck, services: { api, data: new MemoryData(), info: api.info_ } });
    transport.setStatus('unauthorized');
    await vi.waitFor(() => expect(screen.getByTestId('sync-pill').textContent).toContain('Reconnect needed'));
    expect(screen.getByRole('alert').textContent).toContain('Open the address fieldsync printed');
  });

  it('tells "Drill is offline" (fieldsync runs) apart from fieldsync not running', async () => {
    const api = new FakeApi();
    api.status_.state = 'offline';
    render(App, { transport: new FakeTransport(), selfCheck, services: { api, data: new MemoryData(), info: api.info_ } });
    await vi.waitFor(() => expect(screen.getByTestId('sync-pill').textContent).toContain('Drill is offline'));
    expect(screen.getByTestId('sync-pill').getAttribute('aria-label')).toContain('fieldsync is running; the Drillbit cannot be reached');
  });
});
