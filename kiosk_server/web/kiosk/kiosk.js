// The ticket machine (取号机): /kiosk?token=<kiosk device token>[&idle=90][&guard=300][&lang=en]
//
// Screens: home (zone tiles, appointment check-in, return visit) → zone (its matters) → guide
// (materials, time limit, fee, case type; take a ticket, or a priority ticket) → result (the
// number, people ahead, estimated wait, the status page's QR code, the printer's state).
// Appointment check-in: keypad → result (the booking names its zone and matter). Return visit:
// keypad → choose the zone → result. Whatever the server refuses (an unknown code, too early,
// the zone full…) is shown as it says it.
//
// Live: waiting counts from the display stream (every event carries the new counts of its
// zone), the menu again on config.changed (a zone added by an operator appears without a
// reload), on window changes (estimates) and on the kiosk printer's printer.status.
//
// A double tap never takes two tickets: the buttons are disabled before the request leaves, a
// tap in the first moments of a new screen is ignored (the second tap of a double tap would
// otherwise land on whatever the new screen shows there), and each attempt sends its own
// Idempotency-Key (a retried attempt gets the same ticket back from the server).
// After `idle` seconds without a touch (on the result screen 30 s at most) the machine returns to the start.
// For tests: window.kiosk = {state, ready, refresh()}.

import {
  i18n, t, api, ApiError, setToken, openStream, el, tokenFromUrl, fmtWait, langButton,
} from '/static/web/common/app.js';

const params = new URLSearchParams(location.search);
const IDLE_MS = Math.max(2, Number(params.get('idle')) || 90) * 1000;
// Taps ignored right after a screen change (ms; touch screens that report ghost taps want more).
const GUARD_MS = Math.min(2000, Math.max(0, Number(params.get('guard') ?? 300) || 0));
const WARN_MS = 10000;           // the idle warning shows this long before the return
const MENU_REFRESH_MS = 60000;   // opening hours and quotas move with the clock
const RESULT_MS = Math.min(IDLE_MS, 30000);  // the next citizen should not find the last one's number
const CASE_TYPES = ['immediate', 'promised', 'review', 'joint'];

const S = {
  token: null,
  menu: null,
  screen: 'loading',
  zone: null,          // zone code
  matter: null,        // matter code, or '' for a ticket without a matter
  mode: null,          // 'appointment' | 'return' on the keypad and zone-pick screens
  code: '',
  result: null,
  error: null,         // the server's refusal, shown on the screen that asked
  busy: false,
  attemptKey: null,
  shownAt: 0,
  lastActivity: Date.now(),
  conn: 'connecting',
  issued: 0,           // tickets this page took (tests)
};
window.kiosk = { state: S, ready: false, refresh: () => loadMenu() };

const $ = (id) => document.getElementById(id);
const screenEl = () => $('screen');

// ---------------------------------------------------------------- helpers

function newKey() {
  // crypto.getRandomValues works on plain http too (randomUUID needs a secure context).
  const b = new Uint8Array(16);
  crypto.getRandomValues(b);
  return `k-${[...b].map((x) => x.toString(16).padStart(2, '0')).join('')}`;
}

function zoneOf(code) { return S.menu ? S.menu.zones.find((z) => z.code === code) || null : null; }
function matterOf(zone, code) { return zone ? zone.matters.find((m) => m.code === code) || null : null; }

// Why a zone gives no ticket now, or null.
function unavailable(z) {
  if (!z.open) return z.closed_reason === 'disabled' ? t('kiosk.closed_disabled') : t('kiosk.closed_hours');
  if (z.quota_left !== undefined && z.quota_left <= 0) return t('kiosk.quota_reached');
  return null;
}

function hoursText(z) {
  return (z.opening_hours || []).map((p) => `${p[0]}–${p[1]}`).join(', ');
}

function btn(cls, attrs, ...children) {
  return el('button', { type: 'button', class: `btn k-btn ${cls}`, ...attrs }, ...children);
}

