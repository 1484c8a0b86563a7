// The hall layout: zones (kiosk order, quota, opening hours), matters (the guide a citizen reads
// on the kiosk, with its materials) and windows (the zones each serves, in order, and its LED
// address). Every change goes through the admin API; the lists are read again on
// `config.changed`, so another operator's change shows here too.
import { t, api, ApiError, el } from '/static/web/common/app.js';
import {
  $, tx, content, say, field, checkbox, fillOptions, check, need, codeOk, intOk, table, rowButton, pill,
  openEditor, confirmDialog,
} from '/static/web/admin/ui.js';
import { list, send, zoneName } from '/static/web/admin/store.js';

const HHMM = /^(([01]\d|2[0-3]):[0-5]\d|24:00)$/;
const CASE_TYPES = ['immediate', 'promised', 'review', 'joint'];

// Positions 0…n-1 in the new order; PATCH the ones that change.
async function reorder(items, index, delta, path) {
  const j = index + delta;
  if (j < 0 || j >= items.length) return;
  const order = items.slice();
  [order[index], order[j]] = [order[j], order[index]];
  for (const [pos, item] of order.entries()) {
    if (item.position !== pos) await send(`${path}/${encodeURIComponent(item.code)}`, 'PATCH', { position: pos });
  }
}

function moveButtons(kindLabel, items, i, path, after, box) {
  const item = items[i];
  const go = (delta) => async (ev) => {
    const btn = ev.currentTarget;
    try {
      await reorder(items, i, delta, path);
      await after();
      // keep the keyboard where it was: the same item's same button
      const again = document.querySelector(`[data-move="${delta}"][data-code="${CSS.escape(item.code)}"]`);
      if (again && !again.disabled) again.focus();
      else if (btn.isConnected) btn.focus();
    } catch (e) { say(box, e.message); }
  };
  const up = rowButton('admin.move_up', t('admin.move_up_label', { what: kindLabel, code: item.code }), go(-1), 'btn-icon');
  const down = rowButton('admin.move_down', t('admin.move_down_label', { what: kindLabel, code: item.code }), go(1), 'btn-icon');
  up.dataset.move = '-1'; up.dataset.code = item.code; up.disabled = i === 0;
  down.dataset.move = '1'; down.dataset.code = item.code; down.disabled = i === items.length - 1;
  return [up, down];
}

const enabledPill = (on) => pill(t(on ? 'admin.enabled' : 'admin.disabled'), on ? 'ok' : 'off');

// ================================================================== zones

function hoursText(hours) {
  if (!hours) return '';
  return hours.map((p) => `${p[0]}-${p[1]}`).join(', ');
}

function parseHours(text) {
  const s = text.trim();
  if (!s) return { hours: null };
  const hours = [];
  for (const part of s.split(/[,;\uFF0C\uFF1B\s]+/).filter(Boolean)) {
    const m = part.match(/^(\d{1,2}:\d{2})[-–~](\d{1,2}:\d{2})$/);
    if (!m) return { error: t('admin.err_hours') };
    const [a, b] = [m[1].padStart(5, '0'), m[2].padStart(5, '0')];
    if (!HHMM.test(a) || !HHMM.test(b)) return { error: t('admin.err_hours') };
    if (a >= b) return { error: t('admin.err_hours_order', { from: a, to: b }) };
    hours.push([a, b]);
  }
  return { hours };
}

