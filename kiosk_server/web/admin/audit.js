// The audit log (auditor): newest first, a page at a time, filtered by action (a prefix:
// `zone.` for every zone change, `zone.create` for one kind). Read only.
import { t, api, el } from '/static/web/common/app.js';
import { $, say, table, pill } from '/static/web/admin/ui.js';
import { fmtTime } from '/static/web/admin/devices.js';

const PAGE = 50;
const KNOWN = ['auth.', 'user.', 'zone.', 'matter.', 'window.', 'printer.', 'print_job.', 'device.', 'holiday.',
               'config.', 'ticket.', 'application.'];

export const audit = {
  id: 'audit',
  role: 'auditor',
  watches: [],
  rows: [],
  more: false,
  cursors: [],       // before_id of each page shown before this one (null: the newest)
  before: null,
  action: '',
  seen: new Set(KNOWN),

  wire() {
    $('audit-filter').addEventListener('submit', (e) => {
      e.preventDefault();
      this.action = $('audit-action').value.trim();
      this.first();
    });
    $('audit-clear').addEventListener('click', () => {
      $('audit-action').value = '';
      this.action = '';
      this.first();
      $('audit-action').focus();
    });
    $('audit-older').addEventListener('click', () => {
      if (!this.more || !this.rows.length) return;
      this.cursors.push(this.before);
      this.before = this.rows[this.rows.length - 1].id;
      this.load();
    });
    $('audit-newer').addEventListener('click', () => {
      if (!this.cursors.length) return;
      this.before = this.cursors.pop();
      this.load();
    });
  },

  params(q) {
    const action = q.get('action') || '';
    if (action !== this.action) { this.action = action; this.cursors = []; this.before = null; }
    $('audit-action').value = this.action;
  },

  first() {
    this.cursors = [];
    this.before = null;
    history.replaceState(null, '', this.action ? `#audit?action=${encodeURIComponent(this.action)}` : '#audit');
    this.load();
  },

  async load() {
    const msg = $('audit-msg');
    if (this.action && !/^[A-Za-z0-9_.-]{1,64}$/.test(this.action)) {
      say(msg, t('admin.err_action'));
      $('audit-action').setAttribute('aria-invalid', 'true');
      return;
    }
    $('audit-action').removeAttribute('aria-invalid');
    const q = new URLSearchParams({ limit: String(PAGE + 1) });
    if (this.before) q.set('before_id', String(this.before));
    if (this.action) q.set('action', this.action);
    const rows = await api(`/api/v1/admin/audit?${q}`);
    this.more = rows.length > PAGE;
    this.rows = rows.slice(0, PAGE);
    for (const r of this.rows) this.seen.add(r.action);
    say(msg, '');
    this.render();
  },

  render() {
    $('audit-action').value = this.action;
    $('audit-actions').replaceChildren(...[...this.seen].sort().map((a) => el('option', { value: a })));
    $('audit-body').replaceChildren(table([
      { key: 'admin.col_id', cls: 'c-num' }, { key: 'admin.col_time' }, { key: 'admin.col_actor' },
      { key: 'admin.col_action' }, { key: 'admin.col_object' }, { key: 'admin.col_result' },
      { key: 'admin.col_address' }, { key: 'admin.col_detail', cls: 'c-detail' },
    ], this.rows.map((r) => ({
      attrs: { dataset: { action: r.action, object: r.object_id || '' } },
      cells: [
        String(r.id), fmtTime(r.at),
        el('span', {}, el('span', { 'data-content': true }, r.actor), r.actor_roles ? el('span', { class: 'muted' }, ` (${r.actor_roles})`) : null),
        el('code', { class: 'mono' }, r.action),
        [r.object_type, r.object_id].filter(Boolean).join(' '),
        pill(r.result, r.result === 'ok' ? 'ok' : 'alarm'),
        r.client_addr || '',
        r.detail ? el('span', { class: 'detail mono', 'data-content': true }, compact(r.detail)) : '',
      ],
    })), { empty: this.action ? 'admin.audit_none_filtered' : 'admin.audit_none' }));
    const page = this.cursors.length + 1;
    $('audit-page').textContent = t('admin.audit_page', { page });
    $('audit-newer').disabled = !this.cursors.length;
    $('audit-older').disabled = !this.more;
  },
};

function compact(detail) {
  const s = JSON.stringify(detail);
  return s.length > 240 ? `${s.slice(0, 239)}…` : s;
}
