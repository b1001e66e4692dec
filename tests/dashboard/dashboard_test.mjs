// Dashboard end-to-end test: a real `sluice serve` (real Git repository, real controller, real
// instances of sluice-testsvc behind the built-in router) and the system Chromium, driven by
// playwright-core. Never downloads a browser.
//
//   node dashboard_test.mjs <bin dir> <artifact dir>
//
// Scenario: a scratch Git repo holds a canary Rollout with steps [setWeight 20, pause {},
// setWeight 50, pause {}]. Commit v1 and wait until it is Healthy; commit v2, which stops at the
// first pause. Then in Chromium: the list shows the rollout Paused; its detail shows the four
// steps with step 1 current and the weight bar at 20%; clicking Promote advances it to step 3
// with the bar at 50%, live (the page is never reloaded). Another client (the real `sluice abort`
// CLI) aborts it: the page follows through SSE and shows the abort reason and the bar back at 0%.
// Saves <artifact dir>/dashboard.png (taken at step 3) and prints its path.
//
// Dropped from the scripted fake-server version: the abort *evidence* panel of a failed analysis
// (an operator abort carries no metric evidence; a failing analysis would need a metric source and
// its own timing) and the five-rollout list.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
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
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}

const gitEnv = Object.assign({}, process.env, {
  GIT_AUTHOR_NAME: 'test', GIT_AUTHOR_EMAIL: 'test@example.com',
  GIT_COMMITTER_NAME: 'test', GIT_COMMITTER_EMAIL: 'test@example.com',
});
function git(dir, ...args) {
  const r = spawnSync('/usr/bin/git', ['-C', dir, ...args], { env: gitEnv, encoding: 'utf8' });
  if (r.status !== 0) fail('git ' + args.join(' ') + ' failed: ' + r.stderr);
  return r.stdout.trim();
}

function writeRollout(repo, version, marker, servicePort) {
  writeFileSync(join(repo, 'svc.yaml'), `apiVersion: sluice.dev/v1alpha1
kind: Rollout
metadata: {name: svc}
spec:
  replicas: 2
  template:
    version: "${version}"
    command: ["${join(binDir, 'sluice-testsvc')}", "--port", "$(PORT)"]
    env: [{name: SLUICE_TEST_MARKER, value: "${marker}"}]
    ports: [{name: http, containerPort: 0}]
    readinessProbe: {httpGet: {path: /healthz, port: http}, periodSeconds: 0.1}
    terminationGracePeriodSeconds: 2
  service: {listen: "127.0.0.1:${servicePort}", targetPort: http}
  strategy:
    canary:
      trafficRouting: {builtin: {}}
      scaleDownDelaySeconds: 1
      abortScaleDownDelaySeconds: 1
      steps:
        - setWeight: 20
        - pause: {}
        - setWeight: 50
        - pause: {}
`);
}

async function api(url, path, method = 'GET') {
  const res = await fetch(url + '/api/v1' + path, { method });
  let body = null;
  try { body = await res.json(); } catch (_) { body = null; }
  return { status: res.status, body };
}

// Polls GET /rollouts/svc until pred(rollout) holds; bounded by `tries` x 200 ms.
async function waitRollout(url, what, pred, tries = 150) {
  let last = null;
  for (let i = 0; i < tries; ++i) {
    try {
      const r = await api(url, '/rollouts/svc');
      last = r.body;
      if (r.status === 200 && pred(r.body)) return r.body;
    } catch (_) { /* not listening yet */ }
    await sleep(200);
  }
  fail('timed out waiting for ' + what + '; last rollout: ' + JSON.stringify(last));
}

// The instances outlive `sluice serve` on purpose (the next start adopts them): kill every
// process whose environment carries the marker, as tests/integration/api/cli_test.cc does.
function killMarked(marker) {
  const needle = 'SLUICE_TEST_MARKER=' + marker;
  let killed = 0;
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    let env = '';
    try { env = readFileSync(join('/proc', pid, 'environ'), 'latin1'); } catch (_) { continue; }
    if (!env.split('\0').includes(needle)) continue;
    try { process.kill(Number(pid), 'SIGKILL'); ++killed; } catch (_) { /* already gone */ }
  }
  return killed;
}

function waitExit(child, ms) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    child.once('exit', () => { clearTimeout(timer); resolve(true); });
  });
}

