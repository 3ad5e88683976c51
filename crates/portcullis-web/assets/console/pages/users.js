// Users and the personal access token.
//
// * /users: console users with status and roles, search and a status
//   filter, cursor pagination; "Add user" (e-mail, name, roles) shows the
//   generated password once; per user: change roles (If-Match), disable or
//   enable, revoke its personal access token, delete.
// * /account ("My access token"): the signed-in user's own personal access
//   token — masked when it exists, generate (shown once, with Copy),
//   "Revoke and regenerate" and "Revoke", each confirmed.

import { h, replace, field, fieldError, alertBox, statusBadge, menuButton, uid } from '../dom.js';
import { api, describe } from '../api.js';
import { can, session } from '../session.js';
import { setQuery } from '../router.js';
import { pageHeader, reloadThenSay } from '../layout.js';
import { timeElement, date, exactTime } from '../format.js';
import { confirmDialog, formDialog, oneTimeDialog } from '../dialog.js';

const PAGE_SIZE = 50;

/** An error thrown after it was shown next to its field. */
function handled(error) {
  return Object.assign(error || new Error('handled'), { handled: true });
}

// ---------------------------------------------------------------------------
// Users

export async function renderUsers(main, _params, query) {
  const state = {
    q: query.get('q') || '',
    status: query.get('status') || '',
    cursors: [null],
    page: [],
    next: null,
  };
  const writable = can('users:write');
  // Roles are chosen from the list of roles, which needs roles:read.
  const picksRoles = writable && can('roles:read');
  const me = session.user ? session.user.user_id : null;

  const alerts = h('div', { class: 'alerts' });
  const add = picksRoles ? h('button', { type: 'button', class: 'primary', onclick: () => addUser() }, 'Add user') : null;
  const search = h('input', { type: 'search', id: 'user-search', value: state.q, placeholder: 'Search by e-mail or name', autocomplete: 'off' });
  const status = h('select', { id: 'user-status' },
    h('option', { value: '' }, 'All statuses'),
    h('option', { value: 'enabled' }, 'Enabled'),
    h('option', { value: 'disabled' }, 'Disabled'));
  status.value = state.status;
  const tbody = h('tbody');
  const prev = h('button', { type: 'button', onclick: () => { state.cursors.pop(); load().catch(fail); } }, 'Previous');
  const next = h('button', { type: 'button', onclick: () => { state.cursors.push(state.next); load().catch(fail); } }, 'Next');
  const pageInfo = h('span', { class: 'muted' });

  replace(main,
    pageHeader('Users', add),
    alerts,
    h('div', { class: 'toolbar' },
      h('div', { class: 'toolbar-filters' },
        h('label', { for: 'user-search', class: 'visually-hidden' }, 'Search by e-mail or name'), search,
        h('label', { for: 'user-status', class: 'visually-hidden' }, 'Filter by status'), status)),
    h('div', { class: 'table-wrap' },
      h('table', { class: 'data users-table' },
        h('caption', { class: 'visually-hidden' }, 'Users'),
        h('thead', {}, h('tr', {},
          h('th', { scope: 'col' }, 'Name'),
          h('th', { scope: 'col' }, 'E-mail'),
          h('th', { scope: 'col' }, 'Status'),
          h('th', { scope: 'col' }, 'Roles'),
          h('th', { scope: 'col' }, 'Created'),
          writable ? h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'Actions')) : null)),
        tbody)),
    h('nav', { class: 'pager', 'aria-label': 'Pages' }, prev, pageInfo, next));

  let searchTimer = null;
  search.addEventListener('input', () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => { state.q = search.value.trim(); state.cursors = [null]; load().catch(fail); }, 250);
  });
  status.addEventListener('change', () => { state.status = status.value; state.cursors = [null]; load().catch(fail); });

  function fail(error) {
    if (error.status !== 401) alerts.replaceChildren(alertBox(describe(error)));
  }

  async function load() {
    setQuery({ q: state.q, status: state.status });
    const params = new URLSearchParams({ limit: String(PAGE_SIZE) });
    if (state.q) params.set('q', state.q);
    if (state.status) params.set('status', state.status);
    const cursor = state.cursors[state.cursors.length - 1];
    if (cursor) params.set('cursor', cursor);
    tbody.setAttribute('aria-busy', 'true');
    try {
      const { data } = await api('GET', `/users?${params}`);
      state.page = data.items;
      state.next = data.next_cursor || null;
      draw();
    } finally {
      tbody.removeAttribute('aria-busy');
    }
  }

  function draw() {
    if (state.page.length === 0) {
      const empty = state.q || state.status ? 'No users match.' : 'No users yet.';
      replace(tbody, h('tr', {}, h('td', { colspan: writable ? '6' : '5', class: 'empty' }, empty)));
    } else {
      replace(tbody, state.page.map(row));
    }
    prev.disabled = state.cursors.length <= 1;
    next.disabled = !state.next;
    pageInfo.textContent = `Page ${state.cursors.length}`;
  }

  function row(user) {
    const isMe = user.user_id === me;
    const actions = writable ? menuButton('Actions', [
      picksRoles ? { label: 'Change roles', onSelect: () => changeRoles(user) } : null,
      user.status === 'enabled'
        ? { label: 'Disable', onSelect: () => disable(user) }
        : { label: 'Enable', onSelect: () => enable(user) },
      { label: 'Revoke access token', onSelect: () => revokeToken(user) },
      { label: 'Delete', onSelect: () => remove(user), danger: true },
    ].filter(Boolean)) : null;
    if (actions) actions.button.setAttribute('aria-label', `Actions for ${user.email}`);
    return h('tr', { class: user.status === 'disabled' ? 'dimmed' : null, dataset: { userId: user.user_id } },
      h('td', { class: 'name', 'data-label': 'Name' }, user.name, isMe ? h('span', { class: 'muted' }, ' (you)') : null),
      h('td', { 'data-label': 'E-mail' }, user.email),
      h('td', { 'data-label': 'Status' }, statusBadge(user.status)),
      h('td', { 'data-label': 'Roles' }, user.roles.length ? user.roles.join(', ') : h('span', { class: 'muted' }, 'None')),
      h('td', { 'data-label': 'Created' }, h('time', { datetime: user.created_at, title: exactTime(user.created_at) }, date(user.created_at))),
      actions ? h('td', { class: 'row-actions' }, actions.element) : null);
  }

  async function addUser() {
    const roles = await roleNames().catch((error) => { fail(error); return null; });
    if (!roles) return;
    const email = field('Email', (id) => h('input', { id, name: 'email', type: 'email', required: true, maxlength: '254', autocomplete: 'off', spellcheck: 'false' }));
    const name = field('Name', (id) => h('input', { id, name: 'name', required: true, maxlength: '200', autocomplete: 'off' }));
    const picker = rolePicker(roles, new Set(['viewer'].filter((r) => roles.includes(r))));
    const created = await formDialog({
      title: 'Add user',
      submitLabel: 'Create',
      fields: [email.field, name.field, picker.element,
        h('p', { class: 'hint' }, 'A password is generated and shown once, to hand over to the new user.')],
      submit: async () => {
        fieldError(email, null);
        fieldError(name, null);
        picker.setError(null);
        const body = { email: email.input.value.trim(), name: name.input.value.trim(), roles: picker.values() };
        let first = null;
        if (!body.email) { fieldError(email, 'Enter an e-mail address.'); first = first || email.input; }
        if (!body.name) { fieldError(name, 'Enter a name.'); first = first || name.input; }
        if (body.roles.length === 0) { picker.setError('Choose at least one role.'); first = first || picker.first(); }
        if (first) {
          first.focus();
          throw handled();
        }
        try {
          return (await api('POST', '/users', { body })).data;
        } catch (error) {
          const target = { email, name }[error.problem && error.problem.field];
          if (target) {
            fieldError(target, describe(error));
            target.input.focus();
            throw handled(error);
          }
          if (error.problem && error.problem.field === 'roles') {
            picker.setError(describe(error));
            throw handled(error);
          }
          if (error.status === 409) {
            fieldError(email, 'A user with this e-mail exists already.');
            email.input.focus();
            throw handled(error);
          }
          throw error;
        }
      },
    });
    if (!created) return;
    const values = [
      { label: 'Email', value: created.user.email },
      { label: 'Password', value: created.password, secret: true },
    ];
    created.password = null;
    await oneTimeDialog({
      title: 'User created',
      warning: `Copy the password now and give it to ${created.user.name} over a safe channel: it is shown only once.`,
      values,
    });
    state.cursors = [null];
    await reloadThenSay(alerts, load, `User ${created.user.email} created with the roles ${created.user.roles.join(', ')}.`);
  }

  async function changeRoles(user) {
    let current;
    let roles;
    try {
      [current, roles] = await Promise.all([api('GET', `/users/${user.user_id}`), roleNames()]);
    } catch (error) {
      fail(error);
      return;
    }
    const picker = rolePicker(roles, new Set(current.data.roles));
    const updated = await formDialog({
      title: `Roles of ${current.data.name}`,
      submitLabel: 'Save roles',
      fields: [h('p', { class: 'muted' }, current.data.email), picker.element],
      submit: async () => {
        picker.setError(null);
        const chosen = picker.values();
        if (chosen.length === 0) {
          picker.setError('Choose at least one role.');
          picker.first().focus();
          throw handled();
        }
        return (await api('PATCH', `/users/${user.user_id}`, { body: { roles: chosen }, ifMatch: current.etag })).data;
      },
    });
    if (!updated) return;
    await reloadThenSay(alerts, load, `${updated.name} now holds ${updated.roles.join(', ')}.`);
  }

  async function disable(user) {
    const self = user.user_id === me ? ' This is you: you will be signed out.' : '';
    const ok = await confirmDialog({
      title: `Disable ${user.name}?`,
      message: `${user.email} is signed out everywhere at once and cannot sign in; their personal access token stops working. Enable them again to restore access with the same password.${self}`,
      confirmLabel: 'Disable user',
      danger: true,
    });
    if (!ok) return;
    try {
      await api('PATCH', `/users/${user.user_id}`, { body: { status: 'disabled' } });
      await reloadThenSay(alerts, load, `${user.email} is disabled.`);
    } catch (error) {
      fail(error);
    }
  }

  async function enable(user) {
    try {
      await api('PATCH', `/users/${user.user_id}`, { body: { status: 'enabled' } });
      await reloadThenSay(alerts, load, `${user.email} is enabled.`);
    } catch (error) {
      fail(error);
    }
  }

  async function revokeToken(user) {
    const ok = await confirmDialog({
      title: `Revoke the access token of ${user.name}?`,
      message: `The personal access token of ${user.email} stops working at once. They can generate a new one on their “My access token” page.`,
      confirmLabel: 'Revoke token',
      danger: true,
    });
    if (!ok) return;
    try {
      await api('DELETE', `/users/${user.user_id}/token`);
      await reloadThenSay(alerts, load, `The personal access token of ${user.email} is revoked.`);
    } catch (error) {
      if (error.status === 404) {
        await reloadThenSay(alerts, load, `${user.email} has no personal access token: nothing to revoke.`, 'info');
      } else {
        fail(error);
      }
    }
  }

  async function remove(user) {
    const ok = await confirmDialog({
      title: `Delete ${user.name}?`,
      message: `${user.email} is deleted with their sessions and personal access token. This cannot be undone.`,
      confirmLabel: 'Delete user',
      danger: true,
    });
    if (!ok) return;
    try {
      await api('DELETE', `/users/${user.user_id}`);
      await reloadThenSay(alerts, load, `${user.email} is deleted.`);
    } catch (error) {
      fail(error);
    }
  }

  await load();
}

