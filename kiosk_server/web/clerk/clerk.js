// The clerk's window console (/clerk): sign in, choose and open a window, then call, recall,
// mark no-show, start, transfer, finish and pause from big buttons or function keys.
//
// State comes from the API (GET /api/v1/windows, /windows/{code}/today, /tickets/{id}) and stays
// live through the display stream: every event's `waiting` counts are merged at once, and events
// that touch this window or its zones trigger a short, debounced re-read. Every refusal of the
// server is shown in its own (already translated) words. The session token lives in
// sessionStorage only: closing the browser tab forgets it.
import { i18n, t, api, ApiError, setToken, openStream, el, fmtElapsed, langButton } from '/static/web/common/app.js';

const SESSION_KEY = 'clerk.session';
const REFRESH_MS = 120;        // debounce of re-reads triggered by events and actions
const $ = (id) => document.getElementById(id);

const S = {
  session: null,     // {token, user: {id, username, display_name, roles}, expires_at}
  view: 'loading',   // loading | login | pick | console
  windows: [],       // GET /api/v1/windows
  win: null,         // this clerk's window (an element of `windows`)
  ticket: null,      // the window's active ticket (full body) or null
  today: null,       // GET /api/v1/windows/{code}/today
  waiting: {},       // zone code -> waiting, live from the stream
  busy: false,       // a console action is in flight
  pending: null,     // one action asked for while busy (keys typed ahead)
  gen: 0,            // bumped by every action: a re-read started before it is stale
  skew: 0,           // server clock minus browser clock (ms), from fresh server timestamps
  stream: null,
  conn: 'connecting',
  refreshTimer: null,
  tick: null,
};

// ---------------------------------------------------------------- session

function saveSession() {
  try { sessionStorage.setItem(SESSION_KEY, JSON.stringify(S.session)); } catch (_) { /* storage off */ }
}

function loadSession() {
  try { return JSON.parse(sessionStorage.getItem(SESSION_KEY) || 'null'); } catch (_) { return null; }
}

function clearSession() {
  S.session = null;
  setToken(null);
  try { sessionStorage.removeItem(SESSION_KEY); } catch (_) { /* ignore */ }
}

const uid = () => (S.session ? S.session.user.id : null);
const code = () => (S.win ? S.win.code : null);

// ---------------------------------------------------------------- views and messages

function show(view) {
  S.view = view;
  for (const v of ['loading', 'login', 'pick', 'console']) $(`view-${v}`).hidden = v !== view;
  const signedIn = !!S.session && view !== 'login';
  $('btn-sign-out').hidden = !signedIn || view === 'loading';
  $('bar-user').hidden = !signedIn;
  $('btn-close-window').hidden = view !== 'console';
  $('bar-window').hidden = view !== 'console';
  $('conn').hidden = view !== 'console';
  if (S.session) $('bar-user-name').textContent = S.session.user.display_name || S.session.user.username;
  document.body.dataset.view = view;
}

// One message line per view: the sign-in form, the window list, the console.
function msgBox() {
  return { login: $('login-msg'), pick: $('pick-msg'), console: $('notice') }[S.view] || $('notice');
}

function say(text, kind = 'error', box = msgBox()) {
  box.textContent = text || '';
  box.className = `${box.id === 'notice' ? 'notice' : 'form-msg'} msg-${kind}`;
}

function clearMessages() {
  for (const id of ['login-msg', 'pick-msg', 'notice', 'tr-msg', 'pa-msg']) say('', 'info', $(id));
}

// An error from an action: a lost session returns to the sign-in form; anything else is the
// server's own words (409 and the like), and the view is re-read since it may be stale.
function failed(e, box) {
  if (e instanceof ApiError && e.status === 401 && S.session) { sessionLost(); return; }
  say(e.message, 'error', box);
  if (S.view === 'console') scheduleRefresh(0);
}

// ---------------------------------------------------------------- sign in / out

