// The end-to-end harness: `fieldsync serve` processes ("devices") with
// private data dirs, a TCP gate in front of the Drillbit to take a device
// offline and back, Debian's Chromium driven by playwright-core, and a Drill
// REST client for assertions.
//
// Everything a run starts is stopped by Harness.close(): serve processes,
// gates, browsers, temp dirs. Nothing listens beyond 127.0.0.1.

import { spawn, execFile } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream, mkdirSync, accessSync, constants as fsc } from 'node:fs';
import { mkdtemp, rm, mkdir, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { chromium } from 'playwright-core';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const ARTIFACTS = path.join(ROOT, 'build/artifacts/e2e');
export const COLLECTIONS = path.join(ROOT, 'docs/examples/collections.json');
export const CHROMIUM = process.env.FIELDSYNC_CHROMIUM || '/usr/bin/chromium';

/** Chromium flags: no sandbox (containers), no GPU, no network chatter of its own. */
export const CHROMIUM_FLAGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** A failure that says what to do about it. */
export class SetupError extends Error {
  constructor(what, fix) {
    super(`${what}\n  fix: ${fix}`);
    this.name = 'SetupError';
  }
}

/** binPath returns the fieldsync binary to test, or throws with the fix. */
export function binPath() {
  const bin = process.env.FIELDSYNC_BIN || path.join(ROOT, 'build/bin/fieldsync');
  try {
    accessSync(bin, fsc.X_OK);
  } catch {
    throw new SetupError(`the fieldsync binary ${bin} is missing`, 'run `make build` (or set FIELDSYNC_BIN)');
  }
  return bin;
}

/** drillURL returns the Drillbit the tests sync into, or throws with the fix. */
export function drillURL() {
  const u = process.env.FIELDSYNC_DRILL_URL;
  if (!u) {
    throw new SetupError(
      'FIELDSYNC_DRILL_URL is not set: the end-to-end tests need a real Drillbit',
      'run them through scripts/browser-test.sh (it starts one), or `scripts/drillbit.sh start` and export the FIELDSYNC_DRILL_URL it prints',
    );
  }
  const host = new URL(u).hostname;
  if (!isLoopback(host)) throw new SetupError(`FIELDSYNC_DRILL_URL ${u} is not a loopback address`, 'use a Drillbit on 127.0.0.1');
  return u.replace(/\/+$/, '');
}

function isLoopback(host) {
  return host === '127.0.0.1' || host === 'localhost' || host === '[::1]' || host === '::1';
}

function checkChromium() {
  try {
    accessSync(CHROMIUM, fsc.X_OK);
  } catch {
    throw new SetupError(`Chromium is not at ${CHROMIUM}`, 'apt-get install chromium (scripts/setup.sh does); never `npx playwright install`');
  }
}

/** sleep waits ms milliseconds. */
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * waitFor polls fn until it returns a truthy value (which it returns) or
 * the timeout passes, then throws naming what it waited for and the last
 * value or error seen.
 */
export async function waitFor(fn, { timeout = 30_000, interval = 250, what = 'condition' } = {}) {
  const end = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
      last = v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > end) {
      const detail = last instanceof Error ? last.message : JSON.stringify(last);
      throw new Error(`timed out after ${timeout} ms waiting for ${what} (last: ${detail})`);
    }
    await sleep(interval);
  }
}

/** freePort asks the kernel for a free loopback port. */
export async function freePort() {
  const s = net.createServer();
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  const { port } = s.address();
  s.close();
  await once(s, 'close');
  return port;
}

/**
 * Gate is a TCP forwarder on a fixed loopback port in front of a Drillbit.
 * Closed, the port refuses connections exactly like a stopped Drillbit;
 * open, it forwards every connection. Closing also cuts the connections in
 * flight, so keep-alive connections cannot sneak past.
 */
export class Gate {
  constructor(target, port) {
    const t = new URL(target);
    this.targetHost = t.hostname;
    this.targetPort = Number(t.port || 80);
    this.port = port;
    this.server = undefined;
    this.sockets = new Set();
  }

