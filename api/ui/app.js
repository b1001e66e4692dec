// Sluice dashboard: plain ES2020, no build step. Served from /ui/ by the API server.
// Reads /api/v1/*, follows live events over SSE, and sends verbs with the token kept in
// sessionStorage (asked for when a call answers 401).
'use strict';

const API = '/api/v1';
const state = { selected: null, rollouts: [], token: sessionStorage.getItem('sluiceToken') || '',
                stream: null, refreshTimer: null, settleTimer: null };
const $ = (id) => document.getElementById(id);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') node.className = v; else if (k.startsWith('data-')) node.setAttribute(k, v);
    else node[k] = v;
  }
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
}

function askToken() {
  return new Promise((resolve) => {
    const dialog = $('token-dialog');
    $('token-input').value = '';
    dialog.addEventListener('close', () => {
      const token = $('token-input').value.trim();
      if (token) { state.token = token; sessionStorage.setItem('sluiceToken', token); }
      resolve(Boolean(token));
    }, { once: true });
    dialog.showModal();
  });
}

async function api(path, options = {}, retried = false) {
  const headers = Object.assign({}, options.headers || {});
  if (state.token) headers.Authorization = 'Bearer ' + state.token;
  const res = await fetch(API + path, Object.assign({}, options, { headers }));
  if ((res.status === 401 || res.status === 403) && !retried) {
    if (await askToken()) { restartStream(); return api(path, options, true); }
  }
  let body = null;
  try { body = await res.json(); } catch (_) { body = null; }
  if (!res.ok) throw new Error((body && body.error) || ('HTTP ' + res.status));
  return body;
}

// The revision's instance logs (GET .../logs, text/plain) in a new tab. The link's href is the
// API URL itself (enough without tokens); with a token the text is fetched with it, as every
// other call is, and shown from a blob.
function logsLink(name, revision) {
  const path = '/rollouts/' + encodeURIComponent(name) + '/logs?revision=' + revision;
  const link = el('a', { href: API + path, target: '_blank', rel: 'noopener',
                         'data-testid': 'logs-' + revision }, 'Logs');
  link.addEventListener('click', async (ev) => {
    if (!state.token) return;
    ev.preventDefault();
    const tab = window.open('', '_blank');
    for (let attempt = 0; attempt < 2; attempt++) {
      const res = await fetch(API + path, { headers: { Authorization: 'Bearer ' + state.token } });
      if ((res.status === 401 || res.status === 403) && attempt === 0 && await askToken()) continue;
      const text = await res.text();
      const blob = new Blob([text], { type: 'text/plain; charset=utf-8' });
      if (tab) tab.location = URL.createObjectURL(blob);
      return;
    }
  });
  return link;
}

function short(commit) { return commit ? String(commit).slice(0, 8) : ''; }

// The version that serves: the stable one (a completed update is the stable one), never an
// update in progress or one that was aborted.
function servingVersion(r) {
  if (r.sync && r.sync.runningVersion) return r.sync.runningVersion;
  if (r.stable && r.stable.version) return r.stable.version;
  return '-';
}

function outOfSync(r) { return Boolean(r.sync && r.sync.status === 'OutOfSync'); }

function renderList() {
  const tbody = $('rollouts').querySelector('tbody');
  tbody.replaceChildren();
  for (const r of state.rollouts) {
    const canaryWeight = r.weights ? r.weights.canary : 0;
    const name = el('td', {}, r.name);
    if (outOfSync(r)) name.append(' ', el('span', { class: 'badge OutOfSync', title: r.sync.reason || '' }, 'OutOfSync'));
    const row = el('tr', { class: 'row' + (r.name === state.selected ? ' selected' : ''),
                           'data-testid': 'rollout-row-' + r.name },
      name,
      el('td', {}, el('span', { class: 'phase ' + r.phase }, r.phase + (r.aborted ? ' (aborted)' : ''))),
      el('td', {}, r.strategy || ''),
      el('td', { 'data-testid': 'serving-version', title: 'the version that serves' }, servingVersion(r)),
      el('td', { 'data-testid': 'canary-column' },
         !r.canary ? '-' : r.aborted ? (r.canary.version || '') + ' (aborted)'
                               : (r.canary.version || '') + ' \u00b7 ' + canaryWeight + '%'));
    row.addEventListener('click', () => { location.hash = '#/rollouts/' + encodeURIComponent(r.name); });
    tbody.append(row);
  }
}

