// orderflow board: the browser side of the live operations board.
//
// Plain ES2020, no framework, no build step. The HTTP contract is shared with the Go side
// (pipelines/board). Two rules hold throughout this file:
//   - server data never goes through innerHTML: every value is set with textContent or as an
//     attribute of a node built here (customer ids, SKUs and reasons come from users);
//   - every request sends "Authorization: Bearer <token>" when a token is set (see api()).
'use strict';

const TOKEN_KEY = 'orderflow.board.token';
const REFRESH_MS = 2000;        // panels poll every 2 s
const RECONNECT_MS = 2000;      // the stream reconnects 2 s after an error or its end
const STREAM_IDLE_MS = 45000;   // the server pings every 15 s: 45 s of silence means a dead stream
const RECENT_MAX = 20;          // rows kept in #recent
const CHART_WINDOW_MS = 10 * 60 * 1000;
const OPS_PANELS = ['flow', 'returns', 'health', 'inventory'];

const state = {
  session: 0,          // bumped on every login/logout: late answers of an old session are dropped
  scopes: [],
  recent: [],          // orders shown in #recent, newest first
  streamBuffer: null,  // stream events received while /ops/summary is in flight
  streamAbort: null,   // AbortController of the open stream
  pollTimer: 0,
  shownOrderId: '',    // the order shown in #order
  searchSeq: 0,        // drops answers of a search the user has since replaced
  messageSource: '',   // who wrote #message (see showMessage)
};

// ---------------------------------------------------------------------------------------------
// DOM helpers

const $ = (selector, root = document) => root.querySelector(selector);

/** el builds an element: props are assigned (className, textContent, title, onclick...), except
 *  `dataset` and `attrs`, copied key by key; children are nodes or strings (added as text). */
function el(tag, props = {}, children = []) {
  const node = document.createElement(tag);
  const { dataset, attrs, ...rest } = props;
  Object.assign(node, rest);
  Object.entries(dataset || {}).forEach(([k, v]) => { node.dataset[k] = v; });
  Object.entries(attrs || {}).forEach(([k, v]) => node.setAttribute(k, v));
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}

function svgEl(tag, attrs = {}) {
  const node = document.createElementNS('http://www.w3.org/2000/svg', tag);
  Object.entries(attrs).forEach(([k, v]) => node.setAttribute(k, String(v)));
  return node;
}

/** setCells makes tr's cells match specs: a spec is a string or a Node (the cell's content),
 *  or {content, className, title}. A cell already holding exactly that node is left alone,
 *  so a (focused) replay button survives the 2 s refresh. */
function setCells(tr, specs) {
  while (tr.cells.length > specs.length) tr.deleteCell(-1);
  specs.forEach((spec, i) => {
    const s = (spec && typeof spec === 'object' && !(spec instanceof Node)) ? spec : { content: spec };
    const td = tr.cells[i] || tr.insertCell(-1);
    td.className = s.className || '';
    td.title = s.title || '';
    const content = s.content ?? '';
    if (content instanceof Node) {
      if (td.childNodes.length !== 1 || td.firstChild !== content) td.replaceChildren(content);
    } else if (td.textContent !== String(content) || td.children.length) {
      td.textContent = String(content);
    }
  });
}

/** syncRows makes tbody hold one row per item, in order, reusing the row of the same key
 *  (tr.dataset[keyName], e.g. data-order-id) so rows are updated in place, not rebuilt. */
function syncRows(tbody, items, keyName, keyOf, fill) {
  const old = new Map(Array.from(tbody.rows, (tr) => [tr.dataset[keyName], tr]));
  items.forEach((item, i) => {
    const key = String(keyOf(item));
    let tr = old.get(key);
    old.delete(key);
    if (!tr) {
      tr = document.createElement('tr');
      tr.dataset[keyName] = key;
    }
    fill(tr, item);
    if (tbody.rows[i] !== tr) tbody.insertBefore(tr, tbody.rows[i] || null);
  });
  old.forEach((tr) => tr.remove());
}

