// Hall screen (叫号屏): one page, no build step, nothing fetched from outside this server.
//
//   /display?token=<display device token>[&zones=A,B][&lang=en][&calls=8][&notice=…]
//            [&repeat=2][&audio=auto|timed|off][&token_ms=300]
//
// The token is kept in localStorage and removed from the address bar. The page opens
// WS /api/v1/display/stream, keeps the hall state with the same reducer as display_client/state.py
// (mirrored below: `reduce`), reconnects with `since` = the last applied seq (exponential backoff
// with jitter) and announces a call only when it arrives as an event the page had not applied yet:
// a snapshot never announces, a replay after `since` holds only events not seen before (each
// announced once, in order), and every announced call is remembered by its identity so an
// overlapping replay stays silent.
//
// Announcements go through one FIFO with one player: never overlapping, never dropped, never
// reordered. Each plays the voice pack (/static/voice/zh-CN/<token>.wav) with Web Audio: the
// chime once, then the tokens' clips `repeat` times. Without clips: speechSynthesis if a zh-CN
// voice exists, else a chime and a full-screen flash. When audio cannot play (no AudioContext, or
// one the browser keeps suspended without a user gesture) each announcement still takes the
// clips' duration (or token_ms per token), so the queue advances in order. For tests:
// window.hallDisplay = {announced, submitted, log: [{text, seq, start, end, mode}], playing, queue, …}.

// ---------------------------------------------------------------- translation table

const I18N = {
  'zh-CN': {
    title: '政务服务中心',
    page_title: '叫号屏',
    current_call: '当前叫号',
    please_go_to: '请到',
    window_n: '{code}号窗口',
    recent_calls: '最近叫号',
    windows: '窗口',
    waiting: '等候人数',
    zone_waiting: '{zone}区',
    people: '{n}人',
    state_open: '服务中',
    state_paused: '暂停服务',
    state_closed: '已关闭',
    idle: '空闲',
    recall: '重呼',
    no_call: '暂无叫号',
    connecting: '正在连接…',
    offline: '连接中断，正在重连…',
    no_token: '未配置显示屏令牌。请用 /display?token=<显示屏令牌> 打开本页。',
    refused: '服务器拒绝了显示屏令牌（已撤销或无效），请重新配置。',
    notice_default: '请取号后留意叫号，过号请到服务台重新取号。办事请携带有效身份证件。请保管好个人信息，勿将证件交给他人。',
    weekdays: ['星期日', '星期一', '星期二', '星期三', '星期四', '星期五', '星期六'],
  },
  en: {
    title: 'Government Service Center',
    page_title: 'Calling screen',
    current_call: 'Now calling',
    please_go_to: 'please go to',
    window_n: 'Window {code}',
    recent_calls: 'Recent calls',
    windows: 'Windows',
    waiting: 'Waiting',
    zone_waiting: 'Zone {zone}',
    people: '{n}',
    state_open: 'Open',
    state_paused: 'Paused',
    state_closed: 'Closed',
    idle: 'Free',
    recall: 'recall',
    no_call: 'No calls yet',
    connecting: 'Connecting…',
    offline: 'Connection lost, reconnecting…',
    no_token: 'No display token. Open this page as /display?token=<display device token>.',
    refused: 'The server refused the display token (revoked or invalid).',
    notice_default: 'Please watch for your number. If you miss your call, take a new ticket at the service desk. Bring a valid ID.',
    weekdays: ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'],
  },
};

const params = new URLSearchParams(location.search);
const LANG = params.get('lang') === 'en' ? 'en' : 'zh-CN';

export function t(key, vars = {}) {
  const table = I18N[LANG];
  const s = key in table ? table[key] : I18N['zh-CN'][key] ?? key;
  return typeof s === 'string' ? s.replace(/\{(\w+)\}/g, (_, k) => (k in vars ? String(vars[k]) : `{${k}}`)) : s;
}

// ---------------------------------------------------------------- options

function intParam(name, dflt, lo, hi) {
  const v = Number.parseInt(params.get(name) ?? '', 10);
  return Number.isFinite(v) ? Math.min(hi, Math.max(lo, v)) : dflt;
}