// One entry of the rollout's `steps` (spelled as in the manifest) as a short phrase.
function stepText(step) {
  if (step.setWeight !== undefined) return 'set weight ' + step.setWeight + '%';
  if (step.pause !== undefined) {
    return step.pause && step.pause.duration ? 'pause ' + step.pause.duration : 'pause (until promoted)';
  }
  if (step.analysis !== undefined) {
    const names = ((step.analysis && step.analysis.templates) || []).map((t) => t.templateName);
    return 'analysis' + (names.length ? ' ' + names.join(', ') : '');
  }
  if (step.setCanaryScale !== undefined) {
    const c = step.setCanaryScale || {};
    if (c.replicas !== undefined) return 'set canary scale: ' + c.replicas + ' replicas';
    if (c.weight !== undefined) return 'set canary scale: ' + c.weight + '% of replicas';
    return 'set canary scale: match traffic weight';
  }
  if (step.setHeaderRoute !== undefined) {
    const h = step.setHeaderRoute || {};
    const rules = (h.match || []).map((m) => {
      const v = m.headerValue || {};
      return m.headerName + (v.exact !== undefined ? '=' + v.exact
        : v.prefix !== undefined ? ' prefix ' + v.prefix : ' ~ ' + v.regex);
    });
    return 'header route ' + (h.name || '') + (rules.length ? ' (' + rules.join(', ') + ')' : ' (removed)');
  }
  return Object.keys(step).join(', ');
}

// Marks the steps as a person reads them: numbers are 1-based (`currentStepIndex` in the JSON
// is 0-based, as in Argo Rollouts; data-step keeps that index); a finished rollout has no
// current step, and an aborted one shows where it stopped.
function renderSteps(r) {
  const list = $('steps');
  const summary = $('step-summary');
  list.replaceChildren();
  const steps = r.steps || [];
  if (!steps.length) {
    list.append(el('li', { class: 'muted' }, 'no steps (' + (r.strategy || '') + ')'));
    summary.textContent = '';
    return;
  }
  const index = Number(r.currentStepIndex) || 0;
  const inProgress = Boolean(r.canary) && !r.aborted && (r.phase === 'Progressing' || r.phase === 'Paused');
  steps.forEach((step, i) => {
    let cls = '';
    if (inProgress) cls = i < index ? 'done' : i === index ? 'current' : '';
    else if (r.aborted && i === index) cls = 'stopped';
    list.append(el('li', { class: cls, 'data-step': String(i) }, stepText(step)));
  });
  if (inProgress) {
    summary.textContent = index < steps.length ? 'step ' + (index + 1) + ' of ' + steps.length
                                               : 'all ' + steps.length + ' steps done';
  } else if (r.aborted) {
    summary.textContent = 'aborted' + (index < steps.length ? ' at step ' + (index + 1) + ' of ' + steps.length : '');
  } else {
    summary.textContent = 'no update in progress';
  }
}

function renderWeights(r) {
  const w = r.weights || { stable: 100, canary: 0 };
  $('weight-stable').style.width = w.stable + '%';
  $('weight-canary').style.width = w.canary + '%';
  $('weight-bar').dataset.canary = String(w.canary);
  $('weight-text').textContent = 'stable ' + w.stable + '% / canary ' + w.canary + '%';
}

function versionCard(node, title, v) {
  node.replaceChildren();
  if (!v) { node.append(el('div', { class: 'muted' }, title + ': none')); return; }
  node.append(el('strong', {}, title + ' ' + (v.version || '')),
              el('div', { class: 'muted' }, 'revision ' + v.revision),
              el('div', { 'data-testid': title + '-ready' }, 'ready ' + v.ready + ' / ' + v.replicas));
}

// Numbers for people: three significant digits below 100, whole numbers above.
function formatValue(v) {
  if (v === null || v === undefined) return 'no data';
  if (Array.isArray(v)) return '[' + v.map(formatValue).join(', ') + ']';
  const n = Number(v);
  if (typeof v === 'string' && isNaN(n)) return v;
  if (!isFinite(n)) return String(n);
  if (Math.abs(n) >= 100) return String(Math.round(n));
  return String(Number(n.toPrecision(3)));
}

// "2026-12-07T15:20:01.123Z" -> "15:20:01" (UTC), or "15:20:01.123" with `millis` (the
// evidence table, where measurements may be less than a second apart, as the CLI prints them);
// anything else unchanged.
function clockTime(at, millis = false) {
  const m = /T(\d\d:\d\d:\d\d)(\.\d+)?/.exec(at || '');
  if (!m) return at || '';
  return millis && m[2] ? m[1] + m[2] : m[1];
}

