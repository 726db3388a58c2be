import { mount } from 'svelte';
import './app.css';
import App from './App.svelte';
import { runAndReport } from './lib/selfcheck';
import { createTransport } from './lib/transport';

const transport = createTransport(window);

// The start-up self-check runs once per page load; its result is reported
// to Go and shown in the status bar.
const selfCheck = runAndReport({
  indexedDB: window.indexedDB,
  transport,
  userAgent: navigator.userAgent,
  now: () => performance.now(),
  nonce: () => crypto.randomUUID(),
});

const target = document.getElementById('app');
if (!target) throw new Error('fieldsync: #app element missing from index.html');

export default mount(App, { target, props: { transport, selfCheck } });
