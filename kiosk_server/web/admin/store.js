// What the admin page knows: the session and the hall layout lists it has read. Lists are read
// once and read again when `config.changed` says they changed (here or in another admin page).
import { api } from '/static/web/common/app.js';

export const S = {
  session: null,   // {token, user: {id, username, display_name, roles}, expires_at}
  lists: {},       // what -> array (zones, windows, printers, devices)
  pending: {},     // what -> promise of a read in flight
  zoneNames: {},   // code -> name, from the last zones read (kept while the list itself is stale)
};

const PATHS = {
  zones: '/api/v1/admin/zones',
  windows: '/api/v1/admin/windows',
  printers: '/api/v1/admin/printers',
  devices: '/api/v1/admin/devices',
};

export const hasRole = (role) => !!S.session && S.session.user.roles.includes(role);

// A list, read from the server when not known yet (or `fresh`).
export async function list(what, { fresh = false } = {}) {
  if (!fresh && S.lists[what]) return S.lists[what];
  if (!fresh && S.pending[what]) return S.pending[what];
  const p = api(PATHS[what]).then((rows) => {
    S.lists[what] = rows;
    if (what === 'zones') S.zoneNames = Object.fromEntries(rows.map((z) => [z.code, z.name]));
    return rows;
  })
    .finally(() => { if (S.pending[what] === p) delete S.pending[what]; });
  S.pending[what] = p;
  return p;
}

export function forget(what) { delete S.lists[what]; }
export function forgetAll() { S.lists = {}; S.pending = {}; }
export function forgetSession() { forgetAll(); S.zoneNames = {}; }

export const zoneName = (code) => S.zoneNames[code] || '';

export const send = (path, method, body) => api(path, { method, body });
