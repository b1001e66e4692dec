// Dashboard end-to-end test: the real API server (fake_api_server, scripted facade) and the
// system Chromium, driven by playwright-core. Never downloads a browser.
//
//   node dashboard_test.mjs <bin dir> <artifact dir>
//
// Checks: the rollout list shows orders-api as Paused; its detail shows the steps with step 1
// current and the weight bar at 20%; clicking Promote advances it to step 2 at 50%; a verb sent
// by another client shows up live through SSE (no reload). Saves <artifact dir>/dashboard.png.
import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const binDir = process.argv[2] || process.env.SLUICE_BIN_DIR;
const artifactDir = process.argv[3] || join(process.cwd(), 'artifacts');
if (!binDir) { console.error('usage: dashboard_test.mjs <bin dir> <artifact dir>'); process.exit(2); }

let chromium;
try { ({ chromium } = require('playwright-core')); } catch (e) {
  console.error('playwright-core is missing: run `npm install` in tests/dashboard');
  process.exit(1);
}

function fail(message) { throw new Error(message); }

function startServer() {
  return new Promise((resolve, reject) => {
    const child = spawn(join(binDir, 'fake_api_server'), ['--listen', '127.0.0.1:0', '--tick-ms', '0'],
                        { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    const timer = setTimeout(() => reject(new Error('fake_api_server did not start')), 15000);
    child.on('error', reject);
    child.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/listening on (\S+)/);
      if (m) { clearTimeout(timer); resolve({ child, url: 'http://' + m[1] }); }
    });
  });
}

async function api(url, path, method = 'GET') {
  const res = await fetch(url + '/api/v1' + path, { method });
  return { status: res.status, body: await res.json() };
}

const { child, url } = await startServer();
const userDataDir = mkdtempSync(join(tmpdir(), 'sluice-chromium-'));
let context;
let exitCode = 0;
try {
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
           '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1280, height: 900 },
    timeout: 30000,
  });
  const page = context.pages()[0] || await context.newPage();
  page.setDefaultTimeout(10000);
  page.on('dialog', (d) => d.accept());
  await page.goto(url + '/ui/');

  const row = page.locator('[data-testid="rollout-row-orders-api"]');
  await row.waitFor();
  if (!(await row.innerText()).includes('Paused')) fail('orders-api row does not show Paused');
  if (await page.locator('tbody tr.row').count() !== 5) fail('expected 5 rollouts in the list');
  await row.click();

  await page.locator('#steps li.current[data-step="1"]').waitFor();
  if (await page.locator('#steps li').count() !== 5) fail('expected 5 steps');
  await page.waitForFunction(() => document.getElementById('weight-bar').dataset.canary === '20');
  const weightText = await page.locator('#weight-text').innerText();
  if (!weightText.includes('canary 20%')) fail('weight text: ' + weightText);
  const canaryReady = await page.locator('[data-testid="canary-ready"]').innerText();
  if (!canaryReady.includes('ready 1 / 1')) fail('canary ready: ' + canaryReady);
  if (await page.locator('#analysis svg polyline').count() < 1) fail('no analysis chart');

  await page.locator('#btn-promote').click();
  await page.locator('#steps li.current[data-step="2"]').waitFor();
  await page.waitForFunction(() => document.getElementById('weight-bar').dataset.canary === '50');
  const after = await api(url, '/rollouts/orders-api');
  if (after.body.currentStepIndex !== 2) fail('server did not advance: ' + JSON.stringify(after.body));

  // Another client promotes: the page follows through the event stream, without a reload.
  const other = await api(url, '/rollouts/orders-api/promote', 'POST');
  if (other.status !== 200) fail('second promote failed: ' + other.status);
  await page.locator('#steps li.current[data-step="3"]').waitFor();
  await page.locator('#detail-phase', { hasText: 'Paused' }).waitFor();

  // The aborted rollout shows its reason and evidence.
  await page.locator('[data-testid="rollout-row-payments"]').click();
  await page.locator('#abort-reason', { hasText: 'success-rate 0.82' }).waitFor();
  const evidence = await page.locator('#abort-evidence').innerText();
  if (!evidence.includes('success-rate')) fail('evidence missing: ' + evidence);

  await page.locator('[data-testid="rollout-row-orders-api"]').click();
  await page.locator('#steps li.current[data-step="3"]').waitFor();
  mkdirSync(artifactDir, { recursive: true });
  await page.screenshot({ path: join(artifactDir, 'dashboard.png'), fullPage: true });
  console.log('dashboard test passed; screenshot in ' + join(artifactDir, 'dashboard.png'));
} catch (e) {
  console.error('dashboard test FAILED: ' + (e && e.stack || e));
  exitCode = 1;
} finally {
  if (context) await context.close().catch(() => {});
  child.kill('SIGTERM');
  rmSync(userDataDir, { recursive: true, force: true });
}
process.exit(exitCode);
