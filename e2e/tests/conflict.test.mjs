// Two devices edit the same records, both sync, the conflicts appear on
// device A's review screen, and an analyst resolves them: field by field
// with the mouse (choosing fields from different versions and editing a
// merged value), field by field with the keyboard only, "Keep both", and a
// policy applied to a selection. The resolutions land in Drill (the
// _current view, the change log, and once in the _resolutions and _history
// views) and on both devices; device B's history shows A's resolution with
// its resolver. A conflict in a collection with merge rules settles by
// itself: it never waits in the list, and both devices' Conflicts screens
// list it under "Settled by rules", field by field, linking to the record.

import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { COLLECTIONS, Harness, waitFor } from '../lib/harness.mjs';
import {
  createRecord, editRecord, formValues, gotoScreen, openRecord, syncOK, waitRecords, waitState,
} from '../lib/ui.mjs';

const C = 'inspections';
/** R has merge rules: concurrent edits keep the higher temperature and join the notes. */
const R = 'readings';
const h = new Harness({ prefix: 'conflict-' });
let A, B, pa, pb;
/** resolver is who resolved r1 on device A, as Drill's _resolutions view says. */
let resolver = '';

before(async () => {
  await h.setup();
  // The example declaration, plus a collection with merge rules.
  const d = JSON.parse(await readFile(COLLECTIONS, 'utf8'));
  d.collections.push({
    name: R, label: 'Readings', title: 'site', policy: 'lww',
    rules: { temperature_c: 'higher', notes: 'join' },
    fields: [
      { name: 'site', label: 'Site', type: 'text', required: true },
      { name: 'temperature_c', label: 'Temperature (°C)', type: 'number' },
      { name: 'notes', label: 'Notes', type: 'note' },
    ],
  });
  const decl = path.join(h.tmp, 'collections-rules.json');
  await writeFile(decl, JSON.stringify(d, null, 2), { mode: 0o600 });
  A = h.device('tablet-a');
  B = h.device('tablet-b');
  for (const dev of [A, B]) {
    const flags = dev.flags.bind(dev);
    dev.flags = () => flags().map((a) => (a === COLLECTIONS ? decl : a));
  }
  await Promise.all([A.start({ extra: ['--no-agent'] }), B.start({ extra: ['--no-agent'] })]);
  pa = await A.open('#/records');
  pb = await B.open('#/records');
  await Promise.all([waitRecords(pa), waitRecords(pb)]);
});

after(() => h.close());

/** leafIndex returns the column (0, 1) of the version made on device. */
async function leafIndex(page, device) {
  const heads = await page.locator('[data-testid^="leaf-head-"]').allInnerTexts();
  const i = heads.findIndex((t) => t.includes(`@${device}`));
  assert.ok(i >= 0, `no version from ${device} among ${JSON.stringify(heads)}`);
  return i;
}

/** press sends one key and returns the data-testid (or id) of the focused element. */
async function press(page, key) {
  await page.keyboard.press(key);
  return page.evaluate(() => {
    const e = document.activeElement;
    return e?.getAttribute('data-testid') || e?.id || e?.className || e?.tagName;
  });
}

/** tabTo presses Tab until the focused element's testid is want (at most 80 presses). */
async function tabTo(page, want, key = 'Tab') {
  for (let i = 0; i < 80; i++) {
    if ((await press(page, key)) === want) return;
  }
  throw new Error(`${want} never got the keyboard focus`);
}