export const zones = {
  id: 'zones',
  role: 'operator',
  watches: ['zones', 'matters', 'windows'],

  wire() { $('zone-add').addEventListener('click', () => editZone(null)); },

  rows: [],

  async load() { this.rows = await list('zones', { fresh: true }); this.render(); },

  render() {
    const rows = this.rows;
    const box = $('zones-msg');
    const reload = () => this.load();
    $('zones-body').replaceChildren(table([
      { key: 'admin.col_code', cls: 'c-code' }, { key: 'admin.col_name' }, { key: 'admin.col_prefix', cls: 'c-num' },
      { key: 'admin.col_quota', cls: 'c-num' }, { key: 'admin.col_hours' }, { key: 'admin.col_matters', cls: 'c-num' },
      { key: 'admin.col_windows' }, { key: 'admin.col_status' }, { key: 'admin.col_actions', cls: 'c-actions' },
    ], rows.map((z, i) => ({
      attrs: { dataset: { code: z.code } },
      cells: [
        z.code, content(z.name), z.prefix, String(z.daily_quota),
        z.opening_hours ? hoursText(z.opening_hours) : tx('span', 'admin.hours_hall', { class: 'muted' }),
        String(z.matters),
        z.windows.length ? z.windows.join(', ') : tx('span', 'admin.none', { class: 'muted' }),
        enabledPill(z.enabled),
        el('div', { class: 'row-actions' },
          ...moveButtons(t('admin.kind_zone'), rows, i, '/api/v1/admin/zones', reload, box),
          rowButton('admin.edit', t('admin.edit_label', { what: t('admin.kind_zone'), code: z.code }), () => editZone(z)),
          rowButton('admin.zone_matters', t('admin.zone_matters_label', { code: z.code }), () => {
            location.hash = `#matters?zone=${encodeURIComponent(z.code)}`;
          }),
          rowButton('admin.delete', t('admin.delete_label', { what: t('admin.kind_zone'), code: z.code }),
                    () => deleteZone(z), 'btn-danger-outline')),
      ],
    })), { empty: 'admin.zones_empty' }));
  },
};

function editZone(z) {
  const isNew = !z;
  const f = {
    code: field('admin.f_code', 'input', { name: 'code', maxlength: 16, autocomplete: 'off', spellcheck: 'false',
                                            value: z ? z.code : '', disabled: !isNew }, { hint: 'admin.f_code_hint' }),
    name: field('admin.f_zone_name', 'input', { name: 'name', maxlength: 200, value: z ? z.name : '' }, { wide: true }),
    prefix: field('admin.f_prefix', 'input', { name: 'prefix', maxlength: 2, autocomplete: 'off', spellcheck: 'false',
                                                value: z ? z.prefix : '' }, { hint: 'admin.f_prefix_hint' }),
    daily_quota: field('admin.f_quota', 'input', { name: 'daily_quota', type: 'number', min: 1, max: 9999,
                                                   value: z ? z.daily_quota : 999 }),
    opening_hours: field('admin.f_hours', 'input', { name: 'opening_hours', maxlength: 200, spellcheck: 'false',
                                                     value: z ? hoursText(z.opening_hours) : '',
                                                     placeholder: '09:00-12:00, 13:30-17:30' },
                         { hint: 'admin.f_hours_hint', wide: true }),
    enabled: checkbox('admin.f_enabled', { name: 'enabled' }),
  };
  f.enabled.input.checked = z ? z.enabled : true;
  f.prefix.input.addEventListener('input', () => { f.prefix.input.value = f.prefix.input.value.toUpperCase(); });
  return openEditor({
    titleKey: isNew ? 'admin.zone_new' : 'admin.zone_edit',
    code: z ? z.code : '',
    body: [el('div', { class: 'form-grid' }, Object.values(f).map((x) => x.row))],
    fields: f,
    async submit() {
      const v = {
        code: f.code.input.value.trim(), name: f.name.input.value.trim(), prefix: f.prefix.input.value.trim(),
        daily_quota: f.daily_quota.input.value.trim(), enabled: f.enabled.input.checked,
      };
      const hours = parseHours(f.opening_hours.input.value);
      const ok = check([
        [f.code, isNew ? codeOk(v.code) : ''],
        [f.name, need(v.name)],
        [f.prefix, need(v.prefix) || (/^[A-Z]{1,2}$/.test(v.prefix) ? '' : t('admin.err_prefix'))],
        [f.daily_quota, intOk(v.daily_quota, 1, 9999)],
        [f.opening_hours, hours.error || ''],
      ]);
      if (!ok) return undefined;
      const body = { name: v.name, prefix: v.prefix, daily_quota: Number(v.daily_quota),
                     opening_hours: hours.hours, enabled: v.enabled };
      let out;
      if (isNew) {
        out = await send('/api/v1/admin/zones', 'POST', { code: v.code, ...body });
      } else {
        const changes = diff(z, body);
        out = Object.keys(changes).length ? await send(`/api/v1/admin/zones/${enc(z.code)}`, 'PATCH', changes) : z;
      }
      await afterChange('zones', t(isNew ? 'admin.saved_new' : 'admin.saved', { what: t('admin.kind_zone'), code: out.code }),
                        $('zones-msg'));
      return out;
    },
  });
}

