// An analyst corrects a site name with SQL into the collection's inbox in
// Drill; after the ingester's pass and the next sync, the field worker's
// Records screen shows the corrected value. A field worker's concurrent edit
// of the same field is a conflict whose side is named "server (ana)";
// resolving it for the server's side reaches Drill and the other device.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Harness, waitFor } from '../lib/harness.mjs';
import { createRecord, editRecord, gotoScreen, row, syncOK, waitRecords, waitState } from '../lib/ui.mjs';

const C = 'inspections';
const h = new Harness({ prefix: 'inbox-' });
let A, B, pa, pb;

before(async () => {
  await h.setup();
  A = h.device('tablet-a');
  B = h.device('tablet-b');
  await Promise.all([A.start({ extra: ['--no-agent'] }), B.start({ extra: ['--no-agent'] })]);
  pa = await A.open('#/records');
  pb = await B.open('#/records');
  await Promise.all([waitRecords(pa), waitRecords(pb)]);
});

after(() => h.close());

/** inbox writes an inbox table with plain CTAS, as an analyst does. */
async function inbox(name, select) {
  await h.drill.query(`CREATE TABLE dfs.\`${h.workspace}\`.\`${C}/inbox/${name}\` AS ${select}`);
}

/** siteShown waits until a record's row on the Records screen shows site. */
async function siteShown(page, id, site) {
  await gotoScreen(page, 'Records');
  await waitRecords(page);
  await waitFor(async () => (await row(page, id).innerText()).includes(site), {
    what: `record ${id} to show the site "${site}"`,
  });
}

test('an analyst corrects a record in Drill, and a concurrent edit is a conflict with the server', async (t) => {
  let r1;
  const cur = `dfs.\`${h.workspace}\`.\`${C}_current\``;

  await t.test('device A captures a record with a misspelled site; both devices have it', async () => {
    r1 = await createRecord(pa, C, { site: 'Riversdie Pump', passed: true, risk: 'low', inspected_at: '2026-12-01T09:00' });
    await syncOK(pa);
    await syncOK(pb);
    await gotoScreen(pb, 'Records');
    await waitRecords(pb);
    await waitState(pb, r1, 'synced');
  });

  await t.test('the analyst bulk-fixes the site with SQL; after ingest and sync the Records screen shows it', async () => {
    await inbox('2026-12-06-riverside', `SELECT record_id, 'Riverside Pump' AS site, 'ana' AS author, 'misspelled site' AS reason FROM ${cur} WHERE site = 'Riversdie Pump'`);
    const st = await h.ingest();
    assert.equal(st.last.applied, 1, `ingest: ${JSON.stringify(st)}`);
    assert.equal(st.last.rejected, 0);
    await syncOK(pa);
    await siteShown(pa, r1, 'Riverside Pump');
    await waitState(pa, r1, 'synced');
    await h.shot(pa, 'inbox-corrected');
    await syncOK(pb);
    await siteShown(pb, r1, 'Riverside Pump');
  });

  await t.test('a field worker edits the same field while the analyst corrects it again: a conflict with "server (ana)"', async () => {
    await gotoScreen(pb, 'Records');
    await editRecord(pb, C, r1, { site: 'Riverside Pump Stn' });
    await waitState(pb, r1, 'pending');
    await inbox('2026-12-06-station', `SELECT '${r1}' AS record_id, 'Riverside Pump Station' AS site, 'ana' AS author FROM (VALUES(1))`);
    const st = await h.ingest();
    assert.equal(st.last.applied, 1, `ingest: ${JSON.stringify(st)}`);
    await syncOK(pb); // pushes the edit, pulls the analyst's: a conflict
    await gotoScreen(pb, 'Records');
    await waitState(pb, r1, 'conflict');
    await gotoScreen(pb, 'Conflicts');
    const rowB = pb.locator(`[data-testid="conflict-row"][data-record-id="${r1}"]`);
    await rowB.waitFor();
    assert.match(await rowB.innerText(), /server \(ana\)/, 'the conflict list names the server side');
    await rowB.locator('.row-open').click();
    await pb.getByTestId('conflict-view').waitFor();
    const heads = await pb.locator('[data-testid^="leaf-head-"]').allInnerTexts();
    const server = heads.findIndex((x) => x.includes('server (ana)'));
    assert.ok(server >= 0, `no version named "server (ana)" among ${JSON.stringify(heads)}`);
    assert.ok(heads.some((x) => x.includes('@tablet-b')), `no version of tablet-b among ${JSON.stringify(heads)}`);
    await h.shot(pb, 'inbox-conflict');
    // Keep the server's site.
    await pb.getByTestId(`choice-site-${server}`).check();
    assert.equal(await pb.getByTestId('merged-site').inputValue(), 'Riverside Pump Station');
    await pb.getByTestId('conflict-resolve').click();
    await pb.getByTestId('conflict-view').waitFor({ state: 'detached' });
  });

  await t.test('the resolution reaches Drill and the other device', async () => {
    await syncOK(pb);
    const rows = await h.drill.current(h.workspace, C);
    assert.equal(rows.get(r1)?.doc.site, 'Riverside Pump Station', `Drill's current ${r1}: ${JSON.stringify(rows.get(r1))}`);
    await syncOK(pa);
    await siteShown(pa, r1, 'Riverside Pump Station');
    await waitState(pa, r1, 'synced');
    await gotoScreen(pa, 'Conflicts');
    await waitFor(async () => /0 conflicts/.test(await pa.getByTestId('conflict-count').innerText()), {
      what: 'no conflicts on device A',
    });
  });
});
