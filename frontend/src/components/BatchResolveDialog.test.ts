// @vitest-environment jsdom
import { cleanup, fireEvent, render, screen, within } from '@testing-library/svelte';
import { afterEach, describe, expect, it, vi } from 'vitest';
import BatchResolveDialog from './BatchResolveDialog.svelte';
import type { Conflict, RecordRef } from '../lib/ui/ports';
import { conflictR1, inspections } from '../testing/fixtures';
import type { Take } from './batchResolve';

vi.setConfig({ testTimeout: 20_000 });
afterEach(() => cleanup());

/** conflicts makes n conflicts of inspections named "Site 1", "Site 2", ... */
function conflicts(n: number, collection = 'inspections'): Conflict[] {
  return Array.from({ length: n }, (_, i) => {
    const c = conflictR1();
    c.collection = collection;
    c.record_id = `rec${i + 1}`;
    c.leaves = c.leaves.map((l) => ({ ...l, collection, record_id: c.record_id, doc: { ...l.doc, site: `Site ${i + 1}` } }));
    return c;
  });
}

type ResolveMany = (items: RecordRef[], take: Take) => Promise<{ resolved: number; failed: (RecordRef & { error: string })[] }>;

function setup(opts: { cs?: Conflict[]; take?: Take; resolveMany?: ResolveMany; progressDelayMs?: number } = {}) {
  const resolveMany = vi.fn<ResolveMany>(opts.resolveMany ?? ((items) => Promise.resolve({ resolved: items.length, failed: [] })));
  const ondone = vi.fn();
  const onclose = vi.fn();
  const opener = document.createElement('button');
  opener.textContent = 'Apply to selected';
  document.body.append(opener);
  opener.focus();
  const pumps = { name: 'pumps', label: 'Pumps', fields: [{ name: 'tag', label: 'Tag', type: 'text' as const, required: true }] };
  const r = render(BatchResolveDialog, {
    api: { resolveMany },
    conflicts: opts.cs ?? conflicts(3),
    collections: [inspections, pumps],
    take: opts.take ?? 'newest',
    ondone,
    onclose,
    progressDelayMs: opts.progressDelayMs ?? 1000,
  });
  return { resolveMany, ondone, onclose, opener, ...r };
}

describe('BatchResolveDialog', () => {
  it('says which policy, how many conflicts in which collections, and that it cannot be undone', async () => {
    setup({ cs: [...conflicts(2), ...conflicts(3, 'pumps')], take: 'device' });
    const d = screen.getByRole('alertdialog', { name: 'Keep this device’s version for 5 conflicts?' });
    expect(screen.getByTestId('batch-policy-name').textContent).toBe('Keep this device’s version');
    expect(screen.getByTestId('batch-count').textContent).toBe('5 conflicts');
    expect(screen.getByTestId('batch-collections').textContent).toBe('Pumps (3), Inspections (2)');
    expect(screen.getByTestId('batch-warning').textContent).toContain('cannot be undone');
    expect(d.textContent).toContain('newest version made on this device');
    expect(d.textContent).toContain('Site 1, Site 2');
  });

  it('keeps Tab and Shift+Tab inside and pulls the focus back in', async () => {
    const { opener } = setup();
    const d = screen.getByRole('alertdialog');
    const cancel = within(d).getByRole('button', { name: 'Cancel' });
    const confirm = within(d).getByRole('button', { name: 'Resolve 3 conflicts' });
    await vi.waitFor(() => expect(document.activeElement).toBe(cancel));
    await fireEvent.keyDown(cancel, { key: 'Tab', shiftKey: true });
    expect(document.activeElement).toBe(confirm);
    await fireEvent.keyDown(confirm, { key: 'Tab' });
    expect(document.activeElement).toBe(cancel);
    opener.focus();
    await vi.waitFor(() => expect(document.activeElement).toBe(cancel));
  });

  it('cancels with Escape or Cancel without resolving anything', async () => {
    const { onclose, resolveMany } = setup();
    await fireEvent.keyDown(screen.getByRole('alertdialog'), { key: 'Escape' });
    expect(onclose).toHaveBeenCalledTimes(1);
    await fireEvent.click(screen.getByRole('button', { name: 'Cancel' }));
    expect(onclose).toHaveBeenCalledTimes(2);
    expect(resolveMany).not.toHaveBeenCalled();
  });

  it('shows progress when the run takes more than a second, in chunks', async () => {
    const waiting: (() => void)[] = [];
    const { resolveMany, ondone } = setup({
      cs: conflicts(60),
      progressDelayMs: 50,
      resolveMany: (items) => new Promise((res) => waiting.push(() => res({ resolved: items.length, failed: [] }))),
    });
    await fireEvent.click(screen.getByRole('button', { name: 'Resolve 60 conflicts' }));
    expect(screen.getByTestId('batch-running').textContent).toContain('Resolving 60 conflicts');
    // Escape does nothing while it runs; the focus stays in the dialog.
    await fireEvent.keyDown(screen.getByRole('alertdialog'), { key: 'Escape' });
    expect(screen.getByTestId('batch-running')).toBeTruthy();
    expect(document.activeElement).toBe(screen.getByRole('alertdialog'));
    const bar = await screen.findByTestId('batch-progress');
    expect(bar.textContent).toContain('0 of 60');
    waiting.shift()?.();
    await vi.waitFor(() => expect(screen.getByTestId('batch-progress').textContent).toContain('25 of 60'));
    await vi.waitFor(() => expect(waiting).toHaveLength(1));
    waiting.shift()?.();
    await vi.waitFor(() => expect(screen.getByTestId('batch-progress').textContent).toContain('50 of 60'));
    await vi.waitFor(() => expect(waiting).toHaveLength(1));
    waiting.shift()?.();
    await vi.waitFor(() => expect(screen.getByTestId('batch-resolved').textContent).toContain('60 conflicts resolved'));
    expect(resolveMany.mock.calls.map((c) => c[0].length)).toEqual([25, 25, 10]);
    expect(ondone).toHaveBeenCalledWith({ resolved: 60, failed: [] });
    expect(document.activeElement).toBe(screen.getByRole('heading', { name: 'Done' }));
  });

  it('says where it stopped when fieldsync fails, and that the rest is unchanged', async () => {
    let n = 0;
    setup({
      cs: conflicts(30),
      resolveMany: (items) =>
        ++n === 1 ? Promise.resolve({ resolved: items.length, failed: [] }) : Promise.reject(new Error('fieldsync is not answering')),
    });
    await fireEvent.click(screen.getByRole('button', { name: 'Resolve 30 conflicts' }));
    const stopped = await screen.findByTestId('batch-stopped');
    expect(stopped.textContent).toContain('fieldsync is not answering');
    expect(stopped.textContent).toMatch(/5 conflicts were not\s+tried/);
    expect(screen.getByRole('heading', { name: 'Partly done' })).toBeTruthy();
    expect(screen.getByTestId('batch-resolved').textContent).toContain('25 conflicts resolved');
  });
});