const TOKEN_KEY = 'hallDisplay.token';
const ZONES = (params.get('zones') || '').split(',').map((z) => z.trim()).filter((z) => /^[A-Za-z0-9_-]+$/.test(z));
const OPTIONS = {
  recent: intParam('calls', 8, 0, 12),
  repeat: intParam('repeat', 2, 1, 3),
  audio: ['auto', 'timed', 'off'].includes(params.get('audio')) ? params.get('audio') : 'auto',
  tokenMs: intParam('token_ms', 300, 1, 2000),
  pauseMs: 800,
  backoffMinMs: 500,
  backoffMaxMs: 10000,
  idleTimeoutMs: 45000,      // the server pings a screen it sent nothing to for 15-30 s
  rememberedCalls: 500,
};

function takeToken() {
  let token = params.get('token');
  let stored = null;
  try { stored = localStorage.getItem(TOKEN_KEY); } catch { /* storage disabled */ }
  if (token) {
    try { localStorage.setItem(TOKEN_KEY, token); } catch { /* keep it in memory only */ }
    // Keep the device token out of the address bar (and out of screenshots of it).
    const clean = new URLSearchParams(location.search);
    clean.delete('token');
    const q = clean.toString();
    history.replaceState(null, '', location.pathname + (q ? `?${q}` : '') + location.hash);
  } else {
    token = stored;
  }
  return token || null;
}

// ---------------------------------------------------------------- wire messages (protocol.py)

const CALL_TYPES = new Set(['ticket.called', 'ticket.recalled']);
const str = (v) => (typeof v === 'string' ? v : null);
const isInt = (v) => Number.isInteger(v);

function ticketRef(v) {
  if (!v || typeof v !== 'object' || str(v.number) === null) return null;
  return { id: isInt(v.id) ? v.id : null, number: v.number, zone: str(v.zone) };
}
function windowRef(v) {
  if (!v || typeof v !== 'object' || str(v.code) === null) return null;
  return { code: v.code, name: str(v.name) || '', state: str(v.state), reason: str(v.reason) };
}
function announcementOf(v) {
  if (!v || typeof v !== 'object' || !Array.isArray(v.tokens) || !v.tokens.every((x) => typeof x === 'string')) return null;
  return { text: str(v.text) || '', tokens: v.tokens.slice() };
}
function waitingOf(v) {
  if (!v || typeof v !== 'object') return null;
  const out = {};
  for (const [k, n] of Object.entries(v)) if (isInt(n) && n >= 0) out[k] = n;
  return out;
}
function eventOf(d) {
  return {
    kind: 'event', seq: d.seq, type: d.type, at: str(d.at) || '', zone: str(d.zone),
    ticket: ticketRef(d.ticket), window: windowRef(d.window), announcement: announcementOf(d.announcement),
    waiting: waitingOf(d.waiting),
  };
}

/** A message: {kind: 'snapshot'|'event'|'ping'|'other', …}, or null when unreadable. */
export function parse(text) {
  let d;
  try { d = JSON.parse(text); } catch { return null; }
  if (!d || typeof d !== 'object' || Array.isArray(d) || typeof d.type !== 'string' || !d.type) return null;
  if (d.type === 'snapshot') {
    if (!isInt(d.seq)) return null;
    const calls = (Array.isArray(d.calls) ? d.calls : [])
      .filter((c) => c && typeof c === 'object' && isInt(c.seq) && typeof c.type === 'string').map(eventOf);
    const windows = (Array.isArray(d.windows) ? d.windows : [])
      .filter((w) => w && typeof w === 'object' && str(w.code) !== null)
      .map((w) => ({ code: w.code, name: str(w.name) || '', state: str(w.state) || 'closed',
                     current_number: str(w.current_number) }));
    const hall = d.hall && typeof d.hall === 'object' ? str(d.hall.name) || '' : '';
    return { kind: 'snapshot', seq: d.seq, hallName: hall, calls, windows, waiting: waitingOf(d.waiting) || {} };
  }
  if (d.type === 'ping' || d.type === 'pong') return { kind: 'ping' };
  if (!('seq' in d)) return { kind: 'other', type: d.type };
  if (!isInt(d.seq)) return null;
  return eventOf(d);
}

