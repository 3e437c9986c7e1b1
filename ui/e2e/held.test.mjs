// The hold queue in the console: values DHIS2 refused because their period closed wait on
// "On hold" with the reason in words; once a DHIS2 administrator adds a lock exception, "Re-check
// now" sends them and the submission succeeds. Started by server/tests/api/browser.rs with
// GATEWAY, ADMIN_USER, PASSWORD, SUBMISSION_ID, PERIOD, ORG_UNIT, DATA_SET, DHIS2 (the double's
// address), DHIS2_USER, DHIS2_PASSWORD and SCREENSHOTS set.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { env, launch, signedIn } from './common.mjs';

mkdirSync(env('SCREENSHOTS'), { recursive: true });

/** What a DHIS2 administrator does in DHIS2's Data Administration app: a lock exception. */
async function addLockException() {
  const query = new URLSearchParams({ ou: env('ORG_UNIT'), pe: env('PERIOD'), ds: env('DATA_SET') });
  const credentials = Buffer.from(`${env('DHIS2_USER')}:${env('DHIS2_PASSWORD')}`).toString('base64');
  const response = await fetch(`${env('DHIS2')}/api/lockExceptions?${query}`, {
    method: 'POST',
    headers: { Authorization: `Basic ${credentials}` },
  });
  assert.equal(response.status, 201, await response.text());
}

test('held values wait with their reason and go once DHIS2 opens the period', async () => {
  const browser = await launch();
  try {
    const page = await signedIn(browser, env('ADMIN_USER'));
    await page.waitForSelector('#held-card');
    assert.match(await page.locator('#held-card').textContent(), /On hold\s*2\s*values in 1 group/);

    await page.click('nav >> text=On hold');
    await page.waitForSelector('#held tbody tr');
    const row = page.locator(`#held tbody tr[data-period="${env('PERIOD')}"]`);
    const text = await row.textContent();
    assert.match(text, /Closed period/);
    assert.match(text, /closed for entry 10 days after the period; DHIS2 needs a lock exception/);
    assert.match(text, /Monthly HIV/);
    await page.screenshot({ path: join(env('SCREENSHOTS'), 'held.png') });

    // The refused values list says the same, one sentence a value.
    await page.click('nav >> text=Refused values');
    await page.waitForSelector('#refused tbody tr');
    const refused = await page.locator('#refused tbody').textContent();
    assert.match(refused, /On hold/);
    assert.match(refused, /it waits on hold until a DHIS2 administrator opens the period/);

    // Still closed: asking DHIS2 changes nothing.
    await page.click('nav >> text=On hold');
    await row.locator('button.recheck').click();
    await page.waitForSelector('.notice >> text=/2 still on hold/');

    await addLockException();
    await row.locator('button.recheck').click();
    await page.waitForSelector('.notice >> text=/2 values sent/');
    await page.waitForSelector('text=Nothing is on hold.');

    await page.goto(`${env('GATEWAY')}/console/#/submissions/${env('SUBMISSION_ID')}`);
    const end = Date.now() + 30_000;
    for (;;) {
      const status = await page.locator('#detail-status').textContent().catch(() => '');
      if (status.includes('Succeeded')) break;
      assert.ok(Date.now() < end, `submission still '${status}'`);
      await page.waitForTimeout(500);
      await page.click('#detail >> text=Reload').catch(() => {});
    }
    const values = await page.locator('#values tbody tr').allTextContents();
    assert.equal(values.length, 2, values.join(' | '));
    assert.ok(values.every((v) => v.includes('Released')), values.join(' | '));
    await page.screenshot({ path: join(env('SCREENSHOTS'), 'held-released.png') });
  } finally {
    await browser.close();
  }
});