async function signIn(ev) {
  ev.preventDefault();
  const username = $('login-user').value.trim();
  const password = $('login-pass').value;
  if (!username || !password) { say(t('clerk.need_credentials')); return; }
  $('login-submit').disabled = true;
  say('', 'info');
  try {
    const res = await api('/api/v1/auth/login', { method: 'POST', body: { username, password }, token: null });
    if (!res.user.roles.includes('clerk')) {
      await api('/api/v1/auth/logout', { method: 'POST', token: res.token }).catch(() => {});
      say(t('clerk.not_clerk'));
      return;
    }
    S.session = { token: res.token, user: res.user, expires_at: res.expires_at };
    setToken(res.token);
    saveSession();
    $('login-pass').value = '';
    await afterSignIn();
  } catch (e) {
    if (e instanceof ApiError && e.status === 429) {
      const after = (e.body && e.body.error && e.body.error.retry_after) || 60;
      say(t('clerk.locked', { minutes: Math.max(1, Math.ceil(after / 60)) }));
    } else {
      say(e.message);
    }
  } finally {
    $('login-submit').disabled = false;
  }
}

// Signed in: back to the window this clerk holds, or choose one.
async function afterSignIn() {
  show('loading');
  try {
    await loadWindows();
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) { sessionLost(); return; }
    show('pick');
    failed(e);
    return;
  }
  const mine = S.windows.find((w) => w.clerk && w.clerk.id === uid() && w.state !== 'closed');
  if (mine) enterConsole(mine);
  else { show('pick'); renderPicker(); $('window-list').querySelector('button:not([disabled])')?.focus(); }
}

function toLogin(message, kind) {
  stopLive();
  S.win = null; S.ticket = null; S.today = null;
  show('login');
  say(message || '', kind || 'info', $('login-msg'));
  $('login-user').focus();
}

function sessionLost() {
  if (!S.session) return;  // signed out already: a late 401 (the stream, a refresh) is not news
  clearSession();
  toLogin(t('clerk.session_expired'), 'error');
}

async function signOut() {
  clearMessages();
  if (S.win && S.win.state !== 'closed') {
    try {
      await api(`/api/v1/windows/${code()}/close`, { method: 'POST' });
    } catch (e) {
      if (!(e instanceof ApiError && e.status === 401)) { failed(e); return; }  // e.g. a ticket still called
    }
  }
  stopLive();  // the server closes this session's stream at logout: not a session lost
  try { await api('/api/v1/auth/logout', { method: 'POST' }); } catch (_) { /* gone already */ }
  clearSession();
  toLogin(t('clerk.signed_out'), 'ok');
}

// ---------------------------------------------------------------- choosing a window

async function loadWindows() {
  S.windows = await api('/api/v1/windows');
}

function renderPicker() {
  const list = $('window-list');
  list.replaceChildren();
  if (!S.windows.length) { list.append(el('li', { class: 'muted' }, t('clerk.pick_none'))); return; }
  for (const w of S.windows) {
    const mine = w.clerk && w.clerk.id === uid();
    const free = w.state === 'closed';
    const state = free ? t('clerk.pick_free') : mine ? t('clerk.pick_mine') : t('clerk.pick_taken');
    const btn = el('button', {
      type: 'button', class: `btn pick-btn ${free ? 'pick-free' : mine ? 'pick-mine' : 'pick-taken'}`,
      disabled: !(free || mine), dataset: { code: w.code }, onclick: () => openWindow(w.code),
    },
    el('span', { class: 'pick-code' }, t('window_n', { code: w.code })),
    el('span', { class: 'pick-name', 'data-content': true }, w.name),
    el('span', { class: 'pick-zones' }, t('clerk.pick_zones', { zones: w.zones.join(' · ') })),
    el('span', { class: 'pick-state' }, state,
       !free && !mine && w.clerk ? el('span', { class: 'pick-holder', 'data-content': true }, ` ${w.clerk.display_name || ''}`) : null));
    list.append(el('li', {}, btn));
  }
}

async function openWindow(windowCode) {
  if (S.busy) return;
  S.busy = true;
  say('', 'info');
  try {
    const w = await api(`/api/v1/windows/${windowCode}/open`, { method: 'POST' });
    enterConsole(w);
  } catch (e) {
    failed(e);
    try { await loadWindows(); renderPicker(); } catch (_) { /* the message above says enough */ }
  } finally {
    S.busy = false;
  }
}

async function refreshPicker() {
  say('', 'info');
  try { await loadWindows(); renderPicker(); } catch (e) { failed(e); }
}

// ---------------------------------------------------------------- the console

function enterConsole(w) {
  S.win = w;
  S.ticket = null;
  S.today = null;
  show('console');
  clearMessages();
  renderConsole();
  startLive();
  refresh().then(() => $('act-call').focus());
}