function scalarOf(measurement) {
  const v = measurement.value;
  if (Array.isArray(v)) return v.length === 1 && typeof v[0] === 'number' ? v[0] : null;
  return typeof v === 'number' && isFinite(v) ? v : null;
}

// The threshold of a condition that is one comparison of the result with a number
// ("result >= 0.95", "isNaN(result) || result[0] < 500", "0.9 <= result"); null otherwise.
const FLIP = { '<': '>', '>': '<', '<=': '>=', '>=': '<=', '==': '==' };
function parseThreshold(condition) {
  if (!condition || /&&|all\(|any\(|len\(/.test(condition)) return null;
  const num = '(-?\\d+(?:\\.\\d+)?(?:[eE][-+]?\\d+)?)';
  const res = 'result(?:\\[0\\])?';
  const re = new RegExp(res + '\\s*(<=|>=|==|<|>)\\s*' + num + '|' + num + '\\s*(<=|>=|==|<|>)\\s*' + res, 'g');
  const found = [...condition.matchAll(re)];
  const comparisons = (condition.match(/<=|>=|==|!=|<|>/g) || []).length;
  if (found.length !== 1 || comparisons !== 1) return null;
  const m = found[0];
  return m[1] ? { op: m[1], value: Number(m[2]) } : { op: FLIP[m[4]], value: Number(m[3]) };
}

const OP_TEXT = { '>=': '\u2265', '<=': '\u2264', '>': '>', '<': '<', '==': '=' };
const SVG = 'http://www.w3.org/2000/svg';
function svgEl(tag, attrs = {}, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

// The y-range of a chart, the same rule for every metric: ratios (all values and thresholds in
// [0, 1]) on 0..1; other series from 0 (or below it) to round numbers; the thresholds always
// inside the range.
function yRange(numbers) {
  if (!numbers.length) return [0, 1];
  let lo = Math.min(...numbers), hi = Math.max(...numbers);
  if (lo >= 0 && hi <= 1) return [0, 1];
  if (lo >= 0) lo = 0;
  if (hi === lo) hi = lo + 1;
  const pad = (hi - lo) * 0.1;
  return [lo < 0 ? -niceCeil(pad - lo) : lo, niceCeil(hi + pad)];
}

// The next round number at or above n > 0 in steps of half a power of ten (673 -> 700).
function niceCeil(n) {
  if (!(n > 0)) return n;
  const step = Math.pow(10, Math.floor(Math.log10(n))) / 2;
  return Math.ceil(n / step) * step;
}

// A small inline SVG chart of one metric: one dot per measurement in time order, the line
// broken where a measurement has no value (an Error: a grey mark under the axis, never a red
// 0), the success/failure thresholds as dashed lines.
function metricChart(metric) {
  const ms = metric.measurements || [];
  const thresholds = [];
  for (const [kind, cond] of [['success', metric.successCondition], ['failure', metric.failureCondition]]) {
    const t = parseThreshold(cond);
    if (t && isFinite(t.value)) thresholds.push(Object.assign({ kind }, t));
  }
  const values = ms.map(scalarOf);
  const numbers = values.filter((v) => v !== null).concat(thresholds.map((t) => t.value));
  const [lo, hi] = yRange(numbers);
  const W = 260, H = 86, left = 40, right = 8, top = 8, plotBottom = H - 18;
  const x = (i) => left + (ms.length <= 1 ? (W - left - right) / 2 : i * (W - left - right) / (ms.length - 1));
  const y = (v) => plotBottom - (v - lo) * (plotBottom - top) / (hi - lo);
  const svg = svgEl('svg', { width: W, height: H, viewBox: `0 0 ${W} ${H}`, role: 'img',
                             'aria-label': metric.name + ' measurements' });
  svg.append(svgEl('line', { x1: left, y1: top, x2: left, y2: plotBottom, class: 'axis' }),
             svgEl('line', { x1: left, y1: plotBottom, x2: W - right, y2: plotBottom, class: 'axis' }),
             svgEl('text', { x: left - 4, y: top + 4, class: 'tick', 'text-anchor': 'end' }, formatValue(hi)),
             svgEl('text', { x: left - 4, y: plotBottom, class: 'tick', 'text-anchor': 'end' }, formatValue(lo)));
  for (const t of thresholds) {
    const ty = y(t.value);
    svg.append(svgEl('line', { x1: left, y1: ty, x2: W - right, y2: ty, class: 'threshold ' + t.kind,
                               'data-value': String(t.value), 'data-op': t.op }),
               svgEl('text', { x: W - right, y: ty - 2, class: 'threshold-label ' + t.kind, 'text-anchor': 'end' },
                     (t.kind === 'success' ? 'pass ' : 'fail ') + OP_TEXT[t.op] + ' ' + formatValue(t.value)));
  }
  let run = [];
  const flush = () => {
    if (run.length > 1) svg.append(svgEl('polyline', { points: run.join(' '), class: 'series' }));
    run = [];
  };
  ms.forEach((m, i) => {
    const v = values[i];
    if (v === null) { flush(); return; }
    run.push(x(i) + ',' + y(v));
  });
  flush();
  ms.forEach((m, i) => {
    const v = values[i];
    const when = clockTime(m.at);
    if (v === null) {
      const mark = svgEl('circle', { cx: x(i), cy: H - 7, r: 3, class: 'nodata' });
      mark.append(svgEl('title', {}, 'no data at ' + when + (m.message ? ': ' + m.message : '')));
      svg.append(mark);
      return;
    }
    const cls = m.phase === 'Successful' ? 'ok' : m.phase === 'Failed' ? 'bad' : 'other';
    const dot = svgEl('circle', { cx: x(i), cy: y(v), r: 3, class: 'dot ' + cls });
    dot.append(svgEl('title', {}, formatValue(v) + ' ' + m.phase + ' at ' + when));
    svg.append(dot);
  });
  const last = ms.length ? ms[ms.length - 1] : null;
  const conditions = thresholdsText(metric);
  return el('div', { class: 'metric', 'data-metric': metric.name },
            el('div', {}, metric.name + ' ', el('span', { class: 'phase ' + metric.phase }, metric.phase),
               metric.dryRun ? el('span', { class: 'badge dry-run', title: 'measured, never decides' }, 'dry run') : ''),
            conditions ? el('div', { class: 'muted condition' }, conditions) : '',
            svg,
            el('div', { class: 'muted latest' },
               last ? 'latest ' + formatValue(last.value === undefined ? null : last.value) + ' at ' + clockTime(last.at) +
                      ' \u00b7 ' + ms.length + ' measurement' + (ms.length === 1 ? '' : 's')
                    : 'no measurements'));
}

function thresholdsText(metric) {
  const parts = [];
  if (metric.successCondition) parts.push('pass when ' + metric.successCondition);
  if (metric.failureCondition) parts.push('fail when ' + metric.failureCondition);
  return parts.join('; ');
}

// The revision a run judges: the field, or (runs recorded before it existed) the name the
// controller gives it, "<rollout>-r<revision>.a<attempt>.<key>".
function runRevision(run) {
  if (run.revision) return Number(run.revision);
  const m = /-r(\d+)\.a\d+\.[^.]+$/.exec(run.name || '');
  return m ? Number(m[1]) : 0;
}

function renderAnalysis(r, history) {
  const box = $('analysis');
  box.replaceChildren();
  const runs = r.analysisRuns || [];
  if (!runs.length) { box.append(el('p', { class: 'muted' }, 'no analysis runs')); return; }
  const versions = new Map(((history && history.items) || []).map((h) => [Number(h.revision), h.version]));
  const groups = new Map();
  runs.forEach((run, order) => {
    const rev = runRevision(run);
    if (!groups.has(rev)) groups.set(rev, []);
    groups.get(rev).push({ run, order });
  });
  // Newest revision first; within one, the latest run first (the array is oldest first).
  for (const rev of [...groups.keys()].sort((a, b) => b - a)) {
    const group = el('div', { class: 'run-group', 'data-revision': String(rev) },
      el('h4', {}, rev ? 'revision ' + rev + (versions.get(rev) ? ' \u00b7 version ' + versions.get(rev) : '')
                       : 'revision unknown'));
    for (const { run } of groups.get(rev).sort((a, b) => b.order - a.order)) {
      group.append(el('div', { class: 'run', 'data-run': run.name },
        el('strong', {}, run.name + ' '), el('span', { class: 'phase ' + run.phase }, run.phase),
        run.message ? el('div', { class: 'muted' }, run.message) : ''));
      for (const m of run.metrics || []) group.append(metricChart(m));
    }
    box.append(group);
  }
}

// ---- Abort evidence, written for people (cli/evidence_view.cc renders the same for the CLI).

function measurementTable(ms) {
  const shown = ms.slice(-10);
  const table = el('table', { class: 'measurements' },
    el('thead', {}, el('tr', {}, el('th', {}, 'time (UTC)'), el('th', {}, 'value'), el('th', {}, 'result'),
                        el('th', {}, 'note'))));
  const body = el('tbody');
  for (const m of shown) {
    body.append(el('tr', {},
      el('td', { title: m.at || '' }, clockTime(m.at, true)),
      el('td', {}, formatValue(m.value === undefined ? null : m.value)),
      el('td', {}, el('span', { class: 'phase ' + m.phase }, m.phase)),
      el('td', {}, m.message || '')));
  }
  table.append(body);
  const out = el('div', {});
  if (ms.length > shown.length) out.append(el('div', { class: 'muted' }, (ms.length - shown.length) + ' earlier measurements not shown'));
  out.append(table);
  return out;
}

// `said`: what the page already shows (the abort reason); a message repeating it is left out.
function evidenceRun(run, said) {
  const box = el('div', { class: 'evidence-run' },
    el('div', {}, 'Analysis run ', el('strong', {}, run.name || '?'), ' ',
       el('span', { class: 'phase ' + (run.phase || '') }, run.phase || 'unknown')),
    run.message && !said.includes(run.message) ? el('div', {}, run.message) : '');
  for (const m of run.metrics || []) {
    const item = el('div', { class: 'evidence-metric', 'data-testid': 'evidence-metric-' + m.name },
      el('div', {}, 'Metric ', el('strong', {}, m.name), ' ', el('span', { class: 'phase ' + m.phase }, m.phase),
         m.dryRun ? ' (dry run: measured, never decides)' : '',
         thresholdsText(m) ? ' \u2014 ' + thresholdsText(m) : ''));
    if (m.message && !said.includes(m.message) && !(run.message || '').includes(m.message)) {
      item.append(el('div', { class: 'muted' }, m.message));
    }
    const ms = m.measurements || [];
    if (ms.length) {
      item.append(measurementTable(ms));
      const query = ms[ms.length - 1].query;
      if (query) item.append(el('div', { class: 'query' }, 'query: ', el('code', {}, query)));
    }
    box.append(item);
  }
  return box;
}

function exitText(exit) {
  if (!exit) return '';
  if (exit.description) return exit.description;
  const parts = [];
  const code = exit.code !== undefined ? exit.code : exit.exitCode;
  if (code !== null && code !== undefined) parts.push('exit code ' + code);
  if (exit.signal) parts.push('signal ' + exit.signal);
  if (exit.reason) parts.push(exit.reason);
  if (exit.at) parts.push('at ' + clockTime(exit.at));
  return parts.join(', ');
}

function compact(value) {
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return text.length > 300 ? text.slice(0, 297) + '...' : text;
}

function renderEvidence(evidence, said = '') {
  const box = el('div', { class: 'evidence' });
  for (const [key, value] of Object.entries(evidence || {})) {
    if (key === 'analysisRun' && value && typeof value === 'object') {
      box.append(evidenceRun(value, said));
    } else if (key === 'hook' && value && typeof value === 'object') {
      box.append(el('div', { class: 'evidence-hook' }, 'Hook ', el('strong', {}, value.key || '?'),
        ' ' + (value.ok === false ? 'failed' : 'ran') + (value.results !== undefined ? ': ' + compact(value.results) : '')));
    } else if (key === 'webhook' && value && typeof value === 'object') {
      const table = el('table', { class: 'evidence-webhook' });
      for (const c of (value.calls || [])) table.append(webhookCallRow(c));
      box.append(el('div', {}, 'Webhook ', el('strong', {}, value.name || '?'), ':'), table);
    } else if (key === 'instances' && Array.isArray(value)) {
      const list = el('ul', { class: 'evidence-instances' });
      for (const i of value) {
        if (typeof i !== 'object' || i === null) { list.append(el('li', {}, 'instance ' + i)); continue; }
        const parts = [i.ready ? 'ready' : 'not ready'];
        if (i.restarts !== undefined) parts.push(i.restarts + ' restart' + (i.restarts === 1 ? '' : 's'));
        if (i.crashLoop) parts.push('crash loop');
        if (i.lastExit) parts.push('last exit: ' + exitText(i.lastExit));
        if (i.lastError) parts.push(i.lastError);
        list.append(el('li', {}, 'instance ', el('strong', {}, i.id || '?'), ': ' + parts.join(', ')));
      }
      box.append(el('div', {}, 'Instances of the revision:'), list);
    } else if (key === 'probeResourceErrors' && Array.isArray(value)) {
      for (const p of value) {
        box.append(el('div', {}, 'Probe of instance ', el('strong', {}, p.instance || '?'),
                      ' could not be made ' + p.errors + ' time(s): ' + (p.last || '')));
      }
    } else {
      box.append(el('div', {}, key + ': ' + compact(value)));
    }
  }
  return box;
}

// Gate webhooks (spec.webhooks): each one's gate for the current attempt, and every call with
// its answer, newest first.
function webhookCallRow(c) {
  const answer = c.status ? 'HTTP ' + c.status : 'no answer: ' + (c.error || '');
  return el('tr', { class: c.ok ? 'ok' : 'failed' }, el('td', {}, clockTime(c.at, true)),
            el('td', {}, c.name + ' (' + c.type + ')'), el('td', {}, String(c.revision)),
            el('td', {}, answer), el('td', {}, c.durationMs + ' ms'), el('td', {}, compact(c.body || '')));
}

function renderWebhooks(r) {
  const hooks = r.webhooks || [];
  $('webhooks-section').hidden = hooks.length === 0;
  const gates = $('webhooks').querySelector('tbody');
  gates.replaceChildren();
  for (const h of hooks) {
    const g = h.gate;
    const text = g ? g.calls + ' call(s), ' + g.failed + ' failed' + (g.pending ? ', calling' : '') +
                     (g.last ? '; last: ' + g.last : '') : '-';
    gates.append(el('tr', {}, el('td', {}, h.name), el('td', {}, h.type), el('td', {}, text)));
  }
  const calls = $('webhook-calls').querySelector('tbody');
  calls.replaceChildren();
  for (const c of (r.webhookCalls || []).slice().reverse()) calls.append(webhookCallRow(c));
}

// The event that carries the abort's evidence: the latest one with evidence for the revision
// being updated (else the latest with any).
function abortEvidenceEvent(r, events) {
  const items = ((events && events.items) || []).filter((e) => e.evidence && Object.keys(e.evidence).length);
  const rev = r.desired && r.desired.revision;
  return items.filter((e) => e.revision === rev).pop() || items.pop() || null;
}

function renderAbort(r, events) {
  const abort = $('abort');
  abort.hidden = !r.aborted;
  if (!r.aborted) return;
  $('abort-reason').textContent = r.message || '';
  const event = abortEvidenceEvent(r, events);
  const box = $('abort-evidence');
  box.replaceChildren();
  $('abort-raw').hidden = !event;
  if (!event) { $('abort-raw-json').textContent = ''; return; }
  box.append(el('div', { class: 'muted' }, event.reason + ' at ' + clockTime(event.time) + ' UTC' +
                (event.actor ? ' by ' + event.actor : '')),
             renderEvidence(event.evidence, r.message || ''));
  $('abort-raw-json').textContent = JSON.stringify(event.evidence, null, 2);
}

// ---- Fields other parts of issue 20 add to the rollout object; each is drawn only when present.

function renderSync(r) {
  const banner = $('sync-banner');
  banner.hidden = !outOfSync(r);
  if (!outOfSync(r)) return;
  const s = r.sync;
  const side = (version, revision) => (version || '?') + (revision ? ' (' + short(revision) + ')' : '');
  banner.replaceChildren(el('strong', {}, 'OutOfSync: '),
    'Git says ' + side(s.gitVersion, s.gitRevision) + ', running ' + side(s.runningVersion, s.runningRevision) +
    (s.reason ? '. ' + s.reason : ''));
}

function age(since) {
  const t = Date.parse(since || '');
  if (isNaN(t)) return '-';
  const s = Math.max(0, Math.round((Date.now() - t) / 1000));
  if (s < 60) return s + 's';
  if (s < 3600) return Math.floor(s / 60) + 'm' + (s % 60 ? (s % 60) + 's' : '');
  if (s < 86400) return Math.floor(s / 3600) + 'h' + Math.floor((s % 3600) / 60) + 'm';
  return Math.floor(s / 86400) + 'd' + Math.floor((s % 86400) / 3600) + 'h';
}

function renderInstances(r) {
  const section = $('instances-section');
  section.hidden = !Array.isArray(r.instances);
  if (!Array.isArray(r.instances)) return;
  const box = $('instances');
  box.replaceChildren();
  if (!r.instances.length) { box.append(el('p', { class: 'muted' }, 'no instances')); return; }
  const byRevision = new Map();
  for (const i of r.instances) {
    const rev = Number(i.revision) || 0;
    if (!byRevision.has(rev)) byRevision.set(rev, []);
    byRevision.get(rev).push(i);
  }
  for (const rev of [...byRevision.keys()].sort((a, b) => b - a)) {
    const list = byRevision.get(rev);
    const roles = [...new Set(list.map((i) => i.role).filter(Boolean))];
    const table = el('table', { class: 'instances' },
      el('thead', {}, el('tr', {}, ...['instance', 'ready', 'age', 'restarts', 'last exit', 'last error']
        .map((h) => el('th', {}, h)))));
    const body = el('tbody');
    for (const i of list) {
      const ready = i.terminating ? 'terminating' : i.ready ? '\u2714 ready' : '\u2716 not ready';
      body.append(el('tr', { 'data-instance': i.id || '' },
        el('td', {}, i.id || '?'),
        el('td', { class: i.ready && !i.terminating ? 'ok' : 'bad' }, ready),
        el('td', { title: i.startedAt || '' }, age(i.startedAt)),
        el('td', {}, String(i.restarts === undefined ? '-' : i.restarts),
           i.crashLoop ? el('span', { class: 'badge crash' }, 'crash loop') : ''),
        el('td', {}, exitText(i.lastExit) || '-'),
        el('td', {}, i.lastError || '')));
    }
    table.append(body);
    box.append(el('div', { class: 'instance-group', 'data-revision': String(rev) },
      el('h4', {}, 'revision ' + rev + (list[0].version ? ' \u00b7 version ' + list[0].version : '') +
                   (roles.length ? ' \u00b7 ' + roles.join(', ') : '')), table));
  }
}

function renderUndo(r) {
  const button = $('btn-undo');
  if (r.undo) {
    const where = 'revision ' + r.undo.toRevision + (r.undo.version ? ' (' + r.undo.version + ')' : '');
    button.textContent = 'Undo to ' + where;
    button.dataset.confirm = 'Undo ' + r.name + ' to ' + where + '?';
    button.disabled = false;
    button.title = '';
  } else if ('undo' in r) {
    button.textContent = 'Undo';
    delete button.dataset.confirm;
    button.disabled = true;
    button.title = 'no earlier revision to go back to';
  } else {
    button.textContent = 'Undo';
    delete button.dataset.confirm;
    button.disabled = false;
    button.title = 'goes back to the previous revision';
  }
}

async function renderDetail() {
  const name = state.selected;
  if (!name) { $('detail').hidden = true; return; }
  let r, history, events;
  try {
    [r, history, events] = await Promise.all([
      api('/rollouts/' + encodeURIComponent(name)),
      api('/rollouts/' + encodeURIComponent(name) + '/history'),
      api('/rollouts/' + encodeURIComponent(name) + '/events')]);
  } catch (e) { $('action-result').textContent = e.message; return; }
  $('detail').hidden = false;
  $('detail-name').textContent = r.name;
  const phase = $('detail-phase');
  phase.textContent = r.phase + (r.aborted ? ' (aborted)' : '');
  phase.className = 'phase ' + r.phase;
  $('detail-message').textContent = r.message || '';
  renderSync(r);
  renderAbort(r, events);
  renderWeights(r);
  versionCard($('stable-card'), 'stable', r.stable);
  versionCard($('canary-card'), 'canary', r.canary);
  renderSteps(r);
  renderInstances(r);
  renderAnalysis(r, history);
  renderWebhooks(r);
  renderUndo(r);
  const tbody = $('history').querySelector('tbody');
  tbody.replaceChildren();
  // Newest first, as the API lists them (and as `kubectl argo rollouts get` does).
  for (const h of ((history && history.items) || [])) {
    tbody.append(el('tr', {}, el('td', {}, h.revision), el('td', {}, h.version || ''),
                    el('td', { title: h.commit || '' }, short(h.commit)), el('td', {}, h.result || ''),
                    el('td', {}, h.reason || ''), el('td', {}, logsLink(r.name, h.revision))));
  }
  const active = r.phase === 'Progressing' || r.phase === 'Paused';
  $('btn-promote').disabled = !active;
  $('btn-promote-full').disabled = !active;
  $('btn-abort').disabled = !active;
  $('btn-pause').disabled = r.phase !== 'Progressing';
  $('btn-resume').disabled = r.phase !== 'Paused';
  $('btn-retry').disabled = !r.aborted;
}

async function refresh() {
  try {
    const list = await api('/rollouts');
    state.rollouts = list.items || [];
    $('list-error').hidden = true;
  } catch (e) {
    $('list-error').hidden = false;
    $('list-error').textContent = e.message;
  }
  renderList();
  await Promise.all([renderDetail(), loadSource()]);
}

// An event can reach the stream before the read models that reflect it are published, so the
// refresh it triggers may read the state just before it; one more refresh a second after the
// last event settles the page on the final state even when no further event comes.
function scheduleRefresh() {
  clearTimeout(state.settleTimer);
  state.settleTimer = setTimeout(refresh, 1000);
  if (state.refreshTimer) return;
  state.refreshTimer = setTimeout(() => { state.refreshTimer = null; refresh(); }, 150);
}

async function sendVerb(button) {
  const verb = button.dataset.verb;
  const query = button.dataset.query ? '?' + button.dataset.query : '';
  if (verb === 'abort' && !confirm('Abort ' + state.selected + '? All traffic goes back to stable.')) return;
  if (button.dataset.confirm && !confirm(button.dataset.confirm)) return;
  $('action-result').textContent = verb + '…';
  try {
    await api('/rollouts/' + encodeURIComponent(state.selected) + '/' + verb + query, { method: 'POST' });
    // Timed, so a later change never reads as this verb's outcome.
    $('action-result').textContent = verb + ': accepted at ' + new Date().toLocaleTimeString();
  } catch (e) {
    $('action-result').textContent = verb + ': ' + e.message;
  }
  await refresh();
}

// Live updates. EventSource cannot send an Authorization header, so with a token the same SSE
// stream is read through fetch(); without one, the browser's EventSource does the work
// (including Last-Event-ID on reconnect).
function restartStream() {
  if (state.stream) state.stream.close();
  state.stream = state.token ? fetchStream() : eventSourceStream();
}

function setLive(on) {
  $('live').className = 'live' + (on ? ' on' : '');
  $('live').textContent = on ? '\u25cf live' : '\u25cf reconnecting';
}

function eventSourceStream() {
  const es = new EventSource(API + '/rollouts?watch=1');
  es.onopen = () => setLive(true);
  es.onmessage = () => scheduleRefresh();
  es.onerror = () => setLive(false);
  return { close: () => es.close() };
}

function fetchStream() {
  const controller = new AbortController();
  let lastId = '';
  (async function loop() {
    while (!controller.signal.aborted) {
      try {
        const headers = { Authorization: 'Bearer ' + state.token };
        if (lastId) headers['Last-Event-ID'] = lastId;
        const res = await fetch(API + '/rollouts?watch=1', { headers, signal: controller.signal });
        if (!res.ok) throw new Error('HTTP ' + res.status);
        setLive(true);
        const reader = res.body.getReader();
        const decoder = new TextDecoder();
        let buffer = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += decoder.decode(value, { stream: true });
          let end;
          while ((end = buffer.indexOf('\n\n')) >= 0) {
            const frame = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            for (const line of frame.split('\n')) if (line.startsWith('id: ')) lastId = line.slice(4);
            if (frame.split('\n').some((l) => l.startsWith('data: '))) scheduleRefresh();
          }
        }
      } catch (_) { /* reconnect below */ }
      setLive(false);
      await new Promise((r) => setTimeout(r, 2000));
    }
  })();
  return { close: () => controller.abort() };
}

function route() {
  const m = location.hash.match(/^#\/rollouts\/(.+)$/);
  state.selected = m ? decodeURIComponent(m[1]) : null;
  refresh();
}

// Splits a message that starts with its own "file:line[:column]: " (the loader's errors do) into
// that location and the rest, so the banner says the place once, with the column when given.
function splitLocation(message, file, line) {
  const m = /^([^:\s]+):(\d+)(?::(\d+))?:\s*/.exec(message);
  if (!m || m[1] !== file || (line && Number(m[2]) !== Number(line))) return { where: null, text: message };
  return { where: m[1] + ':' + m[2] + (m[3] ? ':' + m[3] : ''), text: message.slice(m[0].length) };
}

// The source line in the header, and a banner when the commit at the head of the branch was
// refused (GET /api/v1/source `error: {commit, message, file, line}`).
async function loadSource() {
  let s;
  try { s = await api('/source'); } catch (_) { return; /* shown by the list */ }
  $('source').textContent = (s.repo || '') + ' @ ' + (s.branch || '') + ' ' + short(s.commit);
  const banner = $('source-error');
  banner.hidden = !s.error;
  if (!s.error) return;
  const e = s.error;
  const split = splitLocation(e.message || '', e.file, e.line);
  const where = split.where || (e.file ? e.file + (e.line ? ':' + e.line : '') : '');
  banner.replaceChildren(
    el('strong', {}, 'Commit ' + (short(e.commit) || '?') + ' at the head of ' + (s.branch || 'the branch') +
                     ' was not applied: '),
    where ? el('code', { 'data-testid': 'source-error-location' }, where) : '',
    where ? ': ' : '', split.text);
}

document.querySelectorAll('.actions button').forEach((b) => b.addEventListener('click', () => sendVerb(b)));
window.addEventListener('hashchange', route);
route();
restartStream();
// A refused commit changes no rollout, so no event announces it: the source is also polled.
setInterval(loadSource, 5000);
