// Shared by the kiosk, clerk, admin and status pages: translation, the API, the live stream and
// small DOM helpers. Plain ES module, no build step, nothing fetched from outside this server.
//
//   import { i18n, t, api, ApiError, openStream, el, tokenFromUrl, fmtWait } from '/static/web/common/app.js';
//   await i18n.load(['kiosk']);      // common.json + kiosk.json from /static/web/i18n/
//   i18n.apply(document);            // [data-t] text, [data-t-aria] aria-label, [data-t-title], [data-t-placeholder]
//   i18n.onChange(render);           // re-render after i18n.set('en')
//
// Every visible string comes from the tables in /static/web/i18n/<page>.json ({"zh-CN": {...}, "en": {...}}):
// keys are looked up in the page's table, then in common.json. The language is remembered per
// browser (localStorage 'hall.lang'), can be forced with ?lang=en, and goes to the server as
// Accept-Language so its error messages come back in the same language.

const LANGS = ['zh-CN', 'en'];
const LANG_KEY = 'hall.lang';

function pickLang() {
  const q = new URLSearchParams(location.search).get('lang');
  if (LANGS.includes(q)) return q;
  try {
    const saved = localStorage.getItem(LANG_KEY);
    if (LANGS.includes(saved)) return saved;
  } catch (_) { /* storage off: default */ }
  return 'zh-CN';
}

export const i18n = {
  lang: pickLang(),
  tables: { 'zh-CN': {}, en: {} },
  listeners: [],

  async load(names) {
    for (const name of ['common', ...names]) {
      const res = await fetch(`/static/web/i18n/${name}.json`, { cache: 'no-cache' });
      if (!res.ok) throw new Error(`translation table ${name}: ${res.status}`);
      const table = await res.json();
      for (const lang of LANGS) Object.assign(this.tables[lang], table[lang] || {});
    }
    document.documentElement.lang = this.lang;
  },

  t(key, params) {
    let s = this.tables[this.lang][key];
    if (s === undefined) s = this.tables['zh-CN'][key];
    if (s === undefined) return key;
    if (params) s = s.replace(/\{(\w+)\}/g, (m, k) => (params[k] === undefined || params[k] === null ? m : String(params[k])));
    return s;
  },

  apply(root = document) {
    for (const node of root.querySelectorAll('[data-t]')) node.textContent = this.t(node.dataset.t);
    for (const node of root.querySelectorAll('[data-t-aria]')) node.setAttribute('aria-label', this.t(node.dataset.tAria));
    for (const node of root.querySelectorAll('[data-t-title]')) node.title = this.t(node.dataset.tTitle);
    for (const node of root.querySelectorAll('[data-t-placeholder]')) node.placeholder = this.t(node.dataset.tPlaceholder);
    const title = document.querySelector('title[data-t]');
    if (title) document.title = this.t(title.dataset.t);
  },

  set(lang) {
    if (!LANGS.includes(lang) || lang === this.lang) return;
    this.lang = lang;
    try { localStorage.setItem(LANG_KEY, lang); } catch (_) { /* ignore */ }
    document.documentElement.lang = lang;
    this.apply(document);
    for (const fn of this.listeners) fn(lang);
  },

  toggle() { this.set(this.lang === 'zh-CN' ? 'en' : 'zh-CN'); },
  onChange(fn) { this.listeners.push(fn); },
};

export const t = (key, params) => i18n.t(key, params);

// ---------------------------------------------------------------- API

export class ApiError extends Error {
  constructor(status, code, message, body) {
    super(message);
    this.status = status;
    this.code = code;
    this.body = body;
  }
}

let bearer = null;
export function setToken(token) { bearer = token || null; }
export function getToken() { return bearer; }

// fetch + the API's error shape. Returns the parsed JSON, the text for text responses, or null
// for 204. Throws ApiError with the server's message (already in the page's language), or a
// translated network message when the server cannot be reached.
export async function api(path, { method = 'GET', body, token, text = false, headers = {} } = {}) {
  const h = { 'Accept-Language': i18n.lang, ...headers };
  const tok = token === undefined ? bearer : token;
  if (tok) h.Authorization = `Bearer ${tok}`;
  let payload;
  if (body !== undefined) {
    if (typeof body === 'string') { payload = body; h['Content-Type'] = h['Content-Type'] || 'text/plain; charset=utf-8'; }
    else { payload = JSON.stringify(body); h['Content-Type'] = 'application/json'; }
  }
  let res;
  try {
    res = await fetch(path, { method, headers: h, body: payload, cache: 'no-store' });
  } catch (_) {
    throw new ApiError(0, 'network', t('error_network'));
  }
  if (res.status === 204) return null;
  const type = res.headers.get('content-type') || '';
  if (!res.ok) {
    let data = null;
    try { data = type.includes('json') ? await res.json() : null; } catch (_) { /* not JSON */ }
    const err = data && data.error;
    throw new ApiError(res.status, err ? err.code : `http_${res.status}`,
                       err && err.message ? err.message : t('error_http', { status: res.status }), data);
  }
  if (text || !type.includes('json')) return res.text();
  return res.json();
}