function leaveConsole(message, kind = 'info') {
  stopLive();
  S.win = null; S.ticket = null; S.today = null;
  show('pick');
  say(message, kind, $('pick-msg'));
  refreshPicker().then(() => say(message, kind, $('pick-msg')));
}

async function closeWindow() {
  clearMessages();
  const c = code();
  try {
    await api(`/api/v1/windows/${c}/close`, { method: 'POST' });
    leaveConsole(t('clerk.window_closed', { window: c }), 'ok');
  } catch (e) { failed(e); }
}

// Re-read the window, its active ticket and its day. Results of a re-read that an action
// overtook are dropped (the action's own answer is newer).
async function refresh() {
  if (S.view !== 'console' || !S.win) return;
  const gen = S.gen;
  const c = code();
  try {
    const [wins, today] = await Promise.all([api('/api/v1/windows'), api(`/api/v1/windows/${c}/today`)]);
    const w = wins.find((x) => x.code === c);
    if (S.view !== 'console' || code() !== c) return;
    S.windows = wins;
    if (!w || w.state === 'closed' || !w.clerk || w.clerk.id !== uid()) {
      leaveConsole(t('clerk.window_lost'), 'error');
      return;
    }
    let ticket = null;
    if (w.current_ticket) {
      ticket = S.ticket && S.ticket.id === w.current_ticket.id && S.ticket.status === w.current_ticket.status
        ? S.ticket : await api(`/api/v1/tickets/${w.current_ticket.id}`);
    }
    if (gen !== S.gen) return;
    S.win = w;
    S.today = today;
    S.ticket = ticket;
    for (const z of today.zones) S.waiting[z.code] = z.waiting;
    renderConsole();
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) sessionLost();
    else if (e instanceof ApiError && e.status === 403) leaveConsole(t('clerk.window_lost'), 'error');
    // a network error: the stream's state shows it; the next event or action re-reads
  }
}

function scheduleRefresh(delay = REFRESH_MS) {
  clearTimeout(S.refreshTimer);
  S.refreshTimer = setTimeout(refresh, delay);
}

// ---------------------------------------------------------------- actions

const ACTIONS = ['call', 'recall', 'noshow', 'start', 'transfer', 'finish', 'pause'];
const KEYS = { F1: 'call', F2: 'recall', F3: 'noshow', F4: 'start', F5: 'transfer', F6: 'finish', F7: 'pause' };

// What the window's state allows (the server has the last word: its refusals are shown).
function allowed(action) {
  const w = S.win;
  if (!w) return false;
  const open = w.state === 'open';
  const st = S.ticket ? S.ticket.status : null;
  switch (action) {
    case 'call': return open && !S.ticket;
    case 'recall': case 'noshow': case 'start': return st === 'called';
    case 'transfer': return st === 'called' || st === 'serving';
    case 'finish': return st === 'serving';
    case 'pause': return w.state === 'paused' || (open && !S.ticket);
    default: return false;
  }
}

function label(action) {
  if (action === 'pause') return t(S.win && S.win.state === 'paused' ? 'clerk.act_resume' : 'clerk.act_pause');
  return t(`clerk.act_${action}`);
}

function trigger(action) {
  if (S.view !== 'console' || document.querySelector('dialog[open]')) return;
  if (S.busy) { S.pending = action; return; }  // typed ahead (F4 then F6): runs when the answer is in
  if (!allowed(action)) { say(t('clerk.key_disabled', { action: label(action) }), 'info'); return; }
  if (action === 'transfer') { openTransfer(); return; }
  if (action === 'pause' && S.win.state !== 'paused') { openPause(); return; }
  run(ACT[action]);
}

// One action at a time; its answer updates the view at once, then the day is re-read.
async function run(fn, box) {
  if (S.busy) return false;
  S.busy = true;
  document.body.classList.add('busy');
  say('', 'info');
  try {
    await fn();
    S.gen += 1;
    renderConsole();
    scheduleRefresh();
    return true;
  } catch (e) {
    failed(e, box);
    return false;
  } finally {
    S.busy = false;
    document.body.classList.remove('busy');
    const next = S.pending;
    S.pending = null;
    if (next) setTimeout(() => trigger(next), 0);
  }
}

const post = (path, body) => api(path, { method: 'POST', body });

function syncClock(iso) {
  const at = Date.parse(iso);
  if (!Number.isNaN(at)) S.skew = at - Date.now();
}

