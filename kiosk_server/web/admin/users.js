// Accounts and roles (security_admin). The three administrative roles are separate (三权分立):
// an account holds at most one of operator, security_admin and auditor, may also be a clerk, and
// nobody changes their own roles. Changing roles, the password or disabling an account ends its
// sessions (the server does that).
import { t, api, el } from '/static/web/common/app.js';
import { $, tx, content, field, check, need, table, rowButton, pill, openEditor } from '/static/web/admin/ui.js';
import { S, send } from '/static/web/admin/store.js';
import { afterChange } from '/static/web/admin/hall.js';

const ADMIN_ROLES = ['operator', 'security_admin', 'auditor'];
const MIN_PASSWORD = 10;

// The password rule of the server: long enough, three of lower, upper, digit, other.
function passwordProblem(p) {
  const classes = [/[a-z]/, /[A-Z]/, /\d/, /[^A-Za-z0-9]/].filter((re) => re.test(p)).length;
  return p.length < MIN_PASSWORD || classes < 3 ? t('admin.err_password', { min: MIN_PASSWORD }) : '';
}

export const users = {
  id: 'users',
  role: 'security_admin',
  watches: [],
  rows: [],

  wire() { $('user-add').addEventListener('click', () => editUser(null, this)); },

  async load() {
    this.rows = await api('/api/v1/admin/users');
    this.render();
  },

  render() {
    const me = S.session && S.session.user.id;
    $('users-body').replaceChildren(table([
      { key: 'admin.col_username', cls: 'c-code' }, { key: 'admin.col_display_name' }, { key: 'admin.col_roles' },
      { key: 'admin.col_status' }, { key: 'admin.col_actions', cls: 'c-actions' },
    ], this.rows.map((u) => ({
      attrs: { dataset: { username: u.username } },
      cells: [
        u.username, content(u.display_name),
        el('span', { class: 'roles' }, u.roles.map((r) => pill(t(`admin.urole_${r}`), ADMIN_ROLES.includes(r) ? 'info' : 'off'))),
        pill(t(u.active ? 'admin.active' : 'admin.inactive'), u.active ? 'ok' : 'off'),
        el('div', { class: 'row-actions' },
          u.id === me ? tx('span', 'admin.this_is_you', { class: 'muted' }) : null,
          rowButton('admin.edit', t('admin.edit_label', { what: t('admin.kind_user'), code: u.username }), () => editUser(u, this))),
      ],
    })), { empty: 'admin.users_empty' }));
  },
};

function rolePicker(current, disabled) {
  const name = `roles-${Math.random().toString(36).slice(2, 8)}`;
  const admin = ADMIN_ROLES.find((r) => current.includes(r)) || '';
  const radio = (value, key) => {
    const input = el('input', { type: 'radio', name, value, id: `${name}-${value || 'none'}`, disabled });
    input.checked = value === admin;
    return el('label', { class: 'check', for: input.id }, input, tx('span', key));
  };
  const clerk = el('input', { type: 'checkbox', id: `${name}-clerk`, disabled });
  clerk.checked = current.includes('clerk');
  const error = el('p', { class: 'field-err', id: `${name}-err` });
  const node = el('fieldset', { class: 'field-wide role-box', 'aria-describedby': `${name}-err` },
    tx('legend', 'admin.f_roles'), tx('p', 'admin.f_roles_hint', { class: 'field-hint' }),
    el('div', { class: 'checks' }, radio('', 'admin.urole_none'), ...ADMIN_ROLES.map((r) => radio(r, `admin.urole_${r}`))),
    el('div', { class: 'checks' }, el('label', { class: 'check', for: clerk.id }, clerk, tx('span', 'admin.urole_clerk'))),
    error);
  return {
    node,
    field: { input: clerk, error },
    value() {
      const chosen = node.querySelector(`input[name="${name}"]:checked`);
      const roles = [chosen && chosen.value, clerk.checked ? 'clerk' : null].filter(Boolean);
      error.textContent = roles.length ? '' : t('admin.err_roles');
      if (!roles.length) { node.querySelector('input').focus(); return undefined; }
      return roles;
    },
  };
}

function editUser(u, section) {
  const isNew = !u;
  const self = !isNew && S.session && u.id === S.session.user.id;
  const f = {
    username: field('admin.f_username', 'input', { name: 'username', maxlength: 64, autocomplete: 'off', spellcheck: 'false',
                                                    value: u ? u.username : '', disabled: !isNew }, { hint: 'admin.f_username_hint' }),
    display_name: field('admin.f_display_name', 'input', { name: 'display_name', maxlength: 100, value: u ? u.display_name : '' }),
    password: field(isNew ? 'admin.f_password' : 'admin.f_new_password', 'input',
                    { name: 'password', type: 'password', maxlength: 256, autocomplete: 'new-password' },
                    { hint: isNew ? 'admin.f_password_hint' : 'admin.f_new_password_hint' }),
    password2: field('admin.f_password2', 'input', { name: 'password2', type: 'password', maxlength: 256, autocomplete: 'new-password' }),
  };
  const roles = rolePicker(u ? u.roles : [], self);
  const active = el('input', { type: 'checkbox', id: 'user-active', disabled: self });
  active.checked = u ? u.active : true;
  const activeRow = el('div', { class: 'field field-check' },
    el('label', { class: 'check', for: 'user-active' }, active, tx('span', 'admin.f_active')),
    self ? tx('p', 'admin.self_roles', { class: 'field-hint' }) : null);
  return openEditor({
    titleKey: isNew ? 'admin.user_new' : 'admin.user_edit',
    code: u ? u.username : '',
    body: [el('div', { class: 'form-grid' }, f.username.row, f.display_name.row, f.password.row, f.password2.row,
              roles.node, isNew ? null : activeRow)],
    fields: { ...f, roles: roles.field },
    async submit() {
      const v = { username: f.username.input.value.trim(), display_name: f.display_name.input.value.trim(),
                  password: f.password.input.value, password2: f.password2.input.value };
      const pw = isNew || v.password ? passwordProblem(v.password) : '';
      const ok = check([
        [f.username, isNew ? (need(v.username) || (/^[A-Za-z0-9_.-]{2,64}$/.test(v.username) ? '' : t('admin.err_username'))) : ''],
        [f.display_name, need(v.display_name)],
        [f.password, pw],
        [f.password2, !pw && v.password !== v.password2 ? t('admin.err_password2') : ''],
      ]);
      if (!ok) return undefined;
      const chosen = roles.value();
      if (chosen === undefined) return undefined;
      let out;
      if (isNew) {
        out = await send('/api/v1/admin/users', 'POST', { username: v.username, display_name: v.display_name,
                                                          password: v.password, roles: chosen });
      } else {
        const changes = {};
        if (v.display_name !== u.display_name) changes.display_name = v.display_name;
        if (v.password) changes.password = v.password;
        if (!self && JSON.stringify([...chosen].sort()) !== JSON.stringify([...u.roles].sort())) changes.roles = chosen;
        if (!self && active.checked !== u.active) changes.active = active.checked;
        out = Object.keys(changes).length ? await send(`/api/v1/admin/users/${u.id}`, 'PATCH', changes) : u;
      }
      f.password.input.value = '';
      f.password2.input.value = '';
      await afterChange('users', t(isNew ? 'admin.user_created' : 'admin.user_saved', { name: out.username }), $('users-msg'));
      await section.load();
      return out;
    },
  });
}

