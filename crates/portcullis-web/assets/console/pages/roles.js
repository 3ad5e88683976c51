// Roles and permissions.
//
// * /roles: every role with its built-in badge and permission count;
//   "Create role" (name, description, permissions chosen by category).
// * /roles/{id}: a role's name, description and permission set, edited
//   with If-Match (a stale edit answers 412 and is shown, not applied);
//   delete, refused while API clients or users hold the role (409, naming
//   them). Built-in roles are read-only.
// * /permissions: every permission by category; custom ones can be added,
//   described and deleted (with "remove it from its roles" when in use).
//
// Nothing here decides who may do what: controls are hidden when the user
// lacks roles:write, and the server refuses anyway (escalation included).

import { h, replace, field, fieldError, alertBox, uid } from '../dom.js';
import { api, describe } from '../api.js';
import { can } from '../session.js';
import { navigate, refresh } from '../router.js';
import { pageHeader, reloadThenSay } from '../layout.js';
import { plural } from '../format.js';
import { confirmDialog, formDialog } from '../dialog.js';

/** A message for the next screen (after a change that navigates away). */
let flash = null;
function takeFlash() {
  const message = flash;
  flash = null;
  return message ? alertBox(message, 'success') : null;
}

/** An error thrown after it was shown next to its field. */
function handled(error) {
  return Object.assign(error || new Error('handled'), { handled: true });
}

// ---------------------------------------------------------------------------
// Roles list

export async function renderRoles(main) {
  const writable = can('roles:write');
  const { data } = await api('GET', '/roles');
  const alerts = h('div', { class: 'alerts' }, takeFlash());
  const create = writable
    ? h('button', { type: 'button', class: 'primary', onclick: () => createRole(alerts) }, 'Create role')
    : null;
  const roles = [...data.items].sort((a, b) => Number(b.builtin) - Number(a.builtin) || a.name.localeCompare(b.name));
  const rows = roles.map((role) => h('tr', { dataset: { roleId: role.id } },
    h('td', { class: 'name', 'data-label': 'Name' },
      h('a', { href: `/roles/${role.id}` }, role.name),
      role.builtin ? [' ', h('span', { class: 'badge badge-builtin' }, 'Built-in')] : null),
    h('td', { 'data-label': 'Description' }, role.description || h('span', { class: 'muted' }, '—')),
    h('td', { 'data-label': 'Permissions' }, plural(role.permissions.length, 'permission', 'permissions'))));
  replace(main,
    pageHeader('Roles', create),
    alerts,
    h('p', { class: 'muted intro' }, 'A role is a named set of permissions. An API client holds one role; a user holds one or more.'),
    h('div', { class: 'table-wrap' },
      h('table', { class: 'data roles-table' },
        h('caption', { class: 'visually-hidden' }, 'Roles'),
        h('thead', {}, h('tr', {},
          h('th', { scope: 'col' }, 'Name'),
          h('th', { scope: 'col' }, 'Description'),
          h('th', { scope: 'col' }, 'Permissions'))),
        h('tbody', {}, rows.length ? rows : h('tr', {}, h('td', { colspan: '3', class: 'empty' }, 'No roles.'))))));
}

/** The "Create role" dialog; opens the new role when created. */
async function createRole(alerts) {
  let categories;
  try {
    categories = (await api('GET', '/permissions')).data.categories;
  } catch (error) {
    if (error.status !== 401) alerts.replaceChildren(alertBox(describe(error)));
    return;
  }
  const name = field('Name', (id) => h('input', { id, name: 'name', required: true, maxlength: '64', autocomplete: 'off', spellcheck: 'false' }),
    'Lowercase letters, digits, “_” and “-”, starting with a letter; e.g. billing-sync.');
  const description = field('Description (optional)', (id) => h('textarea', { id, name: 'description', rows: '2', maxlength: '500' }));
  const picker = permissionPicker(categories, new Set());
  const created = await formDialog({
    title: 'Create role',
    submitLabel: 'Create',
    fields: [name.field, description.field, picker.element],
    submit: async () => {
      fieldError(name, null);
      const value = name.input.value.trim();
      if (!value) {
        fieldError(name, 'Enter a name.');
        name.input.focus();
        throw handled();
      }
      const body = { name: value, permissions: picker.values() };
      if (description.input.value.trim()) body.description = description.input.value.trim();
      try {
        return (await api('POST', '/roles', { body })).data;
      } catch (error) {
        if (error.problem && error.problem.field === 'name') {
          fieldError(name, describe(error));
          name.input.focus();
          throw handled(error);
        }
        throw error;
      }
    },
  });
  if (!created) return;
  flash = `Role “${created.name}” created with ${plural(created.permissions.length, 'permission', 'permissions')}.`;
  navigate(`/roles/${created.id}`);
}

