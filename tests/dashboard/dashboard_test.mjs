// Dashboard end-to-end test: a real `sluice serve` (real Git repository, real controller, real
// instances of sluice-testsvc behind the built-in router, real `web` analysis against them) and
// the system Chromium, driven by playwright-core. Never downloads a browser.
//
//   node dashboard_test.mjs <bin dir> <artifact dir>
//
// Scenario: a scratch Git repo holds a canary Rollout and two AnalysisTemplates whose `web`
// metrics read the instances' environment through the rollout's own front door
// (sluice-testsvc's GET /env/NAME).
//  1. v1 is Healthy: the page lists it serving 1 and highlights no step.
//  2. v2 (steps [setWeight 20, pause {}, setWeight 50, pause {}], background analysis
//     `availability` that passes) stops at the first pause; the page follows live: step 2 of 4
//     current, the bar at 20%. Promote advances it to step 4 with the bar at 50%. Another client
//     (the real `sluice abort` CLI) aborts it: the page shows the reason, the bar at 0%, and the
//     list still says the rollout serves 1, not the aborted 2.
//  3. v3 (steps [setWeight 100, analysis `quality`]) serves QUALITY=0.8234567 against
//     `successCondition: result >= 0.95`: the analysis fails and the controller aborts. The abort
//     evidence is written for people (metric, condition, rounded values with their times, the
//     query), the raw JSON is behind a closed toggle; runs are grouped by revision, newest first;
//     the chart draws the threshold at 0.95; the dry-run metric whose every measurement is an
//     error draws no dot (no red 0); Failed and Successful badges differ in colour.
//  4. An invalid commit at the head of the branch: a banner names the file and line.
// Saves <artifact dir>/dashboard.png (taken at step 4 of v2), dashboard-abort.png (the
// analysis abort) and dashboard-source-error.png (the banner), and prints their paths.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { createServer as createHttpServer } from 'node:http';
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

// The analysis templates read the instances' environment through the rollout's front door
// (sluice-testsvc answers GET /env/NAME with the value), so they measure whatever revision the
// router sends them to.
function writeTemplates(repo, servicePort) {
  const front = 'http://127.0.0.1:' + servicePort;
  writeFileSync(join(repo, 'analysis.yaml'), `apiVersion: sluice.dev/v1alpha1
kind: AnalysisTemplate
metadata: {name: availability}
spec:
  metrics:
    - name: availability
      count: 1
      successCondition: result >= 0.99
      provider:
        web: {url: "${front}/env/AVAILABILITY"}
---
apiVersion: sluice.dev/v1alpha1
kind: AnalysisTemplate
metadata: {name: quality}
spec:
  metrics:
    - name: quality
      interval: 300ms
      count: 3
      failureLimit: 1
      successCondition: result >= 0.95
      provider:
        web: {url: "${front}/env/QUALITY"}
    - name: latency
      interval: 200ms
      count: 3
      dryRun: true
      successCondition: result < 500
      provider:
        web: {url: "${front}/env/NO_SUCH_VARIABLE"}
`);
}

const V2_STEPS = `      analysis:
        templates: [{templateName: availability}]
      steps:
        - setWeight: 20
        - pause: {}
        - setWeight: 50
        - pause: {}`;
const V3_STEPS = `      steps:
        - setWeight: 100
        - analysis: {templates: [{templateName: quality}]}`;