// ---------------------------------------------------------------- the reducer (state.py)

export const MAX_CALLS = 10;

export function initial(zones = null, gapCheck = null) {
  return { seq: null, hallName: '', windows: new Map(), calls: [], waiting: {}, needsResync: false,
           resyncReason: '', zones, gapCheck: gapCheck === null ? zones === null : gapCheck };
}

function holds(w, t) {
  if (w.ticketId !== null && t.id !== null) return w.ticketId === t.id;
  return w.number !== null && w.number === t.number;
}
function windowView(code, name = '', state = 'closed') {
  return { code, name, state, number: null, ticketId: null, serving: false, reason: null, callSeq: null };
}
function callView(ev) {
  return { seq: ev.seq, at: ev.at, number: ev.ticket.number, ticketId: ev.ticket.id, window: ev.window.code,
           windowName: ev.window.name, zone: ev.ticket.zone || ev.zone, recall: ev.type === 'ticket.recalled',
           text: ev.announcement ? ev.announcement.text : '' };
}
function sameTicket(a, b) {
  if (a.ticketId !== null && b.ticketId !== null) return a.ticketId === b.ticketId;
  return a.number === b.number;
}
function dedupe(calls) {
  const out = [];
  for (const c of calls) if (!out.some((o) => sameTicket(c, o))) out.push(c);
  return out.slice(0, MAX_CALLS);
}
function ours(state, waiting) {
  const out = {};
  if (!waiting) return out;
  for (const [z, n] of Object.entries(waiting)) if (state.zones === null || state.zones.includes(z)) out[z] = n;
  return out;
}
const vacant = (w) => ({ ...w, number: null, ticketId: null, serving: false, callSeq: null });
function withWindow(state, w) {
  const windows = new Map(state.windows);
  windows.set(w.code, w);
  return { ...state, windows };
}
function release(state, t) {
  const windows = new Map();
  for (const [code, w] of state.windows) windows.set(code, holds(w, t) ? vacant(w) : w);
  return { ...state, windows };
}

function called(state, ev) {
  if (!ev.ticket || !ev.window) return state;
  const t = ev.ticket;
  const ref = ev.window;
  state = release(state, t);
  const w = state.windows.get(ref.code) || windowView(ref.code, ref.name, 'open');
  state = withWindow(state, { ...w, name: ref.name || w.name, number: t.number, ticketId: t.id, serving: false,
                              callSeq: ev.seq });
  return { ...state, calls: dedupe([callView(ev), ...state.calls]) };
}
function started(state, ev) {
  if (!ev.ticket) return state;
  const t = ev.ticket;
  let code = ev.window ? ev.window.code : null;
  if (code === null) for (const [c, w] of state.windows) if (holds(w, t)) { code = c; break; }
  const w = code !== null ? state.windows.get(code) : undefined;
  if (!w) return state;
  return withWindow(state, { ...w, number: t.number, ticketId: t.id, serving: true });
}
const released = (state, ev) => (ev.ticket ? release(state, ev.ticket) : state);

const WINDOW_STATES = { 'window.opened': 'open', 'window.resumed': 'open', 'window.paused': 'paused',
                        'window.closed': 'closed' };
function windowChanged(state, ev) {
  const ref = ev.window;
  if (!ref) return state;
  let w = state.windows.get(ref.code);
  if (!w) {
    if (state.zones !== null) return state; // a window of other zones: the snapshot listed ours
    w = windowView(ref.code, ref.name);
  }
  const newState = ref.state || WINDOW_STATES[ev.type];
  w = { ...w, name: ref.name || w.name, state: newState, reason: newState === 'paused' ? ref.reason : null };
  if (ev.type !== 'window.resumed') w = vacant(w);
  return withWindow(state, w);
}

