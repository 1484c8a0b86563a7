// Calendar exceptions, one year at a time: a holiday closes a weekday, a make-up workday (调休)
// opens a weekend. Listed by month; added one date at a time; deleted to change.
import { t, api, el } from '/static/web/common/app.js';
import { $, tx, content, field, check, need, rowButton, pill, openEditor, confirmDialog } from '/static/web/admin/ui.js';
import { send } from '/static/web/admin/store.js';
import { afterChange } from '/static/web/admin/hall.js';

const ISO_DAY = /^\d{4}-\d{2}-\d{2}$/;
const weekday = (iso) => new Date(`${iso}T12:00:00`).getDay();  // 0 Sunday … 6 Saturday
const isWeekend = (iso) => [0, 6].includes(weekday(iso));

export const holidays = {
  id: 'holidays',
  role: 'operator',
  watches: ['holidays'],
  year: new Date().getFullYear(),
  rows: [],

  wire() {
    $('year-prev').addEventListener('click', () => { this.year -= 1; this.load(); });
    $('year-next').addEventListener('click', () => { this.year += 1; this.load(); });
    $('holiday-add').addEventListener('click', () => addHoliday(this.year));
  },

  params(q) {
    const y = Number(q.get('year'));
    if (Number.isInteger(y) && y >= 1900 && y <= 2200) this.year = y;
  },

  async load() {
    $('year-label').textContent = String(this.year);
    this.rows = await api(`/api/v1/admin/holidays?year=${this.year}`);
    this.render();
  },

  render() {
    $('year-label').textContent = t('admin.year', { year: this.year });
    const byMonth = new Map();
    for (const h of this.rows) {
      const m = Number(h.date.slice(5, 7));
      if (!byMonth.has(m)) byMonth.set(m, []);
      byMonth.get(m).push(h);
    }
    const counts = {
      holiday: this.rows.filter((h) => h.kind === 'holiday').length,
      workday: this.rows.filter((h) => h.kind === 'workday').length,
    };
    const body = $('holidays-body');
    if (!this.rows.length) {
      body.replaceChildren(el('p', { class: 'muted empty' }, t('admin.holidays_empty', { year: this.year })));
      return;
    }
    body.replaceChildren(
      el('p', { class: 'muted' }, t('admin.holidays_counts', counts)),
      el('div', { class: 'months' }, [...byMonth.entries()].map(([m, days]) => el('section', { class: 'month' },
        el('h2', { class: 'month-title' }, t('admin.month', { year: this.year, month: m })),
        el('ul', { class: 'days' }, days.map((h) => el('li', { class: `day day-${h.kind}`, dataset: { date: h.date } },
          el('span', { class: 'day-date' }, h.date.slice(5)),
          el('span', { class: 'day-week' }, t(`admin.weekday_${weekday(h.date)}`)),
          pill(t(`admin.hkind_${h.kind}`), h.kind === 'holiday' ? 'alarm' : 'ok'),
          content(h.name, { class: 'day-name' }),
          rowButton('admin.delete', t('admin.holiday_delete_label', { date: h.date }), () => deleteHoliday(h), 'btn-danger-outline'))))))));
  },
};

function addHoliday(year) {
  const today = new Date();
  const suggest = today.getFullYear() === year
    ? `${year}-${String(today.getMonth() + 1).padStart(2, '0')}-${String(today.getDate()).padStart(2, '0')}` : `${year}-01-01`;
  const f = {
    date: field('admin.f_date', 'input', { name: 'date', type: 'date', min: '1900-01-01', max: '2200-12-31', value: suggest }),
    kind: field('admin.f_hkind', 'select', { name: 'kind' }, {
      options: [{ value: 'holiday', label: 'admin.hkind_holiday_long' }, { value: 'workday', label: 'admin.hkind_workday_long' }],
      hint: 'admin.f_hkind_hint' }),
    name: field('admin.f_holiday_name', 'input', { name: 'name', maxlength: 100 }, { hint: 'admin.f_holiday_name_hint' }),
  };
  const note = el('p', { class: 'field-hint note', role: 'status' });
  const explain = () => {
    const d = f.date.input.value;
    if (!ISO_DAY.test(d)) { note.textContent = ''; return; }
    const weekend = isWeekend(d);
    const kind = f.kind.input.value;
    note.textContent = kind === 'holiday' && weekend ? t('admin.note_holiday_weekend')
      : kind === 'workday' && !weekend ? t('admin.note_workday_weekday') : '';
  };
  f.date.input.addEventListener('change', explain);
  f.kind.input.addEventListener('change', explain);
  explain();
  return openEditor({
    titleKey: 'admin.holiday_new',
    body: [el('div', { class: 'form-grid' }, f.date.row, f.kind.row, f.name.row, note)],
    fields: f,
    relabel: explain,
    async submit() {
      const date = f.date.input.value;
      if (!check([[f.date, ISO_DAY.test(date) ? '' : t('admin.err_date')], [f.name, need(f.name.input.value)]])) return undefined;
      const out = await send('/api/v1/admin/holidays', 'POST', { date, kind: f.kind.input.value, name: f.name.input.value.trim() });
      if (Number(date.slice(0, 4)) !== holidays.year) holidays.year = Number(date.slice(0, 4));
      await afterChange('holidays', t('admin.holiday_added', { date }), $('holidays-msg'));
      return out;
    },
  });
}

async function deleteHoliday(h) {
  const done = await confirmDialog({
    title: t('admin.holiday_delete_title', { date: h.date }),
    text: t('admin.holiday_delete_text', { date: h.date }),
    action: t('admin.delete'),
    run: () => send(`/api/v1/admin/holidays/${h.date}`, 'DELETE'),
  });
  if (done) await afterChange('holidays', t('admin.holiday_deleted', { date: h.date }), $('holidays-msg'));
}