/** The names of every role, built-in first. */
async function roleNames() {
  const { data } = await api('GET', '/roles');
  return [...data.items]
    .sort((a, b) => Number(b.builtin) - Number(a.builtin) || a.name.localeCompare(b.name))
    .map((r) => r.name);
}

/** A group of role checkboxes: {element, values(), setError(message), first()}. */
function rolePicker(roles, selected) {
  const errorId = uid('roles-error');
  const error = h('p', { class: 'field-error', id: errorId, hidden: true });
  const boxes = roles.map((role) => h('input', { type: 'checkbox', id: uid('role'), value: role, checked: selected.has(role) }));
  const element = h('fieldset', { class: 'check-group roles-picker' },
    h('legend', {}, 'Roles'),
    boxes.map((box) => h('div', { class: 'check-row' }, box, h('label', { for: box.id }, box.value))),
    error);
  return {
    element,
    values: () => boxes.filter((b) => b.checked).map((b) => b.value),
    first: () => boxes[0] || element,
    setError(message) {
      error.hidden = !message;
      error.textContent = message || '';
      if (message) element.setAttribute('aria-describedby', errorId);
      else element.removeAttribute('aria-describedby');
    },
  };
}

// ---------------------------------------------------------------------------
// My access token

export async function renderAccount(main) {
  const alerts = h('div', { class: 'alerts' });
  const card = h('section', { class: 'card token-card', 'aria-labelledby': 'token-heading' });
  replace(main,
    pageHeader('My access token'),
    alerts,
    h('p', { class: 'intro' },
      'Your personal access token lets scripts call the admin API as you, with your current permissions: send it as ',
      h('code', {}, 'Authorization: Bearer pat_…'), '. You have at most one; a new one replaces the old one at once, and it stops working when your account is disabled.'),
    card);

  function fail(error) {
    if (error.status !== 401) alerts.replaceChildren(alertBox(describe(error)));
  }

  async function load() {
    let token = null;
    try {
      token = (await api('GET', '/me/token')).data;
    } catch (error) {
      if (error.status !== 404) throw error;
    }
    const heading = h('h2', { id: 'token-heading' }, 'Personal access token');
    if (!token) {
      replace(card, heading,
        h('p', {}, 'You have no personal access token.'),
        h('div', { class: 'form-actions' },
          h('button', { type: 'button', class: 'primary', onclick: () => generate(false) }, 'Generate token')));
      return;
    }
    replace(card, heading,
      h('dl', { class: 'facts' },
        h('dt', {}, 'Token'), h('dd', {}, h('code', { class: 'masked-token' }, token.hint), h('span', { class: 'visually-hidden' }, ' (masked)')),
        h('dt', {}, 'Created'), h('dd', {}, timeElement(h, token.created_at)),
        h('dt', {}, 'Last used'), h('dd', {}, timeElement(h, token.last_used_at))),
      h('div', { class: 'form-actions' },
        h('button', { type: 'button', class: 'primary', onclick: () => generate(true) }, 'Revoke and regenerate'),
        h('button', { type: 'button', class: 'danger', onclick: () => revoke() }, 'Revoke')));
  }

  async function generate(replacing) {
    if (replacing) {
      const ok = await confirmDialog({
        title: 'Revoke and regenerate?',
        message: 'Your current token stops working at once, and a new one is shown once. Scripts using the old one must be given the new one.',
        confirmLabel: 'Revoke and regenerate',
        danger: true,
      });
      if (!ok) return;
    }
    alerts.replaceChildren();
    let created;
    try {
      created = (await api('POST', '/me/token')).data;
    } catch (error) {
      fail(error);
      return;
    }
    const values = [{ label: 'Personal access token', value: created.token, secret: true }];
    created.token = null;
    await oneTimeDialog({
      title: 'Your new personal access token',
      warning: replacing
        ? 'Copy it now: it is shown only once. The previous token no longer works.'
        : 'Copy it now: it is shown only once. If it is lost, revoke it and generate another.',
      values,
    });
    await reloadThenSay(alerts, load, replacing ? 'A new token replaces the old one.' : 'Your token is ready.', 'success');
  }

  async function revoke() {
    const ok = await confirmDialog({
      title: 'Revoke your access token?',
      message: 'It stops working at once. You can generate a new one afterwards.',
      confirmLabel: 'Revoke token',
      danger: true,
    });
    if (!ok) return;
    try {
      await api('DELETE', '/me/token');
    } catch (error) {
      if (error.status !== 404) fail(error);
      else await load().catch(fail);
      return;
    }
    await reloadThenSay(alerts, load, 'Your personal access token is revoked.', 'success');
  }

  await load();
}
