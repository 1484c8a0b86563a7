// The admin page's building blocks: translated elements, form fields with their own error line,
// tables, the editor dialog (validate in the page, then show the server's refusal in its own
// words), the confirm dialog and the one-time token dialog.
//
// Labels carry data-t / data-t-aria where they take no parameters, so i18n.set() relabels an open
// dialog by itself; anything with parameters is drawn again through onRelabel().
import { i18n, t, ApiError, el } from '/static/web/common/app.js';

export const $ = (id) => document.getElementById(id);

// An element whose text is the translation of `key` (kept in data-t so a language switch updates it).
export function tx(tag, key, attrs = {}) {
  return el(tag, { ...attrs, 'data-t': key }, t(key));
}

// Hall data (names the operator typed): not interface text, not translated.
export const content = (text, attrs = {}) => el('span', { ...attrs, 'data-content': true }, text ?? '');

// ------------------------------------------------------------------ messages

export function say(box, text, kind = 'error') {
  if (!box) return;
  box.textContent = text || '';
  box.classList.remove('msg-error', 'msg-ok', 'msg-info');
  if (text) box.classList.add(`msg-${kind}`);
}

// ------------------------------------------------------------------ form fields

let seq = 0;
const nextId = (prefix) => `${prefix}-${++seq}`;

// A labelled control with a hint and an error line: {row, input, error}.
//   field('admin.zone_code', 'input', {name: 'code', maxlength: 16}, {hint: 'admin.zone_code_hint'})
export function field(labelKey, tag, attrs = {}, { hint, options, wide } = {}) {
  const id = attrs.id || nextId('f');
  const errId = `${id}-err`;
  const hintId = hint ? `${id}-hint` : null;
  const input = el(tag, { ...attrs, id, 'aria-describedby': [hintId, errId].filter(Boolean).join(' ') });
  if (options) fillOptions(input, options);
  const row = el('div', { class: `field${wide ? ' field-wide' : ''}`, dataset: { field: attrs.name || '' } },
    tx('label', labelKey, { for: id }),
    input,
    hint ? tx('p', hint, { id: hintId, class: 'field-hint' }) : null,
    el('p', { id: errId, class: 'field-err' }));
  return { row, input, error: row.querySelector('.field-err') };
}

// A checkbox with its label on the right.
export function checkbox(labelKey, attrs = {}) {
  const id = attrs.id || nextId('c');
  const input = el('input', { ...attrs, id, type: 'checkbox' });
  const row = el('div', { class: 'field field-check', dataset: { field: attrs.name || '' } },
    el('label', { class: 'check', for: id }, input, tx('span', labelKey)),
    el('p', { class: 'field-err', id: `${id}-err` }));
  input.setAttribute('aria-describedby', `${id}-err`);
  return { row, input, error: row.querySelector('.field-err') };
}

// options: [{value, label?: key, text?: string, content?: bool}]
export function fillOptions(select, options) {
  const chosen = select.value;
  select.replaceChildren(...options.map((o) => {
    const opt = el('option', { value: o.value, 'data-content': o.content || undefined },
                   o.label ? t(o.label) : (o.text ?? o.value));
    if (o.label) opt.dataset.t = o.label;
    return opt;
  }));
  if (chosen && options.some((o) => String(o.value) === chosen)) select.value = chosen;
}

export function setError(f, text) {
  f.error.textContent = text || '';
  if (text) f.input.setAttribute('aria-invalid', 'true');
  else f.input.removeAttribute('aria-invalid');
}

// ------------------------------------------------------------------ checks in the page

export const CODE_RE = /^[A-Za-z0-9_-]{1,16}$/;
export const DEVICE_CODE_RE = /^[A-Za-z0-9_-]{1,64}$/;

// Each check returns an error text or ''.
export const need = (v) => (String(v ?? '').trim() ? '' : t('admin.err_required'));
export const codeOk = (v, re = CODE_RE) => need(v) || (re.test(v.trim()) ? '' : t('admin.err_code'));
export function intOk(v, min, max, { optional = false } = {}) {
  const s = String(v ?? '').trim();
  if (!s) return optional ? '' : t('admin.err_required');
  if (!/^-?\d+$/.test(s) || Number(s) < min || Number(s) > max) return t('admin.err_range', { min, max });
  return '';
}

