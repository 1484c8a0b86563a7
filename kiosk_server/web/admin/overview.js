// The live hall overview: every window's state and the number it calls or serves, the queue of
// every zone, every printer and the alarms. Read from GET /api/v1/supervision/overview, and read
// again (debounced) whenever the stream reports something; the clocks tick in the page.
import { t, api, el, fmtElapsed } from '/static/web/common/app.js';
import { $, tx, content, table, pill } from '/static/web/admin/ui.js';

const PRINTER_KIND = { online: 'ok', paper_low: 'warn', no_paper: 'alarm', offline: 'alarm', unknown: 'off', disabled: 'off' };

export const overview = {
  id: 'overview',
  role: 'operator',
  watches: ['zones', 'windows', 'printers'],
  live: true,            // re-read on every stream event
  data: null,
  skew: 0,               // server clock minus browser clock (ms)

  wire() { $('ov-refresh').addEventListener('click', () => this.load()); },

  async load() {
    const data = await api('/api/v1/supervision/overview');
    this.skew = Date.parse(data.at) - Date.now();
    this.data = data;
    this.render();
  },

  render() {
    const d = this.data;
    if (!d) return;
    $('ov-at').replaceChildren(content(d.hall.name), ' · ', t('admin.ov_business_date', { date: d.business_date }));
    const waiting = d.zones.reduce((n, z) => n + z.waiting, 0);
    const open = d.windows.filter((w) => w.state !== 'closed').length;
    const busy = d.windows.filter((w) => w.current_ticket).length;
    const figure = (key, value, id, kind = '') => el('div', { class: `figure ${kind}`, id },
      el('span', { class: 'figure-value' }, String(value)), tx('span', key, { class: 'figure-label' }));
    $('ov-figures').replaceChildren(
      figure('admin.ov_waiting', waiting, 'ov-fig-waiting'),
      figure('admin.ov_open_windows', `${open} / ${d.windows.length}`, 'ov-fig-open'),
      figure('admin.ov_serving', busy, 'ov-fig-busy'),
      figure('admin.ov_alarm_count', d.alarms.length, 'ov-fig-alarms', d.alarms.length ? 'figure-alarm' : ''));

    $('ov-alarms').replaceChildren(...(d.alarms.length ? d.alarms.map((a) => el('li', { class: `alarm alarm-${a.severity}`,
      dataset: { kind: a.kind, object: a.object } },
      pill(t(`admin.sev_${a.severity}`), a.severity === 'alarm' ? 'alarm' : 'warn'),
      content(a.message, { class: 'alarm-text' }),
      a.since ? el('span', { class: 'muted alarm-since', dataset: { since: a.since } }, this.since(a.since)) : null))
      : [tx('li', 'admin.ov_no_alarms', { class: 'muted' })]));

    $('ov-windows').replaceChildren(...d.windows.map((w) => {
      const tk = w.current_ticket;
      return el('li', { class: `win win-${w.state}${tk ? ` win-${tk.status}` : ''}`, dataset: { code: w.code } },
        el('div', { class: 'win-head' },
          el('span', { class: 'win-code' }, w.code),
          pill(t(`admin.win_${w.state}`), w.state)),
        content(w.name, { class: 'win-name' }),
        el('div', { class: 'win-ticket' },
          tk ? el('span', { class: 'win-number', dataset: { number: tk.number } }, tk.number)
             : tx('span', 'admin.ov_no_ticket', { class: 'win-idle' }),
          tk ? el('span', { class: 'win-status' }, t(`status_${tk.status}`), ' ',
                  el('span', { class: 'win-elapsed', dataset: { since: tk.since || '' } }, this.since(tk.since))) : null),
        el('div', { class: 'win-foot' },
          w.clerk ? content(w.clerk.display_name || '', { class: 'win-clerk' }) : tx('span', 'admin.ov_no_clerk', { class: 'muted' }),
          w.state === 'paused' && w.pause_reason ? content(w.pause_reason, { class: 'win-reason' }) : null,
          el('span', { class: 'win-zones muted' }, t('admin.ov_serves', { zones: w.zones.join(' · ') }))));
    }));

    $('ov-zones').replaceChildren(table([
      { key: 'admin.col_code', cls: 'c-code' }, { key: 'admin.col_name' }, { key: 'admin.col_state' },
      { key: 'admin.col_waiting', cls: 'c-num' }, { key: 'admin.col_longest', cls: 'c-num' },
      { key: 'admin.col_oldest' }, { key: 'admin.col_open_windows', cls: 'c-num' },
    ], d.zones.map((z) => {
      const state = !z.enabled ? 'disabled' : z.open ? 'open' : 'closed';
      const alarm = z.longest_wait_s >= (d.thresholds.wait_alarm_s || Infinity);
      return {
        attrs: { dataset: { zone: z.code }, class: alarm ? 'row-alarm' : undefined },
        cells: [z.code, content(z.name), pill(t(`admin.zstate_${state}`), state === 'open' ? 'ok' : 'off'),
          el('span', { class: 'ov-waiting' }, String(z.waiting)),
          z.waiting ? el('span', { dataset: { base: String(z.longest_wait_s), at: d.at } }, fmtElapsed(z.longest_wait_s)) : '–',
          z.oldest_number || '–',
          z.open_windows ? String(z.open_windows) : el('span', { class: z.waiting ? 'text-alarm' : 'muted' }, '0')],
      };
    })));

    $('ov-printers').replaceChildren(table([
      { key: 'admin.col_code', cls: 'c-code' }, { key: 'admin.col_name' }, { key: 'admin.col_state' },
      { key: 'admin.col_jobs' },
    ], d.printers.map((p) => ({
      attrs: { dataset: { code: p.code } },
      cells: [p.code, content(p.name),
        el('span', {}, pill(t(`admin.pstate_${p.state}`), PRINTER_KIND[p.state] || 'off'), ' ',
           el('span', { class: 'muted' }, p.message)),
        t('admin.jobs_counts', { queued: p.jobs.queued || 0, failed: p.jobs.failed || 0 })],
    })), { empty: 'admin.printers_empty' }));
  },

  since(iso) {
    if (!iso) return '';
    return fmtElapsed((Date.now() + this.skew - Date.parse(iso)) / 1000);
  },

  // every second: the times shown move on without a re-read
  tick() {
    if (!this.data) return;
    for (const node of document.querySelectorAll('#sec-overview [data-since]')) {
      if (node.dataset.since) node.textContent = this.since(node.dataset.since);
    }
    for (const node of document.querySelectorAll('#sec-overview [data-base]')) {
      node.textContent = fmtElapsed(Number(node.dataset.base) + (Date.now() + this.skew - Date.parse(node.dataset.at)) / 1000);
    }
  },
};