// `text` is interface text, or a node (hall data such as a matter name, marked data-content).
function heading(text, sub) {
  return el('div', { class: 'k-title' },
    el('h1', { id: 'screen-title' }, text),
    sub ? el('p', { class: 'k-hint' }, sub) : null);
}

function navBar(backTo) {
  return el('nav', { class: 'k-nav', 'aria-label': t('kiosk.back') },
    backTo ? btn('k-back', { onclick: backTo, 'data-action': 'back' }, el('span', { 'aria-hidden': 'true' }, '‹ '), t('kiosk.back')) : null,
    btn('k-home', { onclick: goHome, 'data-action': 'home' }, t('kiosk.home')));
}

function errorBox(extra) {
  if (!S.error) return null;
  return el('div', { class: 'k-error', role: 'alert', id: 'refusal' },
    el('div', { class: 'k-error-title' }, t('kiosk.refused')),
    el('div', { class: 'k-error-msg', id: 'refusal-message' }, S.error),
    extra || null);
}

// ---------------------------------------------------------------- screens

function show(screen, patch = {}) {
  Object.assign(S, patch, { screen });
  S.shownAt = performance.now();
  render(true);
}

function goHome() {
  if (S.busy) return;
  show('home', { zone: null, matter: null, mode: null, code: '', result: null, error: null, attemptKey: null });
}

function render(fresh = false) {
  const main = screenEl();
  const view = {
    loading: viewLoading, home: viewHome, zone: viewZone, guide: viewGuide, result: viewResult,
    keypad: viewKeypad, pick: viewPick, failed: viewFailed, notoken: viewNoToken,
  }[S.screen] || viewHome;
  main.replaceChildren(view());
  main.dataset.screen = S.screen;
  document.body.dataset.screen = S.screen;
  if (fresh) {
    main.scrollTop = 0;
    delete main.dataset.ready;
    const at = S.shownAt;
    setTimeout(() => { if (S.shownAt === at) main.dataset.ready = '1'; }, GUARD_MS);
    const title = $('screen-title');
    if (title) { title.tabIndex = -1; title.focus({ preventScroll: true }); }
  }
  renderChrome();
}

function renderChrome() {
  const m = S.menu;
  $('hall-name').textContent = m ? m.hall.name : '';
  $('hotline').textContent = m && m.hall.hotline ? t('kiosk.hotline', { hotline: m.hall.hotline }) : '';
  const p = m && m.printer;
  const printer = $('printer');
  if (p && p.state === 'unavailable' && S.screen !== 'result') {
    const message = p.message ? p.message.charAt(0).toUpperCase() + p.message.slice(1) : '';
    printer.textContent = t('kiosk.printer_down', { message });
    printer.hidden = false;
  } else {
    printer.hidden = true;
  }
  const conn = $('conn');
  conn.textContent = S.conn === 'online' ? '' : t(S.conn);
  conn.dataset.state = S.conn;
  conn.hidden = S.conn === 'online';
}

function viewLoading() {
  return el('div', { class: 'k-center' }, el('h1', { id: 'screen-title' }, t('kiosk.loading')));
}

function viewFailed() {
  return el('div', { class: 'k-center' }, el('h1', { id: 'screen-title' }, t('kiosk.load_failed')),
    S.error ? el('p', { class: 'k-hint' }, S.error) : null);
}

function viewNoToken() {
  return el('div', { class: 'k-center' }, el('h1', { id: 'screen-title' }, t('kiosk.no_token')));
}