// Run checks [[field, message]...]; mark them; focus the first problem. True when all passed.
export function check(pairs) {
  let first = null;
  for (const [f, msg] of pairs) {
    setError(f, msg);
    if (msg && !first) first = f;
  }
  if (first) first.input.focus();
  return !first;
}

// ------------------------------------------------------------------ tables

// cols: [{key (header translation key), cls}]; rows: [{cells: [node|string], attrs}]
export function table(cols, rows, { caption, empty = 'admin.empty' } = {}) {
  if (!rows.length) return tx('p', empty, { class: 'muted empty' });
  return el('div', { class: 'table-wrap' }, el('table', { class: 'grid' },
    caption ? el('caption', { class: 'visually-hidden' }, caption) : null,
    el('thead', {}, el('tr', {}, cols.map((c) => tx('th', c.key, { scope: 'col', class: c.cls })))),
    el('tbody', {}, rows.map((r) => el('tr', r.attrs || {}, r.cells.map((cell, i) => {
      const cls = cols[i] && cols[i].cls;
      return i === 0 ? el('th', { scope: 'row', class: cls }, cell) : el('td', { class: cls }, cell);
    }))))));
}

// A small button in a table row; `label` is its accessible name (what it does to which object).
export function rowButton(textKey, label, onclick, cls = '') {
  return el('button', { type: 'button', class: `btn btn-small ${cls}`.trim(), 'aria-label': label, title: label,
                        onclick }, t(textKey));
}

export function pill(text, kind) { return el('span', { class: `pill pill-${kind}` }, text); }

// ------------------------------------------------------------------ relabel on language change

const relabelers = new Set();
export function onRelabel(fn) { relabelers.add(fn); return () => relabelers.delete(fn); }
i18n.onChange(() => { for (const fn of [...relabelers]) fn(); });

// ------------------------------------------------------------------ the editor dialog

let editor = null;  // {submit, fields, off, opener}

// Open the editor: title key, the code being edited (or ''), body nodes, submit(): a promise
// that resolves when saved (its ApiError is shown in the dialog, its fields marked), fields:
// {name: field} for server-side field errors. Resolves to the submit's result, or null.
export function openEditor({ titleKey, code = '', body, submit, fields = {}, relabel, saveKey = 'admin.save' }) {
  const dlg = $('dlg-edit');
  $('ed-title-text').textContent = t(titleKey);
  $('ed-title-text').dataset.t = titleKey;
  $('ed-title-code').textContent = code;
  $('ed-save').dataset.t = saveKey;
  $('ed-save').textContent = t(saveKey);
  $('ed-body').replaceChildren(...body);
  say($('ed-msg'), '');
  $('ed-save').disabled = false;
  return new Promise((resolve) => {
    editor = { submit, fields, resolve, off: relabel ? onRelabel(relabel) : null };
    dlg.showModal();
    const first = dlg.querySelector('#ed-body input:not([disabled]):not([type=hidden]), #ed-body select, #ed-body textarea');
    if (first) first.focus();
  });
}

export function closeEditor(result = null) {
  const dlg = $('dlg-edit');
  if (editor) {
    if (editor.off) editor.off();
    const { resolve } = editor;
    editor = null;
    resolve(result);
  }
  if (dlg.open) dlg.close();
}

// Map the server's 422 field locations (["body", "materials", 0, "name"]) to the editor's fields.
function markServerFields(e) {
  const fields = (e.body && e.body.error && e.body.error.fields) || [];
  let first = null;
  for (const f of fields) {
    const loc = (f.loc || []).filter((p) => p !== 'body');
    const target = editor.fields[loc.join('.')] || editor.fields[loc[0]];
    if (target) {
      setError(target, f.msg);
      if (!first) first = target;
    }
  }
  if (first) first.input.focus();
}

async function submitEditor(ev) {
  ev.preventDefault();
  if (!editor || $('ed-save').disabled) return;
  const current = editor;
  say($('ed-msg'), '');
  $('ed-save').disabled = true;
  try {
    const result = await current.submit();
    if (result === undefined) return;  // the page's own checks refused: errors are shown
    if (editor === current) closeEditor(result);
  } catch (e) {
    if (editor !== current) return;
    if (e instanceof ApiError && e.status === 401) { closeEditor(); document.dispatchEvent(new CustomEvent('admin:lost')); return; }
    say($('ed-msg'), e.message);
    if (e instanceof ApiError && e.status === 422) markServerFields(e);
  } finally {
    $('ed-save').disabled = false;
  }
}

