// @vitest-environment jsdom
import { cleanup, fireEvent, render, screen } from '@testing-library/svelte';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { inspections } from '../testing/fixtures';
import RecordForm from './RecordForm.svelte';

afterEach(cleanup);

function setup() {
  const onsave = vi.fn(() => Promise.resolve());
  const oncancel = vi.fn();
  render(RecordForm, { collection: inspections, onsave, oncancel });
  return { onsave, oncancel };
}

describe('RecordForm', () => {
  it('has a labelled input for every declared field, of the right kind', () => {
    setup();
    expect(screen.getByLabelText(/^Site/)).toHaveProperty('type', 'text');
    expect(screen.getByLabelText(/^Status/).tagName).toBe('SELECT');
    expect(screen.getByLabelText('Score')).toHaveProperty('inputMode', 'numeric');
    expect(screen.getByLabelText('Safe')).toHaveProperty('type', 'checkbox');
    expect(screen.getByLabelText('Visited at')).toHaveProperty('type', 'datetime-local');
    expect(screen.getByLabelText('Notes').tagName).toBe('TEXTAREA');
  });

  it('shows each problem next to its field, marks it invalid and does not save', async () => {
    const { onsave } = setup();
    await fireEvent.input(screen.getByLabelText('Score'), { target: { value: '2.5' } });
    await fireEvent.input(screen.getByLabelText('Temperature'), { target: { value: 'hot' } });
    await fireEvent.click(screen.getByRole('button', { name: 'Save' }));

    expect(onsave).not.toHaveBeenCalled();
    expect(screen.getByRole('alert').textContent).toContain('4 fields need attention.');
    const expectError = (label: RegExp | string, testid: string, text: string) => {
      const input = screen.getByLabelText(label);
      const err = screen.getByTestId(testid);
      expect(err.textContent).toBe(text);
      expect(input.getAttribute('aria-invalid')).toBe('true');
      expect(input.getAttribute('aria-describedby')).toBe(err.id);
    };
    expectError(/^Site/, 'error-site', 'Site is required.');
    expectError(/^Status/, 'error-status', 'Status is required.');
    expectError('Score', 'error-score', 'Score must be a whole number, such as 12.');
    expectError('Temperature', 'error-temperature', 'Temperature must be a number, such as 12.5.');
    // Focus goes to the first field that needs attention.
    expect(document.activeElement).toBe(screen.getByLabelText(/^Site/));
  });

  it('clears a message as soon as the field is corrected, then saves a typed document', async () => {
    const { onsave } = setup();
    await fireEvent.click(screen.getByRole('button', { name: 'Save' }));
    await fireEvent.input(screen.getByLabelText(/^Site/), { target: { value: 'East pump' } });
    expect(screen.queryByTestId('error-site')).toBeNull();
    expect(screen.getByTestId('error-status')).toBeTruthy();

    await fireEvent.change(screen.getByLabelText(/^Status/), { target: { value: 'closed' } });
    await fireEvent.input(screen.getByLabelText('Score'), { target: { value: '12' } });
    await fireEvent.click(screen.getByLabelText('Safe'));
    await fireEvent.input(screen.getByLabelText('Visited at'), { target: { value: '2026-11-20T09:30' } });
    await fireEvent.click(screen.getByRole('button', { name: 'Save' }));

    expect(onsave).toHaveBeenCalledWith({
      site: 'East pump',
      status: 'closed',
      score: 12,
      safe: true,
      visited_at: new Date(2026, 10, 20, 9, 30).getTime(),
    });
  });

  it('edits an existing record and offers Delete', async () => {
    const ondelete = vi.fn();
    const onsave = vi.fn(() => Promise.resolve());
    render(RecordForm, {
      collection: inspections,
      record: {
        collection: 'inspections',
        record_id: 'r1',
        doc: { site: 'North well', status: 'open', score: 3, extra: 'kept' },
        version: 'v',
        deleted: false,
        leaves: [],
        state: 'synced',
        updated_at: 0,
      },
      onsave,
      oncancel: () => {},
      ondelete,
    });
    expect((screen.getByLabelText(/^Site/) as HTMLInputElement).value).toBe('North well');
    await fireEvent.input(screen.getByLabelText('Score'), { target: { value: '4' } });
    await fireEvent.click(screen.getByRole('button', { name: 'Save' }));
    expect(onsave).toHaveBeenCalledWith({ site: 'North well', status: 'open', score: 4, safe: false, extra: 'kept' });
    await fireEvent.click(screen.getByRole('button', { name: 'Delete' }));
    expect(ondelete).toHaveBeenCalledOnce();
  });

  it('shows why Save failed and keeps what was typed', async () => {
    const onsave = vi.fn(() => Promise.reject(new Error('storage is full')));
    render(RecordForm, { collection: inspections, onsave, oncancel: () => {} });
    await fireEvent.input(screen.getByLabelText(/^Site/), { target: { value: 'A' } });
    await fireEvent.change(screen.getByLabelText(/^Status/), { target: { value: 'open' } });
    await fireEvent.click(screen.getByRole('button', { name: 'Save' }));
    await vi.waitFor(() => expect(screen.getByText('Could not save: storage is full')).toBeTruthy());
    expect((screen.getByLabelText(/^Site/) as HTMLInputElement).value).toBe('A');
  });
});