async function deleteZone(z) {
  const box = $('zones-msg');
  let refusal = null;
  const done = await confirmDialog({
    title: t('admin.delete_title', { what: t('admin.kind_zone'), code: z.code }),
    text: t('admin.zone_delete_text', { code: z.code, n: z.matters }),
    action: t('admin.delete'),
    run: async () => {
      try {
        await send(`/api/v1/admin/zones/${enc(z.code)}`, 'DELETE');
      } catch (e) {
        if (e instanceof ApiError && e.code === 'zone_in_use') { refusal = e; return; }  // offered below
        throw e;
      }
    },
  });
  if (refusal) {
    // A zone with tickets stays; the server says to disable it instead: offer exactly that.
    const disable = z.enabled ? await confirmDialog({
      title: t('admin.cannot_delete'), text: refusal.message, action: t('admin.disable_instead'), kind: 'warn',
      run: () => send(`/api/v1/admin/zones/${enc(z.code)}`, 'PATCH', { enabled: false }),
    }) : false;
    if (disable) await afterChange('zones', t('admin.zone_disabled', { code: z.code }), box);
    else say(box, refusal.message);
    return;
  }
  if (done) await afterChange('zones', t('admin.deleted', { what: t('admin.kind_zone'), code: z.code }), box);
}

// ================================================================== matters

export const matters = {
  id: 'matters',
  role: 'operator',
  watches: ['zones', 'matters'],
  rows: [],
  zone: '',

  wire() {
    $('matter-add').addEventListener('click', () => editMatter(null, this.zone));
    $('matters-zone').addEventListener('change', () => {
      this.zone = $('matters-zone').value;
      history.replaceState(null, '', this.zone ? `#matters?zone=${enc(this.zone)}` : '#matters');
      this.load();
    });
  },

  params(q) { this.zone = q.get('zone') || ''; },

  zones: [],

  async load() {
    const [zs, rows] = await Promise.all([list('zones'), api(`/api/v1/admin/matters${this.zone ? `?zone=${enc(this.zone)}` : ''}`)]);
    this.rows = rows;
    this.zones = zs;
    if (this.zone && !zs.some((z) => z.code === this.zone)) this.zone = '';
    this.render();
  },

  render() {
    fillOptions($('matters-zone'), [{ value: '', label: 'admin.all_zones' },
      ...this.zones.map((z) => ({ value: z.code, text: `${z.code} ${z.name}`, content: true }))]);
    $('matters-zone').value = this.zone;
    const rows = this.rows;
    const box = $('matters-msg');
    const reload = () => this.load();
    $('matters-body').replaceChildren(table([
      { key: 'admin.col_code', cls: 'c-code' }, { key: 'admin.col_name' }, { key: 'admin.col_zone' },
      { key: 'admin.col_department' }, { key: 'admin.col_case_type' }, { key: 'admin.col_days', cls: 'c-num' },
      { key: 'admin.col_fee' }, { key: 'admin.col_materials', cls: 'c-num' }, { key: 'admin.col_status' },
      { key: 'admin.col_actions', cls: 'c-actions' },
    ], rows.map((m, i) => {
      const sameZone = rows.filter((x) => x.zone === m.zone);
      const k = sameZone.indexOf(m);
      return {
        attrs: { dataset: { code: m.code } },
        cells: [
          m.code, content(m.name), el('span', {}, m.zone, ' ', content(zoneName(m.zone), { class: 'muted' })),
          content(m.department || ''), t(`admin.case_${m.case_type}`), String(m.promised_days), content(m.fee || ''),
          String(m.materials.length), enabledPill(m.enabled),
          el('div', { class: 'row-actions' },
            ...moveButtons(t('admin.kind_matter'), sameZone, k, '/api/v1/admin/matters', reload, box),
            rowButton('admin.edit', t('admin.edit_label', { what: t('admin.kind_matter'), code: m.code }), () => editMatter(m)),
            rowButton('admin.delete', t('admin.delete_label', { what: t('admin.kind_matter'), code: m.code }),
                      () => deleteMatter(m), 'btn-danger-outline')),
        ],
      };
    }), { empty: 'admin.matters_empty' }));
  },
};