/**
 * Checkboxes for every permission, one group per category:
 * {element, values()} with values() the checked names.
 */
function permissionPicker(categories, selected, legend = 'Permissions') {
  const boxes = [];
  const groups = categories.map((group) => {
    const items = group.permissions.map((p) => {
      const id = uid('perm');
      const hintId = uid('perm-hint');
      const box = h('input', { type: 'checkbox', id, value: p.name, checked: selected.has(p.name), 'aria-describedby': hintId });
      boxes.push(box);
      return h('div', { class: 'check-row' },
        box,
        h('div', {},
          h('label', { for: id, class: 'mono' }, p.name),
          h('p', { class: 'hint', id: hintId }, p.description || (p.builtin ? '' : 'Custom permission'))));
    });
    return h('fieldset', { class: 'check-group' }, h('legend', {}, group.category), items);
  });
  const element = h('fieldset', { class: 'permission-picker' },
    h('legend', {}, legend),
    categories.length ? h('div', { class: 'check-groups' }, groups) : h('p', { class: 'muted' }, 'There are no permissions yet.'));
  return { element, values: () => boxes.filter((b) => b.checked).map((b) => b.value) };
}

// ---------------------------------------------------------------------------
// One role

export async function renderRole(main, params) {
  let role;
  let etag;
  let categories;
  try {
    const [r, p] = await Promise.all([
      api('GET', `/roles/${encodeURIComponent(params.id)}`),
      api('GET', '/permissions'),
    ]);
    role = r.data;
    etag = r.etag;
    categories = p.data.categories;
  } catch (error) {
    if (error.status === 404 || (error.status === 400 && error.problem.field === 'role_id')) {
      document.title = 'No such role · Portcullis';
      replace(main, pageHeader('No such role'), h('p', {}, 'This role does not exist (any more). ', h('a', { href: '/roles' }, 'Back to roles')));
      return;
    }
    throw error;
  }
  document.title = `${role.name} · Portcullis`;
  const editable = can('roles:write') && !role.builtin;
  const alerts = h('div', { class: 'alerts' }, takeFlash());
  const heading = h('h1', {}, role.name);
  const remove = editable
    ? h('button', { type: 'button', class: 'danger', onclick: () => deleteRole() }, 'Delete role')
    : null;
  const header = h('div', { class: 'page-header' }, heading, h('div', { class: 'page-actions' }, remove));
  const breadcrumb = h('nav', { 'aria-label': 'Breadcrumb', class: 'breadcrumb' }, h('a', { href: '/roles' }, 'Roles'));

  if (!editable) {
    const held = new Set(role.permissions);
    replace(main,
      breadcrumb,
      header,
      alerts,
      role.builtin
        ? h('p', { class: 'alert alert-info', role: 'note' }, h('span', { class: 'badge badge-builtin' }, 'Built-in'), ' Built-in roles cannot be changed or deleted.')
        : null,
      h('section', { class: 'card', 'aria-labelledby': 'role-about' },
        h('h2', { id: 'role-about' }, 'About'),
        h('dl', { class: 'facts' },
          h('dt', {}, 'Description'), h('dd', {}, role.description || h('span', { class: 'muted' }, 'None')),
          h('dt', {}, 'Permissions'), h('dd', {}, plural(role.permissions.length, 'permission', 'permissions')))),
      h('section', { class: 'card', 'aria-labelledby': 'role-permissions' },
        h('h2', { id: 'role-permissions' }, 'Permissions'),
        h('div', { class: 'permission-groups' }, categories.map((group) => h('div', {},
          h('h3', {}, group.category),
          group.permissions.map((p) => indicatorRow(p, held.has(p.name))))))));
    return;
  }

  const name = field('Name', (id) => h('input', { id, name: 'name', value: role.name, required: true, maxlength: '64', autocomplete: 'off', spellcheck: 'false' }),
    'Lowercase letters, digits, “_” and “-”, starting with a letter.');
  const description = field('Description', (id) => h('textarea', { id, name: 'description', rows: '2', maxlength: '500' }, role.description));
  let picker = permissionPicker(categories, new Set(role.permissions));
  const save = h('button', { type: 'submit', class: 'primary' }, 'Save changes');
  const form = h('form', { class: 'card role-form', novalidate: true, 'aria-label': `Edit the role ${role.name}` },
    name.field, description.field, picker.element,
    h('div', { class: 'form-actions' }, save));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    fieldError(name, null);
    alerts.replaceChildren();
    const body = {};
    const newName = name.input.value.trim();
    if (!newName) {
      fieldError(name, 'Enter a name.');
      name.input.focus();
      return;
    }
    if (newName !== role.name) body.name = newName;
    if (description.input.value.trim() !== role.description) body.description = description.input.value.trim();
    const chosen = picker.values();
    if (!sameSet(chosen, role.permissions)) body.permissions = chosen;
    if (Object.keys(body).length === 0) {
      alerts.append(alertBox('Nothing to save: nothing was changed.', 'info'));
      return;
    }
    save.disabled = true;
    try {
      const answer = await api('PATCH', `/roles/${role.id}`, { body, ifMatch: etag });
      role = answer.data;
      etag = answer.etag;
      heading.textContent = role.name;
      document.title = `${role.name} · Portcullis`;
      name.input.value = role.name;
      description.input.value = role.description;
      alerts.append(alertBox(`Saved. The role has ${plural(role.permissions.length, 'permission', 'permissions')}; its API clients get the new set with their next token.`, 'success'));
    } catch (error) {
      if (error.status === 401) return;
      if (error.problem && error.problem.field === 'name') {
        fieldError(name, describe(error));
        name.input.focus();
      } else {
        alerts.append(errorAlert(error));
      }
    } finally {
      save.disabled = false;
    }
  });

  async function deleteRole() {
    const ok = await confirmDialog({
      title: `Delete the role ${role.name}?`,
      message: 'Only a role that no API client and no user holds can be deleted. This cannot be undone.',
      confirmLabel: 'Delete role',
      danger: true,
    });
    if (!ok) return;
    alerts.replaceChildren();
    try {
      await api('DELETE', `/roles/${role.id}`, { ifMatch: etag });
      flash = `Role “${role.name}” deleted.`;
      navigate('/roles');
    } catch (error) {
      if (error.status === 401) return;
      if (error.kind === 'in-use' && error.problem.in_use_by) {
        alerts.append(richAlert(await inUseMessage(error.problem.in_use_by)));
      } else {
        alerts.append(errorAlert(error));
      }
    }
  }

  replace(main, breadcrumb, header, alerts, form);
}

