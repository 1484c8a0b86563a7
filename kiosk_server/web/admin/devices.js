// Printers (transport, paper profile, state, failed jobs to retry) and devices (kiosks and hall
// screens: their zones and printer, and their tokens: issued once, shown once, revocable).
import { t, api, el } from '/static/web/common/app.js';
import {
  $, tx, content, say, field, checkbox, check, need, codeOk, intOk, DEVICE_CODE_RE, table, rowButton,
  pill, openEditor, confirmDialog, showToken,
} from '/static/web/admin/ui.js';
import { list, send } from '/static/web/admin/store.js';
import { diff, enc, afterChange } from '/static/web/admin/hall.js';

const KINDS = ['network', 'serial', 'usb', 'file'];
const KIND_FIELDS = {  // transport kind -> [key, label, type, hint]
  network: [['host', 'admin.f_host', 'text'], ['port', 'admin.f_port', 'number']],
  serial: [['port', 'admin.f_serial_port', 'text'], ['baudrate', 'admin.f_baudrate', 'number']],
  usb: [['vendor_id', 'admin.f_vendor', 'text'], ['product_id', 'admin.f_product', 'text']],
  file: [['path', 'admin.f_path', 'text']],
};
const STATE_KIND = { ready: 'ok', unavailable: 'alarm', unknown: 'off' };

function transportText(tr) {
  if (!tr) return '';
  switch (tr.kind) {
    case 'network': return `${t('admin.kind_network')} ${tr.host}:${tr.port ?? 9100}`;
    case 'serial': return `${t('admin.kind_serial')} ${tr.port}${tr.baudrate ? ` @${tr.baudrate}` : ''}`;
    case 'usb': return `${t('admin.kind_usb')} ${tr.vendor_id}:${tr.product_id}`;
    case 'file': return `${t('admin.kind_file')} ${tr.path}`;
    default: return JSON.stringify(tr);
  }
}

// ================================================================== printers

export const printers = {
  id: 'printers',
  role: 'operator',
  watches: ['printers', 'devices'],
  events: ['printer.status'],
  jobs: [],

  wire() { $('printer-add').addEventListener('click', () => editPrinter(null)); },

  rows: [],

  async load() {
    [this.rows, this.jobs] = await Promise.all([list('printers', { fresh: true }),
                                                api('/api/v1/admin/print-jobs?status=failed&limit=50')]);
    this.render();
  },

  render() {
    const rows = this.rows;
    $('printers-body').replaceChildren(table([
      { key: 'admin.col_code', cls: 'c-code' }, { key: 'admin.col_name' }, { key: 'admin.col_transport' },
      { key: 'admin.col_paper' }, { key: 'admin.col_state' }, { key: 'admin.col_kiosks' }, { key: 'admin.col_jobs' },
      { key: 'admin.col_status' }, { key: 'admin.col_actions', cls: 'c-actions' },
    ], rows.map((p) => ({
      attrs: { dataset: { code: p.code } },
      cells: [
        p.code, content(p.name), el('span', { class: 'mono' }, transportText(p.transport)),
        [p.profile.base || '', p.profile.charset || ''].filter(Boolean).join(' · '),
        el('span', {}, pill(t(`admin.printer_${p.state}`), STATE_KIND[p.state] || 'off'), ' ',
           el('span', { class: 'muted' }, p.message)),
        p.kiosks.length ? p.kiosks.join(', ') : tx('span', 'admin.none', { class: 'muted' }),
        t('admin.jobs_counts', { queued: p.jobs.queued || 0, failed: p.jobs.failed || 0 }),
        pill(t(p.enabled ? 'admin.enabled' : 'admin.disabled'), p.enabled ? 'ok' : 'off'),
        el('div', { class: 'row-actions' },
          rowButton('admin.edit', t('admin.edit_label', { what: t('admin.kind_printer'), code: p.code }), () => editPrinter(p)),
          rowButton('admin.delete', t('admin.delete_label', { what: t('admin.kind_printer'), code: p.code }),
                    () => deletePrinter(p), 'btn-danger-outline')),
      ],
    })), { empty: 'admin.printers_empty' }));
    $('jobs-body').replaceChildren(table([
      { key: 'admin.col_job' }, { key: 'admin.col_printer' }, { key: 'admin.col_job_kind' }, { key: 'admin.col_time' },
      { key: 'admin.col_error' }, { key: 'admin.col_actions', cls: 'c-actions' },
    ], this.jobs.map((j) => ({
      attrs: { dataset: { job: String(j.id) } },
      cells: [String(j.id), j.printer || '', j.ticket ? `${t(`admin.job_${j.kind}`)} ${j.ticket.number || ''}` : t(`admin.job_${j.kind}`),
        fmtTime(j.updated_at), el('span', { class: 'mono' }, j.last_error || ''),
        rowButton('admin.retry', t('admin.retry_label', { id: j.id }), async () => {
          try {
            await send(`/api/v1/admin/print-jobs/${j.id}/retry`, 'POST');
            say($('printers-msg'), t('admin.retried', { id: j.id }), 'ok');
            await this.load();
          } catch (e) { say($('printers-msg'), e.message); }
        })],
    })), { empty: 'admin.jobs_none' }));
  },
};

