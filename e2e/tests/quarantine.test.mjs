// Someone else writes into the shared Drill workspace: an analyst's batch
// with plain SQL whose second row has no change id, and a batch directory
// holding a 0-byte parquet file, as a Drillbit killed during a CTAS leaves
// it. The field worker's device keeps syncing everything else; the Sync
// screen tells IT in plain words what was set aside (the bad row at once,
// the unreadable batch after drill.pull_retries reads, lowered to 2 here)
// and how to retry it, and so do `fieldsync status --json` and
// `fieldsync doctor`.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { Harness, binPath, waitFor } from '../lib/harness.mjs';
import { createRecord, syncOK, waitRecords } from '../lib/ui.mjs';

const C = 'inspections';
const h = new Harness({ prefix: 'quarantine-' });
let dev, page;
// The unreadable batch is set aside at its second read (default: 8 reads
// over hours).
const retries = { FIELDSYNC_DRILL_PULL_RETRIES: '2' };

before(async () => {
  await h.setup();
  dev = h.device('field7');
  await dev.start({ extra: ['--no-agent'], env: retries });
  page = await dev.open('#/records');
  await waitRecords(page);
});

after(() => h.close());

/** run runs a fieldsync command on the device's data dir and returns its exit code and output, failed or not. */
function run(...args) {
  return new Promise((resolve) => {
    execFile(binPath(), [args[0], ...dev.flags(), ...args.slice(1)], { env: { ...dev.env, ...retries }, timeout: 120_000 },
      (err, stdout, stderr) => resolve({ code: err ? err.code : 0, stdout, stderr }));
  });
}

test('bad data from Drill is set aside, shown to IT, and never stops the sync', async () => {
  await createRecord(page, C, { site: 'Dock 4', passed: true, risk: 'low', inspected_at: '2026-11-23T08:00' });
  await syncOK(page); // creates the workspace

  const ms = String(Date.now() - 1000).padStart(15, '0');
  const row = (id) =>
    `SELECT ${id} AS change_id, 'sql-${Math.random().toString(36).slice(2)}' AS record_id, 'put' AS op, ` +
    `'${ms}-0000-analyst' AS version, '[]' AS parents, 'analyst' AS device, CAST(1 AS BIGINT) AS edited_at, ` +
    `CAST(2 AS BIGINT) AS batch_rows, '{"site":"by SQL","passed":true,"risk":"low","inspected_at":1}' AS doc FROM (VALUES(1))`;
  await h.drill.query(
    `CREATE TABLE dfs.\`${h.workspace}\`.\`${C}/changes/${ms}_analyst_000000000001\` AS ` +
    `${row("'sql-good'")} UNION ALL ${row('CAST(NULL AS VARCHAR)')}`,
  );
  const dead = path.join(h.location, C, 'changes', `${ms}_dead_000000000001`);
  await mkdir(dead, { recursive: true });
  await writeFile(path.join(dead, '0_0_0.parquet'), '');

  // The bad row is set aside at once; the unreadable batch waits to be
  // read again at the next sync.
  const text = await syncOK(page);
  assert.match(text, /received/);
  const card = page.getByTestId('quarantine');
  await waitFor(() => card.isVisible(), { what: 'the quarantine card on the Sync screen' });
  let said = await card.innerText();
  assert.match(said, /1 item received from Drill was set aside/);
  assert.match(said, /change_id is NULL/);
  assert.match(said, /fieldsync quarantine retry --all/);
  await h.shot(page, 'sync-quarantine');

  // Its second read fails too: it is set aside, and the card says so.
  await syncOK(page);
  await waitFor(async () => /2 items received from Drill were set aside/.test(await card.innerText()),
    { what: 'the unreadable batch on the quarantine card' });
  said = await card.innerText();
  assert.match(said, /because they are damaged or not valid/);
  assert.match(said, new RegExp(`batch ${ms}_dead_000000000001 of ${C}: Drill could not read the batch`));
  assert.match(said, /change_id is NULL/);
  assert.match(said, /fieldsync quarantine retry --all/);
  await h.shot(page, 'sync-quarantine-batch');

  await dev.stop(); // the commands need the store
  const st = await run('status', '--json');
  assert.equal(st.code, 0, st.stderr);
  const status = JSON.parse(st.stdout).status;
  assert.equal(status.quarantined, 2);
  assert.ok(status.quarantine_reasons.some((r) => /change_id is NULL/.test(r)), status.quarantine_reasons.join('\n'));
  assert.ok(status.quarantine_reasons.some((r) => r.includes(`batch ${ms}_dead_000000000001 of ${C}: Drill could not read the batch`)),
    status.quarantine_reasons.join('\n'));
  const doc = await run('doctor');
  assert.match(doc.stdout, /\[WARN\] quarantine\s+2 pulled row\(s\) or batch\(es\) quarantined/);
  const list = await run('quarantine', 'list');
  assert.match(list.stdout, /change_id is NULL/);
  assert.match(list.stdout, new RegExp(`${ms}_dead_000000000001`));
  const exp = await run('export', '--collection', C);
  assert.match(exp.stdout, /"site":"by SQL"/, 'the good row of the analyst batch arrived');
});
