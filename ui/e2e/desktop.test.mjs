// The desktop app itself (Tauri, WebKitGTK) driven through tauri-driver under Xvfb: it starts on
// the sign-in screen, signs in to a real gateway, remembers it in its config directory, and a file
// chosen in the native GTK open dialog reaches the mapping import. Started by
// server/tests/api/browser.rs with GATEWAY, ADMIN_USER, PASSWORD, DESKTOP_APP (the binary),
// NEW_CSV (a mappings file), SCREENSHOTS and XDG_CONFIG_HOME (a fresh folder) set, inside xvfb-run.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const env = (name) => {
  const value = process.env[name];
  assert.ok(value, `${name} is not set`);
  return value;
};
const GATEWAY = env('GATEWAY');
mkdirSync(env('SCREENSHOTS'), { recursive: true });
const PORT = 20000 + Math.floor(Math.random() * 20000);
const ELEMENT = 'element-6066-11e4-a52e-4f735466cecf';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const driver = spawn('tauri-driver', ['--port', String(PORT), '--native-port', String(PORT + 1)], { stdio: 'ignore' });
// SIGTERM, not SIGKILL: tauri-driver then also stops its WebKitWebDriver.
after(() => driver.kill('SIGTERM'));

async function wd(method, path, body) {
  const r = await fetch(`http://127.0.0.1:${PORT}${path}`, {
    method, headers: { 'Content-Type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = await r.json();
  if (!r.ok) throw new Error(`${method} ${path}: ${JSON.stringify(json.value ?? json)}`);
  return json.value;
}

// Polls `check` until it returns something truthy; on timeout, says what it last saw.
async function until(what, check, timeout = 30_000) {
  const end = Date.now() + timeout;
  let last = 'nothing';
  for (;;) {
    try {
      const value = await check();
      if (value) return value;
      last = JSON.stringify(value);
    } catch (e) { last = String(e.message ?? e); }
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}; last seen: ${last}`);
    await sleep(300);
  }
}

test('the desktop app signs in, remembers the gateway and opens a mapping file through the native dialog', async () => {
  await until('tauri-driver', async () => (await fetch(`http://127.0.0.1:${PORT}/status`)).ok);
  const session = await wd('POST', '/session', { capabilities: { alwaysMatch: { 'tauri:options': { application: env('DESKTOP_APP') } } } });
  const s = `/session/${session.sessionId}`;
  const shot = async (name) => {
    await sleep(500); // WebKit's snapshot can be a frame behind
    writeFileSync(join(env('SCREENSHOTS'), `${name}.png`), Buffer.from(await wd('GET', `${s}/screenshot`), 'base64'));
  };
  try {
    const find = async (css) => (await wd('POST', `${s}/element`, { using: 'css selector', value: css }))[ELEMENT];
    const text = async (css) => wd('GET', `${s}/element/${await find(css)}/text`);
    // Types into a field, then waits until the field holds exactly that (keystrokes sent while
    // the page re-renders can land late).
    const type = async (css, value) => {
      const field = await find(css);
      await wd('POST', `${s}/element/${field}/clear`, {});
      await wd('POST', `${s}/element/${field}/value`, { text: value });
      await until(`${css} to hold what was typed`, async () => (await wd('GET', `${s}/element/${field}/property/value`)) === value);
    };
    const click = async (css) => wd('POST', `${s}/element/${await find(css)}/click`, {});

    // The sign-in screen, asking for a gateway (the desktop app is not served by one).
    await until('the sign-in screen', () => find('#gateway'));
    assert.equal(await wd('GET', `${s}/title`), 'dhis2gw console');
    // A gateway that is not there is named as unreachable, not as a wrong password.
    await type('#gateway', 'http://127.0.0.1:9');
    await type('#username', env('ADMIN_USER'));
    await type('#password', env('PASSWORD'));
    await click('#sign-in');
    const refused = await until('an error message', async () => (await text('.error')) || false);
    assert.match(refused, /Cannot reach the gateway at http:\/\/127\.0\.0\.1:9\./);
    await type('#gateway', GATEWAY);
    await shot('desktop-sign-in');
    await click('#sign-in');
    await until('the signed-in console', () => find('#sign-out'));
    const title = await until('the window title', async () => {
      const t = await wd('GET', `${s}/title`);
      return t.includes(GATEWAY) && t;
    });
    assert.match(title, /admin @ http/);

    // Remembered in the app's config directory: the gateway and the session's refresh token.
    const settingsFile = join(env('XDG_CONFIG_HOME'), 'org.hispuganda.dhis2gw.console', 'settings.json');
    const settings = await until('the settings file', () => existsSync(settingsFile) && JSON.parse(readFileSync(settingsFile, 'utf8')));
    assert.deepEqual(settings.gateways, [GATEWAY]);
    assert.ok(settings.refresh_tokens[GATEWAY], 'the refresh token is kept for the next start');

    // Mappings → "choose a file…" opens GTK's native dialog; type the path into it as a user would.
    await click('a[href="#/mappings"]');
    await until('the mappings screen', () => find('#open-file'));
    await click('#open-file');
    // GTK's dialog is a window of its own: wait for it, focus it, type the path into its location bar.
    const dialog = execFileSync('xdotool', ['search', '--sync', '--onlyvisible', '--name', 'Import mappings'], { timeout: 30_000 })
      .toString().trim().split('\n')[0];
    execFileSync('xdotool', ['windowfocus', '--sync', dialog]);
    await sleep(500);
    execFileSync('xdotool', ['key', '--delay', '100', 'ctrl+l']);
    await sleep(300);
    execFileSync('xdotool', ['type', '--delay', '20', env('NEW_CSV')]);
    await sleep(300);
    execFileSync('xdotool', ['key', 'Return']);
    const preview = await until('the import preview', async () => {
      const t = await text('#import-preview');
      return t.includes('1 created') && t;
    });
    assert.match(preview, /Preview of new-mappings\.csv/);
    await shot('desktop-mappings-import');
    await click('#confirm-import');
    await until('the import result', async () => (await text('#import-result')).includes('1 created'));
  } catch (e) {
    await shot('desktop-failure').catch(() => {});
    throw e;
  } finally {
    await wd('DELETE', s).catch(() => {});
  }
});