const ACT = {
  async call() {
    const tk = await post(`/api/v1/windows/${code()}/call-next`);
    if (tk === null) { say(t('clerk.nobody_waiting'), 'info'); return; }
    S.ticket = tk;
    syncClock(tk.called_at);
    say(t('clerk.called', { number: tk.number }), 'ok');
  },
  async recall() {
    const tk = await post(`/api/v1/windows/${code()}/recall`);
    S.ticket = tk;
    say(t('clerk.recalled', { number: tk.number, n: tk.call_count }), 'ok');
  },
  async noshow() {
    const tk = await post(`/api/v1/tickets/${S.ticket.id}/no-show`);
    S.ticket = null;
    say(t('clerk.no_showed', { number: tk.number }), 'ok');
  },
  async start() {
    const tk = await post(`/api/v1/tickets/${S.ticket.id}/start`);
    S.ticket = tk;
    syncClock(tk.started_at);
    say(t('clerk.started', { number: tk.number }), 'ok');
  },
  async finish() {
    const tk = await post(`/api/v1/tickets/${S.ticket.id}/finish`);
    S.ticket = null;
    say(t('clerk.finished', { number: tk.number }), 'ok');
  },
  async pause() {  // resume (pausing goes through its dialog)
    S.win = { ...S.win, ...(await post(`/api/v1/windows/${code()}/resume`)) };
    say(t('clerk.resumed'), 'ok');
  },
};

async function requeue(ticket) {
  await run(async () => {
    await post(`/api/v1/tickets/${ticket.id}/requeue`);
    if (S.today) S.today = { ...S.today, missed: S.today.missed.filter((m) => m.id !== ticket.id) };
    say(t('clerk.requeued', { number: ticket.number }), 'ok');
  });
}

// ---------------------------------------------------------------- transfer and pause dialogs

function kindOf() { return document.querySelector('input[name="tr-kind"]:checked').value; }

function showKind() {
  const k = kindOf();
  $('tr-window-row').hidden = k !== 'window';
  $('tr-zone-row').hidden = k !== 'zone';
}

async function openTransfer() {
  const tk = S.ticket;
  $('tr-title').textContent = t('clerk.transfer_title', { number: tk.number });
  $('tr-reason').value = '';
  say('', 'info', $('tr-msg'));
  fillTransferTargets();
  showKind();
  $('dlg-transfer').showModal();
  $('tr-window').focus();
  try { await loadWindows(); fillTransferTargets(); } catch (_) { /* keep the list we had */ }
}

function fillTransferTargets() {
  const win = $('tr-window');
  const chosen = win.value;
  const state = (w) => t(`clerk.win_state_${w.state}`);
  win.replaceChildren(...S.windows.filter((w) => w.code !== code()).map((w) => el('option', {
    value: w.code, disabled: w.state === 'closed', 'data-content': true,
  }, t('clerk.win_option', { code: w.code, name: w.name, state: state(w) }))));
  const firstOpen = [...win.options].find((o) => !o.disabled);
  if (chosen && [...win.options].some((o) => o.value === chosen && !o.disabled)) win.value = chosen;
  else if (firstOpen) win.value = firstOpen.value;
  const zone = $('tr-zone');
  const zoneChosen = zone.value;
  const zones = (S.today && S.today.hall_zones) || [];
  zone.replaceChildren(...zones.map((z) => el('option', { value: z.code, 'data-content': true },
                                               t('clerk.zone_option', { code: z.code, name: z.name }))));
  const elsewhere = zones.find((z) => !myZones().includes(z.code));  // by default a zone this window does not serve
  if (zoneChosen) zone.value = zoneChosen;
  else if (elsewhere) zone.value = elsewhere.code;
}

async function submitTransfer(ev) {
  ev.preventDefault();
  const reason = $('tr-reason').value.trim();
  const kind = kindOf();
  const target = kind === 'window' ? $('tr-window').value : $('tr-zone').value;
  if (!target) { say(t('clerk.choose_target'), 'error', $('tr-msg')); return; }
  if (!reason) { say(t('clerk.reason_required'), 'error', $('tr-msg')); $('tr-reason').focus(); return; }
  const tk = S.ticket;
  if (!tk) { $('dlg-transfer').close(); return; }
  const body = kind === 'window' ? { to_window: target, reason } : { to_zone: target, reason };
  const ok = await run(async () => {
    await post(`/api/v1/tickets/${tk.id}/transfer`, body);
    S.ticket = null;
  }, $('tr-msg'));
  if (ok) {
    $('dlg-transfer').close();
    say(kind === 'window' ? t('clerk.transferred_to_window', { number: tk.number, window: target })
                          : t('clerk.transferred_to_zone', { number: tk.number, zone: target }), 'ok');
    $('act-call').focus();
  }
}