const HANDLERS = {
  'ticket.called': called, 'ticket.recalled': called, 'ticket.started': started,
  'ticket.served': released, 'ticket.missed': released, 'ticket.cancelled': released,
  'ticket.requeued': released, 'ticket.transferred': released, 'ticket.expired': released,
  'window.opened': windowChanged, 'window.paused': windowChanged, 'window.resumed': windowChanged,
  'window.closed': windowChanged,
};

function reduceSnapshot(state, snap) {
  const calls = dedupe(snap.calls.filter((ev) => CALL_TYPES.has(ev.type) && ev.ticket && ev.window).map(callView));
  const windows = new Map();
  for (const w of snap.windows) {
    const call = calls.find((c) => c.window === w.code && c.number === w.current_number);
    windows.set(w.code, { ...windowView(w.code, w.name, w.state), number: w.current_number,
                          ticketId: call ? call.ticketId : null, callSeq: call ? call.seq : null });
  }
  return { ...state, seq: snap.seq, hallName: snap.hallName || state.hallName, windows, calls,
           waiting: ours(state, snap.waiting), needsResync: false, resyncReason: '' };
}

function reduceEvent(state, ev) {
  if (state.seq !== null && ev.seq <= state.seq) return state;
  let needs = state.needsResync;
  let reason = state.resyncReason;
  if (!needs) {
    if (state.seq === null) [needs, reason] = [true, 'event before the first snapshot'];
    else if (state.gapCheck && ev.seq !== state.seq + 1) [needs, reason] = [true, `gap: expected seq ${state.seq + 1}, got ${ev.seq}`];
  }
  const handler = HANDLERS[ev.type];
  const next = handler ? handler(state, ev) : state;
  const waiting = ev.waiting ? { ...next.waiting, ...ours(state, ev.waiting) } : next.waiting;
  if (ev.type === 'config.changed' && !needs) [needs, reason] = [true, 'layout changed'];
  return { ...next, seq: ev.seq, waiting, needsResync: needs, resyncReason: reason };
}

/** reduce(state, message) -> state; never mutates its input, returns the same object when nothing changed. */
export function reduce(state, msg) {
  if (!msg) return state;
  if (msg.kind === 'snapshot') return reduceSnapshot(state, msg);
  if (msg.kind === 'event') return reduceEvent(state, msg);
  return state;
}

// ---------------------------------------------------------------- the test / diagnostics surface

const hd = {
  announced: [],     // texts, in the order their announcement started
  submitted: [],     // texts, in the order they were queued
  log: [],           // {text, seq, start, end, mode} (performance.now() ms)
  playing: false,
  queue: 0,          // announcements waiting (not counting the one playing)
  connected: false,
  connects: 0,
  urls: [],          // each connection's query (without the token): shows `since` on reconnects
  seq: null,
  lang: LANG,
  options: OPTIONS,
  state: null,
  configure(opts) { Object.assign(OPTIONS, opts || {}); return { ...OPTIONS }; },
  probeVoice: null,  // set below: async (tokens) -> [{token, seconds|null}]
};
window.hallDisplay = hd;

// ---------------------------------------------------------------- audio

const VOICE_BASE = '/static/voice/zh-CN/';
const sleep = (ms) => new Promise((r) => setTimeout(r, Math.max(0, ms)));
const withTimeout = (p, ms, fallback) => Promise.race([p, sleep(ms).then(() => fallback)]);

class Voice {
  constructor() {
    this.ctx = null;
    this.ctxFailed = false;
    this.clips = new Map();   // token -> Promise<AudioBuffer|null>
  }

  context() {
    if (this.ctx || this.ctxFailed) return this.ctx;
    try {
      const AC = window.AudioContext || window.webkitAudioContext;
      this.ctx = AC ? new AC() : null;
    } catch { this.ctx = null; }
    if (!this.ctx) this.ctxFailed = true;
    return this.ctx;
  }

  /** Whether sound can play now (tries to resume a suspended context briefly). */
  async running() {
    const ctx = this.context();
    if (!ctx) return false;
    if (ctx.state !== 'running') {
      try { await withTimeout(ctx.resume(), 250, null); } catch { /* autoplay policy */ }
    }
    return ctx.state === 'running';
  }

