// The operator's administration (/admin): sign in; the sections the account's roles allow (an
// operator: the live overview and the hall layout; a security_admin: accounts; an auditor: the
// audit log), one at a time, chosen from the side navigation or the address (#zones,
// #matters?zone=A, #audit?action=zone.).
//
// Everything is read from and written through the API; refusals are shown in the server's own
// (already translated) words. Operators keep the display stream open: `config.changed` (a change
// made here, in another admin page or by an import) reads the affected lists again, and every
// other event re-reads the overview, debounced. The session lives in sessionStorage only.
import { i18n, t, api, ApiError, setToken, openStream, langButton } from '/static/web/common/app.js';
import { $, say, wireDialogs, closeAllDialogs } from '/static/web/admin/ui.js';
import { S, hasRole, forget, forgetAll, forgetSession } from '/static/web/admin/store.js';
import { zones, matters, windows, onAfterChange } from '/static/web/admin/hall.js';
import { printers, devices } from '/static/web/admin/devices.js';
import { holidays } from '/static/web/admin/holidays.js';
import { layout } from '/static/web/admin/toml.js';
import { users } from '/static/web/admin/users.js';
import { audit } from '/static/web/admin/audit.js';
import { overview } from '/static/web/admin/overview.js';

const SESSION_KEY = 'admin.session';
const DEBOUNCE_MS = 250;       // events close together make one re-read…
const MIN_GAP_MS = 1000;       // …and a busy hall at most one a second
const OVERVIEW_POLL_MS = 30000;   // waits grow into alarms without an event: read again now and then
const ADMIN_ROLES = ['operator', 'security_admin', 'auditor'];

const SECTIONS = [overview, zones, matters, windows, printers, devices, holidays, layout, users, audit];
const byId = Object.fromEntries(SECTIONS.map((s) => [s.id, s]));
// a change of one list makes these cached lists stale
const STALE = {
  zones: ['zones', 'devices'], matters: ['zones'], windows: ['windows', 'zones'], printers: ['printers', 'devices'],
  devices: ['devices', 'printers'], holidays: [],
};

const A = {
  view: 'loading',
  current: null,      // the section shown
  stream: null,
  conn: 'connecting',
  timer: null,        // debounced re-read of the current section
  timerLive: false,   // that re-read was asked for by the stream (coalesce more of them into it)
  lastRead: 0,        // when the last re-read finished (ms)
  connected: false,   // the stream has sent its first snapshot
  loading: false,
  again: false,
  tick: null,
  poll: null,
  reloads: 0,         // sections read (for tests)
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
  forgetSession();
  try { sessionStorage.removeItem(SESSION_KEY); } catch (_) { /* ignore */ }
  // nothing the account saw stays in the page for the next one at this PC
  A.current = null;
  for (const s of SECTIONS) { s.rows = []; s.data = null; s.result = null; }
  for (const node of document.querySelectorAll('.sec-body, #ov-figures, #ov-alarms, #ov-windows, #ov-zones, '
                                              + '#ov-printers, #ov-at, #jobs-body, #import-result')) node.replaceChildren();
  $('import-text').value = '';
  for (const box of document.querySelectorAll('.sec .form-msg')) say(box, '');
}

function show(view) {
  A.view = view;
  for (const v of ['loading', 'login', 'app']) $(`view-${v}`).hidden = v !== view;
  const signedIn = view === 'app';
  $('btn-sign-out').hidden = !signedIn;
  $('bar-user').hidden = !signedIn;
  $('conn').hidden = !signedIn || !hasRole('operator');
  if (S.session) {
    $('bar-user-name').textContent = S.session.user.display_name || S.session.user.username;
    renderRole();
  }
  document.body.dataset.view = view;
}

function renderRole() {
  const role = S.session && ADMIN_ROLES.find((r) => S.session.user.roles.includes(r));
  $('bar-user-role').textContent = role ? t(`admin.urole_${role}`) : '';
}

