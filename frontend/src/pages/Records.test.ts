// @vitest-environment jsdom
import { cleanup, fireEvent, render, screen, within } from '@testing-library/svelte';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Toasts } from '../components/toasts.svelte';
import ToastRegion from '../components/ToastRegion.svelte';
import { MemoryData } from '../testing/memoryData';
import type { Collection, LocalRecord } from '../lib/ui/ports';
import Records from './Records.svelte';
import { FakeApi, T0, inspections } from '../testing/fixtures';

// Generous: the first mount compiles in jsdom on a busy 2-core machine.
vi.setConfig({ testTimeout: 20_000 });
afterEach(() => {
  cleanup();
  history.replaceState(null, '', '#');
});

function rec(i: number, state: LocalRecord['state'] = 'synced'): LocalRecord {
  return {
    collection: 'inspections',
    record_id: `r${String(i).padStart(4, '0')}`,
    doc: { site: `Site ${String(i).padStart(4, '0')}`, status: 'open', score: i % 10 },
    version: 'v',
    deleted: false,
    leaves: [],
    state,
    updated_at: T0 + i,
  };
}

function setup(n = 0, opts: { hash?: string; extra?: LocalRecord[]; collections?: Collection[] } = {}) {
  if (opts.hash !== undefined) history.replaceState(null, '', opts.hash);
  const data = new MemoryData();
  data.seed(Array.from({ length: n }, (_, i) => rec(i, (['synced', 'pending', 'local', 'conflict'] as const)[i % 4])));
  data.seed(opts.extra ?? []);
  const toasts = new Toasts(0);
  render(Records, { services: { api: new FakeApi(), data }, collections: opts.collections ?? [inspections], toasts });
  render(ToastRegion, { toasts });
  return { data, toasts };
}

const rows = () => screen.queryAllByTestId('record-row');

describe('Records', () => {
  it('pages a large collection and renders only one page', async () => {
    setup(1234);
    await vi.waitFor(() => expect(rows()).toHaveLength(50), { timeout: 4000 });
    expect(screen.getByTestId('records-count').textContent).toContain('1,234 records');
    expect(screen.getByText('Page 1 of 25')).toBeTruthy();
    await fireEvent.click(screen.getByRole('button', { name: 'Next' }));
    await vi.waitFor(() => expect(screen.getByText('Page 2 of 25')).toBeTruthy());
    expect(screen.getByText('51–100 of 1,234')).toBeTruthy();
    expect(rows()[0]?.dataset['recordId']).toBe('r1183');
  });

  it('shows each row’s sync state as a labelled badge', async () => {
    setup(4);
    await vi.waitFor(() => expect(rows()).toHaveLength(4));
    const badges = rows().map((r) => within(r).getByTestId('sync-badge').textContent?.trim());
    expect(new Set(badges)).toEqual(new Set(['Synced', 'Pending', 'Local only', 'In conflict']));
  });

  it('sorts by a column and says so with aria-sort', async () => {
    setup(30);
    await vi.waitFor(() => expect(rows()).toHaveLength(30));
    const header = screen.getByRole('columnheader', { name: /Site/ });
    expect(header.getAttribute('aria-sort')).toBe('none');
    await fireEvent.click(within(header).getByRole('button'));
    await vi.waitFor(() => expect(rows()[0]?.dataset['recordId']).toBe('r0000'));
    expect(header.getAttribute('aria-sort')).toBe('ascending');
    await fireEvent.click(within(header).getByRole('button'));
    await vi.waitFor(() => expect(rows()[0]?.dataset['recordId']).toBe('r0029'));
    expect(header.getAttribute('aria-sort')).toBe('descending');
  });

  it('searches any field', async () => {
    setup(30);
    await fireEvent.input(screen.getByLabelText('Search Inspections'), { target: { value: 'site 0017' } });
    await vi.waitFor(() => expect(rows()).toHaveLength(1));
    expect(screen.getByTestId('records-count').textContent).toContain('1 matching');
  });

  it('creates a record that shows as local only, and undoes it', async () => {
    const { data } = setup();
    await fireEvent.click(screen.getByRole('button', { name: 'New record' }));
    await fireEvent.input(screen.getByLabelText(/^Site/), { target: { value: 'New site' } });
    await fireEvent.change(screen.getByLabelText(/^Status/), { target: { value: 'open' } });
    await fireEvent.click(screen.getByRole('button', { name: 'Save' }));
    await vi.waitFor(() => expect(rows()).toHaveLength(1));
    expect(within(rows()[0]!).getByTestId('sync-badge').textContent?.trim()).toBe('Local only');
    expect(screen.getByTestId('toast').textContent).toContain('“New site” created.');

    await fireEvent.click(screen.getByRole('button', { name: 'Undo' }));
    await vi.waitFor(() => expect(rows()).toHaveLength(0));
    expect([...data.records.values()].every((r) => r.deleted)).toBe(true);
    expect(screen.getByTestId('toast').textContent).toContain('New record “New site” removed.');
  });

  it('collapses repeated messages into one that names the records, and undoes them all', async () => {
    const { data } = setup();
    for (const site of ['Weir 2', 'Pump 3', 'Tank 9']) {
      await fireEvent.click(screen.getByRole('button', { name: 'New record' }));
      await fireEvent.input(screen.getByLabelText(/^Site/), { target: { value: site } });
      await fireEvent.change(screen.getByLabelText(/^Status/), { target: { value: 'open' } });
      await fireEvent.click(screen.getByRole('button', { name: 'Save' }));
      await vi.waitFor(() => expect(screen.queryByRole('button', { name: 'Save' })).toBeNull());
    }
    await vi.waitFor(() => expect(rows()).toHaveLength(3));
    const toasts = screen.getAllByTestId('toast');
    expect(toasts).toHaveLength(1);
    expect(toasts[0]!.textContent).toContain('3 records created: “Weir 2”, “Pump 3”, “Tank 9”.');

    await fireEvent.click(screen.getByRole('button', { name: 'Undo' }));
    await vi.waitFor(() => expect(rows()).toHaveLength(0));
    expect([...data.records.values()].every((r) => r.deleted)).toBe(true);
    expect(screen.getByTestId('toast').textContent).toContain('3 new records removed');
  });

  it('deletes with Undo bringing the record back', async () => {
    setup(2);
    await vi.waitFor(() => expect(rows()).toHaveLength(2));
    await fireEvent.click(screen.getByRole('button', { name: 'Open Site 0001' }));
    await fireEvent.click(screen.getByRole('button', { name: 'Delete' }));
    await vi.waitFor(() => expect(rows()).toHaveLength(1));
    expect(screen.getByTestId('toast').textContent).toContain('“Site 0001” deleted.');
    await fireEvent.click(screen.getByRole('button', { name: 'Undo' }));
    await vi.waitFor(() => expect(rows()).toHaveLength(2));
    expect(screen.getByText('“Site 0001” restored.')).toBeTruthy();
  });
});