  clip(token) {
    if (!this.clips.has(token)) {
      const load = (async () => {
        const ctx = this.context();
        for (const name of token === token.toUpperCase() ? [token] : [token, token.toUpperCase()]) {
          try {
            const r = await fetch(VOICE_BASE + encodeURIComponent(name) + '.wav', { cache: 'force-cache' });
            if (!r.ok) continue;
            const data = await r.arrayBuffer();
            if (!ctx) return { buffer: null, seconds: wavSeconds(data) };
            const buffer = await ctx.decodeAudioData(data);
            return { buffer, seconds: buffer.duration };
          } catch { /* try the next name */ }
        }
        return null;
      })();
      this.clips.set(token, load);
    }
    return this.clips.get(token);
  }

  /** The clips of the tokens in order; a missing token is spelt from its characters when all exist. */
  async voice(tokens) {
    const parts = [];
    for (const token of tokens) {
      const c = await this.clip(token);
      if (c) { parts.push(c); continue; }
      if ([...token].length > 1) {
        const chars = await Promise.all([...token].map((ch) => this.clip(ch)));
        if (chars.every(Boolean)) parts.push(...chars);
      }
    }
    return parts;
  }

  /** Plays the parts back to back (gapMs between groups); resolves at the end (bounded). */
  async playSequence(groups, gapMs) {
    const ctx = this.ctx;
    let at = ctx.currentTime + 0.05;
    let last = null;
    for (let g = 0; g < groups.length; g++) {
      if (g > 0) at += gapMs / 1000;
      for (const part of groups[g]) {
        if (!part.buffer) { at += part.seconds; continue; }
        const src = ctx.createBufferSource();
        src.buffer = part.buffer;
        src.connect(ctx.destination);
        src.start(at);
        at += part.buffer.duration;
        last = src;
      }
    }
    const total = (at - ctx.currentTime) * 1000;
    if (!last) return sleep(total);
    const ended = new Promise((resolve) => { last.onended = resolve; });
    await withTimeout(ended, total + 1500, null);
  }

  /** A two-note 叮咚 with oscillators (no clip needed); resolves after it. */
  async chime() {
    const ctx = this.ctx;
    const now = ctx.currentTime + 0.02;
    for (const [freq, start, len] of [[659.25, 0, 0.35], [523.25, 0.35, 0.6]]) {
      const osc = ctx.createOscillator();
      const gain = ctx.createGain();
      osc.frequency.value = freq;
      gain.gain.setValueAtTime(0.0001, now + start);
      gain.gain.exponentialRampToValueAtTime(0.4, now + start + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, now + start + len);
      osc.connect(gain).connect(ctx.destination);
      osc.start(now + start);
      osc.stop(now + start + len);
    }
    await sleep(1000);
  }
}

/** Duration of a PCM WAV from its header (when there is no AudioContext to decode it). */
function wavSeconds(buf) {
  try {
    const v = new DataView(buf);
    let off = 12;
    let rate = 0, blockAlign = 0;
    while (off + 8 <= v.byteLength) {
      const id = String.fromCharCode(v.getUint8(off), v.getUint8(off + 1), v.getUint8(off + 2), v.getUint8(off + 3));
      const size = v.getUint32(off + 4, true);
      if (id === 'fmt ') { blockAlign = v.getUint16(off + 20, true); rate = v.getUint32(off + 12, true); }
      if (id === 'data' && rate && blockAlign) return size / blockAlign / rate;
      off += 8 + size + (size % 2);
    }
  } catch { /* not a WAV */ }
  return null;
}

function zhVoice() {
  const synth = window.speechSynthesis;
  if (!synth) return null;
  try {
    return synth.getVoices().find((v) => /^zh[-_](cn|hans)/i.test(v.lang || '')) || null;
  } catch { return null; }
}

