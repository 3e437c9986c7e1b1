// The console in Debian's Chromium against a real gateway, as an M&E officer uses it. Started by
// server/tests/api/browser.rs, which prepares the gateway, its database and a DHIS2 test double
// and passes them in the environment:
//   GATEWAY, ADMIN_USER, VIEWER_USER, PASSWORD, REJECTED_ID (a submission DHIS2 rejected),
//   FIX_CSV (a mappings file that fixes it), DATA_CSV (a month of data values as a spreadsheet),
//   SCREENSHOTS (folder for one picture per screen).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { env, launch } from './common.mjs';
const GATEWAY = env('GATEWAY');
const PASSWORD = env('PASSWORD');
const REJECTED_ID = env('REJECTED_ID');
const SHOTS = env('SCREENSHOTS');
mkdirSync(SHOTS, { recursive: true });

let browser;
before(async () => {
  browser = await launch();
});
after(async () => browser?.close());

async function open() {
  const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
  page.setDefaultTimeout(20_000);
  page.on('pageerror', (e) => console.error('page error:', e.message));
  await page.goto(`${GATEWAY}/console/`);
  return page;
}

async function signIn(page, user) {
  await page.fill('#username', user);
  await page.fill('#password', PASSWORD);
  await page.click('#sign-in');
  await page.waitForSelector('#sign-out');
}

const shot = (page, name) => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: false });

/** Waits until `selector`'s text contains `text`, clicking `refresh` between looks when given. */
async function waitForText(page, selector, text, refresh, timeout = 60_000) {
  const end = Date.now() + timeout;
  for (;;) {
    const seen = await page.locator(selector).first().textContent().catch(() => '');
    if (seen && seen.includes(text)) return seen;
    if (Date.now() > end) {
      const notices = await page.locator('.notices').textContent().catch(() => '');
      assert.fail(`${selector} never showed '${text}' (last: '${seen}'; notices: '${notices}')`);
    }
    if (refresh) await page.click(refresh).catch(() => {});
    await page.waitForTimeout(700);
  }
}

/** Drops a text file (no spreadsheet) on the screen `selector`, as a user dragging it there. */
async function dropNotes(page, selector) {
  await page.evaluate((selector) => {
    const dt = new DataTransfer();
    dt.items.add(new File(['just some notes'], 'notes.txt', { type: 'text/plain' }));
    const zone = document.querySelector(selector);
    zone.dispatchEvent(new DragEvent('dragover', { dataTransfer: dt, bubbles: true, cancelable: true }));
    zone.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
  }, selector);
}

test('a wrong password is refused with a clear message', async () => {
  const page = await open();
  await page.fill('#username', env('ADMIN_USER'));
  await page.fill('#password', 'not the password');
  await page.click('#sign-in');
  await waitForText(page, '.error', 'Wrong username or password.');
  await shot(page, 'sign-in');
  await page.close();
});

