// "API clients": the landing page. A table of clients (status, name,
// client ID with copy, last used, created), search by name, filter by
// status, cursor pagination, row checkboxes with bulk Enable / Disable /
// Delete, and "Add API client" with its one-time credentials dialog.

import { h, replace, field, fieldError, alertBox, copyButton, statusBadge, menuButton } from '../dom.js';
import { api, describe } from '../api.js';
import { can } from '../session.js';
import { navigate, setQuery } from '../router.js';
import { pageHeader, reloadThenSay } from '../layout.js';
import { timeElement, date, exactTime, plural } from '../format.js';
import { confirmDialog, formDialog, oneTimeDialog } from '../dialog.js';

const PAGE_SIZE = 50;

export async function renderClients(main, _params, query) {
  const state = {
    q: query.get('q') || '',
    status: query.get('status') || '',
    cursors: [null], // the cursor of each page seen so far; the last is the current page
    selected: new Set(),
    page: [],
    next: null,
  };
  const writable = can('clients:write');

  const alerts = h('div', { class: 'alerts' });
  const addButton = writable
    ? h('button', { type: 'button', class: 'primary', onclick: () => addClient(alerts) }, 'Add API client')
    : null;

  const search = h('input', { type: 'search', id: 'client-search', value: state.q, placeholder: 'Search by name', autocomplete: 'off' });
  const status = h('select', { id: 'client-status' },
    h('option', { value: '' }, 'All statuses'),
    h('option', { value: 'enabled' }, 'Enabled'),
    h('option', { value: 'disabled' }, 'Disabled'));
  status.value = state.status;

  const actions = writable ? menuButton('Actions', [
    { label: 'Enable', onSelect: () => bulk('enable') },
    { label: 'Disable', onSelect: () => bulk('disable') },
    { label: 'Delete', onSelect: () => bulk('delete'), danger: true },
  ], { disabled: true }) : null;
  const selectionNote = h('span', { class: 'muted selection-note', 'aria-live': 'polite' });

  const selectAll = writable ? h('input', { type: 'checkbox', 'aria-label': 'Select every client on this page' }) : null;
  const tbody = h('tbody');
  const table = h('table', { class: 'data clients-table' },
    h('caption', { class: 'visually-hidden' }, 'API clients'),
    h('thead', {}, h('tr', {},
      writable ? h('th', { scope: 'col', class: 'check' }, selectAll) : null,
      h('th', { scope: 'col' }, 'Status'),
      h('th', { scope: 'col' }, 'Name'),
      h('th', { scope: 'col' }, 'Client ID'),
      h('th', { scope: 'col' }, 'Last used'),
      h('th', { scope: 'col' }, 'Created'))),
    tbody);
  const prev = h('button', { type: 'button', onclick: () => { state.cursors.pop(); load(); } }, 'Previous');
  const next = h('button', { type: 'button', onclick: () => { state.cursors.push(state.next); load(); } }, 'Next');
  const pageInfo = h('span', { class: 'muted' });
  const pager = h('nav', { class: 'pager', 'aria-label': 'Pages' }, prev, pageInfo, next);

  replace(main,
    pageHeader('API clients', addButton),
    alerts,
    h('div', { class: 'toolbar' },
      h('div', { class: 'toolbar-filters' },
        h('label', { for: 'client-search', class: 'visually-hidden' }, 'Search by name'), search,
        h('label', { for: 'client-status', class: 'visually-hidden' }, 'Filter by status'), status),
      h('div', { class: 'toolbar-actions' }, selectionNote, actions ? actions.element : null)),
    h('div', { class: 'table-wrap' }, table),
    pager);

  let searchTimer = null;
  search.addEventListener('input', () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => { state.q = search.value.trim(); state.cursors = [null]; load(); }, 250);
  });
  status.addEventListener('change', () => { state.status = status.value; state.cursors = [null]; load(); });
  if (selectAll) {
    selectAll.addEventListener('change', () => {
      for (const c of state.page) {
        if (selectAll.checked) state.selected.add(c.client_id);
        else state.selected.delete(c.client_id);
      }
      drawRows();
    });
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
      const { data } = await api('GET', `/clients?${params}`);
      state.page = data.items;
      state.next = data.next_cursor || null;
      state.selected = new Set([...state.selected].filter((id) => state.page.some((c) => c.client_id === id)));
      drawRows();
    } catch (error) {
      if (error.status !== 401) alerts.append(alertBox(describe(error)));
    } finally {
      tbody.removeAttribute('aria-busy');
    }
  }

  function drawRows() {
    const columns = writable ? 6 : 5;
    if (state.page.length === 0) {
      const empty = state.q || state.status ? 'No API clients match.' : 'No API clients yet.';
      replace(tbody, h('tr', {}, h('td', { colspan: String(columns), class: 'empty' }, empty)));
    } else {
      replace(tbody, state.page.map(row));
    }
    const n = state.selected.size;
    selectionNote.textContent = n ? `${plural(n, 'client', 'clients')} selected` : '';
    if (actions) actions.setDisabled(n === 0);
    if (selectAll) {
      const onPage = state.page.filter((c) => state.selected.has(c.client_id)).length;
      selectAll.checked = onPage > 0 && onPage === state.page.length;
      selectAll.indeterminate = onPage > 0 && onPage < state.page.length;
    }
    prev.disabled = state.cursors.length <= 1;
    next.disabled = !state.next;
    pageInfo.textContent = `Page ${state.cursors.length}`;
  }

  function row(client) {
    const box = writable ? h('input', {
      type: 'checkbox', checked: state.selected.has(client.client_id), 'aria-label': `Select ${client.name}`,
      onchange: (event) => {
        if (event.target.checked) state.selected.add(client.client_id);
        else state.selected.delete(client.client_id);
        drawRows();
      },
    }) : null;
    return h('tr', { class: client.status === 'disabled' ? 'dimmed' : null, dataset: { clientId: client.client_id } },
      writable ? h('td', { class: 'check' }, box) : null,
      h('td', { 'data-label': 'Status' }, statusBadge(client.status)),
      h('td', { class: 'name', 'data-label': 'Name' }, h('a', { href: `/clients/${client.client_id}` }, client.name)),
      h('td', { class: 'mono', 'data-label': 'Client ID' }, h('span', { class: 'client-id' }, client.client_id), ' ',
        copyButton(() => client.client_id, 'Copy', `Copy the client ID of ${client.name}`)),
      h('td', { 'data-label': 'Last used' }, timeElement(h, client.last_used_at)),
      h('td', { 'data-label': 'Created' }, h('time', { datetime: client.created_at, title: exactTime(client.created_at) }, date(client.created_at))));
  }

  async function bulk(action) {
    const ids = [...state.selected];
    const verbs = { enable: 'Enable', disable: 'Disable', delete: 'Delete' };
    const what = plural(ids.length, 'API client', 'API clients');
    const message = action === 'delete'
      ? `This will delete ${what}. Their secrets and tokens stop working at once. This cannot be undone.`
      : `This will ${action} ${what}.`;
    const ok = await confirmDialog({ title: `${verbs[action]} ${what}?`, message, confirmLabel: `${verbs[action]} ${what}`, danger: action !== 'enable' });
    if (!ok) return;
    try {
      const { data } = await api('POST', '/clients/bulk', { body: { action, client_ids: ids } });
      const s = data.summary;
      const parts = [`${verbs[action]}d: ${s.done}`];
      if (s.already_in_state) parts.push(`already so: ${s.already_in_state}`);
      if (s.not_found) parts.push(`not found: ${s.not_found}`);
      state.selected.clear();
      await reloadThenSay(alerts, load, parts.join(', '), 'success');
    } catch (error) {
      if (error.status !== 401) alerts.replaceChildren(alertBox(describe(error)));
    }
  }

  await load();
}

