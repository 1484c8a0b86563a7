// The hall layout as TOML: export (a download of what check-config and import-config take) and
// import (paste or choose a file; the server checks all of it and applies all or nothing, so
// every problem is listed with its key path).
import { t, api, ApiError, getToken, i18n, el } from '/static/web/common/app.js';
import { $, say, table, confirmDialog } from '/static/web/admin/ui.js';
import { forgetAll } from '/static/web/admin/store.js';

const MAX_BYTES = 4 * 1024 * 1024;

export const layout = {
  id: 'layout',
  role: 'operator',
  watches: [],
  result: null,   // {kind: 'ok', out} | {kind: 'problems', message, details}

  wire() {
    $('export-btn').addEventListener('click', exportLayout);
    $('import-file').addEventListener('change', readFile);
    $('import-btn').addEventListener('click', () => importLayout(this));
  },

  async load() { this.render(); },

  render() {
    const box = $('import-result');
    const r = this.result;
    if (!r) { box.replaceChildren(); return; }
    if (r.kind === 'ok') {
      const counts = ['zones', 'matters', 'windows', 'printers', 'devices', 'holidays'];
      box.replaceChildren(el('div', { class: 'result-ok', role: 'status' },
        el('p', {}, t('admin.import_done', { hall: r.out.hall })),
        el('ul', { class: 'counts' }, counts.map((k) => el('li', {}, t(`admin.import_${k}`, { n: r.out[k] })))),
        r.out.ignored && r.out.ignored.length ? el('p', { class: 'muted' }, t('admin.import_ignored', { sections: r.out.ignored.join(', ') })) : null));
      return;
    }
    box.replaceChildren(el('div', { class: 'result-problems' },
      el('h3', { class: 'problems-title' }, t('admin.import_problems')),
      table([{ key: 'admin.col_path', cls: 'c-path' }, { key: 'admin.col_problem' }],
            r.details.map((d) => ({ attrs: { dataset: { path: d.path } },
                                    cells: [el('code', { class: 'mono' }, d.path), el('span', { 'data-content': true }, d.message)] })))));
  },
};

async function exportLayout() {
  const msg = $('export-msg');
  say(msg, t('admin.export_working'), 'info');
  try {
    // fetch directly: the file name comes from Content-Disposition
    const res = await fetch('/api/v1/admin/config/export', {
      headers: { Authorization: `Bearer ${getToken()}`, 'Accept-Language': i18n.lang }, cache: 'no-store' });
    if (!res.ok) {
      let message = t('error_http', { status: res.status });
      try { message = (await res.json()).error.message || message; } catch (_) { /* not JSON */ }
      if (res.status === 401) document.dispatchEvent(new CustomEvent('admin:lost'));
      throw new Error(message);
    }
    const text = await res.text();
    const m = (res.headers.get('content-disposition') || '').match(/filename="?([^";]+)"?/);
    const name = m ? m[1] : 'hall-layout.toml';
    const url = URL.createObjectURL(new Blob([text], { type: 'application/toml' }));
    const a = el('a', { href: url, download: name, hidden: true });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
    say(msg, t('admin.export_done', { name }), 'ok');
  } catch (e) {
    say(msg, e.message || t('error_network'));
  }
}

function readFile(ev) {
  const file = ev.target.files && ev.target.files[0];
  const msg = $('import-msg');
  if (!file) return;
  if (file.size > MAX_BYTES) { say(msg, t('admin.import_too_large')); return; }
  const reader = new FileReader();
  reader.onload = () => {
    $('import-text').value = String(reader.result);
    $('import-file-name').removeAttribute('data-t');
    $('import-file-name').replaceChildren(el('span', { 'data-content': true }, file.name));
    say(msg, t('admin.import_loaded', { name: file.name }), 'info');
  };
  reader.onerror = () => say(msg, t('admin.import_read_failed'));
  reader.readAsText(file, 'utf-8');
}

async function importLayout(section) {
  const text = $('import-text').value;
  const msg = $('import-msg');
  if (!text.trim()) { say(msg, t('admin.import_empty')); $('import-text').focus(); return; }
  if (new Blob([text]).size > MAX_BYTES) { say(msg, t('admin.import_too_large')); return; }
  const ok = await confirmDialog({ title: t('admin.import_confirm_title'), text: t('admin.import_confirm_text'),
                                   action: t('admin.import_btn'), kind: 'primary' });
  if (!ok) return;
  say(msg, t('admin.import_working'), 'info');
  section.result = null;
  section.render();
  try {
    const out = await api('/api/v1/admin/config/import', { method: 'POST', body: text,
                                                           headers: { 'Content-Type': 'application/toml; charset=utf-8' } });
    forgetAll();
    section.result = { kind: 'ok', out };
    say(msg, '', 'info');
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) { document.dispatchEvent(new CustomEvent('admin:lost')); return; }
    const details = e instanceof ApiError && e.body && e.body.error && e.body.error.details;
    if (details && details.length) section.result = { kind: 'problems', details };
    say(msg, e.message);
  }
  section.render();
  const focus = $('import-result').querySelector('h3, p');
  if (focus) { focus.tabIndex = -1; focus.focus(); }
}
