// @vitest-environment jsdom
import { cleanup, fireEvent, render, screen, within } from '@testing-library/svelte';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Toasts } from '../components/toasts.svelte';
import Conflicts from './Conflicts.svelte';
import { MemoryData } from '../testing/memoryData';
import type { Api, Audit, Conflict } from '../lib/ui/ports';
import { FakeApi, T0, conflictR1, inspections } from '../testing/fixtures';

// Generous: the first mount compiles in jsdom on a busy 2-core machine.
vi.setConfig({ testTimeout: 20_000 });
afterEach(() => {
  cleanup();
  window.location.hash = '';
});

function setup(opts: { api?: FakeApi; conflicts?: Conflict[] } = {}) {
  const api = opts.api ?? new FakeApi();
  const old = conflictR1();
  old.record_id = 'r2';
  old.detected_at = Date.now() - 3 * 86_400_000;
  old.leaves = old.leaves.map((l) => ({
    ...l,
    record_id: 'r2',
    device: l.device === 'tab-2' ? 'laptop-7' : l.device,
    doc: { ...l.doc, site: 'Pump house' },
  }));
  const fresh = conflictR1();
  fresh.detected_at = Date.now() - 60_000;
  api.conflicts_ = opts.conflicts ?? [fresh, old];
  const data = new MemoryData();
  const catchUp = vi.fn(() => Promise.resolve());
  Object.assign(data, { catchUp });
  const toasts = new Toasts(0);
  const { rerender } = render(Conflicts, { services: { api, data }, collections: [inspections], toasts });
  return { api, catchUp, toasts, rerender };
}

const rows = () => screen.queryAllByTestId('conflict-row');
const ids = () => rows().map((r) => r.dataset['recordId']);