function tile(z, onPick) {
  const why = unavailable(z);
  const lines = [];
  if (why) {
    lines.push(el('span', { class: 'k-tile-reason' }, why));
    if (!z.open && z.closed_reason !== 'disabled' && hoursText(z)) {
      lines.push(el('span', { class: 'k-tile-line' }, t('kiosk.hours', { hours: hoursText(z) })));
    }
  } else {
    lines.push(el('span', { class: 'k-tile-line k-waiting', 'data-role': 'waiting' }, t('kiosk.tile_waiting', { n: z.waiting })));
    lines.push(el('span', { class: 'k-tile-line', 'data-role': 'wait' },
      z.waiting ? t('kiosk.tile_wait', { wait: fmtWait(z.estimated_wait_s) }) : t('kiosk.no_wait')));
    if (z.quota_left !== undefined && z.quota_left <= 20) {
      lines.push(el('span', { class: 'k-tile-line k-few' }, t('kiosk.quota_left', { n: z.quota_left })));
    }
  }
  return el('button', {
    type: 'button', class: `k-tile${why ? ' k-tile-off' : ''}`, 'data-zone': z.code,
    'data-state': why ? (z.open ? 'quota' : 'closed') : 'open', 'aria-disabled': why ? 'true' : null, disabled: S.busy,
    onclick: () => { if (!why) onPick(z); },
  },
  el('span', { class: 'k-prefix', 'aria-hidden': 'true' }, z.prefix),
  el('span', { class: 'k-tile-body' }, el('span', { class: 'k-tile-name', 'data-content': true }, z.name), ...lines));
}

function tiles(onPick) {
  const many = S.menu.zones.length > 6 ? ' k-tiles-many' : '';
  return el('div', { class: `k-tiles${many}`, id: 'tiles' }, S.menu.zones.map((z) => tile(z, onPick)));
}

function viewHome() {
  return el('section', { class: 'k-screen k-home' },
    heading(t('kiosk.home_title'), t('kiosk.home_hint')),
    tiles((z) => show('zone', { zone: z.code, error: null })),
    el('h2', { class: 'k-section' }, t('kiosk.other_services')),
    el('div', { class: 'k-others' },
      btn('k-other', { onclick: () => show('keypad', { mode: 'appointment', code: '', error: null }), 'data-action': 'appointment' },
        el('span', { class: 'k-other-name' }, t('kiosk.appointment')),
        el('span', { class: 'k-other-hint' }, t('kiosk.appointment_hint'))),
      btn('k-other', { onclick: () => show('keypad', { mode: 'return', code: '', error: null }), 'data-action': 'return' },
        el('span', { class: 'k-other-name' }, t('kiosk.return_visit')),
        el('span', { class: 'k-other-hint' }, t('kiosk.return_hint')))));
}

function daysText(n) {
  if (!n) return t('kiosk.days_now');
  return n === 1 ? t('kiosk.days_1') : t('kiosk.days_n', { n });
}

function caseLine(m) {
  return [CASE_TYPES.includes(m.case_type) ? t(`kiosk.case_${m.case_type}`) : null, daysText(m.promised_days)]
    .filter(Boolean).join(' · ');
}

function viewZone() {
  const z = zoneOf(S.zone);
  if (!z) return viewHome();
  const pick = (code) => show('guide', { matter: code, error: null, attemptKey: newKey() });
  return el('section', { class: 'k-screen k-zone' },
    navBar(goHome),
    heading(t('kiosk.choose_matter')),
    el('div', { class: 'k-zone-name', 'data-content': true }, z.name),
    el('div', { class: 'k-matters' },
      z.matters.map((m) => btn('k-matter', { onclick: () => pick(m.code), 'data-matter': m.code },
        el('span', { class: 'k-matter-name', 'data-content': true }, m.name),
        el('span', { class: 'k-matter-meta' }, caseLine(m)))),
      btn('k-matter k-matter-none', { onclick: () => pick(''), 'data-matter': '' },
        el('span', { class: 'k-matter-name' }, t('kiosk.no_matter')))));
}

function fact(label, value, content = false) {
  return el('div', { class: 'k-fact' }, el('dt', {}, label), el('dd', content ? { 'data-content': true } : {}, value));
}

