// Reference data in the browser: a CSV in the devices' Drill workspace is
// declared as a reference collection of sites, scoped by each device's
// region (IT's managed settings: scope.region). After "Sync now" each
// device's Records screen lists only its region's sites, read-only and
// searchable; a visit's form picks its site from that list; a site added to
// the CSV reaches the device with "Check Drill now". No test hook in Go: the
// rows travel the real path (Drill query, bbolt, UI call).

import assert from 'node:assert/strict';
import { readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { COLLECTIONS, Harness, waitFor } from '../lib/harness.mjs';
import { fieldId, fillForm, syncOK, waitRecords } from '../lib/ui.mjs';

const h = new Harness({ prefix: 'reference-' });
let north, south, decl;

/** writeSites replaces the CSV atomically (Drill never reads half a file). */
async function writeSites(lines) {
  const tmp = path.join(h.location, '.sites.tmp');
  await writeFile(tmp, ['site_id,site_name,region', ...lines].join('\n') + '\n');
  await rename(tmp, path.join(h.location, 'sites.csvh'));
}

before(async () => {
  await h.setup();
  await writeSites(['S1,North well,north', 'S2,South gate,south', 'S3,Quay 3,north']);
  const d = JSON.parse(await readFile(COLLECTIONS, 'utf8'));
  d.collections.push(
    {
      name: 'visits', label: 'Visits', title: 'site',
      fields: [
        { name: 'site', label: 'Site', type: 'text', required: true, options_from: { collection: 'sites', field: 'name' } },
        { name: 'crew', label: 'Crew', type: 'list' },
      ],
    },
    {
      name: 'sites', label: 'Sites', title: 'name',
      reference: { query: `SELECT * FROM dfs.${h.workspace}.\`sites.csvh\` WHERE region = \${region}`, key: 'site_id', map: { site_name: 'name' } },
      fields: [{ name: 'name', label: 'Name', type: 'text', required: true }, { name: 'region', label: 'Region', type: 'text' }],
    },
  );
  decl = path.join(h.tmp, 'collections-ref.json');
  await writeFile(decl, JSON.stringify(d, null, 2), { mode: 0o600 });
  const mk = async (name, region) => {
    const dev = h.device(name);
    const flags = dev.flags.bind(dev);
    dev.flags = () => flags().map((a) => (a === COLLECTIONS ? decl : a));
    await dev.prepare();
    await writeFile(dev.env.FIELDSYNC_MANAGED_CONFIG, JSON.stringify({ scope: { region } }), { mode: 0o600 });
    await dev.start({ extra: ['--no-agent'] });
    const page = await dev.open('#/records');
    await waitRecords(page);
    return { dev, page };
  };
  north = await mk('north1', 'north');
  south = await mk('south1', 'south');
});

after(() => h.close());

const refRows = (page) => page.getByTestId('reference-row');
const refKeys = (page) => refRows(page).evaluateAll((rs) => rs.map((r) => r.dataset.recordId));

async function openSites(page) {
  await page.getByRole('link', { name: 'Records', exact: true }).click();
  await page.getByTestId('collection-sites').click();
  await page.getByTestId('reference-list').waitFor();
}

test('a reference collection is listed read-only, per device scope, and a form picks from it', async () => {
  for (const { page } of [north, south]) await syncOK(page);

  await openSites(north.page);
  await waitFor(async () => (await refKeys(north.page)).join(',') === 'S1,S3', { what: "north's sites S1 and S3" });
  assert.match(await north.page.getByTestId('reference-readonly').innerText(), /Reference data from Drill — read-only/);
  assert.equal(await north.page.getByTestId('record-new').count(), 0, 'no "New record" on a reference collection');
  await north.page.getByTestId('reference-search').fill('quay');
  await waitFor(async () => (await refKeys(north.page)).join(',') === 'S3', { what: 'the search to keep Quay 3' });
  await north.page.getByTestId('reference-search').fill('');
  await h.shot(north.page, 'reference-sites-north');

  await openSites(south.page);
  await waitFor(async () => (await refKeys(south.page)).join(',') === 'S2', { what: "south's site S2 only" });

  // A visit picks its site from north's list.
  await north.page.getByTestId('collection-visits').click();
  await north.page.getByTestId('records-table').waitFor();
  const listed = new Set(await north.page.getByTestId('record-row').evaluateAll((rs) => rs.map((r) => r.dataset.recordId)));
  await north.page.getByTestId('record-new').click();
  const select = north.page.locator(fieldId('visits', 'site'));
  // The field becomes a list once the reference options are read: fill the
  // form only then, in the same opening, so it cannot race the switch.
  await waitFor(async () => (await select.evaluate((e) => e.tagName)) === 'SELECT', { what: 'the site field to offer the list' });
  const options = await select.locator('option').evaluateAll((os) => os.map((o) => o.value));
  assert.deepEqual(options, ['', 'North well', 'Quay 3']);
  await fillForm(north.page, 'visits', { site: 'Quay 3', crew: 'Ana\nBen' });
  await north.page.getByTestId('record-save').click();
  await north.page.getByTestId('record-form').waitFor({ state: 'detached' });
  const id = await waitFor(async () => {
    const ids = await north.page.getByTestId('record-row').evaluateAll((rs) => rs.map((r) => r.dataset.recordId));
    return ids.find((i) => !listed.has(i));
  }, { what: 'the new visit to be listed' });
  assert.ok(id);
  await h.shot(north.page, 'reference-visit-picked');

  // A new site in the CSV reaches the device when it checks Drill.
  await writeSites(['S1,North well,north', 'S2,South gate,south', 'S3,Quay 3,north', 'S4,Mill race,north']);
  await openSites(north.page);
  await north.page.getByTestId('reference-refresh').click();
  await waitFor(async () => /1 added, 0 changed, 0 removed/.test(await north.page.getByTestId('reference-refresh-note').innerText()), {
    what: 'the refresh to report the new site',
  });
  await waitFor(async () => (await refKeys(north.page)).join(',') === 'S1,S3,S4', { what: 'the new site S4 listed' });
});