// The materials editor: rows of name, copies and original/copy, added, removed and reordered.
function materialsEditor(initial) {
  let items = initial.map((m) => ({ ...m }));
  const fields = [];
  const list = el('ol', { class: 'materials', id: 'materials-list' });
  const empty = tx('p', 'admin.materials_none', { class: 'muted' });
  const errorLine = el('p', { class: 'field-err', id: 'materials-err' });

  function readBack() {
    for (const [i, row] of [...list.children].entries()) {
      items[i].name = row.querySelector('[data-part=name]').value;
      items[i].copies = row.querySelector('[data-part=copies]').value;
      items[i].original = row.querySelector('[data-part=original]').value === 'original';
    }
  }

  function render(focus) {
    fields.length = 0;
    list.replaceChildren(...items.map((m, i) => {
      const n = i + 1;
      const name = el('input', { 'data-part': 'name', maxlength: 200, value: m.name,
                                 'aria-label': t('admin.material_name_n', { n }), placeholder: t('admin.material_name') });
      const copies = el('input', { 'data-part': 'copies', type: 'number', min: 1, max: 99, value: m.copies,
                                   'aria-label': t('admin.material_copies_n', { n }), class: 'copies' });
      const original = el('select', { 'data-part': 'original', 'aria-label': t('admin.material_original_n', { n }) },
        el('option', { value: 'original' }, t('admin.material_is_original')),
        el('option', { value: 'copy' }, t('admin.material_is_copy')));
      original.value = m.original ? 'original' : 'copy';
      const err = el('p', { class: 'field-err' });
      fields.push({ name: { input: name, error: err }, copies: { input: copies, error: err } });
      const act = (key, labelKey, fn, disabled, cls = '') => {
        const b = rowButton(key, t(labelKey, { n }), () => { readBack(); fn(); }, cls);
        b.disabled = disabled;
        b.dataset.act = key;
        return b;
      };
      return el('li', { class: 'material', dataset: { index: String(i) } },
        el('span', { class: 'material-n', 'aria-hidden': 'true' }, String(n)),
        name,
        el('span', { class: 'material-copies' }, copies, tx('span', 'admin.material_copies_unit', { class: 'muted' })),
        original,
        el('span', { class: 'row-actions' },
          act('admin.move_up', 'admin.material_up', () => { swap(i, i - 1); render({ i: i - 1, act: 'admin.move_up' }); }, i === 0, 'btn-icon'),
          act('admin.move_down', 'admin.material_down', () => { swap(i, i + 1); render({ i: i + 1, act: 'admin.move_down' }); },
              i === items.length - 1, 'btn-icon'),
          act('admin.remove', 'admin.material_remove', () => {
            items.splice(i, 1);
            render(items.length ? { i: Math.min(i, items.length - 1), act: 'name' } : { add: true });
          }, false, 'btn-danger-outline')),
        err);
    }));
    empty.hidden = items.length > 0;
    if (focus) {
      if (focus.add) { addBtn.focus(); return; }
      const row = list.children[focus.i];
      const other = focus.act === 'admin.move_up' ? 'admin.move_down' : 'admin.move_up';
      const target = focus.act === 'name' ? row.querySelector('[data-part=name]')
        : [...row.querySelectorAll(`[data-act="${focus.act}"], [data-act="${other}"]`)].find((b) => !b.disabled);
      (target || row.querySelector('[data-part=name]')).focus();
    }
  }

  function swap(a, b) { [items[a], items[b]] = [items[b], items[a]]; }

  const addBtn = el('button', { type: 'button', class: 'btn btn-small', id: 'material-add', onclick: () => {
    readBack();
    items.push({ name: '', copies: 1, original: true });
    render({ i: items.length - 1, act: 'name' });
  } }, t('admin.material_add'));
  addBtn.dataset.t = 'admin.material_add';

  render();
  const node = el('fieldset', { class: 'field-wide materials-box' },
    tx('legend', 'admin.f_materials'), tx('p', 'admin.f_materials_hint', { class: 'field-hint' }),
    list, empty, errorLine, addBtn);

  return {
    node,
    relabel() { readBack(); render(); },
    // [{name, copies, original}] or undefined after marking what is wrong
    value() {
      readBack();
      let first = null;
      for (const [i, m] of items.entries()) {
        const msg = need(m.name) || intOk(m.copies, 1, 99);
        const f = fields[i];
        f.name.error.textContent = msg ? `${i + 1}: ${msg}` : '';
        f.name.input.toggleAttribute('aria-invalid', !!need(m.name));
        f.copies.input.toggleAttribute('aria-invalid', !need(m.name) && !!msg);
        if (msg && !first) first = need(m.name) ? f.name.input : f.copies.input;
      }
      if (first) { first.focus(); return undefined; }
      return items.map((m) => ({ name: m.name.trim(), copies: Number(m.copies), original: m.original }));
    },
  };
}

