// @vitest-environment jsdom
import { cleanup, fireEvent, render, screen } from '@testing-library/svelte';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { FakeApi, T0 } from '../testing/fixtures';
import type { Collection } from '../lib/ui/ports';
import RecordForm from './RecordForm.svelte';
import ReferenceList from './ReferenceList.svelte';

afterEach(cleanup);

const sites: Collection = {
  name: 'sites',
  label: 'Sites',
  reference: { table: 'dfs.ref.`sites.csvh`', key: 'site_id' },
  fields: [
    { name: 'name', label: 'Name', type: 'text', required: true },
    { name: 'region', label: 'Region', type: 'text' },
  ],
};

const visits: Collection = {
  name: 'visits',
  fields: [{ name: 'site', label: 'Site', type: 'text', required: true, options_from: { collection: 'sites', field: 'name' } }],
};

function withSites(): FakeApi {
  const api = new FakeApi();
  api.refs_['sites'] = [
    { record_id: 'S1', doc: { name: 'North well', region: 'north' } },
    { record_id: 'S2', doc: { name: 'South gate', region: 'south' } },
  ];
  return api;
}

describe('ReferenceList', () => {
  it('lists the rows read-only, says where they come from, and searches', async () => {
    const api = withSites();
    render(ReferenceList, { api, collection: sites, now: () => T0 + 60_000 });
    await vi.waitFor(() => expect(screen.getAllByTestId('reference-row')).toHaveLength(2));
    expect(screen.getByTestId('reference-readonly').textContent).toContain('Reference data from Drill — read-only');
    expect(screen.getByTestId('reference-readonly').textContent).toContain('every hour, on the hour');
    expect(screen.queryByRole('button', { name: /new|edit|delete/i })).toBeNull();
    await fireEvent.input(screen.getByLabelText('Search Sites'), { target: { value: 'south' } });
    await vi.waitFor(() => expect(screen.getAllByTestId('reference-row')).toHaveLength(1));
    expect(screen.getByTestId('reference-row').dataset['recordId']).toBe('S2');
    expect(api.callsOf('referenceRows').at(-1)).toEqual(['sites', 'south', '', 50]);
  });

  it('checks Drill on demand and says what changed', async () => {
    const api = withSites();
    render(ReferenceList, { api, collection: sites });
    await fireEvent.click(screen.getByTestId('reference-refresh'));
    await vi.waitFor(() => expect(screen.getByTestId('reference-refresh-note').textContent).toBe('Up to date: nothing changed in Drill.'));
    expect(api.callsOf('pullReferences')).toHaveLength(1);
  });
});

describe('RecordForm with options from a reference collection', () => {
  it('offers the reference values and saves the one picked', async () => {
    const api = withSites();
    const onsave = vi.fn(() => Promise.resolve());
    render(RecordForm, { collection: visits, onsave, oncancel: vi.fn(), api });
    const select = await vi.waitFor(() => screen.getByTestId<HTMLSelectElement>('options-site'));
    expect([...select.options].map((o) => o.value)).toEqual(['', 'North well', 'South gate']);
    await fireEvent.change(select, { target: { value: 'South gate' } });
    await fireEvent.click(screen.getByRole('button', { name: 'Save' }));
    expect(onsave).toHaveBeenCalledWith({ site: 'South gate' });
  });

  it('refuses a value the list no longer holds, and accepts anything before the list arrives', async () => {
    const api = withSites();
    const onsave = vi.fn(() => Promise.resolve());
    const record = { collection: 'visits', record_id: 'v1', doc: { site: 'Old pier' } };
    render(RecordForm, { collection: visits, record: record as never, onsave, oncancel: vi.fn(), api });
    const select = await vi.waitFor(() => screen.getByTestId<HTMLSelectElement>('options-site'));
    expect(select.value).toBe('Old pier');
    await fireEvent.click(screen.getByRole('button', { name: 'Save' }));
    expect(onsave).not.toHaveBeenCalled();
    expect(screen.getByTestId('error-site').textContent).toBe('Site must be one of the sites list.');
    cleanup();

    const empty = new FakeApi();
    render(RecordForm, { collection: visits, onsave, oncancel: vi.fn(), api: empty });
    await vi.waitFor(() => expect(screen.getByText(/not on this device yet/)).toBeTruthy());
    await fireEvent.input(screen.getByLabelText(/^Site/), { target: { value: 'Anywhere' } });
    await fireEvent.click(screen.getByRole('button', { name: 'Save' }));
    expect(onsave).toHaveBeenCalledWith({ site: 'Anywhere' });
  });
});
