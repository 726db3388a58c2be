// The browser capture benchmark (`make bench` -> scripts/browser-bench.sh):
// in one headless Chromium page served by `fieldsync serve`,
//   1. raw IndexedDB puts of N records (one object store, chunks of 500),
//   2. a bulk import of N new records through the app's data layer
//      (one record, carrying its change, per save; one transaction per
//      chunk) until Go acknowledged every change in its bbolt journal;
//      1 and 2 alternate three times, and their medians are compared,
//   3. the floors: raw record + change puts (the former design), raw
//      records carrying their change (this design), and the same N changes
//      sent straight to Go's UI.Accept without IndexedDB,
//   4. edit-to-durable latency: one edit, then the time until Go
//      acknowledged it, over S edits (median, p99).
// The functions are frontend/src/lib/bench.ts, reached through the page's
// window.__fieldsyncBench hook (present only with ?bench=1).
// After the run serve is stopped and `fieldsync status --json` must count
// the imported records in the journal, so the figures are for work done.
//
// Prints a readable block on stdout (bench.sh splices it into
// docs/BENCHMARKS.md); FIELDSYNC_BENCH_VERBOSE=1 adds raw figures on stderr.

import { execFileSync } from 'node:child_process';
import os from 'node:os';
import { Harness, binPath, CHROMIUM } from '../lib/harness.mjs';

const N = Number(process.env.FIELDSYNC_BENCH_RECORDS || 10_000);
const EDITS = Number(process.env.FIELDSYNC_BENCH_EDITS || 200);
const IMPORTS = 3; // raw puts and imports, alternating; the medians are compared
const C = 'inspections';
// bench.sh records stdout and stderr: details only when asked for.
const detail = process.env.FIELDSYNC_BENCH_VERBOSE ? (line) => console.error(line) : () => {};