async function editMatter(m, zone = '') {
  const isNew = !m;
  const zs = await list('zones');
  const f = {
    code: field('admin.f_code', 'input', { name: 'code', maxlength: 16, autocomplete: 'off', spellcheck: 'false',
                                            value: m ? m.code : '', disabled: !isNew }, { hint: 'admin.f_code_hint' }),
    zone: field('admin.f_zone', 'select', { name: 'zone' }, {
      options: [{ value: '', label: 'admin.choose' }, ...zs.map((z) => ({ value: z.code, text: `${z.code} ${z.name}`, content: true }))],
    }),
    name: field('admin.f_matter_name', 'input', { name: 'name', maxlength: 200, value: m ? m.name : '' }, { wide: true }),
    department: field('admin.f_department', 'input', { name: 'department', maxlength: 200, value: m ? m.department || '' : '' }),
    case_type: field('admin.f_case_type', 'select', { name: 'case_type' },
                     { options: CASE_TYPES.map((c) => ({ value: c, label: `admin.case_${c}` })) }),
    promised_days: field('admin.f_days', 'input', { name: 'promised_days', type: 'number', min: 0, max: 365,
                                                    value: m ? m.promised_days : 0 }, { hint: 'admin.f_days_hint' }),
    fee: field('admin.f_fee', 'input', { name: 'fee', maxlength: 100, value: m ? m.fee || '' : '' }),
    joint_departments: field('admin.f_joint', 'textarea', { name: 'joint_departments', rows: 2 },
                             { hint: 'admin.f_joint_hint', wide: true }),
    enabled: checkbox('admin.f_enabled', { name: 'enabled' }),
  };
  f.zone.input.value = m ? m.zone : (zone || '');
  f.case_type.input.value = m ? m.case_type : 'promised';
  f.joint_departments.input.value = m && m.joint_departments ? m.joint_departments.join('\n') : '';
  f.enabled.input.checked = m ? m.enabled : true;
  const showJoint = () => { f.joint_departments.row.hidden = f.case_type.input.value !== 'joint'; };
  f.case_type.input.addEventListener('change', showJoint);
  showJoint();
  const mat = materialsEditor(m ? m.materials : []);
  return openEditor({
    titleKey: isNew ? 'admin.matter_new' : 'admin.matter_edit',
    code: m ? m.code : '',
    body: [el('div', { class: 'form-grid' }, Object.values(f).map((x) => x.row), mat.node)],
    fields: f,
    relabel: () => mat.relabel(),
    async submit() {
      const v = {
        code: f.code.input.value.trim(), zone: f.zone.input.value, name: f.name.input.value.trim(),
        department: f.department.input.value.trim() || null, case_type: f.case_type.input.value,
        promised_days: f.promised_days.input.value.trim(), fee: f.fee.input.value.trim() || null,
        enabled: f.enabled.input.checked,
      };
      const joint = f.joint_departments.input.value.split(/\n|[,;\uFF0C\uFF1B]/).map((s) => s.trim()).filter(Boolean);
      const ok = check([
        [f.code, isNew ? codeOk(v.code) : ''],
        [f.zone, v.zone ? '' : t('admin.err_choose_zone')],
        [f.name, need(v.name)],
        [f.promised_days, intOk(v.promised_days, 0, 365)],
        [f.joint_departments, v.case_type === 'joint' && !joint.length ? t('admin.err_joint') : ''],
      ]);
      if (!ok) return undefined;
      const materials = mat.value();
      if (materials === undefined) return undefined;
      const body = { zone: v.zone, name: v.name, department: v.department, case_type: v.case_type,
                     promised_days: Number(v.promised_days), fee: v.fee, materials,
                     joint_departments: v.case_type === 'joint' ? joint : null, enabled: v.enabled };
      let out;
      if (isNew) {
        out = await send('/api/v1/admin/matters', 'POST', { code: v.code, ...body });
      } else {
        const changes = diff(m, body);
        out = Object.keys(changes).length ? await send(`/api/v1/admin/matters/${enc(m.code)}`, 'PATCH', changes) : m;
      }
      await afterChange('matters', t(isNew ? 'admin.saved_new' : 'admin.saved', { what: t('admin.kind_matter'), code: out.code }),
                        $('matters-msg'));
      return out;
    },
  });
}