  get url() {
    return `http://127.0.0.1:${this.port}`;
  }

  get isOpen() {
    return !!this.server;
  }

  async open() {
    if (this.server) return;
    const srv = net.createServer((c) => {
      const up = net.connect(this.targetPort, this.targetHost);
      this.sockets.add(c);
      this.sockets.add(up);
      const drop = () => {
        c.destroy();
        up.destroy();
        this.sockets.delete(c);
        this.sockets.delete(up);
      };
      c.on('error', drop).on('close', drop);
      up.on('error', drop).on('close', drop);
      c.pipe(up);
      up.pipe(c);
    });
    srv.listen(this.port, '127.0.0.1');
    await once(srv, 'listening');
    this.server = srv;
  }

  async close() {
    const srv = this.server;
    if (!srv) return;
    this.server = undefined;
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    srv.close();
    await once(srv, 'close');
  }
}

/**
 * PrivateDrillbit is a Drillbit of its own (scripts/drillbit.sh) on a fixed
 * port, for tests that stop the real process: close() stops it, open()
 * starts it again on the same port and data dir (its workspaces survive).
 * Same open/close/url shape as Gate. Each start takes 20-40 s.
 */
export class PrivateDrillbit {
  constructor(dataDir, port) {
    this.dataDir = dataDir;
    this.port = port;
    this.isOpen = false;
  }

  get url() {
    return `http://127.0.0.1:${this.port}`;
  }

  async open() {
    if (this.isOpen) return;
    await run(path.join(ROOT, 'scripts/drillbit.sh'), ['start', '--port', String(this.port), '--user-port', '0', '--data', this.dataDir]);
    this.isOpen = true;
  }

  async close() {
    if (!this.isOpen) return;
    this.isOpen = false;
    await run(path.join(ROOT, 'scripts/drillbit.sh'), ['stop', '--data', this.dataDir]);
  }
}

function run(cmd, args) {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: 240_000 }, (err, stdout, stderr) =>
      err ? reject(new Error(`${path.basename(cmd)} ${args.join(' ')}: ${err.message}\n${stderr}`)) : resolve(stdout));
  });
}

/**
 * Drill is a small client of a Drillbit's REST API for assertions:
 * query(sql) returns the rows (values as Drill sends them, mostly strings).
 */
export class Drill {
  constructor(url) {
    this.url = url.replace(/\/+$/, '');
  }

  async query(sql) {
    const res = await fetch(`${this.url}/query.json`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ queryType: 'SQL', query: sql, autoLimit: 0 }),
      signal: AbortSignal.timeout(60_000),
    });
    const text = await res.text();
    let body;
    try {
      body = JSON.parse(text);
    } catch {
      throw new Error(`drill: ${res.status} ${text.slice(0, 300)}`);
    }
    if (!res.ok || body.errorMessage || body.queryState === 'FAILED') {
      throw new Error(`drill: ${sql}: ${body.errorMessage || res.status}`);
    }
    return body.rows ?? [];
  }

  /** current returns the `<collection>_current` rows of a workspace by record_id. */
  async current(workspace, collection) {
    const rows = await this.query(
      `SELECT record_id, version, doc FROM dfs.\`${workspace}\`.\`${collection}_current\` ORDER BY record_id`,
    );
    return new Map(rows.map((r) => [r.record_id, { ...r, doc: typeof r.doc === 'string' ? JSON.parse(r.doc) : r.doc }]));
  }

  /** changes returns the change log rows of a workspace for one record, ascending by version. */
  async changes(workspace, collection, recordId) {
    return this.query(
      `SELECT record_id, version, device, op, doc FROM dfs.\`${workspace}\`.\`${collection}/changes\` ` +
        `WHERE record_id = '${recordId.replace(/'/g, "''")}' ORDER BY version`,
    );
  }
}

