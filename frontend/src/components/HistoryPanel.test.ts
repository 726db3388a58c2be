// @vitest-environment jsdom
import { cleanup, render, screen } from '@testing-library/svelte';
import { afterEach, describe, expect, it, vi } from 'vitest';
import HistoryPanel from './HistoryPanel.svelte';
import type { Audit, Change, History } from '../lib/types';

vi.setConfig({ testTimeout: 20_000 });
afterEach(() => cleanup());

const v = (ms: number, node: string) => `${String(ms).padStart(15, '0')}-0000-${node}`;

function change(id: string, ms: number, device: string, author: string, parents: string[], site: string): Change {
  return {
    change_id: id,
    collection: 'inspections',
    record_id: 'r1',
    op: 'put',
    doc: { site },
    version: v(ms, device),
    parents,
    device,
    author,
    edited_at: ms,
  };
}

function resolutionOn(device: string, remote: boolean, take: string): History {
  const base = change('c1', 1_000, 'me', 'ann', [], 'base');
  const mine = change('c2', 2_000, 'me', 'ann', [base.version], 'mine');
  const theirs = change('c3', 2_001, 'laptop7', 'bo', [base.version], 'theirs');
  const res = change('c4', 3_000, device, 'sam', [mine.version, theirs.version], 'theirs');
  res.resolution = { how: take, chosen: theirs.version };
  const audit: Audit = {
    seq: 1,
    at: 3_000,
    collection: 'inspections',
    record_id: 'r1',
    author: 'sam',
    device,
    take,
    chosen_version: theirs.version,
    resolution_version: res.version,
    leaves: [mine.version, theirs.version],
    remote,
  };
  return { changes: [base, mine, theirs, res], audit: [audit] };
}

describe('HistoryPanel', () => {
  it.each([
    { name: 'a resolution made here', device: 'me', remote: false, take: 'device', want: 'Resolved 2 versions: kept this device’s version' },
    { name: 'a resolution pulled from another device', device: 'laptop7', remote: true, take: 'device', want: 'Resolved 2 versions on laptop7: kept laptop7’s version' },
    {
      name: 'a pulled "server" resolution',
      device: 'laptop7',
      remote: true,
      take: 'server',
      want: 'Resolved 2 versions on laptop7: kept the version from another device than laptop7',
    },
  ])('shows $name with its resolver', async ({ device, remote, take, want }) => {
    const history = vi.fn(() => Promise.resolve(resolutionOn(device, remote, take)));
    render(HistoryPanel, { api: { history }, collection: 'inspections', recordId: 'r1' });
    const line = await screen.findByText(want);
    expect(history).toHaveBeenCalledWith('inspections', 'r1');
    expect(line.closest('li')?.textContent).toContain(`sam@${device}`);
  });

  it('says once that merge rules settled the conflict, and which rule decided each field', async () => {
    const h = resolutionOn('me', false, 'rules');
    const a = h.audit[0]!;
    a.author = 'fieldsync policy lww with rules';
    a.note = 'merged by rule: Temperature: higher value; Notes: texts joined';
    a.rules = { temperature: 'higher', notes: 'join' };
    const history = vi.fn(() => Promise.resolve(h));
    render(HistoryPanel, { api: { history }, collection: 'inspections', recordId: 'r1' });
    const line = await screen.findByText('Resolved 2 versions: merged by rule: Temperature: higher value; Notes: texts joined');
    expect(line.closest('li')?.textContent).toContain('fieldsync policy lww with rules@me');
    expect(screen.getByTestId('history').textContent).not.toMatch(/merged by rule.*merged by rule/);
  });
});