function writeRollout(repo, version, marker, servicePort, steps = V2_STEPS, quality = '1', webhooks = '') {
  writeFileSync(join(repo, 'svc.yaml'), `apiVersion: sluice.dev/v1alpha1
kind: Rollout
metadata: {name: svc}
spec:
  replicas: 2
  template:
    version: "${version}"
    command: ["${join(binDir, 'sluice-testsvc')}", "--port", "$(PORT)"]
    env:
      - {name: SLUICE_TEST_MARKER, value: "${marker}"}
      - {name: AVAILABILITY, value: "1"}
      - {name: QUALITY, value: "${quality}"}
    ports: [{name: http, containerPort: 0}]
    readinessProbe: {httpGet: {path: /healthz, port: http}, periodSeconds: 0.1}
    terminationGracePeriodSeconds: 2
  service: {listen: "127.0.0.1:${servicePort}", targetPort: http}
  strategy:
    canary:
      trafficRouting: {builtin: {}}
      scaleDownDelaySeconds: 1
      abortScaleDownDelaySeconds: 1
${steps}
${webhooks}`);
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
  writeTemplates(repo, servicePort);
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

  // 1. Healthy v1: listed as serving 1; its detail highlights no step.
  const row = page.locator('[data-testid="rollout-row-svc"]');
  await row.waitFor();
  await row.locator('[data-testid="serving-version"]', { hasText: /^1$/ }).waitFor();
  if (!(await row.innerText()).includes('Healthy')) fail('svc row does not show Healthy: ' + await row.innerText());
  await row.click();
  await page.locator('#detail-phase', { hasText: 'Healthy' }).waitFor();
  await page.locator('#steps li').first().waitFor();
  if (await page.locator('#steps li.current, #steps li.done, #steps li.stopped').count() !== 0) {
    fail('a Healthy rollout highlights a step: ' +
         JSON.stringify(await page.locator('#steps').innerHTML()));
  }
  const healthySummary = await page.locator('#step-summary').innerText();
  if (!healthySummary.includes('no update in progress')) fail('Healthy step summary: ' + healthySummary);

  // 2. v2 stops at its first pause; the open page follows by itself (never reloaded).
  await page.evaluate(() => { window.sluiceNoReload = true; });
  writeRollout(repo, '2', dir, servicePort);
  git(repo, 'commit', '-q', '-am', 'svc v2');
  const v2 = git(repo, 'rev-parse', 'HEAD');
  const sync = await api(url, '/sync', 'POST');
  if (sync.status !== 200) fail('sync: ' + sync.status + ' ' + JSON.stringify(sync.body));
  await waitRollout(url, 'v2 paused at step 1', (r) => r.phase === 'Paused' && r.currentStepIndex === 1 &&
                    r.desired.commit === v2 && r.weights.canary === 20 && r.canary && r.canary.ready === 1);

  await page.locator('#steps li.current[data-step="1"]').waitFor();
  const steps = await page.locator('#steps li').allInnerTexts();
  if (steps.length !== 4) fail('expected 4 steps, got ' + JSON.stringify(steps));
  if (!steps[0].includes('set weight 20%') || !steps[1].includes('pause (until promoted)') ||
      !steps[2].includes('set weight 50%')) fail('steps: ' + JSON.stringify(steps));
  if (await page.locator('#steps li.done').count() !== 1) fail('step 1 is not marked done');
  // currentStepIndex 1 (0-based, as in Argo's JSON) is the second step for a person.
  await page.locator('#step-summary', { hasText: 'step 2 of 4' }).waitFor();
  await page.waitForFunction(() => document.getElementById('weight-bar').dataset.canary === '20');
  const weightText = await page.locator('#weight-text').innerText();
  if (!weightText.includes('stable 80% / canary 20%')) fail('weight text: ' + weightText);
  const canaryReady = await page.locator('[data-testid="canary-ready"]').innerText();
  if (!canaryReady.includes('ready 1 / 1')) fail('canary ready: ' + canaryReady);
  // While v2 is only partly out, v1 is what serves; the update column names v2 and its share.
  if ((await row.locator('[data-testid="serving-version"]').innerText()).trim() !== '1') {
    fail('the list does not show the serving version 1 during the update: ' + await row.innerText());
  }
  await row.locator('[data-testid="canary-column"]', { hasText: '2 \u00b7 20%' }).waitFor();

  await page.locator('#btn-promote').click();
  await page.locator('#steps li.current[data-step="3"]').waitFor();
  await page.locator('#step-summary', { hasText: 'step 4 of 4' }).waitFor();
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
  // The list shows what serves (1), not the aborted update (2).
  await row.locator('.phase', { hasText: 'aborted' }).waitFor();
  const servingAfterAbort = (await row.locator('[data-testid="serving-version"]').innerText()).trim();
  if (servingAfterAbort !== '1') fail('after the abort the list shows version ' + servingAfterAbort + ', not 1');
  if (await page.locator('#steps li.current').count() !== 0) fail('an aborted rollout marks a current step');

  // 3. v3 is measured by a real analysis and fails it: QUALITY 0.8234567 < 0.95. It also has a
  // post-rollout gate webhook, a real HTTP receiver here that answers 503: its call and answer are
  // evidence on the rollout, and change no verdict.
  const hookCalls = [];
  const receiver = createHttpServer((req, res) => {
    let body = '';
    req.on('data', (d) => { body += d; });
    req.on('end', () => {
      hookCalls.push({ url: req.url, body });
      res.writeHead(503, { 'Content-Type': 'application/json' });
      res.end('{"stored":false,"why":"report store is read-only"}');
    });
  });
  await new Promise((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  const hookUrl = 'http://127.0.0.1:' + receiver.address().port + '/report?token=s3cret-token';
  const V3_WEBHOOKS = `  webhooks:
    - {name: report, type: post-rollout, url: "${hookUrl}", timeout: 5s, metadata: {team: payments}}
`;
  writeRollout(repo, '3', dir, servicePort, V3_STEPS, '0.8234567', V3_WEBHOOKS);
  git(repo, 'commit', '-q', '-am', 'svc v3 (bad quality)');
  const v3 = git(repo, 'rev-parse', 'HEAD');
  const sync3 = await api(url, '/sync', 'POST');
  if (sync3.status !== 200) fail('sync v3: ' + sync3.status + ' ' + JSON.stringify(sync3.body));
  const aborted3 = await waitRollout(url, 'v3 aborted by its analysis', (r) => r.aborted &&
    r.desired.commit === v3 && (r.analysisRuns || []).some((run) => run.phase === 'Failed'));
  const failedRun = aborted3.analysisRuns.find((run) => run.phase === 'Failed');
  const withCall = await waitRollout(url, 'the post-rollout call of v3', (r) =>
    (r.webhookCalls || []).some((c) => c.name === 'report' && c.status === 503));
  const call = withCall.webhookCalls.find((c) => c.name === 'report');
  if (call.ok !== false || call.type !== 'post-rollout' || call.revision !== aborted3.desired.revision ||
      !call.body.includes('read-only') || typeof call.durationMs !== 'number') {
    fail('the post-rollout evidence: ' + JSON.stringify(call));
  }
  if (JSON.stringify(withCall).includes('s3cret-token')) fail('the rollout object shows the webhook URL\'s token');
  if (hookCalls.length !== 1) fail('the post-rollout webhook was called ' + hookCalls.length + ' times');
  const posted = JSON.parse(hookCalls[0].body);
  if (posted.name !== 'svc' || posted.namespace !== 'default' || posted.revision !== aborted3.desired.revision ||
      posted.commit !== v3 || posted.version !== '3' || posted.metadata.team !== 'payments') {
    fail('the post-rollout body: ' + hookCalls[0].body);
  }
  if (withCall.aborted !== true || withCall.phase !== 'Degraded') fail('the webhook changed the verdict');

  await page.locator('[data-testid="evidence-metric-quality"]').waitFor();
  const evidence = await page.locator('#abort-evidence').innerText();
  const quality = await page.locator('[data-testid="evidence-metric-quality"]').innerText();
  for (const want of ['quality', 'Failed', 'pass when result >= 0.95', '0.823', '/env/QUALITY']) {
    if (!quality.includes(want)) fail('the quality evidence lacks "' + want + '": ' + quality);
  }
  if (quality.includes('0.8234567')) fail('the evidence shows unrounded values: ' + quality);
  const times = quality.match(/\b\d\d:\d\d:\d\d\b/g) || [];
  if (times.length < 2) fail('the evidence does not show each measurement with its time: ' + quality);
  if (!evidence.includes(failedRun.name)) fail('the evidence does not name the run ' + failedRun.name + ': ' + evidence);
  if (evidence.includes('"analysisRun"') || evidence.includes('{"')) fail('the evidence is a JSON dump: ' + evidence);
  // The raw JSON is still there, behind a closed toggle.
  if (!(await page.locator('#abort-raw').isVisible())) fail('the raw evidence toggle is missing');
  if (await page.locator('#abort-raw').evaluate((d) => d.open)) fail('the raw evidence is open by default');
  if (await page.locator('#abort-raw-json').isVisible()) fail('the raw evidence JSON shows without the toggle');
  const raw = JSON.parse(await page.locator('#abort-raw-json').textContent());
  if (!raw.analysisRun || raw.analysisRun.name !== failedRun.name) fail('raw evidence: ' + JSON.stringify(raw));

  // Analysis runs grouped by revision, newest first: v3's run, then v2's background run.
  const groups = await page.locator('#analysis .run-group').evaluateAll(
    (nodes) => nodes.map((n) => n.dataset.revision));
  if (JSON.stringify(groups) !== JSON.stringify([String(aborted3.desired.revision), String(after.body.desired.revision)])) {
    fail('analysis groups (newest revision first) are ' + JSON.stringify(groups));
  }
  const newest = page.locator('#analysis .run-group').first();
  // The chart draws the success threshold from the condition, and rounds what it prints.
  const threshold = newest.locator('[data-metric="quality"] line.threshold.success');
  if (await threshold.count() !== 1) fail('the quality chart draws no threshold line');
  if ((await threshold.getAttribute('data-value')) !== '0.95') fail('threshold at ' + await threshold.getAttribute('data-value'));
  const chartText = await newest.locator('[data-metric="quality"]').innerText();
  if (!chartText.includes('latest 0.823')) fail('the quality chart text: ' + chartText);
  const qualityDots = await newest.locator('[data-metric="quality"] circle.dot.bad').count();
  if (qualityDots < 2) fail('the quality chart draws ' + qualityDots + ' failed measurements, expected 2 or more');
  // The threshold lies above the failed values: the y-scale holds both.
  const geometry = await newest.locator('[data-metric="quality"] svg').evaluate((svg) => ({
    line: Number(svg.querySelector('line.threshold').getAttribute('y1')),
    dots: [...svg.querySelectorAll('circle.dot')].map((c) => Number(c.getAttribute('cy'))),
    height: Number(svg.getAttribute('height')),
  }));
  if (!(geometry.line > 0 && geometry.dots.every((y) => y > geometry.line && y < geometry.height))) {
    fail('threshold and values are not drawn on one scale: ' + JSON.stringify(geometry));
  }
  // The dry-run metric's measurements are all errors (no such variable): no data, never a red 0.
  const latency = aborted3.analysisRuns.find((run) => run.name === failedRun.name).metrics.find((m) => m.name === 'latency');
  if (!latency || !latency.measurements.length || latency.measurements.some((m) => m.value !== null)) {
    fail('expected only no-data measurements of latency: ' + JSON.stringify(latency));
  }
  const latencyChart = newest.locator('[data-metric="latency"]');
  if (await latencyChart.locator('circle.nodata').count() !== latency.measurements.length) {
    fail('the latency chart does not mark each no-data measurement');
  }
  if (await latencyChart.locator('circle.dot').count() !== 0) fail('a no-data measurement is drawn as a value');
  if (latency.dryRun !== true || !(await latencyChart.innerText()).includes('dry run')) {
    fail('the dry-run metric is not marked as one: ' + await latencyChart.innerText());
  }
  await row.locator('[data-testid="canary-column"]', { hasText: /^3 \(aborted\)$/ }).waitFor();
  // Failed and Successful badges differ in colour.
  const colour = (loc) => loc.first().evaluate((n) => getComputedStyle(n).backgroundColor);
  const failedColour = await colour(newest.locator('.run .phase.Failed'));
  const okColour = await colour(page.locator('#analysis .run-group').nth(1).locator('.metric .phase.Successful'));
  if (failedColour === okColour) fail('Failed and Successful badges share the colour ' + okColour);
  // Drift, as Argo CD's OutOfSync: Git says 3 while 1 serves, and the Undo button says where it goes.
  if (!aborted3.sync || aborted3.sync.status !== 'OutOfSync') fail('sync after the abort: ' + JSON.stringify(aborted3.sync));
  const syncBanner = page.locator('#sync-banner');
  await syncBanner.waitFor({ state: 'visible' });
  const syncText = await syncBanner.innerText();
  for (const want of ['OutOfSync', 'Git says 3', 'running 1']) {
    if (!syncText.includes(want)) fail('the sync banner lacks "' + want + '": ' + syncText);
  }
  const undoText = await page.locator('#btn-undo').innerText();
  if (!undoText.includes('revision 1') || !(await page.locator('#btn-undo').isEnabled())) {
    fail('the Undo button does not say it goes to revision 1: ' + undoText);
  }
  // The instance tree: every instance of the serving revision, by id.
  await page.locator('#instances-section').waitFor({ state: 'visible' });
  const stableIds = (aborted3.instances || []).filter((i) => i.revision === 1).map((i) => i.id);
  if (stableIds.length !== 2) fail('expected 2 instances of revision 1: ' + JSON.stringify(aborted3.instances));
  const instancesText = await page.locator('#instances').innerText();
  for (const id of stableIds) {
    if (!instancesText.includes(id)) fail('the instance tree lacks ' + id + ': ' + instancesText);
  }
  // The webhook's gate and its call, with the answer, as a person reads them.
  await page.locator('[data-testid="webhooks"]').waitFor({ state: 'visible' });
  await page.locator('#webhook-calls tbody tr', { hasText: 'HTTP 503' }).waitFor();
  const hookText = await page.locator('[data-testid="webhooks"]').innerText();
  for (const want of ['report', 'post-rollout', 'HTTP 503', 'read-only', ' ms']) {
    if (!hookText.includes(want)) fail('the webhook section lacks "' + want + '": ' + hookText);
  }
  if (hookText.includes('s3cret-token')) fail('the dashboard shows the webhook URL\'s token');
  receiver.close();
  const shotAbort = join(artifactDir, 'dashboard-abort.png');
  await page.screenshot({ path: shotAbort, fullPage: true });

  // 4. An invalid commit at the head of the branch: a banner with the file and line.
  writeFileSync(join(repo, 'svc.yaml'), readFileSync(join(repo, 'svc.yaml'), 'utf8')
    .replace('replicas: 2', 'replicas: 2\n  replicaz: 3'));
  git(repo, 'commit', '-q', '-am', 'svc: a typo');
  await api(url, '/sync', 'POST');
  let source = null;
  for (let i = 0; i < 100 && !(source && source.error); ++i) {
    source = (await api(url, '/source')).body;
    if (!(source && source.error)) await sleep(100);
  }
  if (!(source && source.error && source.error.file)) fail('the server did not refuse the typo: ' + JSON.stringify(source));
  const location = source.error.file + ':' + source.error.line;
  const banner = page.locator('[data-testid="source-error"]');
  await banner.waitFor({ state: 'visible' });
  const bannerText = await banner.innerText();
  if (!bannerText.includes(location) || !bannerText.includes(source.error.commit.slice(0, 8))) {
    fail('the source banner does not name ' + location + ' and the commit: ' + bannerText);
  }
  const where = await page.locator('[data-testid="source-error-location"]').innerText();
  if (!where.startsWith(location) || bannerText.split(source.error.file).length !== 2) {
    fail('the banner should name the place once, as ' + location + ': ' + bannerText);
  }
  if (!(await page.evaluate(() => window.sluiceNoReload === true))) fail('the page was reloaded');
  const shotSource = join(artifactDir, 'dashboard-source-error.png');
  await page.screenshot({ path: shotSource });
  console.log('dashboard test passed; screenshots in ' + [shot, shotAbort, shotSource].join(', '));
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
