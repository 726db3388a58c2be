// @vitest-environment jsdom
import { cleanup, render, screen } from '@testing-library/svelte';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import App from './App.svelte';
import { FakeTransport } from './lib/testing';
import { MemoryData } from './pages/memory';
import type { Services } from './pages/ports';
import { FakeApi } from './pages/testing';

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
});
