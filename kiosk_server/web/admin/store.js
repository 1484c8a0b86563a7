// What the admin page knows: the session and the hall layout lists it has read. Lists are read
// once and read again when `config.changed` says they changed (here or in another admin page).
import { api } from '/static/web/common/app.js';

export const S = {
  session: null,   // {token, user: {id, username, display_name, roles}, expires_at}
  lists: {},       // what -> array (zones, windows, printers, devices)
  pending: {},     // what -> promise of a read in flight
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
  const p = api(PATHS[what]).then((rows) => { S.lists[what] = rows; return rows; })
    .finally(() => { if (S.pending[what] === p) delete S.pending[what]; });
  S.pending[what] = p;
  return p;
}

export function forget(what) { delete S.lists[what]; }
export function forgetAll() { S.lists = {}; S.pending = {}; }

export const zoneName = (code) => {
  const z = (S.lists.zones || []).find((x) => x.code === code);
  return z ? z.name : '';
};

export const send = (path, method, body) => api(path, { method, body });