async function deleteMatter(m) {
  const done = await confirmDialog({
    title: t('admin.delete_title', { what: t('admin.kind_matter'), code: m.code }),
    text: t('admin.matter_delete_text', { code: m.code }),
    action: t('admin.delete'),
    run: () => send(`/api/v1/admin/matters/${enc(m.code)}`, 'DELETE'),
  });
  if (done) await afterChange('matters', t('admin.deleted', { what: t('admin.kind_matter'), code: m.code }), $('matters-msg'));
}

// ================================================================== windows

export const windows = {
  id: 'windows',
  role: 'operator',
  watches: ['windows', 'zones'],
  events: ['window.opened', 'window.closed', 'window.paused', 'window.resumed'],

  wire() { $('window-add').addEventListener('click', () => editWindow(null)); },

  rows: [],

  async load() {
    [this.rows] = await Promise.all([list('windows', { fresh: true }), list('zones')]);
    this.render();
  },

  render() {
    const rows = this.rows;
    $('windows-body').replaceChildren(table([
      { key: 'admin.col_code', cls: 'c-code' }, { key: 'admin.col_name' }, { key: 'admin.col_zones_served' },
      { key: 'admin.col_led', cls: 'c-num' }, { key: 'admin.col_state' }, { key: 'admin.col_clerk' },
      { key: 'admin.col_status' }, { key: 'admin.col_actions', cls: 'c-actions' },
    ], rows.map((w) => ({
      attrs: { dataset: { code: w.code } },
      cells: [
        w.code, content(w.name),
        el('ol', { class: 'served' }, w.zones.map((z) => el('li', {}, el('span', { class: 'chip-code' }, z), ' ',
                                                           content(zoneName(z), { class: 'muted' })))),
        w.led_address === null ? tx('span', 'admin.none', { class: 'muted' }) : String(w.led_address),
        pill(t(`admin.win_${w.state}`), w.state),
        w.clerk ? content(w.clerk.display_name || String(w.clerk.id)) : tx('span', 'admin.none', { class: 'muted' }),
        enabledPill(w.enabled),
        el('div', { class: 'row-actions' },
          rowButton('admin.edit', t('admin.edit_label', { what: t('admin.kind_window'), code: w.code }), () => editWindow(w)),
          rowButton('admin.delete', t('admin.delete_label', { what: t('admin.kind_window'), code: w.code }),
                    () => deleteWindow(w), 'btn-danger-outline')),
      ],
    })), { empty: 'admin.windows_empty' }));
  },
};