function viewGuide() {
  const z = zoneOf(S.zone);
  if (!z) return viewHome();
  const m = S.matter ? matterOf(z, S.matter) : null;
  const why = unavailable(z);
  const guide = m ? el('div', { class: 'k-guide' },
    el('h2', { class: 'k-section' }, t('kiosk.guide_title')),
    el('dl', { class: 'k-facts' },
      m.department ? fact(t('kiosk.department'), m.department, true) : null,
      fact(t('kiosk.case_type'), CASE_TYPES.includes(m.case_type) ? t(`kiosk.case_${m.case_type}`) : m.case_type),
      fact(t('kiosk.time_limit'), daysText(m.promised_days)),
      m.fee ? fact(t('kiosk.fee'), m.fee, true) : fact(t('kiosk.fee'), t('kiosk.fee_none'))),
    el('h2', { class: 'k-section' }, t('kiosk.materials')),
    (m.materials && m.materials.length)
      ? el('ol', { class: 'k-materials' }, m.materials.map((x) => el('li', { class: 'k-material' },
        el('span', { class: 'k-material-name', 'data-content': true }, x.name),
        el('span', { class: 'k-material-tags' },
          el('span', { class: `k-tag ${x.original ? 'k-tag-orig' : 'k-tag-copy'}` }, x.original ? t('kiosk.original') : t('kiosk.copy')),
          el('span', { class: 'k-tag k-tag-n' }, t('kiosk.material_copies', { n: x.copies || 1 }))))))
      : el('p', { class: 'k-hint' }, t('kiosk.no_materials'))) : null;
  const take = (priority) => takeTicket({ zone: z.code, ...(m ? { matter: m.code } : {}), priority });
  const actions = el('div', { class: 'k-actions', id: 'actions' },
    errorBox(),
    why ? el('div', { class: 'k-error', role: 'alert' }, el('div', { class: 'k-error-msg' }, why)) : null,
    btn('btn-primary k-take', { onclick: () => take('normal'), disabled: S.busy || !!why, 'data-action': 'take' },
      S.busy ? t('kiosk.taking') : t('kiosk.take')),
    btn('btn-warn k-take k-take-priority', { onclick: () => take('priority'), disabled: S.busy || !!why, 'data-action': 'take-priority' },
      el('span', { class: 'k-take-label' }, t('kiosk.take_priority')),
      el('span', { class: 'k-take-who' }, t('kiosk.priority_who'))),
    el('p', { class: 'k-hint k-small' }, t('kiosk.priority_note'), ' · ', t('kiosk.take_note')));
  return el('section', { class: 'k-screen k-guide-screen' },
    navBar(() => show('zone', { matter: null, error: null })),
    heading(m ? el('span', { 'data-content': true }, m.name) : t('kiosk.general_ticket')),
    el('div', { class: 'k-zone-name', 'data-content': true }, z.name),
    el('div', { class: 'k-guide-layout' }, guide, actions));
}

function idleLimit() { return S.screen === 'result' ? RESULT_MS : IDLE_MS; }