const formTitle = () => document.getElementById('record-form-title');
const hash = () => window.location.hash;

describe('Records addresses', () => {
  const odd: LocalRecord = { ...rec(7), record_id: 'a/b c?7', doc: { site: 'Odd site', status: 'open' } };

  it('opens a record’s form from its address on load, with the focus on the form’s heading', async () => {
    setup(3, { hash: '#/records/inspections/a%2Fb%20c%3F7', extra: [odd] });
    await vi.waitFor(() => expect(formTitle()).toBeTruthy());
    expect(screen.getByTestId('record-form').textContent).toContain('a/b c?7');
    expect((screen.getByLabelText(/^Site/) as HTMLInputElement).value).toBe('Odd site');
    await vi.waitFor(() => expect(document.activeElement).toBe(formTitle()));
    expect(hash()).toBe('#/records/inspections/a%2Fb%20c%3F7');
  });

  it('follows the address while the screen is open and goes back to the list address on close', async () => {
    setup(3, { hash: '#/records/inspections', extra: [odd] });
    await vi.waitFor(() => expect(rows()).toHaveLength(4));
    expect(formTitle()).toBeNull();

    window.location.hash = '#/records/inspections/r0002';
    await vi.waitFor(() => expect(screen.queryByTestId('record-form')?.textContent).toContain('r0002'));
    await vi.waitFor(() => expect(document.activeElement).toBe(formTitle()));

    await fireEvent.click(screen.getByRole('button', { name: 'Cancel' }));
    await vi.waitFor(() => expect(screen.queryByTestId('record-form')).toBeNull());
    expect(hash()).toBe('#/records/inspections');
    await vi.waitFor(() => expect(document.activeElement?.closest('[data-record-id]')?.getAttribute('data-record-id')).toBe('r0002'));

    // Escape closes too, and the list's address closes a record's form.
    window.location.hash = '#/records/inspections/r0001';
    await vi.waitFor(() => expect(screen.queryByTestId('record-form')?.textContent).toContain('r0001'));
    window.location.hash = '#/records/inspections';
    await vi.waitFor(() => expect(screen.queryByTestId('record-form')).toBeNull());
  });

  it('puts the open record in the address when opened from the list, so a reload comes back to it', async () => {
    setup(3, { extra: [odd] });
    await vi.waitFor(() => expect(rows()).toHaveLength(4));
    await fireEvent.click(screen.getByRole('button', { name: 'Open Odd site' }));
    expect(hash()).toBe('#/records/inspections/a%2Fb%20c%3F7');
    await fireEvent.keyDown(screen.getByLabelText(/^Site/), { key: 'Escape' });
    expect(hash()).toBe('#/records/inspections');

    await fireEvent.click(screen.getByRole('button', { name: 'New record' }));
    expect(hash()).toBe('#/records/inspections');
    await fireEvent.click(screen.getByRole('button', { name: 'Open Site 0001' }));
    await fireEvent.click(screen.getByRole('button', { name: 'Delete' }));
    await vi.waitFor(() => expect(rows()).toHaveLength(3));
    expect(hash()).toBe('#/records/inspections');

    // "Reload": a new screen on the same address opens the same record.
    await fireEvent.click(screen.getByRole('button', { name: 'Open Site 0002' }));
    cleanup();
    setup(3, { extra: [odd] });
    await vi.waitFor(() => expect(screen.queryByTestId('record-form')?.textContent).toContain('r0002'));
  });

  it.each([
    ['never received', undefined, /not on this device\.[\s\S]*not received it yet/],
    ['deleted', { ...rec(9), deleted: true }, /not on this device: it was deleted/],
  ])('says so when the record is not in this window (%s), with a way back to the list', async (_, extra: LocalRecord | undefined, want: RegExp) => {
    setup(2, { hash: '#/records/inspections/r0009', extra: extra ? [extra] : [] });
    const msg = await screen.findByTestId('record-missing');
    expect(msg.textContent).toMatch(/Record not in this window/);
    expect(msg.textContent).toMatch(want);
    expect(msg.textContent).toContain('r0009');
    expect(screen.queryByTestId('record-form')).toBeNull();
    await vi.waitFor(() => expect(document.activeElement?.id).toBe('record-missing-title'));

    await fireEvent.click(within(msg).getByRole('button', { name: 'Back to the Inspections list' }));
    expect(screen.queryByTestId('record-missing')).toBeNull();
    expect(hash()).toBe('#/records/inspections');
    await vi.waitFor(() => expect(document.activeElement).toBe(screen.getByTestId('record-new')));
    expect(rows()).toHaveLength(2);
  });

  it('opens the record by itself when a sync brings it in while the message is shown', async () => {
    const { data } = setup(2, { hash: '#/records/inspections/r0005' });
    await screen.findByTestId('record-missing');
    await vi.waitFor(() => expect(document.activeElement?.id).toBe('record-missing-title'));
    data.seed([rec(5)]);
    await vi.waitFor(() => expect(screen.queryByTestId('record-form')?.textContent).toContain('r0005'), { timeout: 2000 });
    expect(screen.queryByTestId('record-missing')).toBeNull();
    await vi.waitFor(() => expect(document.activeElement).toBe(formTitle()));
  });

  it('selects the collection the address names, and says when this window has no such collection', async () => {
    const visits: Collection = { name: 'site visits', label: 'Site visits', fields: [{ name: 'site', label: 'Site', type: 'text', required: true }] };
    const v: LocalRecord = { ...rec(1), collection: 'site visits', record_id: 'v1', doc: { site: 'Dam' } };
    setup(2, { hash: '#/records/site%20visits/v1', extra: [v], collections: [inspections, visits] });
    await vi.waitFor(() => expect(screen.queryByTestId('record-form')?.textContent).toContain('v1'));
    expect(screen.getByTestId('collection-site visits').getAttribute('aria-pressed')).toBe('true');
    await vi.waitFor(() => expect(rows()).toHaveLength(1));

    await fireEvent.click(screen.getByTestId('collection-inspections'));
    expect(hash()).toBe('#/records/inspections');
    await vi.waitFor(() => expect(rows()).toHaveLength(2));

    window.location.hash = '#/records/gone/x1';
    const msg = await screen.findByTestId('record-missing');
    expect(msg.textContent).toMatch(/No collection “gone”/);
    expect(msg.textContent).toContain('x1');
  });

  it('explains a refused change in plain words with the field labels', async () => {
    const refused: LocalRecord = {
      ...rec(3),
      state: 'local',
      rejected: 'invalid change "9f00": inspections invalid record: site is required; score must be a whole number, not text',
    };
    setup(0, { hash: '#/records/inspections/r0003', extra: [refused] });
    const note = await screen.findByTestId('record-rejected');
    const items = within(note).getAllByRole('listitem').map((li) => li.textContent?.trim());
    expect(items).toEqual(['Site is required', 'Score must be a whole number, not text']);
    expect(note.textContent).toMatch(/Correct them below and save again/);
    expect(within(note).getByRole('link', { name: 'Sync' }).getAttribute('href')).toBe('#/sync');
    // Go's text stays under Details, without the change id.
    expect(note.querySelector('details')?.textContent).toContain('inspections invalid record: site is required');
    expect(note.textContent).not.toContain('9f00');
  });

  it('words other refusals for the open form', async () => {
    const refused: LocalRecord = { ...rec(4), rejected: 'invalid change "9f": doc is not valid UTF-8' };
    setup(0, { hash: '#/records/inspections/r0004', extra: [refused] });
    const note = await screen.findByTestId('record-rejected');
    expect(note.textContent).toMatch(/characters that cannot be stored/);
    expect(note.textContent).toMatch(/Correct it and save it again, or discard the change/);
    expect(note.textContent).not.toMatch(/Open the record/);
  });

  it('links a record in conflict to its conflict by address', async () => {
    setup(4, { hash: '#/records/inspections/r0003' });
    const link = await screen.findByTestId('record-conflict-link');
    expect(link.getAttribute('href')).toBe('#/conflicts/inspections/r0003');
  });
});