test('an administrator finds a rejected submission, fixes its mapping by CSV and requeues it', async () => {
  const page = await open();
  await signIn(page, env('ADMIN_USER'));

  // Overview: today's counts, the chart, the servers, the last error.
  await page.waitForSelector('[data-window="today"]');
  const today = await page.locator('[data-window="today"] .big').textContent();
  assert.ok(Number(today.replace(/,/g, '')) >= 6, `today's count: ${today}`);
  await page.waitForSelector('.chart svg rect');
  await waitForText(page, '#servers', 'primary');
  await waitForText(page, '#last-error', `Submission ${REJECTED_ID}`);
  // Which country's DHIS2 this is, and that submissions are checked against its metadata.
  await waitForText(page, '#country', 'Root');
  await waitForText(page, '#validation', 'Checking submissions');
  await shot(page, 'overview');

  // The log, filtered to what DHIS2 rejected; the detail names the partner's keys.
  await page.click('a[href="#/submissions"]');
  await page.selectOption('#filter-status', 'failed');
  // The filtered page replaces the unfiltered one when it arrives.
  await page.waitForFunction((id) => {
    const rows = document.querySelectorAll('#log tbody tr');
    return rows.length === 1 && rows[0].dataset.id === id;
  }, REJECTED_ID);
  // Names, not UIDs: the data set and the facility (the UID is on hover).
  const row = page.locator(`#log tr[data-id="${REJECTED_ID}"]`);
  assert.equal((await row.locator('td.data-set').textContent()).trim(), 'Monthly HIV');
  assert.equal((await row.locator('td.org-unit').textContent()).trim(), 'Facility 1');
  assert.match(await row.locator('td.org-unit .named').getAttribute('title'), /Root › District › Sub-county 1 › Facility 1 · OrgFac00001/);
  // The org-unit filter searches by name: type part of it, pick the facility.
  await page.fill('#filter-org_unit', 'Facil');
  await page.waitForFunction(() => document.querySelectorAll('#filter-org_unit-choices option').length === 3);
  await page.fill('#filter-org_unit', 'Facility 1');
  await page.locator('#filter-org_unit').press('Enter');
  await page.locator('#filter-org_unit').blur();
  await waitForText(page, '#filter-org_unit ~ .picked', 'Facility 1');
  assert.equal(await page.locator('#filter-org_unit').inputValue(), 'OrgFac00001', 'the name picked fills in the UID');
  await page.waitForFunction((id) => {
    const rows = document.querySelectorAll('#log tbody tr');
    return rows.length === 1 && rows[0].dataset.id === id;
  }, REJECTED_ID);
  await page.click(`#log tr[data-id="${REJECTED_ID}"] a`);
  await waitForText(page, '#detail-status', 'Rejected');
  await waitForText(page, '#detail-data-set', 'Monthly HIV');
  await waitForText(page, '#detail-org-unit', 'Root › District › Sub-county 1 › Facility 1');
  const conflict = await waitForText(page, '#attempts .conflicts', 'DHIS2 rejected');
  assert.match(conflict, /'orphan'/, `the conflict names the partner's key: ${conflict}`);
  assert.match(conflict, /Orphan/, `and the data element by its name: ${conflict}`);
  assert.doesNotMatch(conflict, /DeOrphan001/, `not by its UID: ${conflict}`);
  await waitForText(page, '#partner-payload', '"orphan": 7');
  await page.locator('#attempts').scrollIntoViewIfNeeded();
  await shot(page, 'submissions');

  // Mappings: a file dropped on the screen that is no spreadsheet is refused before upload ...
  // The header counts the broken mapping; the screen lists it first, with the fix in words.
  await waitForText(page, '#broken-badge', '1');
  await page.click('a[href="#/mappings"]');
  await page.waitForSelector('#mappings');
  await waitForText(page, '#broken-mappings', '1 mapping is broken.');
  const broken = page.locator('#mappings tbody tr').first();
  assert.equal(await broken.getAttribute('data-code'), 'orphan', 'broken mappings come first');
  assert.match(await broken.locator('td.health').textContent(), /Broken'Orphan' is not in data set 'Monthly HIV'/);
  await dropNotes(page, '#mappings');
  await waitForText(page, '#dropzone .error', 'notes.txt is not a CSV or Excel file');
  // ... and the CSV is checked first (nothing changes), then imported.
  await page.setInputFiles('#file-input', env('FIX_CSV'));
  await waitForText(page, '#import-preview', '1 updated');
  await waitForText(page, '#import-preview', 'data element HIV tests, category option combo Male');
  await waitForText(page, '#mappings tr[data-code="orphan"]', 'Orphan');
  await shot(page, 'mappings');
  await page.click('#confirm-import');
  await waitForText(page, '#import-result', '1 updated');
  await waitForText(page, '#mappings tr[data-code="orphan"]', 'HIV tests');
  await waitForText(page, '#mappings tr[data-code="orphan"] td.health', 'OK');
  // The count of broken mappings comes from its own request: wait for it, do not race it.
  await page.waitForFunction(() => !document.querySelector('#broken-mappings'), null, { timeout: 20_000 });
  // The export is a real workbook (a zip), downloaded under the gateway's file name.
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#export')]);
  assert.match(download.suggestedFilename(), /\.xlsx$/);
  const workbook = readFileSync(await download.path());
  assert.equal(workbook.subarray(0, 2).toString(), 'PK', 'an xlsx file');

  // Requeue from the detail panel: it goes again with the new mapping and succeeds.
  await page.goto(`${GATEWAY}/console/#/submissions/${REJECTED_ID}`);
  await page.click('#requeue');
  await waitForText(page, '#confirm-title', 'Requeue');
  await page.click('#confirm-action');
  await waitForText(page, '#detail-status', 'Succeeded', '#detail button.ghost');
  await waitForText(page, '#attempts', 'HTTP 200');

  // Data values from a spreadsheet, on the Submissions screen: a file that is no spreadsheet is
  // refused at once; the CSV is previewed per org unit and period, then sent on confirm.
  await page.click('a[href="#/submissions"]');
  await page.waitForSelector('#data-upload');
  await dropNotes(page, '#submissions');
  await waitForText(page, '#data-upload .error', 'notes.txt is not a CSV or Excel file');
  await page.setInputFiles('#data-file-input', env('DATA_CSV'));
  await waitForText(page, '#data-preview', 'Preview of may.csv: 2 submissions');
  await waitForText(page, '#data-preview', 'Facility 2');
  await waitForText(page, '#data-preview', 'row 4: dataValues.not_mapped: no mapping; left out');
  // DHIS2's own verdict, asked before sending (a dry run; what it refuses is the component
  // test's and the API tests' to show).
  await page.click('#ask-dhis2');
  await waitForText(page, '#dhis2-said', 'refuses none of its values');
  await waitForText(page, '#data-preview td.dhis2-said', 'Takes every value');
  await shot(page, 'data-upload');
  await page.click('#confirm-upload');
  await waitForText(page, '#data-result', 'may.csv: 2 submissions queued for DHIS2.');
  await page.click('#data-result li:first-child a');
  await waitForText(page, '#detail-kind', 'sent as a spreadsheet uploaded in the console');
  await waitForText(page, '#source-document', 'tests_male');
  await waitForText(page, '#detail-status', 'Succeeded', '#detail button.ghost');

  // Users: a partner with an API token, shown once.
  await page.click('a[href="#/users"]');
  await page.click('#new-user');
  await page.fill('#new-username', 'lab-system');
  await page.fill('#new-password', 'a long lab password');
  await page.fill('#new-firstname', 'Central');
  await page.fill('#new-lastname', 'Laboratory');
  await page.selectOption('#new-role', 'partner');
  await page.click('#create-user');
  await page.waitForSelector('#users tr[data-username="lab-system"]');
  await page.click('#users tr[data-username="lab-system"] button');
  await page.fill('#token-name', 'LIMS');
  await page.click('#create-token');
  const token = (await page.locator('#new-token-value').textContent()).trim();
  assert.ok(token.length >= 20, `a token was shown: ${token}`);
  await page.waitForSelector('#tokens');
  await shot(page, 'users');
  const me = await fetch(`${GATEWAY}/api/v2/me`, { headers: { Authorization: `Token ${token}` } });
  assert.equal(me.status, 200, 'the token shown works');

  // Its limits and networks; what is in force shows at once.
  await page.fill('#access-rps', '5');
  await page.fill('#access-networks', '127.0.0.0/8, ::1');
  await page.click('#access-save');
  await waitForText(page, '#access-in-force', '5 requests per second');

  // Rotation: a new token shown once, the old one still working through the overlap.
  await page.click('#copy-token ~ button.ghost');
  await page.click('#tokens button:has-text("Rotate")');
  await waitForText(page, '#confirm-title', 'Rotate token');
  await page.click('#confirm-action');
  await waitForText(page, '#tokens', 'rotated (to #');
  await waitForText(page, '#tokens', 'from 127.0.0.1');
  const rotated = (await page.locator('#new-token-value').textContent()).trim();
  assert.notEqual(rotated, token, 'a new token');
  for (const t of [token, rotated]) {
    const r = await fetch(`${GATEWAY}/api/v2/me`, { headers: { Authorization: `Token ${t}` } });
    assert.equal(r.status, 200, 'both work during the overlap');
  }
  await shot(page, 'user-access');

  // Purge before a day long past, from the date field: nothing that old, nothing deleted.
  await page.click('a[href="#/submissions"]');
  await page.fill('#purge-date', '2000-01-01');
  await page.click('.purge button.danger');
  await waitForText(page, '#confirm-title', 'Purge the log');
  await page.click('#confirm-action');
  await waitForText(page, '.notices', 'Deleted 0 logs older than');

  // The audit log holds what was just done.
  await page.click('a[href="#/audit"]');
  await waitForText(page, '#audit', 'lab-system');
  await shot(page, 'audit');

  // Dark theme, for the README.
  await page.click('a[href="#/overview"]');
  await page.click('text=☾ Dark');
  await page.waitForSelector('[data-window="today"]');
  await shot(page, 'overview-dark');
  await page.click('#sign-out');
  await page.waitForSelector('#sign-in');
  await page.close();
});