function editPrinter(p) {
  const isNew = !p;
  const tr = p ? p.transport : { kind: 'network', host: '', port: 9100 };
  const f = {
    code: field('admin.f_code', 'input', { name: 'code', maxlength: 16, autocomplete: 'off', spellcheck: 'false',
                                            value: p ? p.code : '', disabled: !isNew }, { hint: 'admin.f_code_hint' }),
    name: field('admin.f_printer_name', 'input', { name: 'name', maxlength: 200, value: p ? p.name : '' }, { wide: true }),
    kind: field('admin.f_transport', 'select', { name: 'transport' },
                { options: KINDS.map((k) => ({ value: k, label: `admin.kind_${k}` })) }),
    base: field('admin.f_paper', 'select', { name: 'profile' }, {
      options: [{ value: '80mm', label: 'admin.paper_80' }, { value: '58mm', label: 'admin.paper_58' }] }),
    charset: field('admin.f_charset', 'select', { name: 'charset' }, {
      options: ['GB18030', 'GBK', 'GB2312'].map((c) => ({ value: c, text: c })) }),
    enabled: checkbox('admin.f_enabled', { name: 'enabled' }),
  };
  f.kind.input.value = KINDS.includes(tr.kind) ? tr.kind : 'network';
  f.base.input.value = (p && p.profile.base) || '80mm';
  f.charset.input.value = (p && p.profile.charset) || 'GB18030';
  f.enabled.input.checked = p ? p.enabled : true;
  // one set of fields per transport kind; only the chosen kind's are shown
  const per = {};
  const box = el('div', { class: 'form-grid transport-box field-wide' });
  for (const kind of KINDS) {
    per[kind] = {};
    for (const [key, label, type] of KIND_FIELDS[kind]) {
      const value = tr.kind === kind && tr[key] !== undefined ? tr[key] : (kind === 'network' && key === 'port' ? 9100 : '');
      per[kind][key] = field(label, 'input', { name: `transport.${key}`, type, value, spellcheck: 'false', autocomplete: 'off' });
      box.append(per[kind][key].row);
    }
  }
  const showKind = () => {
    for (const kind of KINDS) for (const x of Object.values(per[kind])) x.row.hidden = kind !== f.kind.input.value;
  };
  f.kind.input.addEventListener('change', showKind);
  showKind();
  return openEditor({
    titleKey: isNew ? 'admin.printer_new' : 'admin.printer_edit',
    code: p ? p.code : '',
    body: [el('div', { class: 'form-grid' }, f.code.row, f.name.row, f.kind.row, box, f.base.row, f.charset.row, f.enabled.row)],
    fields: { ...f, transport: f.kind },
    async submit() {
      const kind = f.kind.input.value;
      const tf = per[kind];
      const checks = [[f.code, isNew ? codeOk(f.code.input.value.trim()) : ''], [f.name, need(f.name.input.value)]];
      const transport = { ...(p && p.transport.kind === kind ? p.transport : {}), kind };
      for (const [key] of KIND_FIELDS[kind]) {
        const raw = tf[key].input.value.trim();
        let msg = need(raw);
        if (!msg && key === 'port' && kind === 'network') msg = intOk(raw, 1, 65535);
        if (!msg && key === 'baudrate') msg = intOk(raw, 300, 4000000);
        if (!msg && (key === 'vendor_id' || key === 'product_id') && !/^(0x[0-9a-fA-F]{1,4}|\d{1,5})$/.test(raw)) msg = t('admin.err_usb_id');
        if (!msg && key === 'path' && !raw.startsWith('/dev/')) msg = t('admin.err_dev_path');
        checks.push([tf[key], msg]);
        transport[key] = (key === 'port' && kind === 'network') || key === 'baudrate' ? Number(raw) : raw;
      }
      if (!check(checks)) return undefined;
      const profile = { ...(p ? p.profile : {}), base: f.base.input.value, charset: f.charset.input.value };
      const body = { name: f.name.input.value.trim(), transport, profile, enabled: f.enabled.input.checked };
      let out;
      if (isNew) {
        out = await send('/api/v1/admin/printers', 'POST', { code: f.code.input.value.trim(), ...body });
      } else {
        const changes = diff(p, body);
        out = Object.keys(changes).length ? await send(`/api/v1/admin/printers/${enc(p.code)}`, 'PATCH', changes) : p;
      }
      await afterChange('printers', t(isNew ? 'admin.saved_new' : 'admin.saved', { what: t('admin.kind_printer'), code: out.code }),
                        $('printers-msg'));
      return out;
    },
  });
}

