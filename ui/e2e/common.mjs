// What the browser tests share: their environment, Debian's Chromium, and signing in.
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';

/** The environment variable `name`, which the Rust side must have set. */
export const env = (name) => {
  const value = process.env[name];
  assert.ok(value, `${name} is not set`);
  return value;
};

/** Debian's Chromium, headless, without anything that would reach the network. */
export const launch = () =>
  chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
  });

/** A page of the console at GATEWAY, signed in as `user` with PASSWORD. */
export async function signedIn(browser, user) {
  const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
  page.setDefaultTimeout(20_000);
  page.on('pageerror', (e) => console.error('page error:', e.message));
  await page.goto(`${env('GATEWAY')}/console/`);
  await page.fill('#username', user);
  await page.fill('#password', env('PASSWORD'));
  await page.click('#sign-in');
  await page.waitForSelector('#sign-out');
  return page;
}
