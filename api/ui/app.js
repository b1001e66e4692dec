// Sluice dashboard: plain ES2020, no build step. Served from /ui/ by the API server.
// Reads /api/v1/*, follows live events over SSE, and sends verbs with the token kept in
// sessionStorage (asked for when a call answers 401).
'use strict';

const API = '/api/v1';
const state = { selected: null, rollouts: [], token: sessionStorage.getItem('sluiceToken') || '',
                stream: null, refreshTimer: null };
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

function renderList() {
  const tbody = $('rollouts').querySelector('tbody');
  tbody.replaceChildren();
  for (const r of state.rollouts) {
    const canaryWeight = r.weights ? r.weights.canary : 0;
    const row = el('tr', { class: 'row' + (r.name === state.selected ? ' selected' : ''),
                           'data-testid': 'rollout-row-' + r.name },
      el('td', {}, r.name),
      el('td', {}, el('span', { class: 'phase ' + r.phase }, r.phase)),
      el('td', {}, r.strategy || ''),
      el('td', {}, (r.desired && r.desired.version) || ''),
      el('td', {}, r.canary ? canaryWeight + '%' : '-'));
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

function renderSteps(r) {
  const list = $('steps');
  list.replaceChildren();
  const steps = r.steps || [];
  if (!steps.length) { list.append(el('li', { class: 'muted' }, 'no steps (' + (r.strategy || '') + ')')); return; }
  steps.forEach((step, i) => {
    const cls = i < r.currentStepIndex ? 'done' : i === r.currentStepIndex ? 'current' : '';
    list.append(el('li', { class: cls, 'data-step': String(i) }, stepText(step)));
  });
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

// A small inline SVG line chart of one metric's measurements.
function metricChart(metric) {
  const values = (metric.measurements || []).map((m) => Number(m.value)).filter((v) => !isNaN(v));
  const W = 220, H = 60, pad = 6;
  const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
  svg.setAttribute('width', W); svg.setAttribute('height', H);
  svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
  if (values.length) {
    const min = Math.min(...values), max = Math.max(...values);
    const span = max - min || 1;
    const pts = values.map((v, i) => {
      const x = pad + (values.length === 1 ? 0 : i * (W - 2 * pad) / (values.length - 1));
      const y = H - pad - (v - min) * (H - 2 * pad) / span;
      return [x, y];
    });
    const line = document.createElementNS(svg.namespaceURI, 'polyline');
    line.setAttribute('points', pts.map((p) => p.join(',')).join(' '));
    line.setAttribute('fill', 'none'); line.setAttribute('stroke', '#3b6fd8'); line.setAttribute('stroke-width', '2');
    svg.append(line);
    (metric.measurements || []).forEach((m, i) => {
      if (!pts[i]) return;
      const dot = document.createElementNS(svg.namespaceURI, 'circle');
      dot.setAttribute('cx', pts[i][0]); dot.setAttribute('cy', pts[i][1]); dot.setAttribute('r', '3');
      dot.setAttribute('fill', m.phase === 'Successful' ? '#2f9e58' : '#d2423a');
      const t = document.createElementNS(svg.namespaceURI, 'title');
      t.textContent = m.value + ' (' + m.phase + ') ' + (m.at || '');
      dot.append(t); svg.append(dot);
    });
  }
  return el('div', { class: 'metric' },
            el('div', {}, metric.name + ' ', el('span', { class: 'phase ' + metric.phase }, metric.phase)),
            svg,
            el('div', { class: 'muted' }, values.length ? 'latest ' + values[values.length - 1] : 'no measurements'));
}

function renderAnalysis(r) {
  const box = $('analysis');
  box.replaceChildren();
  const runs = r.analysisRuns || [];
  if (!runs.length) { box.append(el('p', { class: 'muted' }, 'no analysis runs')); return; }
  for (const run of runs) {
    box.append(el('div', {}, el('strong', {}, run.name + ' '), el('span', { class: 'phase ' + run.phase }, run.phase)));
    for (const m of run.metrics || []) box.append(metricChart(m));
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
  const abort = $('abort');
  abort.hidden = !r.aborted;
  if (r.aborted) {
    $('abort-reason').textContent = r.message || '';
    const items = (events && events.items) || [];
    const withEvidence = items.filter((e) => e.evidence && Object.keys(e.evidence).length).pop();
    $('abort-evidence').textContent = withEvidence ? JSON.stringify(withEvidence.evidence, null, 2) : '';
  }
  renderWeights(r);
  versionCard($('stable-card'), 'stable', r.stable);
  versionCard($('canary-card'), 'canary', r.canary);
  renderSteps(r);
  renderAnalysis(r);
  const tbody = $('history').querySelector('tbody');
  tbody.replaceChildren();
  for (const h of ((history && history.items) || []).slice().reverse()) {
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
  await renderDetail();
}

function scheduleRefresh() {
  if (state.refreshTimer) return;
  state.refreshTimer = setTimeout(() => { state.refreshTimer = null; refresh(); }, 150);
}

async function sendVerb(button) {
  const verb = button.dataset.verb;
  const query = button.dataset.query ? '?' + button.dataset.query : '';
  if (verb === 'abort' && !confirm('Abort ' + state.selected + '? All traffic goes back to stable.')) return;
  $('action-result').textContent = verb + '…';
  try {
    await api('/rollouts/' + encodeURIComponent(state.selected) + '/' + verb + query, { method: 'POST' });
    $('action-result').textContent = verb + ': done';
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

async function loadSource() {
  try {
    const s = await api('/source');
    $('source').textContent = (s.repo || '') + ' @ ' + (s.branch || '') + ' ' + short(s.commit) +
      (s.error ? '  (error: ' + s.error.message + ')' : '');
  } catch (_) { /* shown by the list */ }
}

document.querySelectorAll('.actions button').forEach((b) => b.addEventListener('click', () => sendVerb(b)));
window.addEventListener('hashchange', route);
route();
loadSource();
restartStream();