function speak(text, voice) {
  return new Promise((resolve) => {
    const u = new SpeechSynthesisUtterance(text);
    u.voice = voice;
    u.lang = voice.lang;
    u.onend = resolve;
    u.onerror = resolve;
    window.speechSynthesis.speak(u);
    setTimeout(resolve, 400 * [...text].length + 2000); // onend may never come
  });
}

// ---------------------------------------------------------------- the announcement queue

class Announcer {
  constructor(voice, onStart) {
    this.voice = voice;
    this.onStart = onStart;
    this.items = [];
    this.running = false;
  }

  submit(callout) {
    this.items.push(callout);
    hd.submitted.push(callout.text);
    hd.queue = this.items.length;
    if (!this.running) this.run();
  }

  async run() {
    this.running = true;
    try {
      while (this.items.length) {
        const c = this.items.shift();
        hd.queue = this.items.length;
        hd.playing = true;
        hd.announced.push(c.text);
        const entry = { text: c.text, seq: c.seq, start: performance.now(), end: null, mode: null };
        hd.log.push(entry);
        try {
          this.onStart(c);
          entry.mode = await this.play(c);
        } catch (e) {
          entry.mode = 'error';
          console.warn('announcement failed', c.text, e);
          await sleep(OPTIONS.tokenMs);
        }
        entry.end = performance.now();
        hd.playing = false;
      }
    } finally {
      this.running = false;
      hd.playing = false;
      hd.queue = this.items.length;
    }
  }

  /** Plays one call to its end; returns how it was played. */
  async play(c) {
    const tokens = c.tokens.length ? c.tokens : [...c.text];
    const perToken = OPTIONS.tokenMs * tokens.length;
    if (OPTIONS.audio === 'off') { flashScreen(); return 'off'; }
    if (OPTIONS.audio === 'timed') {
      flashScreen();
      await sleep(perToken * OPTIONS.repeat);
      return 'timed';
    }
    const parts = await this.voice.voice(c.tokens);
    const prelude = parts.length ? await this.voice.clip('_chime') : null;
    const canPlay = await this.voice.running();
    if (parts.length) {
      const groups = [...(prelude ? [[prelude]] : []), ...Array(OPTIONS.repeat).fill(parts)];
      if (canPlay) {
        await this.voice.playSequence(groups, OPTIONS.pauseMs);
        return 'voice';
      }
      // Sound cannot play here: take as long as the clips would, so the queue keeps its pace.
      flashScreen();
      const seconds = groups.flat().reduce((s, p) => s + (p.seconds ?? OPTIONS.tokenMs / 1000), 0);
      await sleep(seconds * 1000 + OPTIONS.pauseMs * (groups.length - 1));
      return 'silent-clips';
    }
    const zh = canPlay || window.speechSynthesis ? zhVoice() : null;
    if (zh) {
      await speak(c.text, zh);
      return 'speech';
    }
    flashScreen();
    if (canPlay) {
      await this.voice.chime();
      return 'chime';
    }
    await sleep(perToken);
    return 'silent';
  }
}

// ---------------------------------------------------------------- rendering

const $ = (id) => document.getElementById(id);
function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined && text !== null) e.textContent = text;
  return e;
}

function flashScreen() {
  const f = $('flash');
  f.classList.remove('on');
  void f.offsetWidth; // restart the animation
  f.classList.add('on');
}

function restartAnimation(node, cls) {
  node.classList.remove(cls);
  void node.offsetWidth;
  node.classList.add(cls);
}

function applyStaticTexts() {
  document.documentElement.lang = LANG;
  document.title = t('page_title');
  for (const node of document.querySelectorAll('[data-t]')) node.textContent = t(node.dataset.t);
  const notice = params.get('notice') || t('notice_default');
  const n = $('notice');
  n.textContent = notice;
  n.style.setProperty('--marquee-s', `${Math.max(20, Math.round([...notice].length * 0.35))}s`);
}

const stateLabel = (s) => t(`state_${s}`) || s;

