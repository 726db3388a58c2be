// A field worker captures and edits records while the Drillbit cannot be
// reached, sees them kept on the device (local only / pending), comes back
// online, presses "Sync now", and the rows are in Drill and shown as synced.
//
// "Offline" is by default a TCP gate in front of the real Drillbit: closed,
// the port refuses connections exactly as a stopped Drillbit does; opened,
// it forwards to the running Drillbit. So the app sees the same thing as a
// Drillbit that stops and starts, without a 30-second JVM start in between.
// FIELDSYNC_E2E_STOP_DRILLBIT=1 runs the same test against a Drillbit of its
// own that is really stopped and started again (about a minute longer).

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Harness, waitFor } from '../lib/harness.mjs';
import {
  createRecord, editRecord, formValues, gotoScreen, openRecord, row, stateOf, syncNow, syncOK, waitRecords, waitState,
} from '../lib/ui.mjs';

const C = 'inspections';
const h = new Harness({ prefix: 'offline-' });
let gate, dev, page;

before(async () => {
  await h.setup();
  gate = process.env.FIELDSYNC_E2E_STOP_DRILLBIT === '1' ? await h.privateDrillbit() : await h.gate();
  dev = h.device('field1', { drill: gate.url });
  await gate.open();
  await dev.start({ extra: ['--no-agent'] });
  page = await dev.open('#/records');
  await waitRecords(page);
});

after(() => h.close());

test('records captured offline reach Drill after "Sync now"', async (t) => {
  let seen;
  await t.test('online: a first record is synced', async () => {
    seen = await createRecord(page, C, {
      site: 'North gate', inspector: 'Ana', temperature_c: '12.5', defects: '0', passed: true, risk: 'low',
      inspected_at: '2026-11-20T09:15', notes: 'Baseline visit',
    });
    await waitState(page, seen, 'local');
    await syncOK(page);
    await gotoScreen(page, 'Records');
    await waitState(page, seen, 'synced');
    const cur = await h.drill.current(h.workspace, C);
    assert.equal(cur.get(seen)?.doc.site, 'North gate');
  });

  let n1, n2;
  await t.test('offline: capture, edit, and the device keeps everything', async () => {
    await gate.close(); // the Drillbit is now unreachable (stopped)

    await editRecord(page, C, seen, { inspector: 'Ana Ruiz', defects: '3' });
    await waitState(page, seen, 'pending');

    n1 = await createRecord(page, C, {
      site: 'Pump house', passed: false, risk: 'high', inspected_at: '2026-11-21T14:40', notes: 'Leak at valve 2',
    });
    n2 = await createRecord(page, C, {
      site: 'East fence', inspector: 'Ben', passed: true, risk: 'medium', inspected_at: '2026-11-21T16:05',
    });
    await waitState(page, n1, 'local');
    await waitState(page, n2, 'local');
    // An edit of a record never synced keeps it local.
    await editRecord(page, C, n1, { defects: '4', temperature_c: '7' });
    await waitState(page, n1, 'local');
    await h.shot(page, 'records-offline');

    // "Sync now" cannot reach the Drillbit: it says so, and nothing is lost.
    const r = await syncNow(page);
    assert.equal(r.ok, false, `sync should fail while offline, got: ${r.text}`);
    await waitFor(async () => /offline|failed/i.test(await page.getByTestId('sync-state').innerText()), {
      what: 'the Sync screen to show the offline state',
    });
    const advice = await page.getByTestId('sync-advice').innerText();
    assert.match(advice, /cannot be reached|kept on this device/i);
    const pend = Number((await page.getByTestId('pending-count').innerText()).replace(/\D/g, ''));
    assert.ok(pend >= 3, `pending count ${pend}, want >= 3 (1 edit + 2 creates + 1 edit)`);
    await h.shot(page, 'sync-offline');

    await gotoScreen(page, 'Records');
    await waitRecords(page);
    assert.equal(await stateOf(page, seen), 'pending');
    assert.equal(await stateOf(page, n1), 'local');
  });

  await t.test('back online: "Sync now" pushes, rows appear in Drill, the UI shows them synced', async () => {
    await gate.open(); // the Drillbit is reachable again (started)
    const before = await h.drill.current(h.workspace, C);
    assert.equal(before.get(seen)?.doc.inspector, 'Ana', 'the offline edit must not be in Drill before the sync');
    assert.ok(!before.has(n1) && !before.has(n2), 'offline records must not be in Drill before the sync');
    const text = await syncOK(page);
    assert.match(text, /Sync finished/);
    await gotoScreen(page, 'Records');
    await waitRecords(page);
    for (const id of [seen, n1, n2]) await waitState(page, id, 'synced');
    await h.shot(page, 'records-synced');

    const cur = await h.drill.current(h.workspace, C);
    assert.deepEqual(
      pick(cur.get(seen)?.doc, ['site', 'inspector', 'defects', 'risk']),
      { site: 'North gate', inspector: 'Ana Ruiz', defects: 3, risk: 'low' },
    );
    assert.deepEqual(
      pick(cur.get(n1)?.doc, ['site', 'passed', 'risk', 'defects', 'temperature_c', 'notes']),
      { site: 'Pump house', passed: false, risk: 'high', defects: 4, temperature_c: 7, notes: 'Leak at valve 2' },
    );
    assert.deepEqual(pick(cur.get(n2)?.doc, ['site', 'inspector', 'risk']), { site: 'East fence', inspector: 'Ben', risk: 'medium' });
    // Each change went to the log once: 2 versions of seen and n1, 1 of n2.
    assert.equal((await h.drill.changes(h.workspace, C, seen)).length, 2);
    assert.equal((await h.drill.changes(h.workspace, C, n1)).length, 2);
    assert.equal((await h.drill.changes(h.workspace, C, n2)).length, 1);

    // The form shows what Drill has.
    await openRecord(page, n1);
    const v = await formValues(page);
    assert.equal(v.site, 'Pump house');
    assert.equal(v.defects, '4');
    assert.ok(await row(page, n1).isVisible());
  });
});

function pick(o, keys) {
  assert.ok(o, 'record missing in Drill');
  return Object.fromEntries(keys.map((k) => [k, o[k]]));
}