const h = new Harness({ prefix: 'bench-' });
let failed = false;
try {
  await h.setup();
  const dev = h.device('bench');
  await dev.start({ extra: ['--no-agent'] });
  // The Settings screen: no records list re-renders while the data layer works.
  const page = await dev.open('#/settings', 'bench=1');
  try {
    await page.waitForFunction(() => window.__fieldsyncBench?.ready === true, null, { timeout: 30_000 });
  } catch {
    throw new Error(
      'the page has no window.__fieldsyncBench hook (expected with ?bench=1 after boot): ' +
        'frontend/src/main.ts must expose lib/bench.ts (see /tmp/team/NOTES-e2e.md / docs/TESTING.md)',
    );
  }
  page.setDefaultTimeout(600_000);
  const run = (fn, ...args) => page.evaluate(fn, args);
  // The baseline: raw puts of the same documents into a scratch database
  // that grows as the app's does (warm-up, then N per run), so both sides
  // write into a database of the same size. Raw puts into an empty
  // database (the baseline before 2026-12-07) are timed beside it.
  const rawPuts = () => run(([n, c]) => window.__fieldsyncBench.rawPuts(n, { collection: c, grow: true }), N, C);
  const rawEmpty = () => run(([n, c]) => window.__fieldsyncBench.rawPuts(n, { collection: c }), N, C);

  // What a run leaves in the background (the catch-up reading Go's echo of
  // an import, the sync-state refresh the first status event asks for)
  // must not fall into the next timed run.
  const settle = () => run(() => window.__fieldsyncBench.settle());
  // Warm-up: JIT, the IndexedDB backend, the bridge's connection pool.
  await run(([n, c]) => window.__fieldsyncBench.rawPuts(n, { collection: c, grow: true }), 500, C);
  await run(([c, n]) => window.__fieldsyncBench.bulkImport(c, n), C, 500);
  await settle();

  // Raw puts and the import alternate, three times each (the machine may
  // be busy): the median of each three is the figure, so one run slowed by
  // something else moves neither side.
  const load = os.loadavg()[0];
  const raws = [];
  const empties = [];
  const imps = [];
  for (let i = 0; i < IMPORTS; i++) {
    empties.push(await rawEmpty());
    raws.push(await rawPuts());
    imps.push(await run(([c, n]) => window.__fieldsyncBench.bulkImport(c, n), C, N));
    await settle();
  }
  for (const r of raws) detail(`raw: ${JSON.stringify(r)}`);
  for (const r of empties) detail(`raw into an empty database: ${JSON.stringify(r)}`);
  for (const r of imps) detail(`import: ${JSON.stringify(r)}`);
  // The floor of the former record + outbox design: both objects, nothing else.
  const pairs = await run(([n, c]) => window.__fieldsyncBench.rawPairs(n, { collection: c }), N, C);
  detail(`pairs: ${JSON.stringify(pairs)}`);
  // The floor of the one-object design: the record as the data layer
  // stores it (no index), the capture counter and one object of each log
  // per transaction, nothing else.
  const carrying = await run(([n, c]) => window.__fieldsyncBench.rawCarrying(n, { collection: c }), N, C);
  detail(`carrying: ${JSON.stringify(carrying)}`);
  // Go alone: the same number of new changes sent straight to UI.Accept,
  // two batches at once, no IndexedDB: the floor of any capture that waits
  // for Go's acknowledgement. Its records then reach IndexedDB by catch-up.
  const goOnly = await run(([c, n]) => window.__fieldsyncBench.goAccept(c, n), C, N);
  detail(`go: ${JSON.stringify(goOnly)}`);
  await settle();
  const lat = await run(([c, n]) => window.__fieldsyncBench.editLatency(c, n), C, EDITS);
  detail(`latency: median ${lat.medianMs} p99 ${lat.p99Ms}`);
  const ua = await page.evaluate(() => navigator.userAgent);

  await h.contexts[0].close();
  h.contexts.length = 0;
  await dev.stop();
  const st = JSON.parse(await dev.cli('status', '--json'));
  const journal = countRecords(st, C);
  const changes = st.store?.journal;
  const want = 500 + IMPORTS * N + N + 1; // warm-up + imports + Go alone + the edited record
  const wantChanges = want + EDITS;
  if (journal === undefined || changes === undefined) throw new Error(`status --json has no record count: ${JSON.stringify(st).slice(0, 400)}`);
  if (journal < want || changes < wantChanges) {
    throw new Error(`the journal holds ${journal} ${C} records and ${changes} changes, want ${want} and ${wantChanges}: acknowledged changes are missing`);
  }

  const rawSorted = [...raws].sort((a, b) => a.perSecond - b.perSecond);
  const rawMed = rawSorted[1];
  const impSorted = [...imps].sort((a, b) => a.perSecond - b.perSecond);
  const imp = impSorted[1];
  const ratio = imp.perSecond / rawMed.perSecond;
  const emptySorted = [...empties].sort((a, b) => a.perSecond - b.perSecond);
  const emptyMed = emptySorted[1];
  const f0 = (x) => Math.round(x).toLocaleString('en-US');
  const f1 = (x) => x.toFixed(1);
  let chromium = (/Chrome\/([\d.]+)/.exec(ua) ?? [])[1] ?? 'unknown';
  try {
    // The user agent says 156.0.0.0; the binary knows its build.
    chromium = /([\d]+\.[\d.]+)/.exec(execFileSync(CHROMIUM, ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }))?.[1] ?? chromium;
  } catch {
    // keep the user agent's
  }
  const fsv = execFileSync(binPath(), ['version'], { encoding: 'utf8' }).trim();
  const cpu = os.cpus()[0]?.model?.trim() ?? 'unknown CPU';
  console.log(
    [
      `Browser capture, ${new Date().toISOString().slice(0, 10)}: Chromium ${chromium} headless (${CHROMIUM}), ${fsv}, ${os.cpus().length} x ${cpu}, load ${load.toFixed(1)}`,
      `bulk import of ${N.toLocaleString('en-US')} "${C}" records (chunks of 500, one transaction each; page on the Settings screen)`,
      `  raw IndexedDB puts (record only)          ${pad(f0(rawMed.ms), 7)} ms  ${pad(f0(rawMed.perSecond), 8)} records/s  (median of 3: ${rawSorted.map((r) => f0(r.perSecond)).join(', ')}/s; into a database as large as the app's)`,
      `  raw puts into an empty database           ${pad(f0(emptyMed.ms), 7)} ms  ${pad(f0(emptyMed.perSecond), 8)} records/s  (median of 3: ${emptySorted.map((r) => f0(r.perSecond)).join(', ')}/s; the baseline until 2026-12-07)`,
      `  raw record + change puts (2 stores)       ${pad(f0(pairs.ms), 7)} ms  ${pad(f0(pairs.perSecond), 8)} records/s  (the floor of the former record + outbox design: ${(pairs.perSecond / rawMed.perSecond).toFixed(2)} of raw)`,
      `  raw records carrying their change         ${pad(f0(carrying.ms), 7)} ms  ${pad(f0(carrying.perSecond), 8)} records/s  (the floor of the one-object design: no index, counter, two logs: ${(carrying.perSecond / rawMed.perSecond).toFixed(2)} of raw)`,
      `  data layer -> IndexedDB -> Go             ${pad(f0(imp.ms), 7)} ms  ${pad(f0(imp.perSecond), 8)} records/s  acknowledged in the bbolt journal (median of 3: ${impSorted.map((r) => f0(r.perSecond)).join(', ')}/s)`,
      `  ratio data layer / raw                    ${ratio.toFixed(2)}  (${(1 / ratio).toFixed(1)}x the time of raw puts; against raw puts into an empty database: ${(imp.perSecond / emptyMed.perSecond).toFixed(2)})`,
      `  of which writing the records              ${pad(f0(imp.writeMs ?? 0), 7)} ms  (the rest: the last batches with Go)`,
      `  Go alone: UI.Accept, no IndexedDB         ${pad(f0(goOnly.ms), 7)} ms  ${pad(f0(goOnly.perSecond), 8)} changes/s  (the floor of any capture acknowledged by Go: ${(goOnly.perSecond / rawMed.perSecond).toFixed(2)} of raw)`,
      `edit-to-durable, ${EDITS} single edits (put in IndexedDB -> Go acknowledged it in the journal)`,
      `  median ${f1(lat.medianMs)} ms   p99 ${f1(lat.p99Ms)} ms   max ${f1(Math.max(...lat.samples))} ms`,
      `journal check after the run (fieldsync status): ${journal.toLocaleString('en-US')} ${C} records, ${changes.toLocaleString('en-US')} changes (want >= ${want.toLocaleString('en-US')}, ${wantChanges.toLocaleString('en-US')})`,
    ].join('\n'),
  );
} catch (err) {
  failed = true;
  console.error(`browser-bench: FAILED: ${err instanceof Error ? err.stack || err.message : err}`);
} finally {
  await h.close();
}
process.exit(failed ? 1 : 0);

function pad(s, w) {
  return s.padStart(w);
}

/** countRecords finds the record count of a collection in `status --json`. */
function countRecords(st, c) {
  const cols = st.store?.collections ?? st.collections;
  if (Array.isArray(cols)) {
    const x = cols.find((v) => v.name === c || v.collection === c);
    return x?.records ?? x?.count ?? x?.total;
  }
  if (cols && typeof cols === 'object') {
    const x = cols[c];
    return typeof x === "number" ? x : (x?.live ?? x?.records ?? x?.count);
  }
  return undefined;
}