// The zones a window serves, in order (the first is preferred): add, remove, move up and down.
function servedEditor(initial, zs) {
  let served = initial.slice();
  const list = el('ol', { class: 'served-edit', id: 'served-list' });
  const empty = tx('p', 'admin.served_none', { class: 'muted' });
  const add = el('select', { id: 'served-add', 'aria-label': t('admin.served_add_label') });
  add.dataset.tAria = 'admin.served_add_label';
  const addBtn = el('button', { type: 'button', class: 'btn btn-small', id: 'served-add-btn', onclick: () => {
    if (!add.value) { add.focus(); return; }
    served.push(add.value);
    render();
    add.focus();
  } }, t('admin.served_add'));
  addBtn.dataset.t = 'admin.served_add';
  const error = el('p', { class: 'field-err', id: 'served-err' });

  function render(focus) {
    list.replaceChildren(...served.map((code, i) => {
      const b = (key, labelKey, fn, disabled, cls = 'btn-icon') => {
        const x = rowButton(key, t(labelKey, { code }), fn, cls);
        x.disabled = disabled;
        x.dataset.act = key;
        return x;
      };
      return el('li', { class: 'served-item', dataset: { zone: code } },
        el('span', { class: 'served-n', 'aria-hidden': 'true' }, String(i + 1)),
        el('span', { class: 'chip-code' }, code), content(zoneName(code), { class: 'served-name' }),
        i === 0 ? tx('span', 'admin.served_first', { class: 'pill pill-info' }) : null,
        el('span', { class: 'row-actions' },
          b('admin.move_up', 'admin.served_up', () => { [served[i - 1], served[i]] = [served[i], served[i - 1]]; render({ i: i - 1, act: 'admin.move_up' }); }, i === 0),
          b('admin.move_down', 'admin.served_down', () => { [served[i + 1], served[i]] = [served[i], served[i + 1]]; render({ i: i + 1, act: 'admin.move_down' }); },
            i === served.length - 1),
          b('admin.remove', 'admin.served_remove', () => { served.splice(i, 1); render(); add.focus(); }, false, 'btn-danger-outline')));
    }));
    empty.hidden = served.length > 0;
    if (served.length) error.textContent = '';
    fillOptions(add, [{ value: '', label: 'admin.choose' },
      ...zs.filter((z) => !served.includes(z.code)).map((z) => ({ value: z.code, text: `${z.code} ${z.name}`, content: true }))]);
    add.value = '';
    if (focus) {
      const item = list.children[focus.i];
      const target = item.querySelector(`[data-act="${focus.act}"]`);
      (target && !target.disabled ? target : item.querySelector('button:not([disabled])')).focus();
    }
  }
  render();
  const node = el('fieldset', { class: 'field-wide served-box' }, tx('legend', 'admin.f_served'),
    tx('p', 'admin.f_served_hint', { class: 'field-hint' }), list, empty,
    el('div', { class: 'add-row' }, add, addBtn), error);
  return {
    node,
    relabel() { add.setAttribute('aria-label', t('admin.served_add_label')); render(); },
    value() {
      error.textContent = served.length ? '' : t('admin.err_served');
      if (!served.length) { add.focus(); return undefined; }
      return served.slice();
    },
    field: { input: add, error },
  };
}