/** A 412 gets a "Reload" button next to its message; anything else its sentence. */
function errorAlert(error) {
  if (error.kind !== 'precondition-failed') return alertBox(describe(error));
  return alertBox([describe(error), ' ',
    h('button', { type: 'button', class: 'link-button', onclick: () => refresh() }, 'Reload')]);
}

/** An error alert holding more than a sentence (a list), dismissible like alertBox. */
function richAlert(nodes) {
  const box = h('div', { class: 'alert alert-error', role: 'alert' },
    h('div', {}, nodes),
    h('button', { type: 'button', class: 'icon-button', 'aria-label': 'Dismiss', onclick: () => box.remove() }, '×'));
  return box;
}

/** "Held by 1 API client and 2 users: …" with each one named and linked. */
async function inUseMessage(inUse) {
  const clients = inUse.clients || [];
  const users = inUse.users || [];
  const SHOWN = 20;
  const lookup = (allowed, path, label) => async (id) => {
    if (!allowed) return { id, label: id };
    try {
      return { id, label: label((await api('GET', `${path}/${encodeURIComponent(id)}`)).data) };
    } catch {
      return { id, label: id };
    }
  };
  const [clientNames, userNames] = await Promise.all([
    Promise.all(clients.slice(0, SHOWN).map(lookup(can('clients:read'), '/clients', (c) => c.name))),
    Promise.all(users.slice(0, SHOWN).map(lookup(can('users:read'), '/users', (u) => `${u.name} <${u.email}>`))),
  ]);
  const items = [
    ...clientNames.map((c) => h('li', {}, 'API client ', can('clients:read') ? h('a', { href: `/clients/${c.id}` }, c.label) : c.label)),
    ...userNames.map((u) => h('li', {}, 'User ', u.label)),
  ];
  const more = clients.length + users.length - items.length;
  const holders = [
    clients.length ? plural(clients.length, 'API client', 'API clients') : null,
    users.length ? plural(users.length, 'user', 'users') : null,
  ].filter(Boolean).join(' and ');
  return [
    h('p', {}, `This role cannot be deleted: ${holders} still ${clients.length + users.length === 1 ? 'holds' : 'hold'} it. Give them another role first.`),
    h('ul', { class: 'in-use-list' }, items, more > 0 ? h('li', {}, `and ${more} more`) : null),
  ];
}