test('a conflict between two devices is resolved field by field and reaches Drill and both devices', async (t) => {
  let r1, r2, r3, r4;
  await t.test('device A captures four records; both devices have them', async () => {
    r1 = await createRecord(pa, C, {
      site: 'Bridge 7', inspector: 'Cara', temperature_c: '10', defects: '1', passed: true, risk: 'medium',
      inspected_at: '2026-11-18T08:00', notes: 'first visit',
    });
    r2 = await createRecord(pa, C, {
      site: 'Culvert 3', inspector: 'Cara', passed: true, risk: 'low', inspected_at: '2026-11-18T09:30', notes: 'dry',
    });
    r3 = await createRecord(pa, C, { site: 'Gauge 4', inspector: 'Cara', passed: true, risk: 'low', inspected_at: '2026-11-18T10:00' });
    r4 = await createRecord(pa, C, { site: 'Sluice 5', inspector: 'Cara', passed: true, risk: 'low', inspected_at: '2026-11-18T10:30' });
    h.log(`A: ${await syncOK(pa)}`);
    h.log(`B: ${await syncOK(pb)}`);
    await gotoScreen(pb, 'Records');
    await waitRecords(pb);
    for (const r of [r1, r2, r3, r4]) await waitState(pb, r, 'synced');
  });

  await t.test('both devices edit the same fields, then sync', async () => {
    await gotoScreen(pa, 'Records');
    await editRecord(pa, C, r1, { inspector: 'Cara (A)', notes: 'A: crack on pier 2', temperature_c: '11' });
    await editRecord(pa, C, r2, { inspector: 'Cara (A)', risk: 'medium' });
    await editRecord(pb, C, r1, { inspector: 'Dev (B)', notes: 'B: pier 2 looks fine', risk: 'high' });
    await editRecord(pa, C, r3, { inspector: 'Cara (A)', defects: '2' });
    await editRecord(pa, C, r4, { inspector: 'Cara (A)' });
    await editRecord(pb, C, r2, { inspector: 'Dev (B)', risk: 'high' });
    await editRecord(pb, C, r3, { inspector: 'Dev (B)', defects: '5' });
    await editRecord(pb, C, r4, { inspector: 'Dev (B)' });
    await waitState(pa, r1, 'pending');
    await waitState(pb, r1, 'pending');

    await syncOK(pa); // pushes A's edits
    const rb = await syncOK(pb); // pushes B's, pulls A's: conflicts on B
    assert.match(rb, /new conflicts|conflict/i, `device B's sync should report the conflicts: ${rb}`);
    await syncOK(pa); // pulls B's: conflicts on A

    await gotoScreen(pa, 'Records');
    await waitState(pa, r1, 'conflict');
    for (const r of [r2, r3, r4]) await waitState(pa, r, 'conflict');
  });

  await t.test('the conflicts are listed on device A; one is resolved with the keyboard only', async () => {
    await gotoScreen(pa, 'Conflicts');
    const rows = pa.getByTestId('conflict-row');
    await waitFor(async () => (await rows.count()) === 4, { what: 'four conflicts on device A' });
    assert.match(await pa.getByTestId('conflict-count').innerText(), /4 conflicts/);
    await h.shot(pa, 'conflicts-list');

    // From the page heading, Tab to the list, arrow keys to r2's row.
    await pa.locator('#page-title').focus();
    const focusedRow = () => pa.evaluate(() => document.activeElement?.closest('[data-testid="conflict-row"]')?.getAttribute('data-record-id'));
    for (let i = 0; ; i++) {
      if (i === 60) throw new Error('Tab never reached a row of the conflict list');
      await pa.keyboard.press('Tab');
      if (await focusedRow()) break;
    }
    for (let i = 0; i < 4 && (await focusedRow()) !== r2; i++) await pa.keyboard.press('ArrowDown');
    for (let i = 0; i < 4 && (await focusedRow()) !== r2; i++) await pa.keyboard.press('ArrowUp');
    assert.equal(await focusedRow(), r2, 'arrow keys should reach the conflict of r2');
    await pa.keyboard.press('Enter');
    await pa.getByTestId('conflict-view').waitFor();
    await waitFor(() => pa.evaluate(() => document.activeElement?.id === 'conflict-title'), { what: 'focus on the conflict title' });
    const a = await leafIndex(pa, 'tablet-a');
    const b = await leafIndex(pa, 'tablet-b');

    // Tab to the inspector's radio group, then arrow to device A's version.
    await tabTo(pa, `choice-inspector-${(await checkedIndex(pa, 'inspector'))}`);
    const key = a > b ? 'ArrowRight' : 'ArrowLeft';
    if ((await checkedIndex(pa, 'inspector')) !== a) await pa.keyboard.press(key);
    assert.equal(await checkedIndex(pa, 'inspector'), a, 'the arrow key should choose A for inspector');
    // The risk from B.
    await tabTo(pa, `choice-risk-${(await checkedIndex(pa, 'risk'))}`);
    if ((await checkedIndex(pa, 'risk')) !== b) await pa.keyboard.press(a > b ? 'ArrowLeft' : 'ArrowRight');
    assert.equal(await checkedIndex(pa, 'risk'), b, 'the arrow key should choose B for risk');
    assert.equal(await pa.getByTestId('merged-inspector').inputValue(), 'Cara (A)');
    assert.equal(await pa.getByTestId('merged-risk').inputValue(), 'high');
    await tabTo(pa, 'conflict-resolve');
    await pa.keyboard.press('Enter');
    await pa.getByTestId('conflict-view').waitFor({ state: 'detached' });
    await waitFor(async () => (await rows.count()) === 3, { what: 'three conflicts left after resolving' });
    // The focus is back on the list, on a row.
    await waitFor(focusedRow, { timeout: 5_000, what: 'the focus to return to a row of the conflict list' });
  });

  await t.test('another is resolved field by field with the mouse, editing a merged value', async () => {
    const rows = pa.getByTestId('conflict-row');
    await pa.locator(`[data-testid="conflict-row"][data-record-id="${r1}"] .row-open`).click();
    const view = pa.getByTestId('conflict-view');
    await view.waitFor();
    await h.shot(pa, 'conflict-detail');
    const a = await leafIndex(pa, 'tablet-a');
    const b = await leafIndex(pa, 'tablet-b');
    for (const f of ['inspector', 'notes', 'temperature_c', 'risk']) {
      assert.equal(await pa.getByTestId(`diff-row-${f}`).getAttribute('data-differs'), 'true', `${f} should differ`);
    }
    assert.equal(await pa.getByTestId('diff-row-site').getAttribute('data-differs'), 'false');

    // Per field: the inspector from B, the notes from A (then edited), the
    // temperature from A, the risk from B.
    await pa.getByTestId(`choice-inspector-${b}`).check();
    await pa.getByTestId(`choice-notes-${a}`).check();
    await pa.getByTestId(`choice-temperature_c-${a}`).check();
    await pa.getByTestId(`choice-risk-${b}`).check();
    assert.equal(await pa.getByTestId('merged-inspector').inputValue(), 'Dev (B)');
    assert.equal(await pa.getByTestId('merged-notes').inputValue(), 'A: crack on pier 2');
    await pa.getByTestId('merged-notes').fill('A: crack on pier 2; B re-checked');
    await h.shot(pa, 'conflict-merge');
    await pa.getByTestId('conflict-resolve').click();
    await view.waitFor({ state: 'detached' });
    await waitFor(async () => (await rows.count()) === 2, { what: 'two conflicts left after resolving' });
  });

  await t.test('"Keep both" keeps one version and makes the other a new record', async () => {
    const rows = pa.getByTestId('conflict-row');
    await pa.locator(`[data-testid="conflict-row"][data-record-id="${r3}"] [data-testid="conflict-open"], ` +
      `[data-testid="conflict-row"][data-record-id="${r3}"] .row-open`).first().click();
    await pa.getByTestId('conflict-view').waitFor();
    await pa.getByTestId('conflict-keep-both').click();
    await pa.getByTestId('conflict-view').waitFor({ state: 'detached' });
    await waitFor(async () => (await rows.count()) === 1, { what: 'one conflict left after keeping both' });
  });

  await t.test('a policy is applied to a selection of conflicts', async () => {
    const rows = pa.getByTestId('conflict-row');
    await pa.locator(`[data-testid="conflict-row"][data-record-id="${r4}"] [data-testid="conflict-select"]`).check();
    await pa.getByTestId('batch-policy').selectOption('newest');
    await pa.getByTestId('batch-apply').click();
    await pa.getByTestId('batch-confirm').click();
    await pa.getByTestId('batch-close').click();
    await waitFor(async () => /0 conflicts/.test(await pa.getByTestId('conflict-count').innerText()), {
      what: 'no conflicts left on device A',
    });
    assert.equal(await rows.count(), 0);
    await h.shot(pa, 'conflicts-empty');
  });

  await t.test('the resolutions land in Drill', async () => {
    await syncOK(pa);
    const cur = await h.drill.current(h.workspace, C);
    assert.deepEqual(pick(cur.get(r1)?.doc, ['site', 'inspector', 'notes', 'temperature_c', 'risk', 'defects']), {
      site: 'Bridge 7', inspector: 'Dev (B)', notes: 'A: crack on pier 2; B re-checked', temperature_c: 11, risk: 'high', defects: 1,
    });
    assert.deepEqual(pick(cur.get(r2)?.doc, ['site', 'inspector', 'risk', 'notes']), {
      site: 'Culvert 3', inspector: 'Cara (A)', risk: 'high', notes: 'dry',
    });
    // Keep both: r3 keeps the current (newest) version, B's; A's version is a new record.
    assert.deepEqual(pick(cur.get(r3)?.doc, ['site', 'inspector', 'defects']), { site: 'Gauge 4', inspector: 'Dev (B)', defects: 5 });
    const copies = [...cur.values()].filter((r) => r.record_id !== r3 && r.doc.site === 'Gauge 4');
    assert.equal(copies.length, 1, `one copy of ${r3} expected, got ${JSON.stringify(copies)}`);
    assert.deepEqual(pick(copies[0].doc, ['inspector', 'defects']), { inspector: 'Cara (A)', defects: 2 });
    // The policy "newest": B edited last.
    assert.equal(cur.get(r4)?.doc.inspector, 'Dev (B)');
    assert.equal(cur.size, 5, `five records in Drill: ${[...cur.keys()]}`);
    // The log has the create, both edits and the resolution, which names both edits as parents.
    const log = await h.drill.changes(h.workspace, C, r1);
    assert.equal(log.length, 4, `change log of ${r1}: ${JSON.stringify(log)}`);
    assert.equal(log.at(-1).device, 'tablet-a');
    // The audit in Drill: the resolution once, with who, how and where; every version once.
    const q = (view, cols) => h.drill.query(
      `SELECT ${cols} FROM dfs.\`${h.workspace}\`.\`${C}_${view}\` WHERE record_id = '${r1}' ORDER BY version`);
    const res = await q('resolutions', 'record_id, version, resolved_by, device, how, leaves');
    assert.equal(res.length, 1, `resolutions of ${r1}: ${JSON.stringify(res)}`);
    assert.equal(res[0].device, 'tablet-a');
    assert.equal(res[0].how, 'merge');
    assert.equal(res[0].version, log.at(-1).version);
    assert.ok(res[0].resolved_by, `the resolution names no resolver: ${JSON.stringify(res[0])}`);
    assert.equal(JSON.parse(res[0].leaves).length, 2);
    resolver = res[0].resolved_by;
    const hist = await q('history', 'change_id, version, device, author');
    assert.deepEqual(hist.map((r) => r.version), log.map((r) => r.version), `history of ${r1}: ${JSON.stringify(hist)}`);
  });

  await t.test('device B gets the merged values after its sync', async () => {
    await syncOK(pb);
    await gotoScreen(pb, 'Records');
    await waitRecords(pb);
    await waitState(pb, r1, 'synced');
    await waitState(pb, r2, 'synced');
    await openRecord(pb, r1);
    const v = await formValues(pb);
    assert.equal(v.inspector, 'Dev (B)');
    assert.equal(v.notes, 'A: crack on pier 2; B re-checked');
    assert.equal(v.temperature_c, '11');
    assert.equal(v.risk, 'high');
    // The history shows A's resolution, pulled with its change, with its resolver.
    await pb.locator('details.record-history > summary').click();
    const line = pb.getByTestId('history').locator('li.tl-resolution');
    await waitFor(async () => (await line.count()) === 1, { what: `device B's history of ${r1} shows A's resolution` });
    const text = await line.innerText();
    assert.match(text, /Resolved 2 versions on tablet-a: merged field by field/);
    assert.ok(text.includes(`${resolver}@tablet-a`), `resolver ${resolver}@tablet-a not in ${JSON.stringify(text)}`);
    await pb.getByTestId('record-cancel').click();
    await gotoScreen(pb, 'Conflicts');
    await waitFor(async () => /0 conflicts/.test(await pb.getByTestId('conflict-count').innerText()), {
      what: 'no conflicts left on device B',
    });
    await gotoScreen(pa, 'Records');
    await waitState(pa, r1, 'synced');
  });

  await t.test('a conflict settled by merge rules is listed under "Settled by rules" on both devices', async () => {
    const openReadings = async (page) => {
      await gotoScreen(page, 'Records');
      await page.getByTestId(`collection-${R}`).click();
      await waitRecords(page);
    };
    await openReadings(pa);
    const w = await createRecord(pa, R, { site: 'Weir 9', temperature_c: '12', notes: 'calm' });
    await syncOK(pa);
    await syncOK(pb);
    await openReadings(pb);
    await waitState(pb, w, 'synced');
    await openReadings(pa);
    await editRecord(pa, R, w, { temperature_c: '14', notes: 'calm\nA: algae' });
    await editRecord(pb, R, w, { temperature_c: '13', notes: 'calm\nB: clear' });
    // Whichever device made the newest edit settles the conflict by the
    // rules; the other pulls that resolution. Two rounds bring both there.
    for (const p of [pa, pb, pa, pb]) h.log(`readings: ${await syncOK(p)}`);
    const cur = await h.drill.current(h.workspace, R);
    assert.equal(cur.get(w)?.doc.temperature_c, 14, `the higher temperature in Drill: ${JSON.stringify(cur.get(w))}`);
    assert.equal(cur.get(w)?.doc.notes, 'calm\nA: algae\nB: clear');

    for (const [page, name] of [[pa, 'A'], [pb, 'B']]) {
      await gotoScreen(page, 'Conflicts');
      const item = page.locator(`[data-testid="settled-item"][data-record-id="${w}"]`);
      await item.waitFor();
      assert.match(await page.getByTestId('conflict-count').innerText(), /0 conflicts/, `device ${name}: nothing left for a person`);
      assert.equal(await item.getByTestId('settled-field-temperature_c').innerText(), 'Temperature (°C): merged by rule: higher value');
      assert.equal(await item.getByTestId('settled-field-notes').innerText(), 'Notes: merged by rule: texts joined');
      assert.match(await item.getByTestId('settled-who').innerText(), /2 versions settled by fieldsync policy lww with rules on tablet-[ab]/);
      if (page === pa) await h.shot(pa, 'conflicts-settled-by-rules');
      // The link opens the record, with the merged values, and its history says it once.
      await item.getByRole('link', { name: `Open record ${w} of Readings in Records` }).click();
      await page.getByTestId('record-form').waitFor();
      assert.equal((await formValues(page)).temperature_c, '14');
      await page.locator('details.record-history > summary').click();
      const line = page.getByTestId('history').locator('li.tl-resolution');
      await waitFor(async () => (await line.count()) === 1, { what: `device ${name}'s history of ${w} shows the rules' resolution` });
      const text = await line.innerText();
      assert.match(text, /Resolved 2 versions( on tablet-[ab])?: merged by rule: /);
      for (const part of ['Temperature (°C): higher value', 'Notes: texts joined']) assert.ok(text.includes(part), `${part} not in ${text}`);
      assert.doesNotMatch(text, /merged by rule.*merged by rule/s);
      await page.getByTestId('record-cancel').click();
    }
  });

  await t.test('both journals hold the resolution', async () => {
    await Promise.all([A.stop(), B.stop()]);
    for (const d of [A, B]) {
      const docs = await d.exportDocs(C);
      const got = docs.get(r1);
      assert.ok(got, `${d.name}: ${r1} not exported`);
      const doc = got.doc ?? got;
      assert.equal(doc.inspector, 'Dev (B)', `${d.name}: ${JSON.stringify(got)}`);
      assert.equal(doc.notes, 'A: crack on pier 2; B re-checked');
    }
  });
});

async function checkedIndex(page, field) {
  return page.evaluate((f) => {
    const r = document.querySelector(`input[type="radio"][name="choice-${f}"]:checked`);
    return r ? Number(r.value) : -1;
  }, field);
}

function pick(o, keys) {
  assert.ok(o, 'record missing in Drill');
  return Object.fromEntries(keys.map((k) => [k, o[k]]));
}
