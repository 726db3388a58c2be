// @vitest-environment jsdom
import { cleanup, fireEvent, render, screen, within } from '@testing-library/svelte';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { conflictR1, inspections } from '../testing/fixtures';
import ConflictView from './ConflictView.svelte';

afterEach(cleanup);

function setup() {
  const onresolve = vi.fn(() => Promise.resolve());
  const onkeepboth = vi.fn(() => Promise.resolve());
  const onclose = vi.fn();
  render(ConflictView, { conflict: conflictR1(), collection: inspections, onresolve, onkeepboth, onclose });
  return { onresolve, onkeepboth, onclose };
}

const radio = (name: string) => screen.getByRole<HTMLInputElement>('radio', { name });

describe('ConflictView', () => {
  it('names the merge rule of a field that has one', () => {
    const onresolve = vi.fn(() => Promise.resolve());
    render(ConflictView, {
      conflict: conflictR1(),
      collection: { ...inspections, rules: { score: 'higher', notes: 'join' } },
      onresolve,
      onkeepboth: onresolve,
      onclose: vi.fn(),
    });
    expect(screen.getByTestId('rule-score').textContent).toBe('rule: higher value');
    expect(screen.getByTestId('rule-notes').textContent).toBe('rule: texts joined');
    expect(screen.queryByTestId('rule-site')).toBeNull();
  });

  it('shows each version side by side with who and when, and the ancestor', () => {
    setup();
    const head = screen.getAllByRole('columnheader').map((h) => h.textContent?.replace(/\s+/g, ' ').trim());
    expect(head[0]).toBe('Field');
    expect(head[1]).toContain('Common ancestor');
    expect(head[2]).toMatch(/Version A ana@tab-1 2026-11-20 \d\d:31/);
    expect(head[3]).toMatch(/Version B current ben@tab-2 2026-11-20 \d\d:32/);
    expect(head[4]).toBe('Merged result');
  });

  it('highlights the fields that differ and offers a choice only for them', () => {
    setup();
    const differs = (name: string) => screen.getByTestId(`diff-row-${name}`).dataset['differs'];
    expect(['site', 'status', 'score', 'notes'].map(differs)).toEqual(['true', 'true', 'true', 'false']);
    expect(within(screen.getByTestId('diff-row-notes')).queryAllByRole('radio')).toHaveLength(0);
    expect(within(screen.getByTestId('diff-row-site')).getAllByRole('radio')).toHaveLength(2);
  });

  it('starts from the three-way merge and lets the analyst choose per field and edit', async () => {
    const { onresolve } = setup();
    expect(radio('Use Version B for Site: North well B').checked).toBe(true);
    expect(radio('Use Version A for Status: closed').checked).toBe(true);
    expect((screen.getByLabelText('Merged Site') as HTMLInputElement).value).toBe('North well B');

    await fireEvent.click(radio('Use Version A for Site: North well'));
    expect((screen.getByLabelText('Merged Site') as HTMLInputElement).value).toBe('North well');
    await fireEvent.click(radio('Use Version B for Status: open'));
    await fireEvent.input(screen.getByLabelText('Merged Notes'), { target: { value: 'both visits' } });
    expect(within(screen.getByTestId('diff-row-notes')).getByText('edited')).toBeTruthy();

    await fireEvent.click(screen.getByRole('button', { name: 'Resolve' }));
    expect(onresolve).toHaveBeenCalledWith({ site: 'North well', status: 'open', score: 4, notes: 'both visits' });
  });

  it('refuses a merged value of the wrong type, next to the field', async () => {
    const { onresolve } = setup();
    await fireEvent.input(screen.getByLabelText('Merged Score'), { target: { value: 'four' } });
    await fireEvent.click(screen.getByRole('button', { name: 'Resolve' }));
    expect(onresolve).not.toHaveBeenCalled();
    expect(screen.getByTestId('merged-error-score').textContent).toBe('Score must be a whole number, such as 12.');
  });

  it('keeps both, reports a failure in words, and goes back on Escape', async () => {
    const { onkeepboth, onclose } = setup();
    onkeepboth.mockRejectedValueOnce(new Error('the record changed meanwhile'));
    await fireEvent.click(screen.getByRole('button', { name: 'Keep both' }));
    expect(onkeepboth).toHaveBeenCalledOnce();
    await vi.waitFor(() => expect(screen.getByRole('alert').textContent).toBe('the record changed meanwhile'));
    await fireEvent.keyDown(screen.getByLabelText('Merged Site'), { key: 'Escape' });
    expect(onclose).toHaveBeenCalledOnce();
  });

  it('links to the record’s form on the Records screen', () => {
    setup();
    expect(screen.getByTestId('conflict-record-link').getAttribute('href')).toBe('#/records/inspections/r1');
  });
});