async function deletePrinter(p) {
  const done = await confirmDialog({
    title: t('admin.delete_title', { what: t('admin.kind_printer'), code: p.code }),
    text: t('admin.printer_delete_text', { code: p.code }),
    action: t('admin.delete'),
    run: () => send(`/api/v1/admin/printers/${enc(p.code)}`, 'DELETE'),
  });
  if (done) await afterChange('printers', t('admin.deleted', { what: t('admin.kind_printer'), code: p.code }), $('printers-msg'));
}

// ================================================================== devices

export const devices = {
  id: 'devices',
  role: 'operator',
  watches: ['devices', 'printers', 'zones'],

  wire() { $('device-add').addEventListener('click', () => editDevice(null)); },

  rows: [],

  async load() {
    [this.rows] = await Promise.all([list('devices', { fresh: true }), list('zones'), list('printers')]);
    this.render();
  },

  render() {
    const rows = this.rows;
    $('devices-body').replaceChildren(table([
      { key: 'admin.col_code', cls: 'c-code' }, { key: 'admin.col_name' }, { key: 'admin.col_role' },
      { key: 'admin.col_zones' }, { key: 'admin.col_printer' }, { key: 'admin.col_token' },
      { key: 'admin.col_actions', cls: 'c-actions' },
    ], rows.map((d) => {
      const token = d.revoked ? pill(t('admin.token_revoked', { at: fmtTime(d.revoked_at) }), 'alarm')
        : d.has_token ? pill(t('admin.token_active'), 'ok') : pill(t('admin.token_none'), 'off');
      return {
        attrs: { dataset: { code: d.code } },
        cells: [
          d.code, content(d.name), t(`admin.role_${d.role}`),
          d.zones ? d.zones.join(', ') : tx('span', 'admin.all_zones', { class: 'muted' }),
          d.printer || tx('span', 'admin.none', { class: 'muted' }),
          token,
          el('div', { class: 'row-actions' },
            rowButton('admin.edit', t('admin.edit_label', { what: t('admin.kind_device'), code: d.code }), () => editDevice(d)),
            rowButton('admin.token_issue', t('admin.token_issue_label', { code: d.code }), () => issueToken(d)),
            d.has_token && !d.revoked
              ? rowButton('admin.token_revoke', t('admin.token_revoke_label', { code: d.code }), () => revoke(d), 'btn-danger-outline')
              : null,
            rowButton('admin.delete', t('admin.delete_label', { what: t('admin.kind_device'), code: d.code }),
                      () => deleteDevice(d), 'btn-danger-outline')),
        ],
      };
    }), { empty: 'admin.devices_empty' }));
  },
};