function viewResult() {
  const r = S.result;
  const left = Math.max(0, Math.ceil((RESULT_MS - (Date.now() - S.lastActivity)) / 1000));
  const printState = r.print ? (r.print.state === 'queued' ? 'queued' : 'unavailable') : 'none';
  return el('section', { class: 'k-screen k-result', 'aria-labelledby': 'screen-title' },
    el('div', { class: 'k-result-main' },
      el('h1', { class: 'k-result-label', id: 'screen-title' }, t('kiosk.your_number')),
      el('div', { class: 'k-number', id: 'ticket-number' }, r.number),
      r.priority === 'priority' ? el('div', { class: 'k-badge' }, t('kiosk.priority_badge')) : null,
      r.appointment ? el('div', { class: 'k-slot', id: 'slot' }, t('kiosk.slot', { start: r.appointment.start, end: r.appointment.end })) : null,
      el('div', { class: 'k-result-zone', 'data-content': true }, r.matter ? `${r.zone.name} · ${r.matter.name}` : r.zone.name),
      el('dl', { class: 'k-result-facts' },
        el('div', { class: 'k-fact' }, el('dt', {}, t('kiosk.ahead')), el('dd', { id: 'ahead' }, t('people', { n: r.waiting_ahead }))),
        el('div', { class: 'k-fact' }, el('dt', {}, t('kiosk.est_wait')), el('dd', { id: 'est-wait' }, fmtWait(r.estimated_wait_s)))),
      el('p', { class: 'k-hint' }, t('kiosk.listen'))),
    el('div', { class: 'k-result-side' },
      el('img', { class: 'k-qr', id: 'qr', alt: t('kiosk.qr_alt'), width: 360, height: 360,
                  src: `/api/v1/public/tickets/${encodeURIComponent(r.public_token)}/qr.svg` }),
      el('p', { class: 'k-scan' }, t('kiosk.scan')),
      el('div', { class: `k-print k-print-${printState}`, id: 'print-state', 'data-state': printState, role: 'status' },
        t(`kiosk.print_${printState}`))),
    el('div', { class: 'k-result-done' },
      btn('btn-primary k-done', { onclick: goHome, 'data-action': 'done' }, t('kiosk.done')),
      el('span', { class: 'k-countdown', id: 'countdown' }, t('kiosk.back_in', { n: left }))));
}

const KEYPAD_MAX = { appointment: 16, return: 24 };
const KEYPAD_MIN = 4;

function keypadPress(k) {
  if (S.busy) return;
  S.error = null;
  if (k === 'del') S.code = S.code.slice(0, -1);
  else if (k === 'clear') S.code = '';
  else if (S.code.length < KEYPAD_MAX[S.mode]) S.code += k;
  render();
}

function keypadNext() {
  if (S.code.length < KEYPAD_MIN || S.busy) return;
  if (S.mode === 'appointment') {
    S.attemptKey = newKey();
    takeTicket({ appointment_code: S.code });
  } else {
    show('pick', { error: null, attemptKey: newKey() });
  }
}

function viewKeypad() {
  const appt = S.mode === 'appointment';
  const key = (k, label, aria, cls = '') => btn(`k-key ${cls}`,
    { onclick: () => keypadPress(k), 'aria-label': aria, 'data-key': k, disabled: S.busy }, label);
  const digits = ['1', '2', '3', '4', '5', '6', '7', '8', '9'].map((d) => key(d, d, t('kiosk.key_digit', { d })));
  return el('section', { class: 'k-screen k-keypad-screen' },
    navBar(goHome),
    heading(appt ? t('kiosk.enter_appointment') : t('kiosk.enter_application'),
      appt ? t('kiosk.keypad_hint_appointment') : t('kiosk.keypad_hint_application')),
    el('div', { class: 'k-keypad-layout' },
      el('div', { class: 'k-entry' },
        el('div', { class: 'k-entry-label', id: 'code-label' }, t('kiosk.code_entered')),
        el('output', { class: `k-code${S.code ? '' : ' k-code-empty'}`, id: 'code', 'aria-labelledby': 'code-label', 'aria-live': 'polite' },
          S.code || t('kiosk.code_empty')),
        errorBox()),
      el('div', { class: `k-keypad${appt ? '' : ' k-keypad-dash'}`, role: 'group', 'aria-label': appt ? t('kiosk.enter_appointment') : t('kiosk.enter_application') },
        ...digits,
        key('del', t('kiosk.key_delete'), t('kiosk.key_delete'), 'k-key-fn'),
        key('0', '0', t('kiosk.key_digit', { d: 0 })),
        key('clear', t('kiosk.key_clear'), t('kiosk.key_clear'), 'k-key-fn'),
        appt ? null : key('-', '-', t('kiosk.key_dash'), 'k-key-fn'),
        btn('btn-primary k-next', { onclick: keypadNext, disabled: S.code.length < KEYPAD_MIN || S.busy, 'data-action': 'next' },
          S.busy ? t('kiosk.taking') : appt ? t('kiosk.check_in') : t('kiosk.next')))));
}