describe('Conflicts', () => {
  it('filters by collection, device and age, asking Go with the filter', async () => {
    const { api } = setup();
    await vi.waitFor(() => expect(ids()).toEqual(['r1', 'r2']));

    await fireEvent.change(screen.getByLabelText('Device'), { target: { value: 'laptop-7' } });
    await vi.waitFor(() => expect(ids()).toEqual(['r2']));
    expect(api.callsOf('conflicts').at(-1)).toEqual([{ device: 'laptop-7' }]);

    await fireEvent.change(screen.getByLabelText('Device'), { target: { value: '' } });
    await fireEvent.change(screen.getByLabelText('Age'), { target: { value: String(86_400_000) } });
    await vi.waitFor(() => expect(ids()).toEqual(['r2']));
    expect(api.callsOf('conflicts').at(-1)).toEqual([{ older_than_ms: 86_400_000 }]);

    await fireEvent.change(screen.getByLabelText('Collection'), { target: { value: 'inspections' } });
    await vi.waitFor(() => expect(api.callsOf('conflicts').at(-1)).toEqual([{ collection: 'inspections', older_than_ms: 86_400_000 }]));
    expect(screen.getByTestId('conflict-count').textContent).toBe('1 conflict');
  });

  it('moves with the arrow keys, selects with x and opens with Enter', async () => {
    setup();
    await vi.waitFor(() => expect(rows()).toHaveLength(2));
    const open = (i: number) => within(rows()[i]!).getByRole('button');
    expect(open(0).tabIndex).toBe(0);
    expect(open(1).tabIndex).toBe(-1);
    open(0).focus();
    await fireEvent.keyDown(open(0), { key: 'ArrowDown' });
    expect(document.activeElement).toBe(open(1));
    expect(open(1).tabIndex).toBe(0);
    await fireEvent.keyDown(open(1), { key: 'x' });
    expect(within(rows()[1]!).getByRole<HTMLInputElement>('checkbox').checked).toBe(true);
    expect(screen.getByText('1 selected')).toBeTruthy();
    // A button activates on Enter in browsers; jsdom needs the click.
    await fireEvent.click(open(1));
    await vi.waitFor(() => expect(screen.getByTestId('conflict-view')).toBeTruthy());
    expect(screen.getByRole('heading', { level: 2, name: 'Inspections · Pump house' })).toBeTruthy();
    expect(screen.getByTestId('conflict-record-id').textContent).toBe('Record id r2');
    expect(screen.getByText(/Esc goes back to the list/)).toBeTruthy();
  });

  it('shows each conflict with a readable label, who and when, and how many fields differ', async () => {
    const long = conflictR1();
    long.record_id = '0123456789abcdef0123456789abcdef';
    long.leaves = long.leaves.map((l) => ({ ...l, record_id: long.record_id }));
    setup({ conflicts: [long] });
    await vi.waitFor(() => expect(rows()).toHaveLength(1));
    const row = rows()[0]!;
    // The label is the first required text field (Site) of the newest version.
    const open = within(row).getByRole('button');
    expect(open.textContent?.trim()).toBe('North well B');
    expect(within(row).getByTestId('conflict-id').textContent).toBe('01234567…');
    expect(within(row).getByTestId('conflict-id').title).toBe(`Record id ${long.record_id}`);
    // The full id is the button's description for screen readers.
    const desc = document.getElementById(open.getAttribute('aria-describedby') ?? '');
    expect(desc?.textContent).toBe(`Record id ${long.record_id}`);
    expect(row.textContent).toContain('Inspections');
    const versions = within(row).getByTestId('conflict-versions').querySelectorAll('li');
    expect([...versions].map((v) => v.querySelector('.who')?.textContent)).toEqual(['ana on tab-1', 'ben on tab-2']);
    const differs = within(row).getByTestId('conflict-differs');
    expect(differs.dataset['count']).toBe('3');
    expect(differs.textContent).toContain('3 fields');
    expect(differs.textContent).toContain('Site, Status, Score');
    expect(within(row).getByRole('checkbox').getAttribute('aria-label')).toBe('Select North well B');
  });

  it('asks before applying a policy: Escape cancels and gives the focus back', async () => {
    const { api } = setup();
    await vi.waitFor(() => expect(rows()).toHaveLength(2));
    await fireEvent.click(screen.getByLabelText('Select all conflicts'));
    await fireEvent.change(screen.getByLabelText('Policy'), { target: { value: 'server' } });
    const apply = screen.getByRole('button', { name: 'Apply to selected' });
    apply.focus();
    await fireEvent.click(apply);

    const dialog = await screen.findByRole('alertdialog', { name: 'Keep the version from Drill for 2 conflicts?' });
    expect(dialog.getAttribute('aria-modal')).toBe('true');
    // The rest of the page is inert while the dialog is open.
    expect(apply.closest('[inert]')).not.toBeNull();
    expect(dialog.closest('[inert]')).toBeNull();
    const desc = document.getElementById(dialog.getAttribute('aria-describedby') ?? '');
    expect(desc?.textContent).toContain('Inspections (2)');
    expect(desc?.textContent).toContain('cannot be undone');
    expect(desc?.textContent).toContain('North well B, Pump house');
    await vi.waitFor(() => expect(document.activeElement).toBe(within(dialog).getByRole('button', { name: 'Cancel' })));

    await fireEvent.keyDown(document.activeElement!, { key: 'Escape' });
    await vi.waitFor(() => expect(screen.queryByRole('alertdialog')).toBeNull());
    await vi.waitFor(() => expect(document.activeElement).toBe(apply));
    expect(document.querySelector('[inert]')).toBeNull();
    expect(api.callsOf('resolveMany')).toHaveLength(0);
    expect(screen.getByText('2 selected')).toBeTruthy();
  });

  it('applies the policy once confirmed, reports the outcome and catches up', async () => {
    const { api, catchUp, rerender } = setup();
    await vi.waitFor(() => expect(rows()).toHaveLength(2));
    await fireEvent.click(screen.getByLabelText('Select all conflicts'));
    await fireEvent.change(screen.getByLabelText('Policy'), { target: { value: 'server' } });
    await fireEvent.click(screen.getByRole('button', { name: 'Apply to selected' }));
    const dialog = await screen.findByRole('alertdialog');
    await fireEvent.click(within(dialog).getByRole('button', { name: 'Resolve 2 conflicts' }));
    await vi.waitFor(() => expect(api.callsOf('resolveMany')).toHaveLength(1));
    expect(api.callsOf('resolveMany')[0]).toEqual([
      [
        { collection: 'inspections', record_id: 'r1' },
        { collection: 'inspections', record_id: 'r2' },
      ],
      'server',
    ]);
    await vi.waitFor(() => expect(screen.getByTestId('batch-resolved').textContent).toContain('2 conflicts resolved'));
    expect(catchUp).toHaveBeenCalled();
    // Go's conflict events while the dialog is open do not reload the list each time.
    const loads = api.callsOf('conflicts').length;
    await rerender({ changed: 1 });
    expect(api.callsOf('conflicts')).toHaveLength(loads);
    expect(screen.getByText('0 selected')).toBeTruthy();
    await fireEvent.click(screen.getByRole('button', { name: 'Close' }));
    await vi.waitFor(() => expect(screen.queryByRole('alertdialog')).toBeNull());
    // "Apply to selected" is disabled now: the focus goes to the list.
    await vi.waitFor(() => expect(document.activeElement).toBe(within(rows()[0]!).getByRole('button')));
  });

  it('lists the conflicts a policy could not resolve, with the reason, and keeps them selected', async () => {
    const api = new FakeApi();
    const failing: Api['resolveMany'] = (items, take) => {
      api.calls.push({ method: 'resolveMany', args: [items, take] });
      return Promise.resolve({ resolved: 1, failed: [{ collection: 'inspections', record_id: 'r2', error: 'not in conflict any more' }] });
    };
    Object.assign(api, { resolveMany: failing });
    setup({ api });
    await vi.waitFor(() => expect(rows()).toHaveLength(2));
    await fireEvent.click(screen.getByLabelText('Select all conflicts'));
    screen.getByRole('button', { name: 'Apply to selected' }).focus();
    await fireEvent.click(screen.getByRole('button', { name: 'Apply to selected' }));
    await fireEvent.click(within(await screen.findByRole('alertdialog')).getByRole('button', { name: /Resolve 2/ }));
    const failures = await screen.findByTestId('batch-failures');
    expect(failures.textContent).toContain('Pump house');
    expect(failures.textContent).toContain('not in conflict any more');
    expect(screen.getByTestId('batch-resolved').textContent).toContain('1 conflict resolved');
    expect(screen.getByText('1 selected')).toBeTruthy();
    await fireEvent.click(screen.getByRole('button', { name: 'Close' }));
    await vi.waitFor(() => expect(document.activeElement).toBe(screen.getByRole('button', { name: 'Apply to selected' })));
  });

  it('resolves one conflict field by field, names it by its title and returns to the list', async () => {
    const { api, catchUp, toasts } = setup();
    await vi.waitFor(() => expect(rows()).toHaveLength(2));
    await fireEvent.click(within(rows()[0]!).getByRole('button'));
    await vi.waitFor(() => expect(screen.getByTestId('conflict-view')).toBeTruthy());
    await fireEvent.click(screen.getByRole('radio', { name: /Use Version A for Score/ }));
    await fireEvent.click(screen.getByRole('button', { name: 'Resolve' }));
    await vi.waitFor(() => expect(api.callsOf('resolve')).toHaveLength(1));
    expect(api.callsOf('resolve')[0]).toEqual([
      'inspections',
      'r1',
      { take: 'merge', doc: { site: 'North well B', status: 'closed', score: 3, notes: 'first visit' } },
    ]);
    expect(catchUp).toHaveBeenCalled();
    await vi.waitFor(() => expect(ids()).toEqual(['r2']));
    // The newest version's title, never the record id.
    expect(toasts.items.map((t) => t.text)).toEqual(['Conflict on “North well B” resolved.']);
  });

  it('opens a deep link #/conflicts/<collection>/<id> and keeps the address in step', async () => {
    window.location.hash = '#/conflicts/inspections/r2';
    setup();
    await vi.waitFor(() => expect(screen.getByRole('heading', { level: 2, name: /Pump house/ })).toBeTruthy());
    await fireEvent.click(screen.getByRole('button', { name: 'Back to list' }));
    await vi.waitFor(() => expect(rows()).toHaveLength(2));
    expect(window.location.hash).toBe('#/conflicts');
    await fireEvent.click(within(rows()[0]!).getByRole('button'));
    await vi.waitFor(() => expect(window.location.hash).toBe('#/conflicts/inspections/r1'));
  });

  it('says so when a linked conflict is no longer open', async () => {
    window.location.hash = '#/conflicts/inspections/gone';
    setup();
    await vi.waitFor(() => expect(screen.getByRole('alert').textContent).toContain('no longer open'));
    expect(window.location.hash).toBe('#/conflicts');
  });

  it('lists the conflicts merge rules settled, field by field, linking to the record', async () => {
    const api = new FakeApi();
    const settledOn = (record_id: string, collection: string, rules: Record<string, string>, note = ''): Audit => ({
      seq: 7,
      at: T0,
      collection,
      record_id,
      author: 'fieldsync policy lww with rules',
      device: 'tab-2',
      take: 'rules',
      resolution_version: `000000000000009-0000-${record_id}`,
      leaves: ['000000000000002-0000-tab-1', '000000000000003-0000-tab-2'],
      note,
      rules,
      remote: true,
    });
    api.settled_ = [
      settledOn('r7', 'inspections', { notes: 'join', temperature: 'higher' }, 'merged by rule: Temperature: higher value; Notes: texts joined'),
      settledOn('t1', 'trees', {}, 'merged by rule: the edits did not clash'),
    ];
    setup({ api });
    const items = await screen.findAllByTestId('settled-item');
    expect(api.callsOf('settledByRules')[0]).toEqual([20]);
    expect(items.map((i) => i.dataset['recordId'])).toEqual(['r7', 't1']);
    const first = within(items[0]!);
    expect(first.getByTestId('settled-field-temperature').textContent).toBe('Temperature: merged by rule: higher value');
    expect(first.getByTestId('settled-field-notes').textContent).toBe('Notes: merged by rule: texts joined');
    expect(first.getByTestId('settled-who').textContent).toMatch(/2 versions settled by fieldsync policy lww with rules\s+on tab-2/);
    const link = first.getByRole<HTMLAnchorElement>('link', { name: 'Open record r7 of Inspections in Records' });
    expect(link.getAttribute('href')).toBe('#/records/inspections/r7');
    expect(within(items[1]!).getByTestId('settled-note').textContent).toBe('merged by rule: the edits did not clash');
    expect(screen.getByRole('heading', { level: 2, name: 'Settled by rules' })).toBeTruthy();

    // The collection filter narrows it too; the open conflicts stay in their table.
    await fireEvent.change(screen.getByLabelText('Collection'), { target: { value: 'inspections' } });
    await vi.waitFor(() => expect(screen.getAllByTestId('settled-item').map((i) => i.dataset['recordId'])).toEqual(['r7']));
    expect(ids()).toEqual(['r1', 'r2']);
  });

  it('says when no conflict was settled by rules, and shows why the list failed', async () => {
    setup();
    expect((await screen.findByTestId('settled-empty')).textContent).toBe('No conflict was settled by rules recently.');
    cleanup();
    const api = new FakeApi();
    api.settledByRules = () => Promise.reject(new Error('the store is closed'));
    setup({ api });
    expect((await screen.findByRole('alert')).textContent).toContain('the store is closed');
  });
});