/**
 * Device is one `fieldsync serve` process with its own data dir, HOME and
 * browser profile. start() reads the UI address (key included) from the
 * first line of stdout; logs go to build/artifacts/e2e/<name>.log.
 */
export class Device {
  constructor(h, name, { drill, workspace, location }) {
    this.h = h;
    this.name = name;
    this.drill = drill;
    this.workspace = workspace;
    this.home = path.join(h.tmp, name);
    this.dataDir = path.join(this.home, 'data');
    this.profile = path.join(this.home, 'chromium');
    this.env = {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      LANG: 'C.UTF-8',
      TZ: 'UTC',
      HOME: this.home,
      XDG_CONFIG_HOME: path.join(this.home, 'config'),
      XDG_DATA_HOME: path.join(this.home, 'share'),
      XDG_CACHE_HOME: path.join(this.home, 'cache'),
      XDG_RUNTIME_DIR: path.join(this.home, 'run'),
      FIELDSYNC_MANAGED_CONFIG: path.join(this.home, 'managed.json'),
      FIELDSYNC_DRILL_LOCATION: location,
      // The keyring is never needed (no auth); a missing session bus makes that certain.
      DBUS_SESSION_BUS_ADDRESS: 'disabled:',
    };
    this.proc = undefined;
    this.url = undefined;
    this.context = undefined;
    this.page = undefined;
  }

  /** flags are the global flags every command of this device gets. */
  flags() {
    return [
      '--data-dir', this.dataDir,
      '--device', this.name,
      '--collections', COLLECTIONS,
      '--drill', this.drill,
      '--workspace', this.workspace,
    ];
  }

  async prepare() {
    for (const d of ['config', 'share', 'cache', 'run', 'data']) {
      await mkdir(path.join(this.home, d), { recursive: true, mode: 0o700 });
    }
  }

  /** logPath is the file this device's processes log to. */
  get logPath() {
    return path.join(ARTIFACTS, `${this.h.prefix}${this.name}.log`);
  }

