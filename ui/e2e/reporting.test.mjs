// Reporting in the console: the completeness grid of a data set coloured by state, rolled up to
// districts, a cell's submissions opening in the log, and the grid exported. Started by
// server/tests/api/browser.rs with GATEWAY, ADMIN_USER, PASSWORD, OLD and LAST (periods three
// months and one month ago), LAST_ID (the submission behind Facility 1's last month) and
// SCREENSHOTS set: Facility 1 reported last month on time, Facility 2 three months ago late.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { env, launch, signedIn } from './common.mjs';

mkdirSync(env('SCREENSHOTS'), { recursive: true });

const cell = (page, orgUnit, period) => page.locator(`#report-grid td[data-org-unit="${orgUnit}"][data-period="${period}"]`);

test('an M&E officer reads the grid, opens the submissions behind a cell and exports it', async () => {
  const browser = await launch();
  try {
    const page = await signedIn(browser, env('ADMIN_USER'));
    await page.click('nav >> text=Reporting');
    await page.waitForSelector('text=Choose a data set');

    await page.fill('#report-data_set', 'Monthly');
    await page.waitForFunction(() => document.querySelectorAll('#report-data_set-choices option').length >= 1);
    await page.fill('#report-data_set', 'Monthly HIV');
    await page.locator('#report-data_set').press('Enter');
    await page.locator('#report-data_set').blur();
    await page.fill('#report-period_from', env('OLD'));
    await page.locator('#report-period_from').blur();
    await page.fill('#report-period_to', env('LAST'));
    await page.locator('#report-period_to').blur();
    await page.waitForFunction(() => document.querySelectorAll('#report-grid tbody tr').length === 3);
    // The grid of OLD to LAST, not one loaded while period_to still held this month: three
    // periods a row (the figures below count them).
    await page.waitForFunction(() => document.querySelectorAll('#report-grid td[data-org-unit="OrgFac00001"]').length === 3);

    const facility1 = 'OrgFac00001';
    const facility2 = 'OrgFac00002';
    const facility3 = 'OrgFac00003';
    assert.match(await cell(page, facility1, env('LAST')).getAttribute('class'), /report-on_time/);
    assert.equal((await cell(page, facility1, env('LAST')).textContent()).trim(), '✓');
    assert.match(await cell(page, facility2, env('OLD')).getAttribute('class'), /report-late/);
    assert.match(await cell(page, facility3, env('OLD')).getAttribute('class'), /report-missing/);
    assert.match(await cell(page, facility3, env('LAST')).getAttribute('class'), /report-due/);
    assert.match(await cell(page, facility1, env('LAST')).getAttribute('title'), /Values: 2 received, 2 stored, 0 held, 0 refused/);
    assert.match(await page.locator('#report-figures').textContent(), /^2 of 9 expected reports of Monthly HIV received: 1 on time, 1 late/);
    assert.match(await page.locator('#report-partners').textContent(),
      /emr: 2 of 9 expected monthly reports of Monthly HIV for .* to .*, 1 late, \d missing/);
    await page.screenshot({ path: join(env('SCREENSHOTS'), 'reporting.png'), fullPage: true });

    // A cell opens its submissions; one opens in the submission log.
    await cell(page, facility1, env('LAST')).click();
    await page.waitForSelector('#report-submissions tbody tr');
    assert.match(await page.locator('#report-submissions h2').textContent(), /Submissions for Facility 1/);
    assert.match(await page.locator('#report-submissions tbody').textContent(), /emr.*Facility 1.*2.*Succeeded/s);
    await page.click(`#report-submissions button >> text=Open #${env('LAST_ID')}`);
    await page.waitForURL(new RegExp(`#/submissions/${env('LAST_ID')}$`));
    await page.goBack();
    // The filters are remembered: the grid is back as it was.
    await page.waitForFunction(() => document.querySelectorAll('#report-grid tbody tr').length === 3);

    // Rolled up to districts: the two districts, with how many of theirs arrived.
    await page.waitForSelector('#report-level');
    await page.selectOption('#report-level', '2');
    await page.waitForFunction(() => document.querySelectorAll('#report-grid tbody tr').length === 2);
    const district = page.locator('#report-grid tbody tr', { hasText: 'District 2' });
    assert.match(await district.textContent(), /District 2 · Root/);
    await page.selectOption('#report-level', '');
    await page.waitForFunction(() => document.querySelectorAll('#report-grid tbody tr').length === 3);

    // The grid as a file, a line per facility and period.
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#export-csv')]);
    assert.equal(download.suggestedFilename(), 'dhis2gw_completeness_MONTHLY_HIV.csv');
    const csv = readFileSync(await download.path(), 'utf8').trim().split('\n');
    assert.match(csv[0], /^org_unit,name,parent,units,period,state,expected,on_time,late,missing,due,/);
    assert.equal(csv.length, 1 + 3 * 3);
    assert.ok(csv.some((line) => line.startsWith(`${facility2},Facility 2,Sub-county 1,1,${env('OLD')},late,`)), csv.join('\n'));
  } finally {
    await browser.close();
  }
});
