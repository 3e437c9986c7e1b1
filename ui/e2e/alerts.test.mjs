// Alerts in the console: what fires, a rule changed and its change undone, a test send that
// reports the SMTP server's answer, the notifications sent, and the audit log's export. Started by
// server/tests/api/browser.rs with GATEWAY, ADMIN_USER, PASSWORD, MAIL_TO and SCREENSHOTS set.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { env, launch, signedIn } from './common.mjs';

mkdirSync(env('SCREENSHOTS'), { recursive: true });

test('an administrator sees what fires, tunes a rule and tests a recipient', async () => {
  const browser = await launch();
  try {
    const page = await signedIn(browser, env('ADMIN_USER'));
    await page.click('nav >> text=Alerts');
    await page.waitForSelector('#alerts-firing tbody tr');
    assert.match(await page.locator('#alerts-firing').textContent(), /the database holds \d+ MB, more than 0 MB/);
    assert.match(await page.locator('#alert-channels').textContent(), /Email goes through 127\.0\.0\.1\. Webhooks are signed/);
    const size = page.locator('#alert-rules tr[data-rule="database-size"]');
    assert.match(await size.textContent(), /Firing \(1\)/);
    assert.match(await size.textContent(), /over 0 MB.*config/);

    // Queue age: wait 30 minutes, not two hours.
    const queue = page.locator('#alert-rules tr[data-rule="queue-age"]');
    assert.match(await queue.textContent(), /after 2 h.*default/);
    await queue.locator('button.edit-rule').click();
    const form = page.locator('form[aria-label="edit queue-age"]');
    await form.locator('input[name="after"]').fill('30');
    await form.locator('button[type="submit"]').click();
    await page.waitForSelector(".notice >> text=Rule 'queue-age' saved");
    await page.waitForFunction(() =>
      /after 30 min.*console \(admin\)/.test(document.querySelector('#alert-rules tr[data-rule="queue-age"]').textContent));
    await page.screenshot({ path: join(env('SCREENSHOTS'), 'alerts.png'), fullPage: true });

    await queue.locator('button.reset-rule').click();
    await page.click('#confirm-action');
    await page.waitForSelector(".notice >> text=The built-in rule 'queue-age' is in force again");
    await page.waitForFunction(() =>
      /after 2 h.*default/.test(document.querySelector('#alert-rules tr[data-rule="queue-age"]').textContent));

    // A test send says what the SMTP server answered; a bad address is named.
    await page.fill('#test-recipient', env('MAIL_TO'));
    await page.click('#test-send');
    await page.waitForSelector('#test-result >> text=/Sent by email: 250 2\\.0\\.0 OK queued as test-/');
    await page.fill('#test-recipient', 'nobody');
    await page.click('#test-send');
    await page.waitForSelector('#test-result >> text=/recipient: .nobody. is neither an email address nor/');

    // Every notification, with its answer; filtered to those sent.
    await page.click('button >> text=Reload');
    await page.selectOption('#notification-status', 'sent');
    await page.waitForSelector('#alert-notifications tr[data-event="test"]');
    const sent = await page.locator('#alert-notifications').textContent();
    assert.match(sent, /Test notification from/);
    assert.match(sent, /FIRING: the database holds/);
    assert.match(sent, /250 2\.0\.0 OK queued as test-/);

    // The rule's change and its undoing are in the audit log, which exports with its filter.
    await page.click('nav >> text=Audit log');
    await page.fill('#audit-q', 'queue-age');
    await page.press('#audit-q', 'Enter');
    await page.waitForFunction(() => document.querySelectorAll('#audit tbody tr').length === 2);
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#export-csv')]);
    assert.equal(download.suggestedFilename(), 'dhis2gw_audit_log.csv');
    const csv = readFileSync(await download.path(), 'utf8').trim().split('\n');
    assert.equal(csv[0], 'id,created,actor,action,target_type,target_id,detail');
    assert.deepEqual(csv.slice(1).map((line) => line.split(',')[3]), ['alert_rule.delete', 'alert_rule.update']);
  } finally {
    await browser.close();
  }
});
