// @vitest-environment jsdom
import 'fake-indexeddb/auto';
import { IDBFactory } from 'fake-indexeddb';
import { cleanup, fireEvent, render, screen, within } from '@testing-library/svelte';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createApi } from '../lib/api';
import { FakeGo } from '../testing/fakeGo';
import { DataStore } from '../lib/data/store';
import type { RefusedExport } from '../lib/data/refusal';
import type { DataStatus } from '../lib/data/types';
import { MemoryData, unconnectedApi } from '../testing/memoryData';
import type { Report } from '../lib/ui/ports';
import { Session } from './session.svelte';
import Sync from './Sync.svelte';
import { FakeApi, inspections } from '../testing/fixtures';

vi.setConfig({ testTimeout: 20_000 });
const stores: DataStore[] = [];
afterEach(() => {
  cleanup();
  for (const d of stores.splice(0)) d.close();
});

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
    finish({ pushed: 120, batches: 1, pulled: 3, pulled_batches: 1, incomplete: 0, waiting: 0, quarantined: 0, conflicts: 1, auto_resolved: 0, views_refreshed: 0, unpushable: [], started_at: 0, finished_at: 0 });
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

function statusOf(d: DataStore): DataStatus {
  let v: DataStatus | undefined;
  d.status.subscribe((x) => (v = x))();
  if (!v) throw new Error('no status');
  return v;
}