async function editWindow(w) {
  const isNew = !w;
  const zs = await list('zones');
  const f = {
    code: field('admin.f_code', 'input', { name: 'code', maxlength: 16, autocomplete: 'off', spellcheck: 'false',
                                            value: w ? w.code : '', disabled: !isNew }, { hint: 'admin.f_window_code_hint' }),
    name: field('admin.f_window_name', 'input', { name: 'name', maxlength: 200, value: w ? w.name : '' }, { wide: true }),
    led_address: field('admin.f_led', 'input', { name: 'led_address', type: 'number', min: 1, max: 255,
                                                 value: w && w.led_address !== null ? w.led_address : '' },
                       { hint: 'admin.f_led_hint' }),
    enabled: checkbox('admin.f_enabled', { name: 'enabled' }),
  };
  f.enabled.input.checked = w ? w.enabled : true;
  const served = servedEditor(w ? w.zones : [], zs);
  return openEditor({
    titleKey: isNew ? 'admin.window_new' : 'admin.window_edit',
    code: w ? w.code : '',
    body: [el('div', { class: 'form-grid' }, Object.values(f).map((x) => x.row), served.node)],
    fields: { ...f, zones: served.field },
    relabel: () => served.relabel(),
    async submit() {
      const v = { code: f.code.input.value.trim(), name: f.name.input.value.trim(),
                  led: f.led_address.input.value.trim(), enabled: f.enabled.input.checked };
      const ok = check([
        [f.code, isNew ? codeOk(v.code) : ''],
        [f.name, need(v.name)],
        [f.led_address, intOk(v.led, 1, 255, { optional: true })],
      ]);
      if (!ok) return undefined;
      const zonesServed = served.value();
      if (zonesServed === undefined) return undefined;
      const body = { name: v.name, zones: zonesServed, led_address: v.led ? Number(v.led) : null, enabled: v.enabled };
      let out;
      if (isNew) {
        out = await send('/api/v1/admin/windows', 'POST', { code: v.code, ...body });
      } else {
        const changes = diff(w, body);
        out = Object.keys(changes).length ? await send(`/api/v1/admin/windows/${enc(w.code)}`, 'PATCH', changes) : w;
      }
      await afterChange('windows', t(isNew ? 'admin.saved_new' : 'admin.saved', { what: t('admin.kind_window'), code: out.code }),
                        $('windows-msg'));
      return out;
    },
  });
}

async function deleteWindow(w) {
  const done = await confirmDialog({
    title: t('admin.delete_title', { what: t('admin.kind_window'), code: w.code }),
    text: t('admin.window_delete_text', { code: w.code }),
    action: t('admin.delete'),
    run: () => send(`/api/v1/admin/windows/${enc(w.code)}`, 'DELETE'),
  });
  if (done) await afterChange('windows', t('admin.deleted', { what: t('admin.kind_window'), code: w.code }), $('windows-msg'));
}

// ================================================================== shared

export const enc = (s) => encodeURIComponent(s);

// The fields of `after` whose value differs from `before` (PATCH sends only those).
export function diff(before, after) {
  const out = {};
  for (const [k, v] of Object.entries(after)) {
    if (JSON.stringify(before[k] ?? null) !== JSON.stringify(v ?? null)) out[k] = v;
  }
  return out;
}

// After a change of ours: say so, and read the section again (config.changed will also come).
let afterHook = async () => {};
export function onAfterChange(fn) { afterHook = fn; }
export async function afterChange(what, message, box) {
  say(box, message, 'ok');
  await afterHook(what);
}

