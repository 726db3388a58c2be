// @vitest-environment jsdom
import { cleanup, fireEvent, render, screen } from '@testing-library/svelte';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Toasts } from '../components/toasts.svelte';
import { MemoryData } from '../testing/memoryData';
import { Session } from './session.svelte';
import Settings from './Settings.svelte';
import { FakeApi, baseSettings } from '../testing/fixtures';

vi.setConfig({ testTimeout: 20_000 });
afterEach(cleanup);

async function setup(api = new FakeApi()) {
  const services = { api, data: new MemoryData() };
  const session = new Session(services);
  render(Settings, { services, session, toasts: new Toasts(0) });
  await vi.waitFor(() => expect(screen.getByTestId('settings-form')).toBeTruthy());
  return api;
}

describe('Settings', () => {
  it('fills the form, reads the schedule and saves what was typed', async () => {
    const api = await setup();
    expect((screen.getByLabelText(/Drillbit address/) as HTMLTextAreaElement).value).toBe('http://drill.example:8047');
    expect(screen.getByTestId('schedule-reading').textContent?.trim()).toBe('every 5 minutes');
    await fireEvent.input(screen.getByLabelText(/Drillbit address/), { target: { value: 'http://a:8047\nhttp://b:8047' } });
    await fireEvent.input(screen.getByLabelText(/^Workspace/), { target: { value: 'dfs.field' } });
    await fireEvent.click(screen.getByRole('button', { name: 'Save' }));
    await vi.waitFor(() => expect(api.callsOf('saveSettings')).toHaveLength(1));
    expect(api.callsOf('saveSettings')[0]).toEqual([{ ...baseSettings, drill_urls: ['http://a:8047', 'http://b:8047'], workspace: 'dfs.field' }]);
  });

  it('sets the password through Go only and says where it is kept', async () => {
    const api = await setup();
    expect(screen.getByTestId('password-where').textContent).toContain('stored in the system keyring');
    await fireEvent.input(screen.getByLabelText('Password'), { target: { value: 's3cret' } });
    await fireEvent.click(screen.getByRole('button', { name: 'Set password' }));
    await vi.waitFor(() => expect(api.callsOf('setPassword')).toEqual([['s3cret']]));
    expect((screen.getByLabelText('Password') as HTMLInputElement).value).toBe('');
    await fireEvent.click(screen.getByRole('button', { name: 'Save' }));
    await vi.waitFor(() => expect(api.callsOf('saveSettings')).toHaveLength(1));
    expect(JSON.stringify(api.callsOf('saveSettings'))).not.toContain('s3cret');
  });

  it('shows locked keys read-only, each with where its value comes from', async () => {
    const api = new FakeApi();
    api.settings_ = {
      ...api.settings_,
      locked: ['workspace', 'auth'],
      locked_by: { workspace: 'set by IT in /etc/fieldsync/config.json', auth: 'set by the environment variable FIELDSYNC_DRILL_AUTH' },
    };
    await setup(api);
    expect(screen.getByTestId('locked-note').textContent).toContain('managed settings, an environment variable or a command-line flag');
    expect(document.querySelector('label[for="set-workspace"]')?.textContent).toContain('set by IT in /etc/fieldsync/config.json');
    expect(screen.getByText('set by the environment variable FIELDSYNC_DRILL_AUTH')).toBeTruthy();
    expect(screen.queryByText('set by IT')).toBeNull();
    expect((screen.getByLabelText(/^Workspace/) as HTMLInputElement).readOnly).toBe(true);
    expect((screen.getByTestId('settings-auth-none') as HTMLInputElement).disabled).toBe(true);
    expect((screen.getByLabelText(/Drillbit address/) as HTMLTextAreaElement).readOnly).toBe(false);
  });

  it('reports each check of Test connection with its hint', async () => {
    const api = new FakeApi();
    api.checks_ = [
      { name: 'reach', status: 'ok', detail: 'answered' },
      { name: 'workspace', status: 'fail', detail: 'dfs.fieldsync is not writable', hint: 'Make it writable.' },
    ];
    await setup(api);
    await fireEvent.click(screen.getByRole('button', { name: 'Test connection' }));
    await vi.waitFor(() => expect(screen.getByTestId('check-workspace').dataset['status']).toBe('fail'));
    expect(screen.getByTestId('check-reach').textContent).toContain('OK:');
    expect(screen.getByTestId('check-workspace').textContent).toContain('Make it writable.');
    expect(api.callsOf('testConnection')).toHaveLength(1);
  });
});
