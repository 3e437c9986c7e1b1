// How one submission reached each DHIS2 server, as the console shows it: the primary at once, a
// CC server that was down only after it came back. Started by server/tests/api/browser.rs with
// GATEWAY, ADMIN_USER, PASSWORD, SUBMISSION_ID and SCREENSHOTS set.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { env, launch, signedIn } from './common.mjs';

mkdirSync(env('SCREENSHOTS'), { recursive: true });

test('the detail shows each destination and every attempt that got it there', async () => {
  const browser = await launch();
  try {
    const page = await signedIn(browser, env('ADMIN_USER'));
    await page.waitForSelector('#servers');
    const servers = await page.locator('#servers').textContent();
    assert.match(servers, /primary \(primary\)/);
    assert.match(servers, /cc-west/);

    await page.goto(`${env('GATEWAY')}/console/#/submissions/${env('SUBMISSION_ID')}`);
    await page.waitForSelector('#destinations tbody tr:nth-child(2)');
    const rows = await page.locator('#destinations tbody tr').allTextContents();
    assert.equal(rows.length, 2, `one row per server: ${rows}`);
    assert.match(rows[0], /primary \(primary\)\s*Succeeded/);
    assert.match(rows[1], /cc-west\s*Succeeded/);
    const attempts = await page.locator('#attempts > li').allTextContents();
    const west = attempts.filter((a) => a.includes('to cc-west'));
    assert.ok(west.length >= 2, `cc-west needed more than one attempt: ${attempts.join(' | ')}`);
    assert.match(west.find((a) => !a.includes('HTTP 200')) ?? '', /no answer|HTTP 50/, 'the attempt while it was down');
    assert.ok(west.some((a) => a.includes('HTTP 200')), 'and the one that succeeded');
    assert.equal(attempts.filter((a) => a.includes('to primary')).length, 1, 'the primary was sent it once');
    await page.locator('#attempts').scrollIntoViewIfNeeded();
    await page.screenshot({ path: join(env('SCREENSHOTS'), 'fanout.png') });

    // Bulk requeue from the list: the confirmation says how many, the notice what happened.
    await page.goto(`${env('GATEWAY')}/console/#/submissions`);
    await page.check('#log thead input[type="checkbox"]');
    await page.waitForSelector('#bulk-requeue:not([disabled])');
    assert.match(await page.locator('#bulk').textContent(), /1 submission selected/);
    await page.click('#bulk-requeue');
    assert.match(await page.locator('.modal').textContent(), /Requeue 1 submission to DHIS2 again\?/);
    await page.click('#confirm-action');
    await page.waitForSelector('.notice >> text=Requeued: 1 submission');
  } finally {
    await browser.close();
  }
});