function viewPick() {  // the return visit's zone
  const submit = (z) => takeTicket({ zone: z.code, application_number: S.code });
  return el('section', { class: 'k-screen k-pick' },
    navBar(() => show('keypad', { error: null })),
    heading(t('kiosk.pick_zone_return'), t('kiosk.code_application', { code: S.code })),
    errorBox(btn('k-again', { onclick: () => show('keypad', { error: null }), 'data-action': 'enter-again' }, t('kiosk.enter_again'))),
    S.busy ? el('p', { class: 'k-hint', role: 'status' }, t('kiosk.taking')) : null,
    tiles(submit));
}

// ---------------------------------------------------------------- taking a ticket

async function takeTicket(body) {
  if (S.busy) return;
  S.busy = true;
  S.error = null;
  for (const b of screenEl().querySelectorAll('.k-take, .k-tile, .k-nav .btn, .k-next, .k-key')) b.disabled = true;
  render();
  if (!S.attemptKey) S.attemptKey = newKey();
  try {
    const ticket = await api('/api/v1/tickets', { method: 'POST', body, headers: { 'Idempotency-Key': S.attemptKey } });
    S.busy = false;
    S.issued += 1;
    S.lastActivity = Date.now();
    const z = zoneOf(ticket.zone.code);
    if (z) z.waiting = Math.max(z.waiting, ticket.waiting_ahead + 1);
    show('result', { result: ticket, error: null, attemptKey: null });
  } catch (e) {
    S.busy = false;
    S.error = e instanceof ApiError ? e.message : String(e);
    // A refusal changed nothing: the next try is a new attempt. After a network failure the
    // ticket may have been issued: the same key gets it back instead of a second one.
    if (!(e instanceof ApiError) || e.status !== 0) S.attemptKey = newKey();
    render();
    if (e instanceof ApiError && e.status === 409) loadMenu();
  }
}

// ---------------------------------------------------------------- data and live updates

async function loadMenu() {
  try {
    S.menu = await api('/api/v1/kiosk/menu');
    const gone = ['zone', 'guide'].includes(S.screen) && (!zoneOf(S.zone)
      || (S.screen === 'guide' && S.matter && !matterOf(zoneOf(S.zone), S.matter)));
    if (S.screen === 'loading' || S.screen === 'failed' || S.screen === 'notoken') show('home', { error: null });
    else if (gone && !S.busy) goHome();  // the operator removed what this citizen was looking at
    else render();
    window.kiosk.ready = true;
    document.body.dataset.menuAt = String(Date.now());
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) { show('notoken'); return; }
    if (!S.menu) show('failed', { error: e.message });
    setTimeout(loadMenu, 5000);
  }
}

let refreshTimer = null;
function refreshSoon(ms) {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(loadMenu, ms);
}

function applyWaiting(waiting) {
  if (!S.menu || !waiting) return;
  let changed = false;
  for (const z of S.menu.zones) {
    if (Object.prototype.hasOwnProperty.call(waiting, z.code) && waiting[z.code] !== z.waiting) {
      z.waiting = waiting[z.code];
      z.estimated_wait_s = z.waiting * (z.wait_per_person_s || 0);
      changed = true;
    }
  }
  if (changed) updateTiles();
}

// Tiles change in place: the screen is not rebuilt under a finger.
function updateTiles() {
  for (const node of document.querySelectorAll('.k-tile[data-zone]')) {
    const z = zoneOf(node.dataset.zone);
    if (!z) continue;
    const fresh = tile(z, () => {});
    const w = node.querySelector('[data-role=waiting]');
    const fw = fresh.querySelector('[data-role=waiting]');
    const e = node.querySelector('[data-role=wait]');
    const fe = fresh.querySelector('[data-role=wait]');
    if (w && fw) w.textContent = fw.textContent;
    if (e && fe) e.textContent = fe.textContent;
    if (fresh.dataset.state !== node.dataset.state) { render(); return; }
  }
}

