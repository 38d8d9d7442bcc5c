// The dashboard in headless Chromium: from a spreadsheet to production.
// Run by scripts/browser-test.sh, which starts the server and creates the
// users; screenshots go to $ARTIFACTS.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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

test('QA puts a tester into a state and previews it as the phone shows it', async () => {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu'],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const shot = (name) => page.screenshot({ path: `${ARTIFACTS}/${name}.png`, fullPage: true });
    await signIn(page, 'quinn');
    await page.click('text=QA');
    await page.fill('#tester-id', 'qa-phone-1');
    await page.click('text=Register tester');
    await page.waitForSelector('#done');

    // "Premium user from the diet campaign, variant B, at step goal."
    await page.fill('#o-subscription', 'premium');
    await page.fill('#o-install_source', 'diet_campaign');
    await page.click('text=Save overrides');
    await page.waitForSelector('#done');
    assert.match(await page.textContent('#conditions'), /premium_member\s*matches/);

    // The phone starts its run (on staging, as a tester).
    const started = await fetch(`${BASE}/v1/onboarding/start`, {
      method: 'POST',
      headers: { authorization: `Bearer ${process.env.TESTER_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ attributes: {} }),
    }).then((r) => r.json());
    assert.equal(started.scene.key, 'welcome_diet');

    await page.reload();
    await page.selectOption('#variant', 'intro|intro_friendly');
    await page.click('text=Force variant');
    await page.waitForSelector('#done');
    assert.match(await page.textContent('#variants'), /intro_friendly — forced/);
    await page.selectOption('#jump-step', 'intro');
    await page.click('text=Jump to step');
    await page.waitForSelector('#done');
    assert.match(await page.textContent('#run'), /scene intro_friendly/);
    await page.selectOption('#jump-step', 'goal');
    await page.click('text=Jump to step');
    await page.waitForSelector('#done');
    assert.match(await page.textContent('#run'), /at step goal, scene goal_diet/);
    await shot('06-qa-tester');

    await page.click('text=Preview as this user…');
    const why = await page.locator('.why').last().textContent();
    assert.match(why, /goal_diet/);
    assert.match(why, /from_diet_campaign matched first/);
    await page.click('#answer-form button[value=lose_weight]');
    await page.waitForSelector('#answer-form');
    assert.match(await page.locator('.answer').last().textContent(), /lose_weight/);
    assert.match(await page.locator('.why').last().textContent(), /current_weight/);
    await shot('07-qa-preview');

    // Back through the real run: the goal again, its earlier answer shown.
    await page.click('#back');
    await page.waitForSelector('#answer-form');
    assert.match(await page.locator('.why').last().textContent(), /goal_diet/);
    assert.match(await page.textContent('#previous'), /lose_weight/);
    assert.match(await page.textContent('#backs'), /went back from current_weight to goal \(goal_diet\)/);
    await shot('08-qa-preview-back');
  } finally {
    await browser.close();
  }
});

// After the QA test: this one leaves another flow on staging and production.
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

test('an analyst reads an experiment on the outcomes onboarding exists for', async () => {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu'],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await signIn(page, 'olive');
    // An operator defines a metric on the Metrics page; it is built from
    // the history at once.
    await page.click('nav >> text=Metrics');
    await page.fill('#metric-name', 'opened_week');
    await page.fill('#metric-event', 'opened_day_7');
    await page.fill('#metric-window', '240');
    await page.click('text=Save metric');
    await page.waitForSelector('#done');
    assert.ok(await page.$('tr[data-metric="opened_week"]'));
    await page.goto(`${BASE}/admin/experiments`);
    await page.click('a:has-text("intro:pass_through")');
    await page.waitForSelector('.metric-block');
    const metrics = await page.$$eval('.metric-block', (blocks) => blocks.map((b) => b.dataset.metric));
    assert.deepEqual(metrics, ['completed', 'opened_week', 'revenue', 'subscribed']);
    // A bar around zero for each treatment, a verdict per metric, the trend.
    assert.ok((await page.$$('.metric-block svg.lift-bar')).length >= 4, 'lift bars');
    const verdicts = await page.$$eval('.verdict', (v) => v.map((e) => e.textContent.trim()));
    assert.equal(verdicts.length, 4);
    for (const v of verdicts) assert.match(v, /wins on|worse on|keep running|no difference/);
    assert.ok(await page.$('.trend svg.lift-line'), 'the cumulative lift chart');
    await page.screenshot({ path: `${ARTIFACTS}/09-experiment.png`, fullPage: true });
    await page.selectOption('#metric', 'subscribed');
    await page.click('form button:has-text("Show")');
    await page.waitForURL(/metric=subscribed/);
    assert.ok(await page.$('.trend svg.lift-line'));
  } finally {
    await browser.close();
  }
});

/// An admin API call with one of the tokens the script made.
async function api(method, path, token, body) {
  const res = await fetch(`${BASE}${path}`, {
    method,
    headers: { Authorization: `Bearer ${token}` },
    body: body === undefined ? undefined : (body instanceof Uint8Array ? body : JSON.stringify(body)),
  });
  const text = await res.text();
  assert.ok(res.ok, `${method} ${path}: ${res.status} ${text}`);
  return JSON.parse(text);
}

test('an admin watches a staged rollout, aborts it and rescues the runs it stranded', async () => {
  const { BIN, OPERATOR_TOKEN, QA_TOKEN, ADMIN_TOKEN } = process.env;
  // A new version of what production serves, approved on staging, rolled
  // out to half of new production runs; ten users start.
  const file = join(mkdtempSync(join(tmpdir(), 'rollout-')), 'next.xlsx');
  execFileSync(BIN, ['export', '--channel', 'production', file]);
  const uploaded = await api('POST', '/admin/api/versions?file_name=next.xlsx', OPERATOR_TOKEN, readFileSync(file));
  const version = uploaded.version.id;
  await api('PUT', '/admin/api/channels/staging', OPERATOR_TOKEN, { version });
  await api('POST', `/admin/api/versions/${version}/approve`, QA_TOKEN);
  await api('PUT', '/admin/api/channels/production', ADMIN_TOKEN, { version, rollout_percent: 50 });
  let stranded = 0;
  for (let i = 0; i < 10; i++) {
    const token = execFileSync(BIN, ['token', `rollout-user-${i}`]).toString().trim();
    const res = await fetch(`${BASE}/v1/onboarding/start`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${token}` },
      body: '{}',
    });
    if ((await res.json()).version === version) stranded += 1;
  }
  assert.ok(stranded > 0, 'some users start on the new version');

  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu'],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await signIn(page, 'ada');
    await page.goto(`${BASE}/admin`);
    assert.match(await page.textContent('#rollout'), new RegExp(version));
    assert.match(await page.textContent('#rollout-state'), /running/);
    assert.match(await page.textContent('#rollout-percent'), /50/);
    await page.screenshot({ path: `${ARTIFACTS}/10-rollout.png`, fullPage: true });
    await page.click('#abort');
    await page.waitForSelector('#rescue');
    assert.match(await page.textContent('#rollout-state'), /aborted/);
    // The rescue's confirmation page shows the dry run before anything moves.
    await page.click('#rescue');
    await page.waitForSelector('#rescue-plan');
    assert.equal((await page.textContent('#rescue-moved')).trim(), String(stranded));
    await page.screenshot({ path: `${ARTIFACTS}/11-rescue-confirm.png`, fullPage: true });
    await page.click('#confirm');
    await page.waitForURL(`${BASE}/admin/incidents`);
    assert.match(await page.textContent('.incident'), new RegExp(`Runs rescued:\\*\\* ${stranded}`));
    await page.screenshot({ path: `${ARTIFACTS}/12-incidents.png`, fullPage: true });
  } finally {
    await browser.close();
  }
});