function render(state) {
  $('hall-name').textContent = state.hallName || t('title');

  const current = state.calls[0];
  const box = $('current');
  box.classList.toggle('current-empty', !current);
  $('current-number').textContent = current ? current.number : t('no_call');
  $('current-window').textContent = current ? t('window_n', { code: current.window }) : '';
  $('current-text').textContent = current ? (current.windowName || '') : '';
  box.dataset.seq = current ? String(current.seq) : '';

  const recent = $('recent');
  recent.replaceChildren(...state.calls.slice(1, 1 + OPTIONS.recent).map((c) => {
    const li = el('li');
    li.dataset.seq = String(c.seq);
    const num = el('span', 'num', c.number);
    if (c.recall) num.append(el('span', 'recall', t('recall')));
    li.append(num, el('span', 'win', t('window_n', { code: c.window })));
    return li;
  }));

  const grid = $('windows');
  const wins = [...state.windows.values()];
  grid.classList.toggle('dense', wins.length > 16);
  grid.replaceChildren(...wins.map((w) => {
    const card = el('div', `win-card state-${['open', 'paused', 'closed'].includes(w.state) ? w.state : 'closed'}`);
    card.dataset.code = w.code;
    card.dataset.state = w.state;
    const head = el('div', 'w-head');
    head.append(el('span', 'w-code', w.code), el('span', 'w-state', stateLabel(w.state)));
    const num = el('div', 'w-num', w.number || (w.state === 'open' ? t('idle') : '—'));
    num.dataset.number = w.number || '';
    const foot = w.state === 'paused' && w.reason ? el('div', 'w-reason', w.reason) : el('div', 'w-name', w.name);
    card.append(head, num, foot);
    return card;
  }));

  const waiting = $('waiting');
  waiting.replaceChildren(...Object.keys(state.waiting).sort().map((z) => {
    const d = el('div', 'zone');
    d.dataset.zone = z;
    d.append(el('span', 'z-code', t('zone_waiting', { zone: z })), el('span', 'z-n', t('people', { n: state.waiting[z] })));
    return d;
  }));
}

function flashCall(seq, windowCode) {
  const box = $('current');
  if (box.dataset.seq === String(seq)) restartAnimation(box, 'flashing');
  const card = document.querySelector(`.win-card[data-code="${CSS.escape(windowCode)}"]`);
  if (card) restartAnimation(card, 'just-called');
}

function tickClock() {
  const now = new Date();
  const locale = LANG === 'en' ? 'en-GB' : 'zh-CN';
  const date = new Intl.DateTimeFormat(locale, { year: 'numeric', month: '2-digit', day: '2-digit' }).format(now);
  const time = new Intl.DateTimeFormat(locale, { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false }).format(now);
  $('clock').textContent = `${date} ${t('weekdays')[now.getDay()]} ${time}`;
}

function setConnection(kind) {
  const c = $('conn');
  c.dataset.state = kind;
  c.className = `conn conn-${kind}`;
  c.textContent = kind === 'online' ? '' : t(kind === 'offline' ? 'offline' : 'connecting');
}

function showSetup(key) {
  const s = $('setup');
  s.textContent = t(key);
  s.hidden = false;
}

// ---------------------------------------------------------------- the stream

class Stream {
  constructor(token, zones, announcer) {
    this.token = token;
    this.zones = zones.length ? zones : null;
    this.announcer = announcer;
    this.state = initial(this.zones ? [...this.zones] : null);
    this.ws = null;
    this.attempt = 0;
    this.delivered = false;
    this.snapshotAsked = false;
    this.freshStart = false;
    this.heard = new Map();   // call identity -> true (insertion order: oldest first)
    this.idleTimer = null;
    this.reconnectTimer = null;
  }

  url() {
    const s = this.state;
    const since = s.seq === null || s.needsResync || this.freshStart ? null : s.seq;
    const q = new URLSearchParams({ token: this.token });
    if (this.zones) q.set('zones', this.zones.join(','));
    if (since !== null) q.set('since', String(since));
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    return `${proto}//${location.host}/api/v1/display/stream?${q}`;
  }