function onEvent(ev) {
  if (ev.waiting) applyWaiting(ev.waiting);
  if (ev.type === 'ticket.issued' && ev.ticket && S.menu) {
    const z = zoneOf(ev.ticket.zone);
    if (z && z.quota_left !== undefined) {
      z.quota_left = Math.max(0, z.quota_left - 1);
      if (z.quota_left <= 20) updateTiles();
    }
  } else if (ev.type === 'config.changed') {
    refreshSoon(100);
  } else if (ev.type && ev.type.startsWith('window.')) {
    refreshSoon(1000);
  } else if (ev.type === 'printer.status' && S.menu && S.menu.printer && ev.printer && ev.printer.code === S.menu.printer.code) {
    refreshSoon(100);
  }
}

// ---------------------------------------------------------------- idle and taps

// The idle warning is not hidden on the touch itself: what lies under it would get the click.
function activity() {
  S.lastActivity = Date.now();
}

function tick() {
  const clock = $('clock');
  const now = new Date();
  clock.textContent = now.toLocaleTimeString(i18n.lang, { hour: '2-digit', minute: '2-digit', hour12: false });
  const left = idleLimit() - (Date.now() - S.lastActivity);
  const away = !['home', 'loading', 'failed', 'notoken'].includes(S.screen);
  if (away && !S.busy && left <= 0) {
    activity();
    $('idle').hidden = true;
    goHome();
    return;
  }
  const warn = $('idle');
  if (away && S.screen !== 'result' && left <= Math.min(WARN_MS, IDLE_MS / 2)) {
    $('idle-text').textContent = t('kiosk.idle_warning', { n: Math.ceil(left / 1000) });
    warn.hidden = false;
  } else if (Date.now() - S.lastActivity > GUARD_MS) {
    warn.hidden = true;
  }
  const cd = $('countdown');
  if (cd) cd.textContent = t('kiosk.back_in', { n: Math.max(0, Math.ceil(left / 1000)) });
}

function guard(e) {
  if (performance.now() - S.shownAt < GUARD_MS && screenEl().contains(e.target)) {
    e.stopPropagation();
    e.preventDefault();
  }
}

function onKey(e) {
  if (S.screen !== 'keypad') return;
  if (/^[0-9]$/.test(e.key) || (e.key === '-' && S.mode === 'return')) keypadPress(e.key);
  else if (e.key === 'Backspace') keypadPress('del');
  else if (e.key === 'Enter') keypadNext();
  else return;
  e.preventDefault();
}

// ---------------------------------------------------------------- start

async function main() {
  await i18n.load(['kiosk']);
  i18n.apply(document);
  $('lang-slot').append(langButton('k-btn'));
  i18n.onChange(() => { render(); if (S.menu) loadMenu(); });  // the printer's message comes translated
  $('idle-stay').addEventListener('click', activity);
  document.addEventListener('click', guard, true);
  for (const type of ['pointerdown', 'keydown', 'touchstart']) document.addEventListener(type, activity, { passive: true, capture: true });
  document.addEventListener('keydown', onKey);
  document.addEventListener('contextmenu', (e) => e.preventDefault());
  setInterval(tick, 250);
  tick();
  render(true);
  S.token = tokenFromUrl('hall.kiosk.token');
  if (!S.token) { show('notoken'); return; }
  setToken(S.token);
  await loadMenu();
  setInterval(() => { if (!S.busy) loadMenu(); }, MENU_REFRESH_MS);
  let snapshots = 0;
  openStream({
    token: S.token,
    onSnapshot: (snap) => {
      applyWaiting(snap.waiting);
      snapshots += 1;
      if (snapshots > 1) refreshSoon(100);  // back after a gap: the layout may have changed meanwhile
    },
    onEvent,
    onState: (state) => {
      S.conn = state;
      renderChrome();
      if (state === 'refused') loadMenu();  // the token was revoked: the menu says so (401)
    },
  });
}

main();
