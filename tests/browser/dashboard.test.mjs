// The dashboard in headless Chromium: from a spreadsheet to production.
// Run by scripts/browser-test.sh, which starts the server and creates the
// users; screenshots go to $ARTIFACTS.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { chromium } from 'playwright-core';

const BASE = process.env.BASE ?? 'http://127.0.0.1:18282';
const ARTIFACTS = process.env.ARTIFACTS ?? 'tests/artifacts';
const FIXTURES = process.env.FIXTURES ?? 'tests/fixtures';
const PASSWORD = process.env.PASSWORD ?? 'correct-horse-battery';
mkdirSync(ARTIFACTS, { recursive: true });

async function signIn(page, name) {
  await page.goto(`${BASE}/admin/login`);
  await page.fill('#name', name);
  await page.fill('#password', PASSWORD);
  await page.click('button[type=submit]');
  await page.waitForSelector('#signed-in');
}

async function signOut(page) {
  await page.click('nav form button');
  await page.waitForURL(`${BASE}/admin/login`);
}

test('an operator, a QA tester and an admin take a workbook to production', async () => {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu'],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const shot = (name) => page.screenshot({ path: `${ARTIFACTS}/${name}.png`, fullPage: true });

    // Without a session every page sends you to sign in.
    await page.goto(`${BASE}/admin/upload`);
    assert.equal(new URL(page.url()).pathname, '/admin/login');

    await signIn(page, 'olive');
    const before = await page.textContent('#channel-production');
    await shot('01-overview');

    // A workbook with a typo: refused, with the cell and the fix.
    await page.goto(`${BASE}/admin/upload`);
    await page.setInputFiles('#workbook', `${FIXTURES}/invalid.ods`);
    await page.click('button[type=submit]');
    await page.waitForSelector('#refused');
    const problem = await page.textContent('tr.problem[data-code=unknown_scene]');
    assert.match(problem, /choices!A3/);
    assert.match(problem, /welcom/);
    assert.match(problem, /did you mean\s+welcome\?/);
    await shot('02-upload-refused');

    // A valid one becomes a version.
    await page.setInputFiles('#workbook', `${FIXTURES}/valid.ods`);
    await page.click('button[type=submit]');
    await page.waitForSelector('#done');
    const versionUrl = page.url().split('?')[0];
    const version = versionUrl.split('/').pop();
    assert.match(version, /^[0-9a-f]{12}$/);
    assert.ok(await page.isVisible('svg[aria-label="flow diagram"]'));
    await shot('03-version');

    await page.click('text=Deploy to staging…');
    await page.click('#confirm');
    await page.waitForSelector('#done');
    assert.match(await page.textContent('#done'), /Staging now serves/);
    // An operator is not offered approval, and is refused if they try.
    await page.goto(`${versionUrl}/confirm/approve`);
    assert.match(await page.textContent('#message'), /needs the role qa/);
    await page.goto(`${BASE}/admin`);
    await signOut(page);

    await signIn(page, 'quinn');
    await page.goto(versionUrl);
    await page.click('text=Approve…');
    await page.click('#confirm');
    await page.waitForSelector('#done');
    assert.match(await page.textContent('h1'), /approved by quinn/);
    await signOut(page);

    await signIn(page, 'ada');
    await page.goto(versionUrl);
    await page.click('text=Publish to production…');
    // The confirmation shows what changes against production.
    assert.ok(await page.isVisible('table.diff'));
    await shot('04-publish-confirm');
    await page.click('#confirm');
    await page.waitForSelector('#done');
    assert.match(await page.textContent('#done'), /Production now serves/);

    await page.goto(`${BASE}/admin`);
    const after = await page.textContent('#channel-production');
    assert.notEqual(after, before);
    assert.match(after, new RegExp(version));
    assert.match(after, /approved by quinn/);
    await shot('05-overview-published');

    await page.goto(`${BASE}/admin/audit`);
    const audit = await page.textContent('#audit');
    for (const action of ['upload', 'deploy', 'approve', 'publish']) assert.match(audit, new RegExp(action));
  } finally {
    await browser.close();
  }
});