const dir = mkdtempSync(join(tmpdir(), 'sluice-dashboard-'));
const repo = join(dir, 'repo');
const stateDir = join(dir, 'state');
const userDataDir = join(dir, 'chromium');
mkdirSync(repo);
mkdirSync(userDataDir);
let serve = null;
let serveLog = '';
let context = null;
let exitCode = 0;
try {
  const servicePort = await freePort();
  writeRollout(repo, '1', dir, servicePort);
  git(repo, 'init', '-q', '-b', 'main');
  git(repo, 'add', '.');
  git(repo, 'commit', '-q', '-m', 'svc v1');

  const listen = '127.0.0.1:' + await freePort();
  const url = 'http://' + listen;
  serve = spawn(join(binDir, 'sluice'), ['serve', '--repo', repo, '--state-dir', stateDir,
                                         '--listen', listen, '--poll', '1s', '--log-format', 'json'],
                { stdio: ['ignore', 'pipe', 'pipe'] });
  serve.stdout.on('data', (d) => { serveLog += d; });
  serve.stderr.on('data', (d) => { serveLog += d; });
  await waitRollout(url, 'v1 Healthy', (r) => r.phase === 'Healthy' && r.stable && r.stable.ready === 2);

  writeRollout(repo, '2', dir, servicePort);
  git(repo, 'commit', '-q', '-am', 'svc v2');
  const v2 = git(repo, 'rev-parse', 'HEAD');
  const sync = await api(url, '/sync', 'POST');
  if (sync.status !== 200) fail('sync: ' + sync.status + ' ' + JSON.stringify(sync.body));
  await waitRollout(url, 'v2 paused at step 1', (r) => r.phase === 'Paused' && r.currentStepIndex === 1 &&
                    r.desired.commit === v2 && r.weights.canary === 20 && r.canary && r.canary.ready === 1);

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

  const row = page.locator('[data-testid="rollout-row-svc"]');
  await row.waitFor();
  if (!(await row.innerText()).includes('Paused')) fail('svc row does not show Paused: ' + await row.innerText());
  await row.click();

  await page.locator('#steps li.current[data-step="1"]').waitFor();
  const steps = await page.locator('#steps li').allInnerTexts();
  if (steps.length !== 4) fail('expected 4 steps, got ' + JSON.stringify(steps));
  if (!steps[0].includes('set weight 20%') || !steps[1].includes('pause (until promoted)') ||
      !steps[2].includes('set weight 50%')) fail('steps: ' + JSON.stringify(steps));
  if (await page.locator('#steps li.done').count() !== 1) fail('step 0 is not marked done');
  await page.waitForFunction(() => document.getElementById('weight-bar').dataset.canary === '20');
  const weightText = await page.locator('#weight-text').innerText();
  if (!weightText.includes('stable 80% / canary 20%')) fail('weight text: ' + weightText);
  const canaryReady = await page.locator('[data-testid="canary-ready"]').innerText();
  if (!canaryReady.includes('ready 1 / 1')) fail('canary ready: ' + canaryReady);

  // From here on the page must follow by itself: a reload would lose this marker.
  await page.evaluate(() => { window.sluiceNoReload = true; });
  await page.locator('#btn-promote').click();
  await page.locator('#steps li.current[data-step="3"]').waitFor();
  await page.waitForFunction(() => document.getElementById('weight-bar').dataset.canary === '50');
  await page.locator('#detail-phase', { hasText: 'Paused' }).waitFor();
  const after = await api(url, '/rollouts/svc');
  if (after.body.currentStepIndex !== 3 || after.body.weights.canary !== 50) {
    fail('server did not advance: ' + JSON.stringify(after.body));
  }
  if (!(await page.evaluate(() => window.sluiceNoReload === true))) fail('the page was reloaded');
  // What a person sees must match: the drawn canary share of the bar is 50%. Its width animates
  // (a screenshot taken mid-transition showed 37%), so the animation is ended here - not waited
  // for: a headless page may not advance it - and the laid-out widths are compared.
  const drawn = await page.evaluate(() => {
    for (const id of ['weight-stable', 'weight-canary']) {
      document.getElementById(id).style.transition = 'none';
    }
    const bar = document.getElementById('weight-bar').getBoundingClientRect().width;
    const canary = document.getElementById('weight-canary').getBoundingClientRect().width;
    return bar > 0 ? canary / bar : -1;
  });
  if (Math.abs(drawn - 0.5) > 0.01) fail('the traffic bar draws the canary at ' + drawn + ', not 0.5');
  mkdirSync(artifactDir, { recursive: true });
  const shot = join(artifactDir, 'dashboard.png');
  await page.screenshot({ path: shot, fullPage: true });

  // Another client (the real CLI) aborts: the page follows through the event stream.
  const cli = spawnSync(join(binDir, 'sluice'), ['abort', 'svc', '--server', url, '-o', 'json'],
                        { encoding: 'utf8', timeout: 20000 });
  if (cli.status !== 0) fail('sluice abort exited ' + cli.status + ': ' + cli.stdout + cli.stderr);
  await page.locator('#detail-phase', { hasText: '(aborted)' }).waitFor();
  await page.locator('#abort').waitFor({ state: 'visible' });
  const reason = await page.locator('#abort-reason').innerText();
  if (!reason.trim()) fail('abort reason is empty');
  await page.waitForFunction(() => document.getElementById('weight-bar').dataset.canary === '0');
  if (!(await page.locator('#btn-retry').isEnabled())) fail('Retry is not enabled after the abort');
  if (!(await page.evaluate(() => window.sluiceNoReload === true))) fail('the page was reloaded');
  console.log('dashboard test passed; screenshot in ' + shot);
} catch (e) {
  console.error('dashboard test FAILED: ' + (e && e.stack || e));
  if (serveLog) console.error('--- sluice serve output (last 4000 bytes) ---\n' + serveLog.slice(-4000));
  exitCode = 1;
} finally {
  if (context) await context.close().catch(() => {});
  if (serve) {
    serve.kill('SIGTERM');
    if (!(await waitExit(serve, 15000))) { serve.kill('SIGKILL'); await waitExit(serve, 5000); }
  }
  const killed = killMarked(dir);
  if (exitCode === 0 && killed === 0) {
    console.error('dashboard test FAILED: no instance processes were left to clean up (marker lost?)');
    exitCode = 1;
  }
  rmSync(dir, { recursive: true, force: true });
}
process.exit(exitCode);
