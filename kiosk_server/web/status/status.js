// A ticket's public status page (the ticket's QR code opens it): /t/<public token>[?lang=en][&poll=10]
//
// Shows the number, its status, the people ahead and the estimated wait, and when the ticket is
// called the window, big. Live through WS /api/v1/public/tickets/<token>/stream (the server sends
// the ticket body again whenever it changes); when the socket cannot be opened or drops, the
// page reads GET /api/v1/public/tickets/<token> every `poll` seconds (default 10) and keeps
// trying the socket with a growing delay. A page coming back to the foreground reads at once.
// The body holds no personal data, and neither does this page.
// For tests: window.ticketStatus = {body, mode, messages, polls, connects, notFound}.

import { i18n, t, api, ApiError, el, fmtWait, langButton } from '/static/web/common/app.js';

const params = new URLSearchParams(location.search);
const POLL_S = Math.max(2, Number(params.get('poll')) || 10);
const TOKEN = decodeURIComponent(location.pathname.split('/').filter(Boolean).pop() || '');
const FINAL = ['served', 'cancelled', 'expired'];

const state = { body: null, mode: 'connecting', notFound: false, updatedAt: null, messages: 0, polls: 0, connects: 0 };
window.ticketStatus = state;

const $ = (id) => document.getElementById(id);
let ws = null;
let attempt = 0;
let pollTimer = null;
let retryTimer = null;
let lastStatus = null;

// ---------------------------------------------------------------- view

function facts(b) {
  return el('dl', { class: 't-facts' },
    el('div', { class: 't-fact' }, el('dt', {}, t('track.ahead')), el('dd', { id: 'ahead' }, t('people', { n: b.waiting_ahead }))),
    el('div', { class: 't-fact' }, el('dt', {}, t('track.est_wait')), el('dd', { id: 'est-wait' }, fmtWait(b.estimated_wait_s))));
}

function windowBlock(b, lead) {
  const w = b.window;
  return el('div', { class: 't-window' },
    el('div', { class: 't-window-lead' }, lead),
    el('div', { class: 't-window-code', id: 'window-code' }, w ? t('window_n', { code: w.code }) : ''),
    w ? el('div', { class: 't-window-name', 'data-content': true }, w.name) : null);
}

function detail(b) {
  switch (b.status) {
    case 'waiting':
      return el('div', { class: 't-detail' }, facts(b), el('p', { class: 't-note' }, t('track.waiting_note')));
    case 'called':
      return el('div', { class: 't-call', role: 'alert', id: 'call' },
        el('div', { class: 't-call-title' }, t('track.your_turn')), windowBlock(b, t('track.go_to')));
    case 'serving':
      return el('div', { class: 't-serving' }, windowBlock(b, t('track.serving_at')));
    default: {
      const key = { served: 'track.served', missed: 'track.missed', cancelled: 'track.cancelled', expired: 'track.expired' }[b.status];
      return key ? el('p', { class: `t-message t-message-${b.status}`, id: 'message' }, t(key)) : null;
    }
  }
}

function render() {
  const main = $('ticket');
  const b = state.body;
  if (state.notFound) {
    main.replaceChildren(el('p', { class: 't-message t-message-missed', id: 'message' }, t('track.not_found')));
  } else if (!b) {
    main.replaceChildren(el('p', { class: 't-note' }, t('track.loading')));
  } else {
    main.replaceChildren(
      el('section', { class: `t-card t-card-${b.status}`, 'data-status': b.status },
        el('div', { class: 't-zone' }, el('span', { class: 't-zone-label' }, t('track.zone')), ' ',
          el('span', { 'data-content': true }, b.zone.name)),
        el('div', { class: 't-label' }, t('track.your_number')),
        el('div', { class: 't-number', id: 'number' }, b.number),
        el('div', { class: `t-pill t-pill-${b.status}`, id: 'status' }, t(`status_${b.status}`))),
      detail(b));
  }
  document.title = b && b.status === 'called' && b.window ? t('track.turn_title', { code: b.window.code }) : t('track.title');
  const mode = $('mode');
  mode.dataset.mode = state.mode;
  mode.textContent = { live: t('track.live'), polling: t('track.polling', { n: POLL_S }), connecting: t('connecting') }[state.mode] || '';
  $('updated').textContent = state.updatedAt ? t('track.updated', { time: state.updatedAt.toLocaleTimeString(i18n.lang, { hour12: false }) }) : '';
}

// ---------------------------------------------------------------- data

function update(body) {
  if (!body) return;
  state.body = body;
  state.updatedAt = new Date();
  if (body.status === 'called' && lastStatus !== 'called' && navigator.vibrate) {
    try { navigator.vibrate([400, 200, 400]); } catch (_) { /* not allowed without a tap */ }
  }
  lastStatus = body.status;
  if (FINAL.includes(body.status)) stopLive();
  render();
}

async function poll() {
  state.polls += 1;
  try {
    update(await api(`/api/v1/public/tickets/${encodeURIComponent(TOKEN)}`));
  } catch (e) {
    if (e instanceof ApiError && e.status === 404) { state.notFound = true; stopLive(); render(); }
  }
}

function setMode(mode) { state.mode = mode; render(); }

function startPolling() {
  if (pollTimer === null) pollTimer = setInterval(poll, POLL_S * 1000);
  setMode('polling');
}

function stopPolling() {
  clearInterval(pollTimer);
  pollTimer = null;
}

function stopLive() {
  stopPolling();
  clearTimeout(retryTimer);
  if (ws) { const s = ws; ws = null; s.onclose = null; s.close(); }
  state.mode = 'final';
}

function connect() {
  if (state.notFound || (state.body && FINAL.includes(state.body.status))) return;
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
  let sock;
  try {
    sock = new WebSocket(`${proto}//${location.host}/api/v1/public/tickets/${encodeURIComponent(TOKEN)}/stream`);
  } catch (_) {
    startPolling();
    return;
  }
  ws = sock;
  sock.onopen = () => { attempt = 0; state.connects += 1; stopPolling(); setMode('live'); };
  sock.onmessage = (m) => {
    let msg;
    try { msg = JSON.parse(m.data); } catch (_) { return; }
    if (msg.type === 'ticket') { state.messages += 1; update(msg.ticket); }
  };
  sock.onclose = (e) => {
    if (ws !== sock) return;
    ws = null;
    if (e.code === 1008) { state.notFound = true; stopLive(); render(); return; }
    startPolling();
    const delay = Math.min(60000, 2000 * 2 ** attempt);
    attempt += 1;
    retryTimer = setTimeout(connect, delay);
  };
}

async function main() {
  await i18n.load(['status']);
  i18n.apply(document);
  $('lang-slot').append(langButton('t-lang'));
  i18n.onChange(render);
  render();
  await poll();
  connect();
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible' && state.mode !== 'final') poll();
  });
}

main();
