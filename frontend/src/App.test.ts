// @vitest-environment jsdom
import { flushSync, mount, unmount } from 'svelte';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import App from './App.svelte';
import type { SelfCheckRun } from './lib/selfcheck';
import { FakeTransport } from './testing/fakeTransport';

const passed: SelfCheckRun = {
  result: { indexedDB: { ok: true }, binding: { ok: true }, userAgent: 'ua', durationMs: 1 },
  reported: true,
};

let app: ReturnType<typeof mount> | undefined;
let target: HTMLElement;

function render(selfCheck: Promise<SelfCheckRun> = Promise.resolve(passed)) {
  app = mount(App, { target, props: { transport: new FakeTransport(), selfCheck } });
  flushSync();
}

function navLinks(): HTMLAnchorElement[] {
  return Array.from(document.querySelectorAll<HTMLAnchorElement>('nav[aria-label="Main"] a'));
}

beforeEach(() => {
  window.location.hash = '';
  target = document.createElement('div');
  document.body.appendChild(target);
});

afterEach(() => {
  if (app) unmount(app);
  app = undefined;
  target.remove();
});

describe('App shell', () => {
  it('has a labelled main navigation with the four screens, Records current', () => {
    render();
    const links = navLinks();
    expect(links.map((a) => a.textContent?.trim())).toEqual(['Records', 'Sync', 'Conflicts', 'Settings']);
    expect(links.map((a) => a.getAttribute('href'))).toEqual(['#/records', '#/sync', '#/conflicts', '#/settings']);
    expect(links.filter((a) => a.getAttribute('aria-current') === 'page').map((a) => a.textContent?.trim())).toEqual([
      'Records',
    ]);
    expect(document.querySelector('main h1')?.textContent).toBe('Records');
    expect(document.querySelector('header')?.textContent).toContain('fieldsync');
  });

  it('offers a skip link to the main content', () => {
    render();
    const skip = document.querySelector<HTMLAnchorElement>('a.skip-link');
    expect(skip?.getAttribute('href')).toBe('#main');
    expect(document.getElementById('main')?.tagName).toBe('MAIN');
  });

  it('follows the hash and moves focus to the new heading', async () => {
    render();
    window.location.hash = '#/conflicts';
    await vi.waitFor(() => expect(document.querySelector('main h1')?.textContent).toBe('Conflicts'));
    const current = navLinks().filter((a) => a.getAttribute('aria-current') === 'page');
    expect(current.map((a) => a.textContent?.trim())).toEqual(['Conflicts']);
    await vi.waitFor(() => expect(document.activeElement).toBe(document.querySelector('main h1')));
    expect(document.title).toBe('Conflicts · fieldsync');
  });

  it('shows the self-check result in a live status region', async () => {
    let resolve!: (r: SelfCheckRun) => void;
    render(new Promise((r) => (resolve = r)));
    const status = document.querySelector('[data-testid="selfcheck-status"]');
    expect(status?.getAttribute('role')).toBe('status');
    expect(status?.textContent).toContain('Running self-check');
    resolve(passed);
    await vi.waitFor(() => expect(status?.textContent).toContain('Self-check passed'));
  });

  it('says what failed when the self-check failed', async () => {
    render(
      Promise.resolve({
        result: { ...passed.result, indexedDB: { ok: false, error: 'QuotaExceededError: full' } },
        reported: true,
      }),
    );
    const status = document.querySelector('[data-testid="selfcheck-status"]');
    await vi.waitFor(() =>
      expect(status?.textContent).toContain('local storage (IndexedDB) failed: QuotaExceededError: full'),
    );
  });
});
