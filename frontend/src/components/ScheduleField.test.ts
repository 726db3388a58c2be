// @vitest-environment jsdom
import { cleanup, fireEvent, render, screen } from '@testing-library/svelte';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { FakeApi } from '../testing/fixtures';
import ScheduleField from './ScheduleField.svelte';

afterEach(cleanup);

describe('ScheduleField', () => {
  it('reads the spec in plain words as it is typed, asking Go', async () => {
    const api = new FakeApi();
    render(ScheduleField, { api, value: '@every 5m', initialText: 'every 5 minutes', debounceMs: 0 });
    const reading = screen.getByTestId('schedule-reading');
    expect(reading.textContent?.trim()).toBe('every 5 minutes');

    await fireEvent.input(screen.getByLabelText('Schedule'), { target: { value: '*/15 * * * *' } });
    await vi.waitFor(() => expect(reading.textContent?.trim()).toBe('every 15 minutes'));
    expect(api.callsOf('describeSchedule')).toContainEqual(['*/15 * * * *']);
    expect(reading.getAttribute('aria-live')).toBe('polite');
  });

  it('shows Go’s error for a spec it cannot read and marks the input invalid', async () => {
    const api = new FakeApi();
    render(ScheduleField, { api, value: '', debounceMs: 0 });
    expect(screen.getByTestId('schedule-reading').textContent).toContain('Manual only');
    const input = screen.getByLabelText('Schedule');
    await fireEvent.input(input, { target: { value: 'every tuesday' } });
    await vi.waitFor(() => expect(screen.getByTestId('schedule-reading').textContent?.trim()).toBe('cannot read "every tuesday"'));
    expect(input.getAttribute('aria-invalid')).toBe('true');
  });
});