/** The "Add API client" form, then the one-time credentials. */
export async function addClient(alerts) {
  let roles = [];
  try {
    if (can('roles:read')) roles = (await api('GET', '/roles')).data.items || [];
  } catch { roles = []; }
  const name = field('Name', (id) => h('input', { id, name: 'name', required: true, maxlength: '200', autocomplete: 'off' }));
  const description = field('Description (optional)', (id) => h('textarea', { id, name: 'description', rows: '2', maxlength: '2000' }));
  const role = field('Role', (id) => h('select', { id, name: 'role' },
    h('option', { value: '' }, 'No role (no permissions)'),
    roles.map((r) => h('option', { value: r.name }, r.name))));
  const ttl = field('Access-token lifetime', (id) => h('select', { id, name: 'access_token_ttl_seconds' },
    [[300, '5 minutes'], [900, '15 minutes'], [3600, '1 hour'], [21600, '6 hours'], [86400, '24 hours']].map(([s, label]) =>
      h('option', { value: String(s), selected: s === 3600 }, label))),
  'How long each access token it gets is valid.');
  const created = await formDialog({
    title: 'Add API client',
    submitLabel: 'Create',
    fields: [name.field, description.field, role.field, ttl.field],
    submit: async () => {
      fieldError(name, null);
      if (!name.input.value.trim()) {
        fieldError(name, 'Enter a name.');
        name.input.focus();
        throw Object.assign(new Error('name'), { handled: true });
      }
      try {
        const body = { name: name.input.value.trim(), access_token_ttl_seconds: Number(ttl.input.value) };
        if (description.input.value.trim()) body.description = description.input.value.trim();
        if (role.input.value) body.role = role.input.value;
        return (await api('POST', '/clients', { body })).data;
      } catch (error) {
        if (error.problem && error.problem.field === 'name') {
          fieldError(name, describe(error));
          name.input.focus();
          throw Object.assign(error, { handled: true });
        }
        throw error;
      }
    },
  });
  if (!created) return;
  const clientId = created.client.client_id;
  await oneTimeDialog({
    title: 'API client created',
    warning: 'Copy the client secret now: it is shown only once. If it is lost, regenerate it.',
    values: [
      { label: 'Client ID', value: clientId },
      { label: 'Client Secret', value: created.client_secret, secret: true },
    ],
  });
  created.client_secret = null;
  navigate(`/clients/${clientId}`);
}