// ------------------------------------------------------------------ confirm

let confirming = null;

// A yes/no question; `action` is the confirm button's text. Resolves true/false. With `run`, the
// dialog stays open while it runs and shows its refusal (resolving true only when it succeeded).
export function confirmDialog({ title, text, action, kind = 'danger', run }) {
  const dlg = $('dlg-confirm');
  $('cf-title').textContent = title;
  $('cf-text').textContent = text;
  $('cf-ok').textContent = action;
  $('cf-ok').className = `btn btn-${kind}`;
  $('cf-ok').disabled = false;
  say($('cf-msg'), '');
  return new Promise((resolve) => {
    confirming = { resolve, run };
    dlg.showModal();
    $('cf-cancel').focus();
  });
}

function endConfirm(value) {
  const c = confirming;
  confirming = null;
  if ($('dlg-confirm').open) $('dlg-confirm').close();
  if (c) c.resolve(value);
}

async function submitConfirm(ev) {
  ev.preventDefault();
  if (!confirming) return;
  const c = confirming;
  if (!c.run) { endConfirm(true); return; }
  $('cf-ok').disabled = true;
  try {
    await c.run();
    if (confirming === c) endConfirm(true);
  } catch (e) {
    if (confirming !== c) return;
    if (e instanceof ApiError && e.status === 401) { endConfirm(false); document.dispatchEvent(new CustomEvent('admin:lost')); return; }
    say($('cf-msg'), e.message);
    $('cf-ok').disabled = false;
    $('cf-cancel').focus();
  }
}

// ------------------------------------------------------------------ token shown once

export function showToken(device, token) {
  $('tk-device').textContent = device.code;
  $('tk-value').value = token;
  const page = device.role === 'display' ? '/display' : '/kiosk';
  $('tk-url').value = `${location.origin}${page}?token=${encodeURIComponent(token)}`;
  say($('tk-msg'), '');
  const dlg = $('dlg-token');
  // The token leaves the page as the dialog closes. The 'close' event comes a
  // task after the dialog is hidden, so the button's submit and Escape's cancel
  // wipe it first; 'close' covers every other way out.
  const wipe = () => {
    $('tk-value').value = '';
    $('tk-url').value = '';
  };
  const done = new AbortController();
  dlg.querySelector('form').addEventListener('submit', wipe, { signal: done.signal });
  dlg.addEventListener('cancel', wipe, { signal: done.signal });
  return new Promise((resolve) => {
    dlg.addEventListener('close', () => {
      wipe();
      done.abort();
      resolve();
    }, { signal: done.signal });
    dlg.showModal();
    $('tk-copy').focus();
  });
}

async function copy(ev) {
  const input = $(ev.currentTarget.dataset.copy);
  let ok = false;
  try {
    await navigator.clipboard.writeText(input.value);
    ok = true;
  } catch (_) {
    input.focus();
    input.select();
    try { ok = document.execCommand('copy'); } catch (__) { ok = false; }
  }
  say($('tk-msg'), t(ok ? 'admin.copied' : 'admin.copy_failed'), ok ? 'ok' : 'error');
}

// ------------------------------------------------------------------ wiring

export function wireDialogs() {
  $('ed-form').addEventListener('submit', submitEditor);
  $('ed-cancel').addEventListener('click', () => closeEditor());
  $('dlg-edit').addEventListener('cancel', (e) => { e.preventDefault(); closeEditor(); });
  $('cf-form').addEventListener('submit', submitConfirm);
  $('cf-cancel').addEventListener('click', () => endConfirm(false));
  $('dlg-confirm').addEventListener('cancel', (e) => { e.preventDefault(); endConfirm(false); });
  $('tk-copy').addEventListener('click', copy);
  $('tk-copy-url').addEventListener('click', copy);
}

export function closeAllDialogs() {
  closeEditor();
  endConfirm(false);
  if ($('dlg-token').open) $('dlg-token').close();
}