  /**
   * start runs `fieldsync serve` and resolves with the UI address. addr
   * pins the listen address (same origin after a restart keeps IndexedDB).
   * command runs another program that ends in serve instead (e.g.
   * scripts/run.sh, which is `make run` without the build), with env added
   * to the device's environment; timeout bounds the wait for the address.
   */
  async start({ addr, extra = [], command, env = {}, timeout = 30_000 } = {}) {
    await this.prepare();
    const [cmd, ...args] = command ?? [binPath(), 'serve', ...this.flags(), ...(addr ? ['--addr', addr] : []), ...extra];
    const log = createWriteStream(this.logPath, { flags: 'a' });
    log.write(`\n=== ${new Date().toISOString()} ${cmd} ${args.join(' ')}\n`);
    const proc = spawn(cmd, args, { env: { ...this.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc = proc;
    this.exited = once(proc, 'exit').then(([code, sig]) => {
      log.write(`=== exited code=${code} signal=${sig}\n`);
      return { code, sig };
    });
    proc.stderr.pipe(log, { end: false });
    const lines = createInterface({ input: proc.stdout });
    const first = new Promise((resolve, reject) => {
      lines.once('line', resolve);
      this.exited.then(({ code, sig }) => reject(new Error(
        `fieldsync serve (${this.name}) exited (code ${code}, signal ${sig}) before printing its address; see ${log.path}`)));
    });
    // A timer that is cleared: a pending one would keep node (and the test
    // file) alive until it fires.
    let timer;
    const late = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(
        `fieldsync serve (${this.name}) printed no address within ${timeout / 1000} s; see ${log.path}`)), timeout);
    });
    const line = (await Promise.race([first, late]).finally(() => clearTimeout(timer))).trim();
    lines.on('line', (l) => log.write(`[stdout] ${l}\n`));
    const u = new URL(line);
    if (!isLoopback(u.hostname) || !u.searchParams.get('key')) {
      throw new Error(`fieldsync serve (${this.name}) printed ${JSON.stringify(line)}, not a loopback URL with ?key=`);
    }
    this.url = line;
    return line;
  }

  /** stop ends serve with SIGTERM (SIGKILL after 15 s) and waits for it. */
  async stop() {
    const p = this.proc;
    if (!p) return;
    this.proc = undefined;
    if (p.exitCode === null && p.signalCode === null) {
      p.kill('SIGTERM');
      const t = setTimeout(() => p.kill('SIGKILL'), 15_000);
      const r = await this.exited;
      clearTimeout(t);
      return r;
    }
    return this.exited;
  }

  /** kill ends serve with SIGKILL, as a crash or a power cut would, and waits for it. */
  async kill() {
    const p = this.proc;
    if (!p) return;
    this.proc = undefined;
    p.kill('SIGKILL');
    return this.exited;
  }

  /** open starts this device's browser (own profile) and loads the UI. */
  async open(hash = '#/records', query = '') {
    if (!this.context) {
      this.context = await this.h.browser(this.profile);
      this.page = this.context.pages()[0] ?? (await this.context.newPage());
      this.page.setDefaultTimeout(20_000);
      this.page.on('pageerror', (e) => this.h.log(`[${this.name} pageerror] ${e.message}`));
      this.page.on('console', (m) => {
        if (m.type() === 'error' || m.type() === 'warning') this.h.log(`[${this.name} console.${m.type()}] ${m.text()}`);
      });
    }
    const u = new URL(this.url);
    for (const [k, v] of new URLSearchParams(query)) u.searchParams.set(k, v);
    u.hash = hash;
    await this.page.goto(u.toString());
    return this.page;
  }

  /** cli runs a fieldsync command on this device's data dir (serve must be stopped: bbolt locks). */
  async cli(...args) {
    return new Promise((resolve, reject) => {
      execFile(binPath(), [args[0], ...this.flags(), ...args.slice(1)], { env: this.env, timeout: 120_000, maxBuffer: 64 << 20 },
        (err, stdout, stderr) => (err ? reject(new Error(`fieldsync ${args.join(' ')}: ${err.message}\n${stderr}`)) : resolve(stdout)));
    });
  }

  /** exportDocs returns this device's current records of a collection by id (serve must be stopped). */
  async exportDocs(collection) {
    const out = await this.cli('export', '--collection', collection);
    const m = new Map();
    for (const line of out.split('\n')) {
      if (!line.trim()) continue;
      const o = JSON.parse(line);
      m.set(o.id ?? o.record_id, o);
    }
    return m;
  }
}

/**
 * Harness owns one test file's processes and temp dirs. new Harness(t)
 * registers close() with the test's after hook.
 */
export class Harness {
  constructor({ prefix = '' } = {}) {
    this.prefix = prefix;
    this.tmp = undefined;
    this.devices = [];
    this.gates = [];
    this.contexts = [];
    this.logLines = [];
  }

  /** setup checks the tools and makes the temp dir; throws with the fix when something is missing. */
  async setup() {
    binPath();
    checkChromium();
    mkdirSync(ARTIFACTS, { recursive: true });
    this.tmp = await mkdtemp(path.join(os.tmpdir(), 'fieldsync-e2e-'));
    this.drillURL = drillURL();
    this.drill = new Drill(this.drillURL);
    this.workspace = `e2e_${this.prefix.replace(/[^a-z0-9]/gi, '')}${randomBytes(4).toString('hex')}`;
    // The directory fieldsync creates the workspace on; the Drillbit reads it
    // (same machine, same user).
    this.location = path.join(this.tmp, 'workspace');
    await mkdir(this.location, { recursive: true, mode: 0o700 });
    return this;
  }

  log(line) {
    this.logLines.push(line);
    if (process.env.FIELDSYNC_E2E_VERBOSE) console.error(line);
  }

  /** gate starts a TCP gate on a free port in front of the Drillbit, closed. */
  async gate() {
    const g = new Gate(this.drillURL, await freePort());
    this.gates.push(g);
    return g;
  }