async function editDevice(d) {
  const isNew = !d;
  const [zs, ps] = await Promise.all([list('zones'), list('printers')]);
  const f = {
    code: field('admin.f_code', 'input', { name: 'code', maxlength: 64, autocomplete: 'off', spellcheck: 'false',
                                            value: d ? d.code : '', disabled: !isNew }, { hint: 'admin.f_code_hint' }),
    name: field('admin.f_device_name', 'input', { name: 'name', maxlength: 200, value: d ? d.name : '' }, { wide: true }),
    role: field('admin.f_role', 'select', { name: 'role' },
                { options: [{ value: 'kiosk', label: 'admin.role_kiosk' }, { value: 'display', label: 'admin.role_display' }] }),
    printer: field('admin.f_printer', 'select', { name: 'printer' }, {
      options: [{ value: '', label: 'admin.no_printer' }, ...ps.map((p) => ({ value: p.code, text: `${p.code} ${p.name}`, content: true }))],
      hint: 'admin.f_printer_hint' }),
  };
  f.role.input.value = d ? d.role : 'kiosk';
  f.printer.input.value = d && d.printer ? d.printer : '';
  const chosen = new Set(d && d.zones ? d.zones : []);
  const boxes = zs.map((z) => {
    const input = el('input', { type: 'checkbox', name: 'zones', value: z.code, id: `dz-${z.code}` });
    input.checked = chosen.has(z.code);
    return { input, row: el('label', { class: 'check', for: input.id }, input,
                            el('span', { class: 'chip-code' }, z.code), content(z.name)) };
  });
  const zonesBox = el('fieldset', { class: 'field-wide zone-checks' }, tx('legend', 'admin.f_device_zones'),
    tx('p', 'admin.f_device_zones_hint', { class: 'field-hint' }), el('div', { class: 'checks' }, boxes.map((b) => b.row)));
  const showPrinter = () => { f.printer.row.hidden = f.role.input.value !== 'kiosk'; };
  f.role.input.addEventListener('change', showPrinter);
  showPrinter();
  const out = await openEditor({
    titleKey: isNew ? 'admin.device_new' : 'admin.device_edit',
    code: d ? d.code : '',
    saveKey: isNew ? 'admin.device_create' : 'admin.save',
    body: [el('div', { class: 'form-grid' }, f.code.row, f.name.row, f.role.row, f.printer.row, zonesBox)],
    fields: f,
    async submit() {
      const code = f.code.input.value.trim();
      if (!check([[f.code, isNew ? codeOk(code, DEVICE_CODE_RE) : ''], [f.name, need(f.name.input.value)]])) return undefined;
      const zones = boxes.filter((b) => b.input.checked).map((b) => b.input.value);
      const role = f.role.input.value;
      const body = { name: f.name.input.value.trim(), role, zones: zones.length ? zones : null,
                     printer: role === 'kiosk' && f.printer.input.value ? f.printer.input.value : null };
      if (isNew) return send('/api/v1/admin/devices', 'POST', { code, ...body });
      const changes = diff(d, body);
      return Object.keys(changes).length ? send(`/api/v1/admin/devices/${enc(d.code)}`, 'PATCH', changes) : d;
    },
  });
  if (!out) return;
  await afterChange('devices', t(isNew ? 'admin.saved_new' : 'admin.saved', { what: t('admin.kind_device'), code: out.code }),
                    $('devices-msg'));
  if (out.token) await showToken(out, out.token);
}

async function issueToken(d) {
  let token = null;
  const done = await confirmDialog({
    title: t('admin.token_issue_title', { code: d.code }),
    text: t(d.has_token && !d.revoked ? 'admin.token_replace_text' : 'admin.token_issue_text', { code: d.code }),
    action: t('admin.token_issue'),
    kind: 'primary',
    run: async () => { token = (await send(`/api/v1/admin/devices/${enc(d.code)}/token`, 'POST')).token; },
  });
  if (!done || !token) return;
  await afterChange('devices', t('admin.token_issued', { code: d.code }), $('devices-msg'));
  await showToken(d, token);
}

async function revoke(d) {
  const done = await confirmDialog({
    title: t('admin.token_revoke_title', { code: d.code }),
    text: t('admin.token_revoke_text', { code: d.code }),
    action: t('admin.token_revoke'),
    run: () => send(`/api/v1/admin/devices/${enc(d.code)}/revoke`, 'POST'),
  });
  if (done) await afterChange('devices', t('admin.token_revoked_msg', { code: d.code }), $('devices-msg'));
}

async function deleteDevice(d) {
  const done = await confirmDialog({
    title: t('admin.delete_title', { what: t('admin.kind_device'), code: d.code }),
    text: t('admin.device_delete_text', { code: d.code }),
    action: t('admin.delete'),
    run: () => send(`/api/v1/admin/devices/${enc(d.code)}`, 'DELETE'),
  });
  if (done) await afterChange('devices', t('admin.deleted', { what: t('admin.kind_device'), code: d.code }), $('devices-msg'));
}

// ================================================================== shared

const pad = (n) => String(n).padStart(2, '0');
export function fmtTime(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