/** showEmpty toggles the "nothing here" paragraph of a panel part. */
function showEmpty(container, isEmpty) {
  const p = $('.empty', container);
  if (p) p.hidden = !isEmpty;
}

// ---------------------------------------------------------------------------------------------
// Formatting

const pad = (n, w = 2) => String(n).padStart(w, '0');

/** fmtTime renders an RFC 3339 time in local time: HH:MM:SS, with mode 'ms' HH:MM:SS.mmm,
 *  with mode 'date' YYYY-MM-DD HH:MM:SS. */
function fmtTime(iso, mode = '') {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  const hms = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  if (mode === 'ms') return `${hms}.${pad(d.getMilliseconds(), 3)}`;
  if (mode === 'date') return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${hms}`;
  return hms;
}

/** fmtRelative says how far a time is from now: "in 4m 10s" or "12s ago". */
function fmtRelative(iso) {
  const ms = new Date(iso).getTime() - Date.now();
  if (Number.isNaN(ms)) return String(iso);
  return ms >= 0 ? `in ${fmtDuration(ms / 1000)}` : `${fmtDuration(-ms / 1000)} ago`;
}

function fmtDuration(seconds) {
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
}

function fmtMoney(minor, currency) {
  if (typeof minor !== 'number') return '—';
  const abs = Math.abs(minor);
  return `${minor < 0 ? '-' : ''}${Math.floor(abs / 100)}.${pad(abs % 100)}${currency ? ` ${currency}` : ''}`;
}

function fmtBytes(n) {
  if (typeof n !== 'number') return '—';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  const u = Math.min(units.length - 1, n > 0 ? Math.floor(Math.log2(n) / 10) : 0);
  return `${u === 0 ? n : (n / 1024 ** u).toFixed(1)} ${units[u]}`;
}

/** statusTone: green for a good end, red for a bad one, amber for anything still in flight. */
function statusTone(status) {
  if (status === 'SHIPPED' || status === 'COMPLETED') return 'ok';
  if (status === 'CANCELLED' || status === 'REJECTED' || status === 'EXPIRED') return 'bad';
  return 'wait';
}

const badgeFor = (text, tone, extra = '') =>
  el('span', { className: `badge tone-${tone} ${extra}`.trim(), textContent: text });
const badge = (status, extra = '') => badgeFor(status || '?', statusTone(status), extra);
const mono = (text) => el('code', { textContent: String(text ?? '') });

// ---------------------------------------------------------------------------------------------
// Messages: errors (and replay results) go to #message, never to alert().

/** showMessage shows text in #message; source names who said it, so that a refresher can
 *  clear its own error once it works again without hiding somebody else's. */
function showMessage(text, kind = 'error', source = '') {
  const box = $('#message');
  Object.assign(box, { textContent: text, className: kind, hidden: false });
  state.messageSource = source;
}

function clearMessage(source = '') {
  if (source && state.messageSource !== source) return;
  Object.assign($('#message'), { textContent: '', hidden: true });
  state.messageSource = '';
}

// ---------------------------------------------------------------------------------------------
// Token and API

const getToken = () => sessionStorage.getItem(TOKEN_KEY) || '';
const setToken = (token) => (token ? sessionStorage.setItem(TOKEN_KEY, token) : sessionStorage.removeItem(TOKEN_KEY));

function authHeaders(extra = {}) {
  const token = getToken();
  return token ? { ...extra, Authorization: `Bearer ${token}` } : { ...extra };
}

class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

/** api fetches a JSON endpoint with the token. A non-2xx answer throws an ApiError carrying the
 *  server's {"error"} text; a 401 also sends the user back to the login form. */
async function api(path, { method = 'GET', body } = {}) {
  const session = state.session;
  const init = { method, headers: authHeaders({ Accept: 'application/json' }) };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const res = await fetch(path, init).catch((err) => {
    throw new ApiError(0, `cannot reach the server (${err.message})`);
  });
  const data = await res.json().catch(() => null);
  if (res.status === 401 && session === state.session) requireLogin();
  if (!res.ok) {
    const text = data && typeof data.error === 'string' ? data.error : `${res.status} ${res.statusText}`;
    throw new ApiError(res.status, data && data.request_id ? `${text} (request ${data.request_id})` : text);
  }
  return data;
}

// ---------------------------------------------------------------------------------------------
// Session: GET /whoami decides what the page shows.

const isOperations = () => state.scopes.includes('operations');

/** startSession asks /whoami what the token (or no token) may do, then starts the panels:
 *  operations get polling and the stream, a customer gets the scope notes and the search. */
async function startSession() {
  stopSession();
  const session = state.session;
  let who;
  try {
    who = (await api('/whoami')) || {};
  } catch (err) {
    if (err.status !== 401 && session === state.session) showLogin(`cannot log in: ${err.message}`);
    return;
  }
  if (session !== state.session) return;
  state.scopes = Array.isArray(who.scopes) ? who.scopes : [];
  showBoard(who);
  OPS_PANELS.forEach((id) => setPanelAllowed(id, isOperations()));
  if (isOperations()) {
    pollPanels(session);
    runStream(session);
  }
}

/** stopSession ends polling and the stream and forgets what the last session showed. */
function stopSession() {
  state.session += 1;
  clearTimeout(state.pollTimer);
  if (state.streamAbort) state.streamAbort.abort();
  Object.assign(state, { streamAbort: null, streamBuffer: null, scopes: [], recent: [], shownOrderId: '' });
  ['#recent', '#returns-rows', '#lag-rows', '#versions', '#skus', '#dead-letters tbody',
    '#counts', '#order', '#lag-chart', '#lag-legend', '#health-unavailable'].forEach((sel) => $(sel).replaceChildren());
  $('#refreshed').textContent = '';
  setStreamState('');
}

/** requireLogin is where any 401 leads: back to the login form with a message. */
function requireLogin() {
  const hadToken = Boolean(getToken());
  stopSession();
  showLogin(hadToken ? 'the token was refused (invalid or expired): log in again'
    : 'this server needs a token: log in');
}

function showLogin(text) {
  ['#board', '#logout', '#identity'].forEach((sel) => { $(sel).hidden = true; });
  $('#login').hidden = false;
  $('#token').value = '';
  $('#token').focus();
  if (text) showMessage(text, 'error', 'login');
}

function showBoard(who) {
  clearMessage('login');
  $('#login').hidden = true;
  ['#board', '#logout', '#identity'].forEach((sel) => { $(sel).hidden = false; });
  Object.assign($('#identity'), {
    textContent: isOperations() ? 'operations' : `customer${who.customer ? ` ${who.customer}` : ''}`,
    className: `pill ${isOperations() ? 'tone-ok' : 'tone-wait'}`,
  });
}

function onLoginSubmit(event) {
  event.preventDefault();
  setToken($('#token').value.trim());
  startSession();
}

function onLogout() {
  setToken('');
  stopSession();
  showLogin('');
  showMessage('logged out', 'info', 'login');
}

// ---------------------------------------------------------------------------------------------
// Panels: poll every 2 s; a 403 replaces a panel's data with "needs the operations scope".

/** setPanelAllowed shows a panel's data, or its scope note when the token may not see it
 *  (in #flow the search form stays: a customer may search its own orders). */
function setPanelAllowed(panelId, allowed) {
  const panel = document.getElementById(panelId);
  $('.scope-note', panel).hidden = allowed;
  $('.ops-body', panel).hidden = !allowed;
  panel.classList.toggle('denied', !allowed);
}

/** refreshPanel fetches one panel's endpoint and renders it, unless the session changed. */
async function refreshPanel(session, panelId, path, render) {
  try {
    const data = await api(path);
    if (session !== state.session) return;
    setPanelAllowed(panelId, true);
    render(data || {});
    clearMessage(panelId);
  } catch (err) {
    if (session !== state.session || err.status === 401) return;
    if (err.status === 403) setPanelAllowed(panelId, false);
    else showMessage(`${panelId}: ${err.message}`, 'error', panelId);
  }
}

/** pollPanels refreshes the four panels, then schedules itself 2 s after they all answered. */
async function pollPanels(session) {
  await Promise.all([
    refreshSummary(session),
    refreshPanel(session, 'returns', '/ops/returns?limit=50', renderReturns),
    refreshPanel(session, 'health', '/ops/health', renderHealth),
    refreshPanel(session, 'inventory', '/ops/inventory?limit=200', renderInventory),
  ]);
  if (session !== state.session) return;
  $('#refreshed').textContent = `updated ${fmtTime(new Date().toISOString())}`;
  state.pollTimer = setTimeout(() => pollPanels(session), REFRESH_MS);
}

// ---------------------------------------------------------------------------------------------
// Flow panel: counts, recent orders, search.

/** refreshSummary loads /ops/summary. Stream events that arrive while it is in flight are
 *  applied again over its recent list, so a slower snapshot never undoes a newer event. */
async function refreshSummary(session) {
  state.streamBuffer = [];
  await refreshPanel(session, 'flow', '/ops/summary', (summary) => {
    renderCounts(summary);
    state.recent = (Array.isArray(summary.recent) ? summary.recent : []).slice(0, RECENT_MAX);
    (state.streamBuffer || []).forEach(mergeRecentOrder);
    renderRecent();
  });
  state.streamBuffer = null;
}

/** renderCounts: one tile per status (data-status) and per outcome (data-outcome). */
function renderCounts(summary) {
  const tile = (name, n, tone, dataset) => el('div', { className: `tile ${tone}`, dataset }, [
    el('span', { className: 'n', textContent: String(n ?? 0) }),
    el('span', { className: 'label', textContent: name })]);
  const tiles = (counts, kind) => Object.entries(counts || {})
    .map(([name, n]) => tile(name, n, `tone-${statusTone(name.split('/')[0])}`, { [kind]: name }));
  $('#counts').replaceChildren(
    el('div', { className: 'tiles' }, [tile('total', summary.total, 'total', {}),
      ...tiles(summary.statuses, 'status')]),
    el('h3', { textContent: 'Outcomes' }),
    el('div', { className: 'tiles' }, tiles(summary.outcomes, 'outcome')));
}

/** mergeRecentOrder puts one order into the recent list: the order's row is updated in place
 *  when it is already shown, else it goes on top; at most RECENT_MAX are kept. */
function mergeRecentOrder(order) {
  const i = state.recent.findIndex((o) => o.order_id === order.order_id);
  if (i >= 0) state.recent[i] = order;
  else state.recent.unshift(order);
  state.recent.length = Math.min(state.recent.length, RECENT_MAX);
}

/** renderRecent: one <tr data-order-id> per order; its status cell has class "status". */
function renderRecent() {
  syncRows($('#recent'), state.recent, 'orderId', (o) => o.order_id, (tr, o) => setCells(tr, [
    mono(o.order_id), { content: badge(o.status), className: 'status' }, o.reason || '', mono(o.customer_id),
    { content: fmtMoney(o.total_cents, o.currency), className: 'num' },
    { content: fmtTime(o.updated_at), title: o.updated_at || '' }]));
}

function onSearchSubmit(event) {
  event.preventDefault();
  const id = $('#order-id').value.trim();
  if (id) showOrder(id);
}

/** showOrder loads an order (and, for operations, its timeline) into #order. quiet: a live
 *  refresh after a stream event, which keeps the shown result on error. */
async function showOrder(id, quiet = false) {
  const seq = quiet ? state.searchSeq : ++state.searchSeq; // a refresh never cancels a search
  const session = state.session;
  const path = encodeURIComponent(id);
  const timeline = isOperations() ? api(`/ops/orders/${path}/timeline`).catch((err) => err) : null;
  try {
    const order = await api(`/orders/${path}`);
    const tl = await timeline;
    if (seq !== state.searchSeq || session !== state.session || (quiet && state.shownOrderId !== id)) return;
    state.shownOrderId = id;
    renderOrder(order || {}, tl);
    clearMessage('search');
  } catch (err) {
    if (seq !== state.searchSeq || session !== state.session || err.status === 401 || quiet) return;
    state.shownOrderId = '';
    $('#order').replaceChildren();
    showMessage(err.message, 'error', 'search');
  }
}

/** renderOrder shows status, details and history, and with a timeline "waiting for" and the
 *  #timeline table (a failed timeline request is said in its place). */
function renderOrder(order, timeline) {
  const meta = [order.reason && `reason ${order.reason}`, order.customer_id && `customer ${order.customer_id}`,
    typeof order.total_cents === 'number' && fmtMoney(order.total_cents, order.currency),
    order.version !== undefined && `version ${order.version}`].filter(Boolean);
  const parts = [
    el('h3', {}, ['Order ', mono(order.order_id), ' ', badge(order.status, 'status')]),
    meta.length ? el('p', { className: 'muted', textContent: meta.join(' · ') }) : null,
  ];
  const failed = timeline instanceof Error;
  if (timeline && !failed) {
    parts.push(el('p', { className: 'waiting' }, [
      el('strong', { textContent: 'waiting for: ' }), timeline.waiting_for || 'nothing (terminal)']));
  }
  parts.push(el('h4', { textContent: 'History' }), historyTable(order.history || []));
  if (timeline) parts.push(el('h4', { textContent: 'Timeline' }));
  if (failed) {
    const text = timeline.status === 403 ? 'needs the operations scope' : `timeline: ${timeline.message}`;
    parts.push(el('p', { className: 'muted', textContent: text }));
  } else if (timeline) {
    parts.push(timelineTable(timeline.events || []));
  }
  $('#order').replaceChildren(...parts);
}

const headRow = (names) => el('thead', {}, [el('tr', {}, names.map((h) => el('th', { textContent: h })))]);

function historyTable(history) {
  return el('table', { className: 'data history' }, [headRow(['status', 'at']),
    el('tbody', {}, history.map((h) => el('tr', {}, [
      el('td', {}, [badge(h.status)]), el('td', { textContent: fmtTime(h.at, 'date'), title: h.at || '' })])))]);
}

/** timelineTable builds #timeline: one body row per record keyed by the order, oldest first. */
function timelineTable(events) {
  return el('table', { id: 'timeline', className: 'data' }, [
    headRow(['topic', 'partition', 'offset', 'time', 'type', 'handled by']),
    el('tbody', {}, events.map((e) => el('tr', { className: 'event', dataset: { eventId: e.event_id || '' } }, [
      el('td', {}, [mono(e.topic)]), el('td', { className: 'num' }, [mono(e.partition)]),
      el('td', { className: 'num' }, [mono(e.offset)]),
      el('td', { textContent: fmtTime(e.time, 'ms'), title: e.time || '' }),
      el('td', { textContent: e.type || '' }), el('td', {}, (e.handled_by || []).map(handledChip))])))]);
}

function handledChip(h) {
  return el('span', {
    className: `chip ${h.handled ? 'tone-ok' : 'tone-wait'}`,
    title: h.handled ? 'committed offset is past this record' : 'not handled yet',
    // the group without the deployment's prefix: <prefix>.<processor>[.<version>]
    textContent: `${h.handled ? '✓' : '…'} ${h.group.includes('.') ? h.group.slice(h.group.indexOf('.') + 1) : h.group}`,
  });
}

// ---------------------------------------------------------------------------------------------
// Returns and inventory panels

function renderReturns(data) {
  const rows = Array.isArray(data.returns) ? data.returns : [];
  syncRows($('#returns-rows'), rows, 'returnId', (r) => r.return_id, (tr, r) => setCells(tr, [
    mono(r.return_id), mono(r.order_id), { content: badge(r.status), className: 'status' },
    r.waiting_for || '—', returnDeadline(r), { content: fmtMoney(r.refund_minor), className: 'num' },
    { content: fmtTime(r.updated_at), title: r.updated_at || '' }]));
  showEmpty($('#returns'), rows.length === 0);
}

/** returnDeadline: the current step's due time, else the end of the return window. */
function returnDeadline(r) {
  if (r.due) return { content: `due ${fmtRelative(r.due)}`, title: r.due };
  if (r.window_ends) return { content: `window ends ${fmtRelative(r.window_ends)}`, title: r.window_ends };
  return '—';
}

function renderInventory(data) {
  const skus = Array.isArray(data.skus) ? data.skus : [];
  syncRows($('#skus'), skus, 'sku', (s) => s.sku, (tr, s) => setCells(tr, [
    mono(s.sku), { content: String(s.available), className: `num${s.available <= 0 ? ' out' : ''}` },
    { content: String(s.reserved), className: 'num' }, { content: String(s.on_hand), className: 'num' }]));
  showEmpty($('#inventory'), skus.length === 0);
}

// ---------------------------------------------------------------------------------------------
// Health panel: lag against the SLO, lag chart, dead letters, table versions, slot.

function renderHealth(h) {
  const slo = Number(h.lag_slo_seconds) || 0;
  $('#slo').textContent = slo ? `(SLO ${slo} s)` : '';
  syncRows($('#lag-rows'), h.lag || [], 'group', (g) => g.group, (tr, g) => setCells(tr, [
    mono(g.group), { content: String(g.lag), className: 'num' },
    { content: fmtDuration(g.oldest_seconds || 0), className: 'num' },
    badgeFor(g.within_slo ? 'within' : 'breached', g.within_slo ? 'ok' : 'bad')]));
  renderLagChart(h.lag_history || [], slo);
  renderDeadLetters(h.dead_letters || []);
  renderVersions(h.versions || []);
  renderSlot(h.slot);
  const missing = Array.isArray(h.unavailable) ? h.unavailable : [];
  Object.assign($('#health-unavailable'), { hidden: missing.length === 0,
    textContent: `not available right now: ${missing.join(', ')}${h.request_id ? ` (request ${h.request_id})` : ''}` });
}

const CHART = { w: 480, h: 120, left: 34, right: 6, top: 8, bottom: 16 };
const SERIES_COLOURS = 8; // board.css colours .series-0 ... .series-7 (no inline styles: see the CSP)

/** renderLagChart draws into the #lag-chart SVG one polyline per group (data-group) over the
 *  last 10 minutes of lag_history, the SLO as a dashed line, and a legend under it.
 *  lag_history's "lag" counts messages while the SLO is on the oldest message's age in seconds:
 *  samples that also carry "oldest_seconds" ({group: s}) are plotted in seconds instead, where
 *  the SLO line is exact; otherwise the line is a reference drawn at the SLO's number. */
function renderLagChart(history, slo) {
  const seconds = history.length > 0 && history.every((s) => s.oldest_seconds && typeof s.oldest_seconds === 'object');
  const samples = history.map((s) => ({ t: new Date(s.at).getTime(), lag: (seconds ? s.oldest_seconds : s.lag) || {} }))
    .filter((s) => !Number.isNaN(s.t));
  const end = samples.length ? Math.max(...samples.map((s) => s.t)) : Date.now();
  const start = end - CHART_WINDOW_MS;
  const shown = samples.filter((s) => s.t >= start);
  const groups = [...new Set(shown.flatMap((s) => Object.keys(s.lag)))].sort();
  const values = shown.flatMap((s) => Object.values(s.lag).map(Number).filter(Number.isFinite));
  const peak = Math.max(1, slo * 1.25, ...values);
  const x = (t) => CHART.left + ((t - start) / CHART_WINDOW_MS) * (CHART.w - CHART.left - CHART.right);
  const y = (v) => CHART.top + (1 - v / peak) * (CHART.h - CHART.top - CHART.bottom);
  const hline = (v, cls) =>
    svgEl('line', { x1: CHART.left, x2: CHART.w - CHART.right, y1: y(v), y2: y(v), class: cls });

  const nodes = [
    hline(0, 'axis'),
    chartLabel(CHART.left - 4, y(peak) + 4, String(Math.round(peak)), 'end'),
    chartLabel(CHART.left - 4, y(0) + 4, '0', 'end'),
    chartLabel(CHART.left, CHART.h - 2, `−10 min · ${seconds ? 'oldest message age, s' : 'lag, messages'}`, 'start'),
    chartLabel(CHART.w - CHART.right, CHART.h - 2, 'now', 'end'),
  ];
  if (slo) nodes.push(hline(slo, 'slo'), chartLabel(CHART.w - CHART.right, y(slo) - 3, `SLO ${slo} s`, 'end'));
  groups.forEach((group, i) => {
    const points = shown.filter((s) => Number.isFinite(Number(s.lag[group])))
      .map((s) => `${x(s.t).toFixed(1)},${y(Number(s.lag[group])).toFixed(1)}`);
    const line = svgEl('polyline', { points: points.join(' '), class: `series series-${i % SERIES_COLOURS}` });
    line.dataset.group = group;
    nodes.push(line);
  });
  $('#lag-chart').replaceChildren(...nodes);
  $('#lag-legend').replaceChildren(...groups.map((group, i) => el('li', {}, [
    el('span', { className: `swatch series-${i % SERIES_COLOURS}` }), mono(group)])));
}

function chartLabel(xPos, yPos, text, anchor) {
  const t = svgEl('text', { x: xPos, y: yPos, 'text-anchor': anchor, class: 'label' });
  t.textContent = text;
  return t;
}

/** renderDeadLetters: one <tr data-topic> per DLQ topic with its count (class "count"), the
 *  latest reasons and a replay button (kept across refreshes). */
function renderDeadLetters(topics) {
  const box = $('#dead-letters');
  syncRows($('tbody', box), topics, 'topic', (d) => d.topic, (tr, d) => setCells(tr, [
    mono(d.topic), { content: String(d.count), className: 'count num' }, latestReasons(d.latest || []),
    $('button', tr) || el('button', {
      type: 'button', className: 'replay', textContent: 'replay', onclick: () => replayDeadLetters(d.topic) }),
  ]));
  showEmpty(box, topics.length === 0);
}

function latestReasons(latest) {
  const title = (l) => `offset ${l.offset} at ${l.time || '?'}`;
  return el('ul', { className: 'reasons' }, latest.map((l) => el('li', { title: title(l) }, [
    el('span', { className: 'kind', textContent: l.kind || '' }), ' ', l.reason || '', ' ',
    el('span', { className: 'muted', textContent: l.processor ? `(${l.processor}, ${fmtTime(l.time)})` : '' }),
  ])));
}

/** replayDeadLetters POSTs the topic's replay and says in #message how many records went back. */
async function replayDeadLetters(topic) {
  const row = Array.from($('#dead-letters tbody').rows).find((tr) => tr.dataset.topic === topic);
  const button = row && $('button', row);
  if (button) button.disabled = true;
  try {
    const res = (await api('/ops/dead-letters/replay', { method: 'POST', body: { topic } })) || {};
    const n = Number(res.replayed) || 0;
    showMessage(`replayed ${n} record${n === 1 ? '' : 's'} from ${res.topic || topic}`, 'info', 'replay');
  } catch (err) {
    if (err.status !== 401) showMessage(`replay ${topic}: ${err.message}`, 'error', 'replay');
  } finally {
    if (button) button.disabled = false;
  }
}

/** renderVersions: per processor the serving table version and all versions ("" = unversioned). */
function renderVersions(versions) {
  const name = (v) => (v === '' ? '(unversioned)' : String(v ?? ''));
  syncRows($('#versions'), versions, 'processor', (v) => v.processor, (tr, v) => setCells(tr, [
    mono(v.processor), mono(name(v.serving)),
    el('span', {}, (v.versions || []).map((ver) => el('code', {
      className: ver === v.serving ? 'version serving' : 'version', textContent: name(ver) })))]));
}

function renderSlot(slot) {
  if (!slot) return $('#slot').replaceChildren('no replication slot');
  return $('#slot').replaceChildren(mono(slot.name), ` retains ${fmtBytes(slot.retained_wal_bytes)} of WAL `,
    badgeFor(slot.active ? 'active' : 'inactive', slot.active ? 'ok' : 'bad'));
}

// ---------------------------------------------------------------------------------------------
// Live stream: GET /ops/stream read with fetch() + ReadableStream (EventSource cannot send the
// Authorization header); it reconnects 2 s after an error or after the server ends it.

function setStreamState(text) {
  Object.assign($('#stream-state'), {
    hidden: !text,
    textContent: text ? `stream ${text}` : '',
    className: `pill ${text === 'live' ? 'tone-ok' : 'tone-wait'}`,
  });
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** runStream keeps one stream open for the session's life. */
async function runStream(session) {
  while (session === state.session) {
    const abort = new AbortController();
    state.streamAbort = abort;
    try {
      setStreamState('connecting');
      const headers = authHeaders({ Accept: 'text/event-stream' });
      const res = await fetch('/ops/stream', { headers, signal: abort.signal });
      if (res.status === 401) { if (session === state.session) requireLogin(); return; }
      if (res.status === 403) { setStreamState('needs the operations scope'); return; }
      if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
      setStreamState('live');
      await readEvents(res.body, abort, (type, data) => { if (session === state.session) onStreamEvent(type, data); });
    } catch (_) {
      // a network error, the idle watchdog or a logout: the session check below decides
    }
    if (session !== state.session) return;
    setStreamState('reconnecting');
    await sleep(RECONNECT_MS);
  }
}

/** readEvents parses a text/event-stream body and calls onEvent(type, data) per event; it
 *  aborts the request when nothing (not even a ping) arrived for STREAM_IDLE_MS. */
async function readEvents(body, abort, onEvent) {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  let idle = setTimeout(() => abort.abort(), STREAM_IDLE_MS);
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      clearTimeout(idle);
      idle = setTimeout(() => abort.abort(), STREAM_IDLE_MS);
      buffer += decoder.decode(value, { stream: true });
      // a trailing \r may be the first half of a \r\n: keep it for the next chunk
      const held = buffer.endsWith('\r') ? '\r' : '';
      const blocks = (held ? buffer.slice(0, -1) : buffer).replace(/\r\n?/g, '\n').split('\n\n');
      buffer = blocks.pop() + held;
      blocks.forEach((block) => dispatchBlock(block, onEvent));
    }
  } finally {
    clearTimeout(idle);
  }
}

/** dispatchBlock parses one SSE event block: comment lines (": ping") are skipped, data lines
 *  are joined with \n, and an event without data is not dispatched. */
function dispatchBlock(block, onEvent) {
  let type = 'message';
  const data = [];
  block.split('\n').forEach((line) => {
    if (line === '' || line.startsWith(':')) return;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
    if (field === 'event') type = value;
    else if (field === 'data') data.push(value);
  });
  if (data.length) onEvent(type, data.join('\n'));
}

/** onStreamEvent merges an order event into #recent at once, and refreshes the searched order
 *  when it is the one that changed. */
function onStreamEvent(type, data) {
  if (type !== 'order') return;
  let order = null;
  try { order = JSON.parse(data); } catch (_) { /* a malformed event is skipped */ }
  if (!order || typeof order.order_id !== 'string') return;
  if (state.streamBuffer) state.streamBuffer.push(order);
  mergeRecentOrder(order);
  renderRecent();
  if (order.order_id === state.shownOrderId) showOrder(order.order_id, true);
}

// ---------------------------------------------------------------------------------------------
// Start

function init() {
  $('#login').addEventListener('submit', onLoginSubmit);
  $('#logout').addEventListener('click', onLogout);
  $('#search').addEventListener('submit', onSearchSubmit);
  startSession();
}

// the script is deferred, so the document is parsed by now; the check covers other loadings
if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
else init();