  connect() {
    clearTimeout(this.reconnectTimer);
    this.delivered = false;
    this.snapshotAsked = false;
    setConnection(hd.connects ? 'offline' : 'connecting');
    let ws;
    try { ws = new WebSocket(this.url()); } catch { this.scheduleReconnect(); return; }
    this.ws = ws;
    const shown = new URL(ws.url);
    shown.searchParams.delete('token');
    hd.urls.push(shown.search);
    ws.onopen = () => {
      this.freshStart = false;
      hd.connects += 1;
      hd.connected = true;
      setConnection('online');
      this.armIdle();
    };
    ws.onmessage = (e) => {
      if (ws !== this.ws) return;
      this.delivered = true;
      this.armIdle();
      this.handle(e.data);
    };
    ws.onclose = (e) => {
      if (ws !== this.ws) return;
      this.ws = null;
      hd.connected = false;
      clearTimeout(this.idleTimer);
      if (e.code === 1008) console.warn('the server refused the stream:', e.reason);
      setConnection('offline');
      this.scheduleReconnect(e.code === 1008);
    };
    ws.onerror = () => { /* onclose follows */ };
  }

  scheduleReconnect(refused = false) {
    this.attempt = this.delivered ? 0 : this.attempt + 1;
    if (refused && this.attempt >= 3) showSetup('refused');
    const base = Math.min(OPTIONS.backoffMaxMs, OPTIONS.backoffMinMs * 2 ** Math.max(0, this.attempt - 1));
    const delay = base * (0.8 + 0.4 * Math.random());
    this.reconnectTimer = setTimeout(() => this.connect(), delay);
  }

  armIdle() {
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => { if (this.ws) this.ws.close(4000, 'idle'); }, OPTIONS.idleTimeoutMs);
  }

  askSnapshot() {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) {
      this.snapshotAsked = true;
      this.ws.send('{"type":"snapshot"}');
    } else {
      this.freshStart = true;
    }
  }

  handle(raw) {
    const msg = parse(raw);
    if (!msg) return;
    const before = this.state;
    const after = reduce(before, msg);
    this.state = after;
    if (msg.kind === 'snapshot') this.snapshotAsked = false;
    if (after === before) return;
    hd.seq = after.seq;
    hd.state = after;
    if (after.needsResync && !this.snapshotAsked) {
      console.warn('resync:', after.resyncReason);
      this.askSnapshot();
    }
    render(after);
    if (msg.kind === 'event' && CALL_TYPES.has(msg.type)) this.announce(msg);
  }

  announce(ev) {
    if (!ev.announcement || !ev.ticket || !ev.window) return;
    const key = JSON.stringify([ev.type, ev.ticket.id, ev.ticket.number, ev.window.code, ev.at]);
    if (this.heard.has(key)) return;
    this.heard.set(key, true);
    if (this.heard.size > OPTIONS.rememberedCalls) this.heard.delete(this.heard.keys().next().value);
    const { text, tokens } = ev.announcement;
    if (/[0-9０-９]{7,}/.test(text + tokens.join(''))) return; // never speak a phone or ID number (privacy.py)
    flashCall(ev.seq, ev.window.code);
    this.announcer.submit({ text, tokens, seq: ev.seq, window: ev.window.code, number: ev.ticket.number });
  }
}

// ---------------------------------------------------------------- start

function main() {
  applyStaticTexts();
  tickClock();
  setInterval(tickClock, 1000);
  render(initial());
  const voice = new Voice();
  hd.probeVoice = async (tokens) => Promise.all(tokens.map(async (tk) => {
    const c = await voice.clip(tk);
    return { token: tk, seconds: c ? c.seconds : null };
  }));
  // A kiosk browser without the autoplay flag needs one touch or key press to allow sound.
  for (const ev of ['pointerdown', 'keydown']) {
    window.addEventListener(ev, () => { const ctx = voice.context(); if (ctx) ctx.resume().catch(() => {}); });
  }
  const announcer = new Announcer(voice, (c) => flashCall(c.seq, c.window));
  const token = takeToken();
  if (!token) {
    showSetup('no_token');
    return;
  }
  const stream = new Stream(token, ZONES, announcer);
  hd.stream = stream;
  stream.connect();
}

main();