describe('Sync: refused changes', () => {
  const siteRequired = 'invalid change "0f": inspections invalid record: site is required; score must be a whole number, not text';

  /** The Sync screen over the real data layer (IndexedDB) whose Go side is FakeGo. */
  async function setupRefused(reject: (c: { record_id: string; doc?: Record<string, unknown> }) => string | undefined) {
    const go = new FakeGo({ device: 'tab-1', collections: ['inspections'] });
    const data = await DataStore.open({
      indexedDB: new IDBFactory(),
      api: createApi(go.transport),
      debounceMs: 60_000, // the test flushes; retries run the loop at once
      retryMinMs: 60_000,
      channel: null,
    });
    stores.push(data);
    const api = new FakeApi();
    const services = { api, data };
    const session = new Session(services);
    await session.start();
    go.reject = reject;
    return { go, data, session, services };
  }

  async function renderSync(s: Awaited<ReturnType<typeof setupRefused>>) {
    render(Sync, { services: s.services, session: s.session });
    await vi.waitFor(() => expect(screen.getAllByTestId('refused-item').length).toBeGreaterThan(0));
  }

  const items = () => screen.getAllByTestId('refused-item');
  const item = (label: string) => {
    const it = items().find((el) => el.querySelector('h3')?.textContent?.includes(label));
    if (!it) throw new Error(`no refused change for ${label}`);
    return it;
  };

  it('lists each refused change with its record, what it was, when, and why in plain words', async () => {
    const s = await setupRefused((c) => (c.doc?.['site'] === '' || c.doc === undefined ? siteRequired : undefined));
    const kept = await s.data.put('inspections', 'r-kept', { site: 'North well', status: 'open' });
    await s.data.flush();
    await s.data.put('inspections', 'r-new', { site: '', status: 'open', score: 'three' });
    await s.data.put('inspections', kept.record_id, { site: '', status: 'closed' });
    await s.data.flush();
    await s.data.remove('inspections', kept.record_id);
    await s.data.flush();
    await renderSync(s);

    expect(screen.getByTestId('rejected-note').textContent).toContain('3 changes were refused by fieldsync');
    expect(items()).toHaveLength(3);
    const create = item('open'); // no site: the label falls back to the status
    expect(create.querySelector('h3')?.textContent).toMatch(/New record\s+open\s+in Inspections/);
    expect(create.textContent).toContain('Record r-new');
    expect(create.textContent).toMatch(/refused\s+(just now|\d+ (s|sec|min) ago)/);
    expect(within(create).getByTestId('refused-why').textContent).toContain('does not match what the Inspections form requires');
    expect(within(create).getByTestId('refused-fields').textContent).toContain('Site is required');
    expect(within(create).getByTestId('refused-fields').textContent).toContain('Score must be a whole number, not text');
    expect(create.querySelector('details')?.textContent).toContain('inspections invalid record: site is required');
    expect(create.querySelector('details')?.textContent).not.toContain('invalid change "0f"');
    // Kinds: a create, an edit (its record was deleted since), a delete.
    const kinds = items().map((el) => el.querySelector('.tag-kind')?.textContent);
    expect(kinds.sort()).toEqual(['Delete', 'Edit', 'New record']);
    // Open record only where the record exists in this window.
    const open = within(create).getByRole('link', { name: /Open record/ });
    expect(open.getAttribute('href')).toBe('#/records/inspections/r-new');
    expect(items().filter((el) => within(el).queryByTestId('refused-open'))).toHaveLength(1);
  });

  it('tries again: a change Go refuses again comes back with the new reason, one Go accepts leaves the list', async () => {
    const s = await setupRefused(() => siteRequired);
    await s.data.put('inspections', 'a', { site: '', status: 'open' });
    await s.data.put('inspections', 'b', { site: 'Bridge', status: 'shut' });
    await s.data.flush();
    await renderSync(s);
    expect(items()).toHaveLength(2);

    s.go.reject = () => 'invalid change "0f": inspections invalid record: status must be one of open, closed, follow-up, not "shut"';
    await fireEvent.click(within(item('Bridge')).getByRole('button', { name: /Try again/ }));
    // Sent again at once; refused again, it comes back with the new reason.
    await vi.waitFor(() => expect(within(item('Bridge')).queryByTestId('refused-again')).toBeTruthy());
    expect(within(item('Bridge')).getByTestId('refused-fields').textContent).toContain('Status must be one of open, closed, follow-up');
    expect(statusOf(s.data)).toMatchObject({ rejected: 2, outbox: 0 });

    // Fixed on the Go side: accepted, gone from the list, focus on the change left.
    s.go.reject = () => undefined;
    await fireEvent.click(within(item('Bridge')).getByRole('button', { name: /Try again/ }));
    await vi.waitFor(() => expect(items()).toHaveLength(1));
    const left = items()[0];
    expect(document.activeElement).toBe(left?.querySelector('h3'));
    expect(screen.getByTestId('refused-announce').textContent).toContain('sent to fieldsync again');
    await vi.waitFor(() => expect(s.go.journal.map((c) => c.record_id)).toEqual(['b']));
    await vi.waitFor(() => expect(statusOf(s.data)).toMatchObject({ rejected: 1, outbox: 0 }));

    // The last one: the list is empty and focus lands on the section heading.
    await fireEvent.click(within(items()[0] as HTMLElement).getByRole('button', { name: /Try again/ }));
    await vi.waitFor(() => expect(screen.getByTestId('refused-empty')).toBeTruthy());
    expect(document.activeElement).toBe(screen.getByRole('heading', { name: 'Refused changes' }));
    await vi.waitFor(() => expect(screen.queryByTestId('rejected-note')).toBeNull());
  });

  it('discards only after a confirmation that says what is lost, with a download next to it', async () => {
    const s = await setupRefused(() => siteRequired);
    await s.data.put('inspections', 'n1', { site: 'Only here', status: 'open', score: 4 });
    await s.data.put('inspections', 'n2', { site: 'Other', status: 'open' });
    await s.data.flush();
    await renderSync(s);
    const it = item('Only here');
    const discardButton = within(it).getByRole('button', { name: /Discard/ });

    await fireEvent.click(discardButton);
    const confirm = within(it).getByTestId('refused-confirm');
    expect(document.activeElement).toBe(confirm);
    expect(discardButton.getAttribute('aria-expanded')).toBe('true');
    expect(confirm.textContent).toContain('The new record “Only here” exists only on this device and will be removed');
    expect(confirm.textContent).toMatch(/Score\s*4/);
    expect(within(confirm).getByRole('button', { name: 'Download as JSON' })).toBeTruthy();
    // Escape keeps it and gives focus back to Discard.
    await fireEvent.keyDown(confirm, { key: 'Escape' });
    expect(within(it).queryByTestId('refused-confirm')).toBeNull();
    expect(document.activeElement).toBe(discardButton);
    expect(await s.data.get('inspections', 'n1')).toBeTruthy();

    await fireEvent.click(discardButton);
    await fireEvent.click(within(it).getByRole('button', { name: 'Discard change' }));
    await vi.waitFor(() => expect(items()).toHaveLength(1));
    expect(document.activeElement).toBe(items()[0]?.querySelector('h3'));
    expect(screen.getByTestId('refused-announce').textContent).toContain('“Only here” was discarded');
    expect(await s.data.get('inspections', 'n1')).toBeUndefined(); // Go never had it
    expect(statusOf(s.data).rejected).toBe(1);
  });

  it('shows why a discard did not happen and keeps the change', async () => {
    const s = await setupRefused(() => siteRequired);
    await s.data.put('inspections', 'e1', { site: 'Kept', status: 'open' });
    await s.data.flush();
    await renderSync(s);
    s.go.offline = true;
    await fireEvent.click(within(item('Kept')).getByRole('button', { name: /Discard/ }));
    await fireEvent.click(screen.getByRole('button', { name: 'Discard change' }));
    await vi.waitFor(() => expect(screen.getByTestId('refused-error').textContent).toContain('fieldsync is not answering'));
    expect(items()).toHaveLength(1);
    expect(statusOf(s.data).rejected).toBe(1);
  });

  it('downloads one change or all of them as JSON for support', async () => {
    const s = await setupRefused(() => siteRequired);
    await s.data.put('inspections', 'j1', { site: 'One', status: 'open' });
    await s.data.put('inspections', 'j2', { site: 'Two', status: 'open' });
    await s.data.flush();
    const saved: { name: string; json: string }[] = [];
    const { default: RefusedChanges } = await import('../components/RefusedChanges.svelte');
    render(RefusedChanges, {
      data: s.data,
      collections: [inspections],
      device: 'tab-1',
      connected: true,
      save: (name: string, json: string) => saved.push({ name, json }),
      now: () => Date.UTC(2026, 10, 23, 21, 5),
    });
    await vi.waitFor(() => expect(items()).toHaveLength(2));
    await fireEvent.click(screen.getByRole('button', { name: 'Download all as JSON' }));
    await fireEvent.click(within(item('One')).getByRole('button', { name: /Download as JSON/ }));
    expect(saved.map((x) => x.name)).toEqual([
      'fieldsync-refused-tab-1-all-20261123-2105.json',
      'fieldsync-refused-inspections-j1-20261123-2105.json',
    ]);
    const all = JSON.parse(saved[0]?.json ?? '') as RefusedExport;
    expect(all).toMatchObject({ kind: 'fieldsync-refused-changes', device: 'tab-1', exported_at: '2026-11-23T21:05:00.000Z' });
    expect(all.changes.map((c) => [c.record_id, c.record_label, c.kind])).toEqual(
      expect.arrayContaining([['j1', 'One', 'create'], ['j2', 'Two', 'create']]),
    );
    expect(all.changes[0]?.change.doc).toBeTruthy();
    expect(all.changes[0]?.reason).toBe(siteRequired);
    expect(all.changes[0]?.reason_plain).toContain('Inspections form');
    const one = JSON.parse(saved[1]?.json ?? '') as RefusedExport;
    expect(one.changes.map((c) => c.record_id)).toEqual(['j1']);
  });

  it('shows the JSON to copy in the desktop window, whose webview does not download files', async () => {
    const s = await setupRefused(() => siteRequired);
    await s.data.put('inspections', 'w1', { site: 'Weir', status: 'open' });
    await s.data.flush();
    const host = window as { go?: unknown };
    host.go = { app: {} };
    try {
      await renderSync(s);
      const button = within(item('Weir')).getByRole('button', { name: /Download as JSON/ });
      button.focus();
      await fireEvent.click(button);
      const box = screen.getByRole<HTMLTextAreaElement>('textbox', { name: 'Refused changes as JSON' });
      expect(document.activeElement).toBe(box);
      expect((JSON.parse(box.value) as RefusedExport).changes.map((c) => c.record_id)).toEqual(['w1']);
      expect(screen.getByTestId('refused-json').textContent).toMatch(/fieldsync-refused-inspections-w1-\d{8}-\d{4}\.json/);
      await fireEvent.click(screen.getByRole('button', { name: 'Close' }));
      expect(screen.queryByTestId('refused-json')).toBeNull();
      expect(document.activeElement).toBe(button);
    } finally {
      delete host.go;
    }
  });

  it('tries every change again at once, for after the cause was fixed', async () => {
    const s = await setupRefused(() => siteRequired);
    await s.data.put('inspections', 'k1', { site: 'Kiln', status: 'open' });
    await s.data.put('inspections', 'k2', { site: 'Keep', status: 'open' });
    await s.data.put('inspections', 'k3', { site: 'Knoll', status: 'open' });
    await s.data.flush();
    await renderSync(s);
    s.go.reject = (c) => (c.record_id === 'k2' ? siteRequired : undefined);
    await fireEvent.click(screen.getByRole('button', { name: 'Try all 3 again' }));
    await vi.waitFor(() => expect(items()).toHaveLength(1));
    await vi.waitFor(() => expect(within(item('Keep')).queryByTestId('refused-again')).toBeTruthy());
    expect(document.activeElement).toBe(screen.getByRole('heading', { name: 'Refused changes' }));
    expect(screen.getByTestId('refused-announce').textContent).toContain('3 changes were sent to fieldsync again');
    expect(screen.queryByRole('button', { name: /Try all/ })).toBeNull(); // one left: its own button does
    await vi.waitFor(() => expect(s.go.journal.map((c) => c.record_id).sort()).toEqual(['k1', 'k3']));
  });

  it('lists 50 changes at a time and moves focus to the first one shown next', async () => {
    const s = await setupRefused(() => siteRequired);
    await s.data.putMany(
      'inspections',
      Array.from({ length: 55 }, (_, i) => ({ id: `m${i}`, doc: { site: `Site ${i}`, status: 'open' } })),
    );
    await s.data.flush();
    await renderSync(s);
    expect(items()).toHaveLength(50);
    await fireEvent.click(screen.getByRole('button', { name: 'Show 5 more (5 not shown)' }));
    expect(items()).toHaveLength(55);
    expect(document.activeElement).toBe(items()[50]?.querySelector('h3'));
    expect(screen.queryByTestId('refused-more')).toBeNull();
  });

  it('tells IT in plain words about data from Drill set aside, and a clock that is off', async () => {
    const api = new FakeApi();
    Object.assign(api.status_, {
      quarantined: 2,
      quarantine_reasons: ['row 1 of batch 001_evil_000000000001 (inspections): change_id is NULL',
        'batch 002_dead_000000000001 of inspections: Drill could not read the batch: SYSTEM ERROR: IOException: not a Parquet file\n\n[Error Id: 1]'],
      clock_warning: "This computer's clock is 365 days ahead of Drill's clock.",
    });
    await setup(api);
    const q = screen.getByTestId('quarantine');
    expect(within(q).getByRole('heading', { name: 'Data from Drill set aside' })).toBeTruthy();
    expect(q.textContent).toContain('2 items received from Drill were set aside');
    expect(q.textContent).toContain('change_id is NULL');
    // Drill's own error is there for IT, behind a disclosure, not in the line.
    const said = within(q).getByText('What Drill said');
    expect(said.closest('details')?.open).toBe(false);
    expect(within(q).getByText('batch 002_dead_000000000001 of inspections: Drill could not read the batch')).toBeTruthy();
    expect(said.closest('details')?.textContent).toContain('SYSTEM ERROR: IOException');
    expect(q.textContent).toContain('fieldsync quarantine retry --all');
    expect(screen.getByTestId('clock-warning').textContent).toContain('365 days ahead');
  });

  it('shows no quarantine or clock card when all is well', async () => {
    await setup();
    expect(screen.queryByTestId('quarantine')).toBeNull();
    expect(screen.queryByTestId('clock-warning')).toBeNull();
  });
});