function toLogin(message, kind = 'error') {
  stopLive();
  closeAllDialogs();
  show('login');
  say($('login-msg'), message || '', kind);
  $('login-pass').value = '';
  ($('login-user').value ? $('login-pass') : $('login-user')).focus();
}

async function signIn(ev) {
  ev.preventDefault();
  const username = $('login-user').value.trim();
  const password = $('login-pass').value;
  if (!username || !password) { say($('login-msg'), t('admin.need_credentials')); return; }
  $('login-submit').disabled = true;
  say($('login-msg'), '');
  try {
    const res = await api('/api/v1/auth/login', { method: 'POST', body: { username, password }, token: null });
    if (!res.user.roles.some((r) => ADMIN_ROLES.includes(r))) {
      await api('/api/v1/auth/logout', { method: 'POST', token: res.token }).catch(() => {});
      say($('login-msg'), t('admin.no_admin_role'));
      return;
    }
    S.session = { token: res.token, user: res.user, expires_at: res.expires_at };
    setToken(res.token);
    saveSession();
    $('login-pass').value = '';
    start();
  } catch (e) {
    say($('login-msg'), e instanceof ApiError && e.status === 429 && e.body && e.body.error.retry_after
      ? t('admin.locked', { minutes: Math.max(1, Math.ceil(e.body.error.retry_after / 60)) }) : e.message);
    $('login-pass').select();
  } finally {
    $('login-submit').disabled = false;
  }
}

async function signOut() {
  const token = S.session && S.session.token;
  clearSession();
  if (token) await api('/api/v1/auth/logout', { method: 'POST', token }).catch(() => {});
  location.hash = '';
  toLogin(t('admin.signed_out'), 'ok');
}

function sessionLost() {
  if (!S.session) return;
  clearSession();
  toLogin(t('admin.session_expired'));
}

// ---------------------------------------------------------------- sections

const allowed = (s) => hasRole(s.role);