function openPause() {
  $('pa-reason').value = '';
  say('', 'info', $('pa-msg'));
  $('dlg-pause').showModal();
  $('pa-reason').focus();
}

async function submitPause(ev) {
  ev.preventDefault();
  const reason = $('pa-reason').value.trim();
  if (!reason) { say(t('clerk.reason_required'), 'error', $('pa-msg')); $('pa-reason').focus(); return; }
  const ok = await run(async () => {
    S.win = { ...S.win, ...(await post(`/api/v1/windows/${code()}/pause`, { reason })) };
  }, $('pa-msg'));
  if (ok) {
    $('dlg-pause').close();
    say(t('clerk.paused'), 'ok');
    $('act-pause').focus();
  }
}

// ---------------------------------------------------------------- rendering

const pad = (n) => String(n).padStart(2, '0');
function hhmm(iso) {
  if (!iso) return t('clerk.fig_none');
  const d = new Date(iso);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}`;
}
const now = () => Date.now() + S.skew;
const secondsBetween = (a, b) => Math.max(0, (b - Date.parse(a)) / 1000);

function renderConsole() {
  if (S.view !== 'console' || !S.win) return;
  const w = S.win;
  $('bar-window-code').textContent = t('window_n', { code: w.code });
  $('bar-window-name').textContent = w.name;
  renderTicket();
  renderActions();
  renderZones();
  renderTransferredIn();
  renderMissed();
  renderFigures();
}

function renderTicket() {
  const w = S.win;
  const tk = S.ticket;
  const paused = w.state === 'paused';
  $('paused-banner').hidden = !paused;
  $('paused-reason').replaceChildren();
  if (paused && w.pause_reason) {
    $('paused-reason').append(el('span', {}, t('clerk.reason')), ' ', el('span', { 'data-content': true }, w.pause_reason));
  }
  $('tk-empty').hidden = !!tk || paused;
  $('tk-body').hidden = !tk;
  $('ticket').dataset.status = tk ? tk.status : 'none';
  if (!tk) { $('tk-number').textContent = ''; return; }
  $('tk-number').textContent = tk.number;
  $('tk-status').textContent = t(`status_${tk.status}`);
  $('tk-status').className = `pill pill-${tk.status}`;
  $('tk-priority').hidden = tk.priority !== 'priority';
  $('tk-matter').replaceChildren(tk.matter ? el('span', { 'data-content': true }, tk.matter.name)
                                            : el('span', { class: 'muted' }, t('clerk.no_matter')));
  $('tk-calls').textContent = String(tk.call_count);
  $('tk-issued').textContent = hhmm(tk.issued_at);
  const last = tk.transfers && tk.transfers.length ? tk.transfers[tk.transfers.length - 1] : null;
  $('tk-transfer').hidden = !last;
  $('tk-transfer').replaceChildren();
  if (last) {
    $('tk-transfer').append(
      el('span', { class: 'tk-from' }, last.from_window ? t('clerk.transferred_from', { window: last.from_window })
                                                          : t('clerk.transferred_here')),
      last.reason ? el('span', { class: 'tk-reason' }, el('span', {}, t('clerk.reason')), ' ',
                       el('span', { 'data-content': true }, last.reason)) : null);
  }
  renderClock();
}

// The live counters: waited (issued → started, or → now) and in service (started → now).
function renderClock() {
  const tk = S.ticket;
  if (S.view !== 'console' || !tk) return;
  const end = tk.started_at ? Date.parse(tk.started_at) : now();
  $('tk-waited').textContent = fmtElapsed(secondsBetween(tk.issued_at, end));
  $('tk-service').textContent = tk.started_at ? fmtElapsed(secondsBetween(tk.started_at, now())) : t('clerk.fig_none');
}

function renderActions() {
  for (const action of ACTIONS) {
    const b = $(`act-${action}`);
    b.disabled = !allowed(action);
  }
  $('act-pause-label').textContent = label('pause');
  $('act-pause').classList.toggle('act-resume', !!S.win && S.win.state === 'paused');
}

function renderZones() {
  const zones = (S.today && S.today.zones) || (S.win.zones || []).map((c) => ({ code: c, name: '' }));
  const list = $('zone-list');
  list.replaceChildren(...zones.map((z) => {
    const n = S.waiting[z.code] ?? z.waiting ?? 0;
    return el('li', { class: 'zone-row', dataset: { zone: z.code } },
      el('span', { class: 'zone-code' }, z.code),
      el('span', { class: 'zone-name', 'data-content': true }, z.name),
      el('span', { class: 'zone-count' }, t('clerk.zone_waiting', { n })));
  }));
  const total = zones.reduce((sum, z) => sum + (S.waiting[z.code] ?? z.waiting ?? 0), 0)
    + ((S.today && S.today.transferred_in) || []).filter((x) => !zones.some((z) => z.code === x.zone)).length;
  $('zone-total').textContent = t('clerk.total_waiting', { n: total });
}

function renderTransferredIn() {
  const items = (S.today && S.today.transferred_in) || [];
  const list = $('in-list');
  if (!items.length) { list.replaceChildren(el('li', { class: 'muted empty' }, t('clerk.none'))); return; }
  list.replaceChildren(...items.map((x) => el('li', { class: 'ticket-row', dataset: { number: x.number } },
    el('span', { class: 'row-number' }, x.number),
    el('span', { class: 'row-meta' }, x.from_window ? t('clerk.from_window', { window: x.from_window }) : t('clerk.transferred_here')),
    x.reason ? el('span', { class: 'row-reason', 'data-content': true }, x.reason) : null)));
}

function renderMissed() {
  const items = (S.today && S.today.missed) || [];
  const list = $('missed-list');
  if (!items.length) { list.replaceChildren(el('li', { class: 'muted empty' }, t('clerk.none'))); return; }
  list.replaceChildren(...items.map((m) => el('li', { class: 'ticket-row', dataset: { number: m.number } },
    el('span', { class: 'row-number' }, m.number),
    el('span', { class: 'row-meta' }, t('clerk.missed_meta', { time: hhmm(m.called_at), n: m.miss_count })),
    el('button', { type: 'button', class: 'btn btn-small', 'aria-label': t('clerk.requeue_label', { number: m.number }),
                   onclick: () => requeue(m) }, t('clerk.requeue')))));
}

function renderFigures() {
  const f = S.today && S.today.figures;
  const none = t('clerk.fig_none');
  $('fig-called').textContent = f ? String(f.called) : none;
  $('fig-served').textContent = f ? String(f.served) : none;
  $('fig-missed').textContent = f ? String(f.missed) : none;
  $('fig-transferred').textContent = f ? String(f.transferred_out) : none;
  $('fig-avg').textContent = f && f.avg_service_s !== null ? fmtElapsed(f.avg_service_s) : none;
}

function renderConn() {
  const c = $('conn');
  const key = S.conn === 'refused' ? 'clerk.stream_refused' : S.conn;
  c.textContent = t(key);
  c.className = `conn conn-${S.conn}`;
}

// ---------------------------------------------------------------- live

function startLive() {
  stopLive();
  S.conn = 'connecting';
  renderConn();
  S.stream = openStream({
    token: S.session.token,
    onSnapshot: (snap) => {
      Object.assign(S.waiting, snap.waiting || {});
      renderZones();
      scheduleRefresh(0);  // (re)connected: whatever happened meanwhile
    },
    onEvent,
    onState: (state) => {
      S.conn = state;
      renderConn();
      if (state === 'refused') checkSession();
    },
  });
  S.tick = setInterval(renderClock, 1000);
}

function stopLive() {
  if (S.stream) S.stream.close();
  S.stream = null;
  clearInterval(S.tick);
  clearTimeout(S.refreshTimer);
}

async function checkSession() {
  try { await api('/api/v1/auth/me'); } catch (e) { if (e instanceof ApiError && e.status === 401) sessionLost(); }
}

function myZones() {
  return (S.today && S.today.zones.map((z) => z.code)) || (S.win && S.win.zones) || [];
}

function onEvent(ev) {
  if (S.view !== 'console' || !S.win) return;
  if (ev.waiting) { Object.assign(S.waiting, ev.waiting); renderZones(); }
  const mine = code();
  const zones = myZones();
  const touchesWindow = (ev.window && ev.window.code === mine) || (S.ticket && ev.ticket && ev.ticket.id === S.ticket.id);
  switch (ev.type) {
    case 'ticket.transferred':
      if (ev.to_window === mine && !(ev.from_window && ev.from_window.code === mine)) {
        addTransferredIn(ev);
        say(t('clerk.transfer_in', { number: ev.ticket.number, window: ev.from_window ? ev.from_window.code : '?' }), 'info');
      }
      if (ev.to_window === mine || zones.includes(ev.to_zone) || (ev.from_window && ev.from_window.code === mine)
          || touchesWindow) scheduleRefresh();
      break;
    case 'ticket.missed': case 'ticket.requeued': case 'ticket.cancelled': case 'ticket.expired':
      if (touchesWindow || zones.includes(ev.zone)) scheduleRefresh();
      break;
    case 'ticket.called':
      // another window took a ticket transferred to us (or ours was called elsewhere): re-read
      if (touchesWindow || (S.today && S.today.transferred_in.some((x) => x.id === ev.ticket.id))) scheduleRefresh();
      break;
    case 'config.changed':
      scheduleRefresh();
      break;
    default:
      if (touchesWindow) scheduleRefresh();
  }
}

// Shown at once, before the re-read brings the reason.
function addTransferredIn(ev) {
  if (!S.today || S.today.transferred_in.some((x) => x.id === ev.ticket.id)) return;
  S.today = { ...S.today, transferred_in: [...S.today.transferred_in, {
    id: ev.ticket.id, number: ev.ticket.number, zone: ev.ticket.zone, priority: 'normal',
    from_window: ev.from_window ? ev.from_window.code : null, reason: null, at: ev.at }] };
  renderTransferredIn();
  renderZones();
}

// ---------------------------------------------------------------- keyboard and wiring

function onKey(e) {
  if (S.view !== 'console' || document.querySelector('dialog[open]')) return;
  let action = KEYS[e.key];
  if (!action && e.key === ' ' && !e.ctrlKey && !e.altKey && !e.metaKey) {
    const tag = document.activeElement ? document.activeElement.tagName : '';
    if (['INPUT', 'TEXTAREA', 'SELECT', 'BUTTON', 'A'].includes(tag)) return;  // Space presses the focused control
    action = 'call';
  }
  if (!action) return;
  e.preventDefault();  // F1 help, F5 reload, F7 caret browsing: the console's keys here
  if (e.repeat) return;
  trigger(action);
}

function wire() {
  $('login-form').addEventListener('submit', signIn);
  $('pick-refresh').addEventListener('click', refreshPicker);
  $('btn-sign-out').addEventListener('click', signOut);
  $('btn-close-window').addEventListener('click', closeWindow);
  for (const action of ACTIONS) $(`act-${action}`).addEventListener('click', () => trigger(action));
  document.addEventListener('keydown', onKey);
  for (const r of document.querySelectorAll('input[name="tr-kind"]')) r.addEventListener('change', showKind);
  $('tr-form').addEventListener('submit', submitTransfer);
  $('tr-cancel').addEventListener('click', () => $('dlg-transfer').close());
  $('pa-form').addEventListener('submit', submitPause);
  $('pa-cancel').addEventListener('click', () => $('dlg-pause').close());
  for (const chip of document.querySelectorAll('#dlg-pause [data-reason]')) {
    chip.addEventListener('click', () => { $('pa-reason').value = t(chip.dataset.reason); $('pa-reason').focus(); });
  }
  i18n.onChange(() => {
    clearMessages();  // messages already shown are in the old language
    if (S.view === 'pick') renderPicker();
    if (S.view === 'console') { renderConsole(); renderConn(); }
    if ($('dlg-transfer').open && S.ticket) {
      $('tr-title').textContent = t('clerk.transfer_title', { number: S.ticket.number });
      fillTransferTargets();
    }
  });
}

async function boot() {
  await i18n.load(['clerk']);
  i18n.apply(document);
  $('lang-slot').replaceWith(langButton('bar-btn'));
  wire();
  const saved = loadSession();
  if (saved && saved.token && saved.user) {
    S.session = saved;
    setToken(saved.token);
    try {
      await api('/api/v1/auth/me');
    } catch (e) {
      clearSession();
      toLogin(e instanceof ApiError && e.status === 401 ? t('clerk.session_expired') : e.message, 'error');
      return;
    }
    await afterSignIn();
    return;
  }
  toLogin();
}

window.clerkConsole = S;  // for tests and for a look in the developer tools
boot();