function sameSet(a, b) {
  return a.length === b.length && a.every((x) => b.includes(x));
}

/** A read-only toggle indicator with its state in words for screen readers. */
function indicatorRow(permission, on) {
  return h('div', { class: 'permission' },
    h('span', { class: on ? 'indicator on' : 'indicator', 'aria-hidden': 'true' }),
    h('div', {},
      h('span', { class: 'mono' }, permission.name),
      h('span', { class: 'visually-hidden' }, on ? ' granted' : ' not granted'),
      permission.description ? h('p', { class: 'hint' }, permission.description) : null));
}

// ---------------------------------------------------------------------------
// Permissions

export async function renderPermissions(main) {
  const writable = can('roles:write');
  const alerts = h('div', { class: 'alerts' });
  const list = h('div', { class: 'permission-sections' });
  const add = writable
    ? h('button', { type: 'button', class: 'primary', onclick: () => addPermission() }, 'Add permission')
    : null;
  replace(main,
    pageHeader('Permissions', add),
    alerts,
    h('p', { class: 'muted intro' },
      'A permission is what an access token carries as an OAuth2 scope. The built-in ones cover Portcullis’s own admin API and cannot be changed; add your own (e.g. ',
      h('code', {}, 'invoices:read'), ') for the APIs you protect, then give them to roles.'),
    list);

  async function load() {
    const { data } = await api('GET', '/permissions');
    replace(list, data.categories.map(section));
  }

  function section(group) {
    const headingId = uid('category');
    return h('section', { class: 'card category', 'aria-labelledby': headingId },
      h('h2', { id: headingId }, group.category),
      h('div', { class: 'table-wrap flat' },
        h('table', { class: 'data permissions-table' },
          h('caption', { class: 'visually-hidden' }, `Permissions of the category ${group.category}`),
          h('thead', {}, h('tr', {},
            h('th', { scope: 'col' }, 'Permission'),
            h('th', { scope: 'col' }, 'Description'),
            h('th', { scope: 'col' }, 'Kind'),
            writable ? h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'Actions')) : null)),
          h('tbody', {}, group.permissions.map(row)))));
  }

  function row(p) {
    return h('tr', { dataset: { permission: p.name } },
      h('td', { class: 'mono', 'data-label': 'Permission' }, p.name),
      h('td', { 'data-label': 'Description' }, p.description || h('span', { class: 'muted' }, '—')),
      h('td', { 'data-label': 'Kind' }, p.builtin ? h('span', { class: 'badge badge-builtin' }, 'Built-in') : 'Custom'),
      writable ? h('td', { class: 'row-actions' }, p.builtin ? null : [
        h('button', { type: 'button', 'aria-label': `Edit ${p.name}`, onclick: () => editPermission(p) }, 'Edit'),
        h('button', { type: 'button', class: 'danger-text', 'aria-label': `Delete ${p.name}`, onclick: () => deletePermission(p) }, 'Delete'),
      ]) : null);
  }

  function fail(error) {
    if (error.status !== 401) alerts.replaceChildren(alertBox(describe(error)));
  }

  async function addPermission() {
    const category = h('p', { class: 'hint', 'aria-live': 'polite' });
    const name = field('Name', (id) => h('input', { id, name: 'name', required: true, maxlength: '100', autocomplete: 'off', spellcheck: 'false', placeholder: 'invoices:read' }),
      'category:action in lowercase letters, digits, “_”, “-” and “.”; the category is the part before the colon.');
    name.field.append(category);
    name.input.addEventListener('input', () => {
      const value = name.input.value.trim();
      category.textContent = value.includes(':') && value.indexOf(':') > 0 ? `Category: ${value.slice(0, value.indexOf(':'))}` : '';
    });
    const description = field('Description (optional)', (id) => h('textarea', { id, name: 'description', rows: '2', maxlength: '500' }));
    const created = await formDialog({
      title: 'Add permission',
      submitLabel: 'Add',
      fields: [name.field, description.field],
      submit: async () => {
        fieldError(name, null);
        const value = name.input.value.trim();
        if (!/^[^:]+:[^:]+$/.test(value)) {
          fieldError(name, 'Enter category:action, e.g. invoices:read.');
          name.input.focus();
          throw handled();
        }
        const body = { name: value };
        if (description.input.value.trim()) body.description = description.input.value.trim();
        try {
          return (await api('POST', '/permissions', { body })).data;
        } catch (error) {
          if (error.problem && error.problem.field === 'name') {
            fieldError(name, describe(error));
            name.input.focus();
            throw handled(error);
          }
          if (error.status === 409) {
            fieldError(name, `A permission named ${value} exists already.`);
            name.input.focus();
            throw handled(error);
          }
          throw error;
        }
      },
    });
    if (!created) return;
    await reloadThenSay(alerts, load, `Permission ${created.name} added. Give it to a role to hand it out.`, 'success');
  }

  async function editPermission(p) {
    const description = field('Description', (id) => h('textarea', { id, name: 'description', rows: '3', maxlength: '500' }, p.description));
    const updated = await formDialog({
      title: `Edit ${p.name}`,
      submitLabel: 'Save',
      fields: [description.field],
      submit: async () => (await api('PATCH', `/permissions/${encodeURIComponent(p.name)}`, { body: { description: description.input.value.trim() } })).data,
    });
    if (!updated) return;
    await reloadThenSay(alerts, load, `The description of ${p.name} is saved.`, 'success');
  }

  async function deletePermission(p) {
    const ok = await confirmDialog({
      title: `Delete ${p.name}?`,
      message: 'API clients can no longer ask for it as a scope. Tokens already issued keep it until they expire. This cannot be undone.',
      confirmLabel: 'Delete permission',
      danger: true,
    });
    if (!ok) return;
    const path = `/permissions/${encodeURIComponent(p.name)}`;
    try {
      try {
        await api('DELETE', path);
      } catch (error) {
        if (error.kind !== 'in-use' || !error.problem.in_use_by) throw error;
        const roles = error.problem.in_use_by.roles || [];
        const again = await confirmDialog({
          title: `Remove ${p.name} from ${plural(roles.length, 'role', 'roles')}?`,
          message: `${plural(roles.length, 'role holds', 'roles hold')} ${p.name}: ${roles.join(', ')}. Delete it anyway, removing it from them? Their API clients lose it with their next token.`,
          confirmLabel: 'Remove from roles and delete',
          danger: true,
        });
        if (!again) {
          alerts.replaceChildren(alertBox(`${p.name} is kept: ${roles.join(', ')} still hold it.`, 'info'));
          return;
        }
        await api('DELETE', `${path}?cascade=true`);
      }
      await reloadThenSay(alerts, load, `Permission ${p.name} deleted.`, 'success');
    } catch (error) {
      fail(error);
    }
  }

  await load();
}