function parseHash() {
  const raw = decodeURIComponent(location.hash.replace(/^#/, ''));
  const [id, query] = raw.split('?');
  return { id, params: new URLSearchParams(query || '') };
}

function start() {
  for (const li of document.querySelectorAll('#nav-list li[data-role]')) li.hidden = !hasRole(li.dataset.role);
  show('app');
  if (hasRole('operator')) startLive();
  route({ focus: false });
}

function route({ focus = true } = {}) {
  if (A.view !== 'app') return;
  const { id, params } = parseHash();
  let section = byId[id];
  if (!section || !allowed(section)) {
    section = SECTIONS.find(allowed);
    if (!section) return;
    history.replaceState(null, '', `#${section.id}`);
  }
  if (section.params) section.params(params);
  const changed = A.current !== section;
  A.current = section;
  for (const s of SECTIONS) $(`sec-${s.id}`).hidden = s !== section;
  for (const a of document.querySelectorAll('#nav-list a')) {
    if (a.dataset.section === section.id) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  document.body.dataset.section = section.id;
  if (changed) { const box = $(`${section.id}-msg`); if (box) say(box, ''); }  // yesterday's news
  if (changed && focus) {
    const h = $(`h-${section.id}`);
    h.tabIndex = -1;
    h.focus();
  }
  reload(0);
}

// Read the current section again after `delay` ms; never two reads at once (a request made while
// one runs is served by one more read after it).
function reload(delay = 0) {
  clearTimeout(A.timer);
  A.timerLive = false;
  A.timer = setTimeout(runReload, delay);
}

// The stream's request: coalesced into a re-read already due, and spaced out while the hall is busy.
function reloadLive() {
  if (A.timer !== null && A.timerLive) return;
  if (A.timer !== null) return;  // a direct re-read is due anyway
  const wait = Math.max(DEBOUNCE_MS, A.lastRead + MIN_GAP_MS - Date.now());
  A.timerLive = true;
  A.timer = setTimeout(runReload, wait);
}

async function runReload() {
  const live = A.timerLive;
  A.timer = null;
  A.timerLive = false;
  if (A.loading) { A.again = A.again === 'direct' || !live ? 'direct' : 'live'; return; }
  const section = A.current;
  if (!section || A.view !== 'app') return;
  A.loading = true;
  try {
    await section.load();
    A.reloads += 1;
    document.body.dataset.loaded = section.id;
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) { sessionLost(); return; }
    const box = $(`${section.id}-msg`) || null;
    if (box) say(box, e.message); else if (section === overview) say($('ov-at'), e.message);
  } finally {
    A.loading = false;
    A.lastRead = Date.now();
    const again = A.again;
    A.again = false;
    if (again === 'direct') reload(0); else if (again) reloadLive();
  }
}

onAfterChange(async (what) => {
  for (const w of STALE[what] || []) forget(w);
  clearTimeout(A.timer);
  A.timer = null;
  await runReload();
});

// ---------------------------------------------------------------- live

function startLive() {
  stopLive();
  A.connected = false;
  A.conn = 'connecting';
  renderConn();
  A.stream = openStream({
    token: S.session.token,
    // reconnected: whatever changed meanwhile is read again (the first time, start() reads)
    onSnapshot: () => {
      if (!A.connected) { A.connected = true; return; }
      forgetAll();
      if (A.current) reload(0);
    },
    onEvent,
    onState: (state) => {
      A.conn = state;
      renderConn();
      if (state === 'refused') checkSession();
    },
  });
  A.tick = setInterval(() => overview.tick(), 1000);
  A.poll = setInterval(() => { if (A.current === overview && !document.hidden) reload(0); }, OVERVIEW_POLL_MS);
}

function stopLive() {
  if (A.stream) A.stream.close();
  A.stream = null;
  clearInterval(A.tick);
  clearInterval(A.poll);
  clearTimeout(A.timer);
  A.timer = null;
}

function renderConn() {
  const c = $('conn');
  c.textContent = t(A.conn === 'refused' ? 'admin.stream_refused' : A.conn);
  c.className = `conn conn-${A.conn}`;
}

async function checkSession() {
  try { await api('/api/v1/auth/me'); } catch (e) { if (e instanceof ApiError && e.status === 401) sessionLost(); }
}

function onEvent(ev) {
  const section = A.current;
  if (ev.type === 'config.changed') {
    for (const w of STALE[ev.what] || [ev.what]) forget(w);
    if (section && (section.watches.includes(ev.what) || section.live)) reloadLive();
    return;
  }
  if (!section) return;
  if (section.live || (section.events && section.events.includes(ev.type))) reloadLive();
}

// ---------------------------------------------------------------- wiring

function wire() {
  $('login-form').addEventListener('submit', signIn);
  $('btn-sign-out').addEventListener('click', signOut);
  wireDialogs();
  for (const s of SECTIONS) s.wire();
  window.addEventListener('hashchange', () => route());
  document.addEventListener('admin:lost', sessionLost);
  i18n.onChange(() => {
    for (const s of SECTIONS) { const box = $(`${s.id}-msg`); if (box) say(box, ''); }
    say($('login-msg'), '');
    renderRole();
    if (A.view === 'app') {
      if (hasRole('operator')) renderConn();
      if (A.current) { A.current.render(); reload(0); }  // and read again: the server's messages change language too
    }
  });
}

async function boot() {
  await i18n.load(['admin']);
  i18n.apply(document);
  $('lang-slot').replaceWith(langButton('bar-btn'));
  wire();
  const saved = loadSession();
  if (saved && saved.token && saved.user) {
    S.session = saved;
    setToken(saved.token);
    try {
      const me = await api('/api/v1/auth/me');
      S.session.user = { ...S.session.user, roles: me.roles, display_name: me.display_name };
    } catch (e) {
      clearSession();
      toLogin(e instanceof ApiError && e.status === 401 ? t('admin.session_expired') : e.message);
      return;
    }
    start();
    return;
  }
  toLogin();
}

window.adminPage = { A, S };  // for tests and for a look in the developer tools
boot();