test('a viewer sees submissions but no requeue or delete, and is signed out with the reason once deactivated', async () => {
  const page = await open();
  await signIn(page, env('VIEWER_USER'));
  // Paging the log: each page after the first is asked for from where the one before ended.
  const asked = [];
  page.on('request', (r) => { if (r.url().includes('/api/v2/logs?')) asked.push(new URL(r.url()).searchParams); });
  await page.goto(`${GATEWAY}/console/#/submissions`);
  await page.selectOption('nav.pager select', '10');
  await page.waitForFunction(() => document.querySelectorAll('tr[data-id]').length === 10);
  const shown = () => page.locator('tr[data-id]').evaluateAll((rows) => rows.map((r) => r.dataset.id));
  const first = await shown();
  assert.equal(first.length, 10);
  await page.click('nav.pager button:has-text("Next")');
  await waitForText(page, 'nav.pager span', 'Page 2 of ');
  await page.waitForFunction((before) => document.querySelector('tr[data-id]')?.dataset.id !== before, first[0]);
  const second = await shown();
  assert.ok(second.length > 0 && second.every((id) => !first.includes(id)), `page 2 ${second} repeats page 1 ${first}`);
  const last = asked.at(-1);
  assert.equal(last.get('page'), '2');
  assert.ok(last.get('after'), `page 2 was asked for by number only: ${last}`);
  assert.deepEqual(second.map(Number), [...second.map(Number)].sort((a, b) => b - a), 'newest first');
  assert.ok(Number(second[0]) < Number(first.at(-1)), 'page 2 goes on where page 1 ended');
  await page.click('nav.pager button:has-text("Previous")');
  await waitForText(page, 'nav.pager span', 'Page 1 of ');
  await page.waitForFunction((id) => document.querySelector('tr[data-id]')?.dataset.id === id, first[0]);
  assert.deepEqual(await shown(), first);
  assert.equal(asked.at(-1).get('after'), null, 'the first page has no position');

  await page.goto(`${GATEWAY}/console/#/submissions/${REJECTED_ID}`);
  await waitForText(page, '#detail-status', 'Succeeded');
  assert.equal(await page.locator('#requeue').count(), 0, 'no requeue button for a viewer');
  assert.equal(await page.locator('#delete').count(), 0, 'no delete button for a viewer');
  assert.equal(await page.locator('#bulk').count(), 0, 'no bulk actions for a viewer');
  assert.equal(await page.locator('#data-upload').count(), 0, 'no data upload for a viewer');
  assert.equal(await page.locator('a[href="#/users"]').count(), 0, 'no user management for a viewer');

  // The server refuses it anyway.
  const token = await page.evaluate(async ({ gateway, password }) => {
    const r = await fetch(`${gateway}/api/v2/users/getToken`, {
      method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ username: 'viewer', password }),
    });
    return (await r.json()).token;
  }, { gateway: GATEWAY, password: PASSWORD });
  const r = await fetch(`${GATEWAY}/api/v2/logs/${REJECTED_ID}/restart`, { method: 'POST', headers: { Authorization: `Bearer ${token}` } });
  assert.equal(r.status, 403);

  // An administrator deactivates the viewer: the open session ends, and the console says why.
  const json = { 'Content-Type': 'application/json' };
  const admin = await (await fetch(`${GATEWAY}/api/v2/users/getToken`, {
    method: 'POST', headers: json, body: JSON.stringify({ username: env('ADMIN_USER'), password: PASSWORD }),
  })).json();
  const auth = { Authorization: `Bearer ${admin.token}` };
  const viewer = (await (await fetch(`${GATEWAY}/api/v2/users?username=viewer`, { headers: auth })).json()).items[0];
  const deactivated = await fetch(`${GATEWAY}/api/v2/users/${viewer.uid}`, { method: 'DELETE', headers: auth });
  assert.equal(deactivated.status, 200);
  await page.click('#detail button.ghost');
  await waitForText(page, '.notice-inline', 'Your session has expired. Sign in again.');
  assert.equal(await page.locator('#sign-out').count(), 0, 'back on the sign-in screen');
  await page.close();
});