// ---------------------------------------------------------------- live stream

// Opens WS /api/v1/display/stream and keeps it open: reconnects with `since` = the last seq seen
// (exponential backoff with jitter, capped at 10 s). The server sends events in seq order (filtered
// by zone, so seq may jump) and drops a client that falls behind; resync() asks for a snapshot.
//   onSnapshot(msg), onEvent(ev), onState('connecting'|'online'|'offline'|'refused')
// Returns {close()}.
export function openStream({ token, zones, onSnapshot, onEvent, onState = () => {} }) {
  let ws = null;
  let since = null;
  let attempt = 0;
  let stopped = false;
  let timer = null;

  function url() {
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const q = new URLSearchParams({ token });
    if (since !== null) q.set('since', String(since));
    if (zones && zones.length) q.set('zones', zones.join(','));
    return `${proto}//${location.host}/api/v1/display/stream?${q}`;
  }

  function connect() {
    if (stopped) return;
    onState('connecting');
    ws = new WebSocket(url());
    ws.onopen = () => { attempt = 0; onState('online'); };
    ws.onmessage = (m) => {
      let msg;
      try { msg = JSON.parse(m.data); } catch (_) { return; }
      if (msg.type === 'ping' || msg.type === 'pong') return;
      if (msg.type === 'snapshot') {
        since = msg.seq;
        onSnapshot && onSnapshot(msg);
        return;
      }
      if (typeof msg.seq === 'number') {
        if (since !== null && msg.seq <= since) return;
        since = msg.seq;
      }
      onEvent && onEvent(msg);
    };
    ws.onclose = (e) => {
      ws = null;
      if (stopped) return;
      if (e.code === 1008) { onState('refused'); return; }
      onState('offline');
      const delay = Math.min(10000, 500 * 2 ** attempt) * (0.5 + Math.random() / 2);
      attempt += 1;
      timer = setTimeout(connect, delay);
    };
  }
  connect();
  return {
    close() { stopped = true; clearTimeout(timer); if (ws) ws.close(); },
    resync() { if (ws && ws.readyState === 1) ws.send(JSON.stringify({ type: 'snapshot' })); },
  };
}

// ---------------------------------------------------------------- helpers

// A device token from ?token= (kept in localStorage under `key`, then removed from the address
// bar so it is not shown or bookmarked), or the one stored before.
export function tokenFromUrl(key) {
  const params = new URLSearchParams(location.search);
  const fromUrl = params.get('token');
  if (fromUrl) {
    try { localStorage.setItem(key, fromUrl); } catch (_) { /* ignore */ }
    params.delete('token');
    const rest = params.toString();
    history.replaceState(null, '', location.pathname + (rest ? `?${rest}` : ''));
    return fromUrl;
  }
  try { return localStorage.getItem(key); } catch (_) { return null; }
}

// el('button', {class: 'btn', onclick: fn, 'aria-label': '…'}, 'text', childNode, …)
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') node.addEventListener(k.slice(2), v);
    else if (k === 'class') node.className = v;
    else if (k === 'dataset') Object.assign(node.dataset, v);
    else if (v === true) node.setAttribute(k, '');
    else node.setAttribute(k, String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

// An estimated wait in whole minutes, translated ("约 5 分钟" / "about 5 min"; under a minute: "即将").
export function fmtWait(seconds) {
  if (seconds === null || seconds === undefined) return t('wait_unknown');
  const min = Math.round(seconds / 60);
  return min < 1 ? t('wait_soon') : t('wait_minutes', { n: min });
}

// A duration so far as m:ss or h:mm:ss.
export function fmtElapsed(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

// A short message in the page's toast area (role=alert: screen readers read it).
export function toast(message, kind = 'error', ms = 6000) {
  let box = document.getElementById('toasts');
  if (!box) {
    box = el('div', { id: 'toasts', class: 'toasts', role: 'alert', 'aria-live': 'assertive' });
    document.body.append(box);
  }
  const item = el('div', { class: `toast toast-${kind}` }, message);
  box.append(item);
  setTimeout(() => item.remove(), ms);
  return item;
}

// A language switch button: shows the other language's name, toggles on click.
export function langButton(extraClass = '') {
  const b = el('button', { type: 'button', class: `btn lang-switch ${extraClass}`.trim(), 'data-t': 'lang_switch',
                            'data-t-aria': 'lang_switch_label', onclick: () => i18n.toggle() });
  b.textContent = t('lang_switch');
  b.setAttribute('aria-label', t('lang_switch_label'));
  return b;
}
