// @vitest-environment jsdom
import { cleanup, fireEvent, render, screen, within } from '@testing-library/svelte';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Toasts } from '../components/toasts.svelte';
import ToastRegion from '../components/ToastRegion.svelte';
import { MemoryData } from './memory';
import type { LocalRecord } from './ports';
import Records from './Records.svelte';
import { FakeApi, T0, inspections } from './testing';

// Generous: the first mount compiles in jsdom on a busy 2-core machine.
vi.setConfig({ testTimeout: 20_000 });
afterEach(cleanup);

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

function setup(n = 0) {
  const data = new MemoryData();
  data.seed(Array.from({ length: n }, (_, i) => rec(i, (['synced', 'pending', 'local', 'conflict'] as const)[i % 4])));
  const toasts = new Toasts(0);
  render(Records, { services: { api: new FakeApi(), data }, collections: [inspections], toasts });
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
    expect(screen.getByTestId('toast').textContent).toContain('Record created.');

    await fireEvent.click(screen.getByRole('button', { name: 'Undo' }));
    await vi.waitFor(() => expect(rows()).toHaveLength(0));
    expect([...data.records.values()].every((r) => r.deleted)).toBe(true);
  });

  it('deletes with Undo bringing the record back', async () => {
    setup(2);
    await vi.waitFor(() => expect(rows()).toHaveLength(2));
    await fireEvent.click(screen.getByRole('button', { name: 'Open Site 0001' }));
    await fireEvent.click(screen.getByRole('button', { name: 'Delete' }));
    await vi.waitFor(() => expect(rows()).toHaveLength(1));
    expect(screen.getByTestId('toast').textContent).toContain('Record deleted.');
    await fireEvent.click(screen.getByRole('button', { name: 'Undo' }));
    await vi.waitFor(() => expect(rows()).toHaveLength(2));
    expect(screen.getByText('Record restored.')).toBeTruthy();
  });
});