  /**
   * privateDrillbit makes a Drillbit of this run's own (not started) and
   * points h.drill (the assertions' client) at it; close() stops it.
   */
  async privateDrillbit() {
    const d = new PrivateDrillbit(path.join(this.tmp, 'drillbit'), await freePort());
    this.gates.push(d);
    this.drillURL = d.url;
    this.drill = new Drill(d.url);
    return d;
  }

  /**
   * ingest runs one pass of the server-side ingester (`fieldsync ingest
   * --once --json`) over this run's workspace, with a data dir of its own
   * and no settle time, and resolves with its parsed status.
   */
  async ingest() {
    const dataDir = path.join(this.tmp, 'ingest');
    await mkdir(dataDir, { recursive: true, mode: 0o700 });
    const env = {
      PATH: process.env.PATH ?? '/usr/bin:/bin', LANG: 'C.UTF-8', TZ: 'UTC', HOME: dataDir,
      XDG_CONFIG_HOME: path.join(dataDir, 'config'), FIELDSYNC_MANAGED_CONFIG: path.join(dataDir, 'managed.json'),
      FIELDSYNC_INGEST_SETTLE: '1ms', DBUS_SESSION_BUS_ADDRESS: 'disabled:',
    };
    const args = ['ingest', '--once', '--json', '--data-dir', dataDir, '--collections', COLLECTIONS,
      '--drill', this.drillURL, '--workspace', this.workspace];
    const out = await new Promise((resolve, reject) => {
      execFile(binPath(), args, { env, timeout: 120_000, maxBuffer: 16 << 20 },
        (err, stdout, stderr) => (err ? reject(new Error(`fieldsync ${args.join(' ')}: ${err.message}\n${stderr}`)) : resolve(stdout)));
    });
    this.log(`ingest: ${out}`);
    return JSON.parse(out);
  }

  /** device makes (does not start) a device syncing to drill (default: the Drillbit itself). */
  device(name, { drill } = {}) {
    const d = new Device(this, name, { drill: drill ?? this.drillURL, workspace: this.workspace, location: this.location });
    this.devices.push(d);
    return d;
  }

  /** browser launches Chromium with a profile of its own. */
  async browser(profile) {
    mkdirSync(profile, { recursive: true });
    const ctx = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_FLAGS,
      viewport: { width: 1280, height: 860 },
      locale: 'en-GB',
      timezoneId: 'UTC',
      reducedMotion: 'reduce',
    });
    this.contexts.push(ctx);
    return ctx;
  }

  /** shot saves a full-page screenshot to build/artifacts/e2e/<name>.png (top: scrolled to the top first). */
  async shot(page, name, { top = false } = {}) {
    if (top) {
      await page.evaluate(() => {
        for (const e of [document.scrollingElement, ...document.querySelectorAll('main, .content')]) e?.scrollTo?.(0, 0);
      });
    }
    const file = path.join(ARTIFACTS, `${name}.png`);
    await page.screenshot({ path: file, fullPage: true });
    return file;
  }

  async close() {
    // The last state of each device's page, for failures (named *-last.png).
    for (const d of this.devices) {
      if (d.page && !d.page.isClosed()) {
        await d.page.screenshot({ path: path.join(ARTIFACTS, `${this.prefix}${d.name}-last.png`), timeout: 5_000 }).catch(() => {});
      }
    }
    for (const c of this.contexts) await c.close().catch(() => {});
    for (const d of this.devices) await d.stop().catch(() => {});
    for (const g of this.gates) await g.close().catch(() => {});
    if (this.logLines.length) {
      await writeFile(path.join(ARTIFACTS, `${this.prefix}browser.log`), this.logLines.join('\n') + '\n').catch(() => {});
    }
    if (this.tmp && !process.env.FIELDSYNC_E2E_KEEP) await rm(this.tmp, { recursive: true, force: true });
    else if (this.tmp) console.error(`kept ${this.tmp}`);
  }
}
