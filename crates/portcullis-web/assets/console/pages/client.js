// Client detail: the header (the client's name, the enable/disable switch,
// "Generate access token", "Revoke all tokens", "Delete") and four tabs,
// the selected one kept in the URL (`?tab=events`) so a reload keeps it:
// Overview (facts, the masked secret and its regeneration, editing with
// If-Match), Role (the one role), Permissions (the effective ones, by
// category) and Events (the 7-day log; one event's redacted bodies in a
// dialog). Controls the user may not use are not shown; the server refuses
// them anyway.

import { h, replace, field, fieldError, alertBox, copyButton, statusBadge, uid } from '../dom.js';
import { api, describe, ApiError } from '../api.js';
import { can } from '../session.js';
import { navigate, setQuery } from '../router.js';
import { pageHeader } from '../layout.js';
import { timeElement, exactTime, relativeTime, duration } from '../format.js';
import { openDialog, confirmDialog, oneTimeDialog } from '../dialog.js';

const TABS = [
  { id: 'overview', label: 'Overview' },
  { id: 'role', label: 'Role' },
  { id: 'permissions', label: 'Permissions' },
  { id: 'events', label: 'Events', permission: 'events:read' },
];
const STATUS_CLASSES = [['', 'All statuses'], ['2xx', '2xx (success)'], ['4xx', '4xx (refused)'], ['5xx', '5xx (server error)']];
const EVENTS_PAGE_SIZE = 25;
const EVENT_WINDOW_MS = 7 * 24 * 3600 * 1000;
/** What stands for the secret: it is stored hashed, so there is nothing to show. */
const MASKED_SECRET = 'pcs_••••••••';
const TTL_MIN = 60;
const TTL_MAX = 86400;

export async function renderClient(main, params, query) {
  const path = `/clients/${encodeURIComponent(params.id)}`;
  let first;
  try {
    first = await api('GET', path);
  } catch (error) {
    // A malformed id names no client either.
    if (error instanceof ApiError && (error.status === 404 || (error.status === 400 && error.problem.field === 'client_id'))) {
      notFound(main);
      return;
    }
    throw error;
  }

  const state = { client: first.data, etag: first.etag };
  // Open editors remember the version their form was filled from: a change
  // made meanwhile by someone else must answer 412, one made here must not.
  const editors = new Set();

  const alerts = h('div', { class: 'alerts' });
  const statusSwitch = makeSwitch();
  const heading = pageHeader(state.client.name, headerActions());
  const title = heading.querySelector('h1');

  const overview = overviewPanel();
  const role = rolePanel();
  const tabs = TABS.filter((t) => !t.permission || can(t.permission));
  const panels = {
    overview: { render: overview.render },
    role: { render: role.render },
    permissions: { render: (panel) => renderPermissions(panel, state.client, path) },
    events: { render: (panel) => events.show(panel) },
  };
  const events = eventsPanel();
  const wanted = query.get('tab');
  const tabView = tabList(tabs, tabs.some((t) => t.id === wanted) ? wanted : 'overview');

  replace(main,
    h('p', { class: 'breadcrumb' }, h('a', { href: '/clients' }, 'API clients')),
    heading,
    alerts,
    tabView.element);
  show();
  tabView.select(tabView.selected, { focus: false });

  /** Shows the client's name wherever it appears. */
  function show() {
    title.textContent = state.client.name;
    document.title = `${state.client.name} · Portcullis`;
  }

  /** After a change made from this page: new facts, editors follow. */
  function changed(client, etag) {
    state.client = client;
    if (etag) {
      for (const editor of editors) {
        // Exactly one version more than the form saw: this page's own change.
        if (version(etag) === version(editor.etag) + 1) editor.etag = etag;
      }
      state.etag = etag;
    }
    show();
    statusSwitch.update();
    overview.update();
    role.update();
  }

  /** Reads the client again after a change whose answer has no ETag. */
  async function reloadAfterChange() {
    const { data, etag } = await api('GET', path);
    changed(data, etag);
  }

  function report(error) {
    if (error && error.status === 401) return;
    alerts.replaceChildren(alertBox(describe(error)));
  }

  function success(message) {
    alerts.replaceChildren(alertBox(message, 'success'));
  }

  // --- Header ---------------------------------------------------------

  function headerActions() {
    return [
      statusSwitch.element,
      can('tokens:issue') ? h('button', { type: 'button', class: 'primary', onclick: generateToken }, 'Generate access token') : null,
      can('clients:write') ? h('button', { type: 'button', onclick: revokeTokens }, 'Revoke all tokens') : null,
      can('clients:write') ? h('button', { type: 'button', class: 'danger-text', onclick: remove }, 'Delete') : null,
    ];
  }

  async function generateToken() {
    let answer;
    try {
      answer = (await api('POST', `${path}/token`, { body: {} })).data;
    } catch (error) {
      report(error);
      return;
    }
    const expires = new Date(Date.now() + answer.expires_in * 1000).toISOString();
    const values = [{ label: 'Access token', value: answer.access_token, secret: true }];
    answer.access_token = null;
    await oneTimeDialog({
      title: 'Access token',
      warning: 'Copy the access token now: it is shown only once.',
      values,
      extra: h('dl', { class: 'facts' },
        h('dt', {}, 'Expires'), h('dd', {}, h('time', { datetime: expires }, `${exactTime(expires)} (${relativeTime(expires)})`)),
        h('dt', {}, 'Scope'), h('dd', {}, answer.scope ? h('code', {}, answer.scope) : h('span', { class: 'muted' }, 'No permissions'))),
    });
  }

  async function revokeTokens() {
    const ok = await confirmDialog({
      title: 'Revoke all tokens?',
      message: `Every access token issued to ${state.client.name} until now stops working at once. Its secret is unchanged, so it can get new tokens.`,
      confirmLabel: 'Revoke all tokens',
      danger: true,
    });
    if (!ok) return;
    try {
      await api('POST', `${path}/revoke-tokens`);
      await reloadAfterChange();
      success(`Every token of ${state.client.name} issued until now is revoked.`);
    } catch (error) {
      report(error);
    }
  }

  async function remove() {
    const ok = await confirmDialog({
      title: `Delete ${state.client.name}?`,
      message: 'Its secret and every token it holds stop working at once. This cannot be undone.',
      confirmLabel: 'Delete API client',
      danger: true,
    });
    if (!ok) return;
    try {
      await api('DELETE', path);
      navigate('/clients');
    } catch (error) {
      report(error);
    }
  }

  // --- The switch -------------------------------------------------------

  /** The enable/disable switch; a plain badge for a user who may not change it. */
  function makeSwitch() {
    if (!can('clients:write')) {
      const holder = h('span', {}, statusBadge(state.client.status));
      return { element: holder, update: () => replace(holder, statusBadge(state.client.status)) };
    }
    const labelId = uid('switch-label');
    const button = h('button', { type: 'button', role: 'switch', 'aria-labelledby': labelId });
    const label = h('span', { id: labelId }, 'Enabled');
    const update = () => button.setAttribute('aria-checked', String(state.client.status === 'enabled'));
    label.addEventListener('click', () => button.click());
    button.addEventListener('click', async () => {
      const status = state.client.status === 'enabled' ? 'disabled' : 'enabled';
      button.disabled = true;
      try {
        const { data, etag } = await api('PATCH', path, { body: { status } });
        changed(data, etag);
        success(status === 'enabled'
          ? `${data.name} is enabled: its secret works again.`
          : `${data.name} is disabled: its secret and tokens are refused until it is enabled again.`);
      } catch (error) {
        report(error);
      } finally {
        button.disabled = false;
        update();
        button.focus();
      }
    });
    update();
    return { element: h('div', { class: 'switch' }, button, label), update };
  }
  // --- Overview ---------------------------------------------------------

  function overviewPanel() {
    const facts = h('dl', { class: 'facts' });
    const editButton = can('clients:write')
      ? h('button', { type: 'button', onclick: () => startEditing() }, 'Edit')
      : null;
    const detailsId = uid('details');
    const card = h('section', { class: 'card', 'aria-labelledby': detailsId },
      h('div', { class: 'card-header' }, h('h2', { id: detailsId }, 'Details'), editButton),
      facts);
    const editSlot = h('div');
    let editing = null;

    function drawFacts() {
      const c = state.client;
      const secretActions = can('clients:secrets')
        ? [
          h('button', { type: 'button', class: 'masked-secret', 'aria-label': `Client secret ${MASKED_SECRET} (hidden): regenerate it`, title: 'The secret is stored hashed and cannot be shown. Click to regenerate it.', onclick: regenerate },
            h('code', {}, MASKED_SECRET)),
          h('button', { type: 'button', onclick: regenerate }, 'Regenerate secret'),
        ]
        : [h('code', { class: 'masked-secret' }, MASKED_SECRET)];
      replace(facts,
        h('dt', {}, 'Status'), h('dd', {}, statusBadge(c.status)),
        h('dt', {}, 'Client ID'), h('dd', { class: 'inline-actions' }, h('code', { class: 'client-id' }, c.client_id),
          copyButton(() => c.client_id, 'Copy', 'Copy the client ID')),
        h('dt', {}, 'Client secret'), h('dd', { class: 'inline-actions' }, secretActions),
        h('dt', {}, 'Role'), h('dd', {}, c.role ? c.role : h('span', { class: 'muted' }, 'No role (no permissions)')),
        h('dt', {}, 'Description'), h('dd', {}, c.description ? c.description : h('span', { class: 'muted' }, 'None')),
        h('dt', {}, 'Access-token lifetime'), h('dd', {}, duration(c.access_token_ttl_seconds)),
        h('dt', {}, 'Last activity'), h('dd', {}, timeElement(h, c.last_used_at)),
        h('dt', {}, 'Created'), h('dd', {}, h('time', { datetime: c.created_at }, exactTime(c.created_at))));
    }

    async function regenerate() {
      const ok = await confirmDialog({
        title: 'Regenerate the client secret?',
        message: `The current secret of ${state.client.name} stops working at once. Tokens already issued stay valid until they expire.`,
        confirmLabel: 'Regenerate secret',
        danger: true,
      });
      if (!ok) return;
      let answer;
      try {
        answer = (await api('POST', `${path}/secret`)).data;
      } catch (error) {
        report(error);
        return;
      }
      const values = [{ label: 'Client Secret', value: answer.client_secret, secret: true }];
      answer.client_secret = null;
      await oneTimeDialog({
        title: 'New client secret',
        warning: 'Copy the new secret now: it is shown only once. The old one no longer works.',
        values,
      });
      try { await reloadAfterChange(); } catch (error) { report(error); }
    }

    function startEditing() {
      if (editing) return;
      const base = state.client;
      const editor = { etag: state.etag };
      editors.add(editor);
      const errors = h('div', { class: 'form-errors' });
      const name = field('Name', (id) => h('input', { id, name: 'name', required: true, maxlength: '200', autocomplete: 'off', value: base.name }));
      const description = field('Description (optional)', (id) => h('textarea', { id, name: 'description', rows: '2', maxlength: '2000' }));
      description.input.value = base.description || '';
      const ttl = field('Access-token lifetime (seconds)', (id) => h('input', {
        id, name: 'access_token_ttl_seconds', type: 'number', inputmode: 'numeric', min: String(TTL_MIN), max: String(TTL_MAX), step: '1', required: true,
        value: String(base.access_token_ttl_seconds),
      }), `From ${TTL_MIN} (1 minute) to ${TTL_MAX} (24 hours). Tokens issued from now on get it.`);
      const save = h('button', { type: 'submit', class: 'primary' }, 'Save');
      const editId = uid('edit');
      const form = h('form', { class: 'card', novalidate: true, 'aria-labelledby': editId },
        h('h2', { id: editId }, 'Edit details'),
        errors, name.field, description.field, ttl.field,
        h('div', { class: 'form-actions' }, h('button', { type: 'button', onclick: () => stopEditing() }, 'Cancel'), save));
      const byField = { name, description, access_token_ttl_seconds: ttl };

      form.addEventListener('submit', async (event) => {
        event.preventDefault();
        errors.replaceChildren();
        Object.values(byField).forEach((f) => fieldError(f, null));
        const body = {};
        const newName = name.input.value.trim();
        if (!newName) {
          fieldError(name, 'Enter a name.');
          name.input.focus();
          return;
        }
        if (newName !== base.name) body.name = newName;
        const newDescription = description.input.value.trim();
        if (newDescription !== (base.description || '')) body.description = newDescription || null;
        const seconds = Number(ttl.input.value);
        if (!ttl.input.value.trim() || !Number.isInteger(seconds) || seconds < TTL_MIN || seconds > TTL_MAX) {
          fieldError(ttl, `Enter a whole number of seconds from ${TTL_MIN} to ${TTL_MAX}.`);
          ttl.input.focus();
          return;
        }
        if (seconds !== base.access_token_ttl_seconds) body.access_token_ttl_seconds = seconds;
        if (Object.keys(body).length === 0) {
          stopEditing();
          alerts.replaceChildren(alertBox('Nothing changed.', 'info'));
          return;
        }
        save.disabled = true;
        try {
          const { data, etag } = await api('PATCH', path, { body, ifMatch: editor.etag });
          stopEditing();
          changed(data, etag);
          success('Saved.');
        } catch (error) {
          if (error.status === 401) return;
          const f = error.problem && byField[error.problem.field];
          if (f) {
            fieldError(f, describe(error));
            f.input.focus();
          } else if (error.kind === 'precondition-failed') {
            errors.replaceChildren(staleAlert(describe(error), reloadAll));
          } else {
            errors.replaceChildren(alertBox(describe(error)));
          }
        } finally {
          save.disabled = false;
        }
      });
      editing = { form, editor };
      replace(editSlot, form);
      if (editButton) editButton.hidden = true;
      name.input.focus();
    }

    function stopEditing() {
      if (!editing) return;
      editors.delete(editing.editor);
      editing = null;
      editSlot.replaceChildren();
      if (editButton) {
        editButton.hidden = false;
        editButton.focus();
      }
    }

    /** The 412's "Reload": the client as it is now; the user edits again. */
    async function reloadAll() {
      try {
        const { data, etag } = await api('GET', path);
        stopEditing();
        state.etag = etag;
        changed(data, null);
        alerts.replaceChildren(alertBox('Reloaded: this is the client as it is now. Edit again to change it.', 'info'));
      } catch (error) {
        report(error);
      }
    }

    drawFacts();
    return {
      render: (panel) => {
        if (!panel.contains(card)) replace(panel, card, editSlot);
      },
      update: drawFacts,
    };
  }

  // --- Role -------------------------------------------------------------

  function rolePanel() {
    const roleId = uid('role');
    const body = h('div');
    const card = h('section', { class: 'card', 'aria-labelledby': roleId },
      h('h2', { id: roleId }, 'Role'),
      h('p', { class: 'muted' }, 'An API client has one role: the permissions its access tokens may carry.'),
      body);
    let roles = null;
    let form = null;

    function current() {
      return h('p', {}, 'Current role: ', state.client.role ? h('strong', {}, state.client.role) : h('span', { class: 'muted' }, 'none (no permissions)'));
    }

    function draw() {
      if (form) editors.delete(form.editor);
      form = null;
      if (!can('clients:write') || !can('roles:read') || !roles) {
        replace(body, current());
        return;
      }
      const editor = { etag: state.etag };
      editors.add(editor);
      const errors = h('div', { class: 'form-errors' });
      const rendered = state.client.role || '';
      const select = field('Role', (id) => h('select', { id, name: 'role' },
        h('option', { value: '' }, 'No role (no permissions)'),
        roles.map((r) => h('option', { value: r.name }, r.name)),
        // A role this reader cannot list is still the client's.
        rendered && !roles.some((r) => r.name === rendered) ? h('option', { value: rendered }, rendered) : null));
      select.input.value = rendered;
      const about = h('p', { class: 'hint', 'aria-live': 'polite' });
      const describeRole = () => {
        const r = roles.find((x) => x.name === select.input.value);
        about.textContent = r
          ? `${r.description ? `${r.description} ` : ''}Permissions: ${r.permissions.length ? r.permissions.join(', ') : 'none'}.`
          : (select.input.value ? '' : 'Its tokens will carry no permissions.');
      };
      select.input.addEventListener('change', describeRole);
      describeRole();
      const save = h('button', { type: 'submit', class: 'primary' }, 'Save role');
      const el = h('form', { novalidate: true }, errors, select.field, about, h('div', { class: 'form-actions' }, save));
      el.addEventListener('submit', async (event) => {
        event.preventDefault();
        errors.replaceChildren();
        const chosen = select.input.value;
        if (chosen === (state.client.role || '')) {
          errors.append(alertBox('That is the role it has already.', 'info'));
          return;
        }
        save.disabled = true;
        try {
          const { data, etag } = await api('PATCH', path, { body: { role: chosen || null }, ifMatch: editor.etag });
          changed(data, etag);
          mine.rendered = chosen;
          errors.replaceChildren(alertBox(chosen ? `The role is now ${chosen}.` : 'The client has no role now.', 'success'));
          save.focus();
        } catch (error) {
          if (error.status === 401) return;
          errors.replaceChildren(error.kind === 'precondition-failed'
            ? staleAlert(describe(error), async () => {
              try {
                const { data, etag } = await api('GET', path);
                state.etag = etag;
                changed(data, null);
                draw();
                select.input.focus();
              } catch (e) { report(e); }
            })
            : alertBox(describe(error)));
        } finally {
          save.disabled = false;
        }
      });
      const mine = { el, editor, select, rendered };
      form = mine;
      replace(body, el);
    }

    return {
      render: async (panel) => {
        if (!panel.contains(card)) replace(panel, card);
        if (roles === null && can('roles:read') && can('clients:write')) {
          replace(body, h('p', { class: 'muted' }, 'Loading roles…'));
          try {
            roles = (await api('GET', '/roles')).data.items || [];
          } catch (error) {
            roles = null;
            replace(body, current(), alertBox(describe(error)));
            return;
          }
        }
        if (!form) draw();
      },
      // A new version: redraw unless the user has picked another role.
      update: () => {
        if (!form) { if (!roles) replace(body, current()); return; }
        if (form.select.input.value === form.rendered) draw();
      },
    };
  }

  // --- Events -----------------------------------------------------------

  function eventsPanel() {
    const status = h('select', { id: uid('event-status') },
      STATUS_CLASSES.map(([value, label]) => h('option', { value }, label)));
    const initial = query.get('status');
    status.value = STATUS_CLASSES.some(([v]) => v && v === initial) ? initial : '';
    const refresh = h('button', { type: 'button', onclick: () => { cursors = [null]; load(); } }, 'Refresh');
    const tbody = h('tbody');
    const table = h('table', { class: 'data events-table' },
      h('caption', { class: 'visually-hidden' }, 'Events of the last 7 days, newest first. Choose a time to see the request and the response.'),
      h('thead', {}, h('tr', {},
        ['Time', 'Kind', 'Status', 'Latency', 'Source IP'].map((c) => h('th', { scope: 'col' }, c)))),
      tbody);
    const newer = h('button', { type: 'button', onclick: () => { cursors.pop(); load(); } }, 'Newer');
    const older = h('button', { type: 'button', onclick: () => { cursors.push(next); load(); } }, 'Older');
    const info = h('span', { class: 'muted' });
    const errors = h('div', { class: 'alerts' });
    const content = [
      h('div', { class: 'toolbar' },
        h('div', { class: 'toolbar-filters' },
          h('label', { for: status.id }, 'Filter by status'), status),
        h('div', { class: 'toolbar-actions' }, refresh)),
      errors,
      h('div', { class: 'table-wrap' }, table),
      h('nav', { class: 'pager', 'aria-label': 'Event pages' }, newer, info, older),
    ];
    let cursors = [null];
    let next = null;
    let since = null;
    let holder = null;

    status.addEventListener('change', () => { cursors = [null]; syncUrl(); load(); });

    async function load() {
      // The log of the last 7 days, counted from when the tab was shown.
      if (cursors.length === 1) since = new Date(Date.now() - EVENT_WINDOW_MS).toISOString();
      const params = new URLSearchParams({ limit: String(EVENTS_PAGE_SIZE), since });
      if (status.value) params.set('status', status.value);
      const cursor = cursors[cursors.length - 1];
      if (cursor) params.set('cursor', cursor);
      tbody.setAttribute('aria-busy', 'true');
      errors.replaceChildren();
      try {
        const { data } = await api('GET', `${path}/events?${params}`);
        next = data.next_cursor || null;
        replace(tbody, data.items.length
          ? data.items.map(row)
          : h('tr', {}, h('td', { colspan: '5', class: 'empty' }, status.value ? `No ${status.value} events in the last 7 days.` : 'No events in the last 7 days.')));
      } catch (error) {
        if (error.status !== 401) errors.append(alertBox(describe(error)));
      } finally {
        tbody.removeAttribute('aria-busy');
        newer.disabled = cursors.length <= 1;
        older.disabled = !next;
        info.textContent = `Page ${cursors.length}`;
      }
    }

    function row(event) {
      const open = h('button', { type: 'button', class: 'link-button' },
        h('time', { datetime: event.occurred_at }, exactTime(event.occurred_at)));
      const failed = event.status !== null && event.status !== undefined && event.status >= 400;
      // Clicking anywhere on the row opens it; the time is its button, so
      // Enter (or Space) on the focused row's button does too.
      return h('tr', { class: 'clickable', dataset: { eventId: event.event_id }, onclick: () => openEvent(event, open) },
        h('td', { 'data-label': 'Time' }, open),
        h('td', { 'data-label': 'Kind' }, h('code', {}, event.kind)),
        h('td', { 'data-label': 'Status', class: failed ? 'status-failed' : null }, event.status ?? '—'),
        h('td', { 'data-label': 'Latency' }, latency(event.latency_ms)),
        h('td', { 'data-label': 'Source IP' }, event.source_ip ? h('span', { class: 'mono' }, event.source_ip) : '—'));
    }

    return {
      show: (panel) => {
        if (holder !== panel) {
          holder = panel;
          replace(panel, content);
        }
        cursors = [null];
        load();
      },
      status: () => status.value,
    };
  }

  async function openEvent(summary, opener) {
    let event;
    try {
      event = (await api('GET', `/events/${encodeURIComponent(summary.event_id)}`)).data;
    } catch (error) {
      report(error);
      return;
    }
    opener.focus();
    const facts = h('dl', { class: 'facts' },
      fact('Time', h('time', { datetime: event.occurred_at }, exactTime(event.occurred_at))),
      fact('Kind', h('code', {}, event.kind)),
      event.method ? fact('Request', h('code', {}, `${event.method} ${event.path || ''}`)) : null,
      event.status !== null && event.status !== undefined ? fact('Status', String(event.status)) : null,
      event.latency_ms !== null && event.latency_ms !== undefined ? fact('Latency', latency(event.latency_ms)) : null,
      event.source_ip ? fact('Source IP', h('code', {}, event.source_ip)) : null,
      event.user_agent ? fact('User agent', event.user_agent) : null,
      event.actor ? fact('Actor', h('code', {}, event.actor)) : null);
    const sections = [];
    if (event.bodies_hidden) {
      const what = event.method ? 'The request and the response are' : 'The details are';
      sections.push(h('p', { class: 'alert alert-info', role: 'note' },
        `${what} hidden from you: ${event.bodies_hidden}.`));
    } else if (event.method) {
      sections.push(bodySection('Request', event.request_body), bodySection('Response', event.response_body));
    }
    if (event.details) sections.push(bodySection('Details', JSON.stringify(event.details)));
    const close = h('button', { type: 'button', class: 'primary', onclick: () => d.close() }, 'Close');
    const d = openDialog({ title: `Event ${event.kind}`, wide: true, content: [facts, sections], actions: [close] });
  }

  // --- Tabs ---------------------------------------------------------------

  /** Tabs (WAI-ARIA tabs pattern, automatic activation): arrows, Home, End. */
  function tabList(defs, selectedId) {
    const list = h('div', { role: 'tablist', 'aria-label': 'Client sections', class: 'tabs' });
    const entries = defs.map((d) => {
      const tab = h('button', { type: 'button', role: 'tab', id: `tab-${d.id}`, 'aria-controls': `panel-${d.id}`, 'aria-selected': 'false', tabindex: '-1' }, d.label);
      const panel = h('div', { role: 'tabpanel', id: `panel-${d.id}`, 'aria-labelledby': `tab-${d.id}`, tabindex: '0', hidden: true });
      tab.addEventListener('click', () => view.select(d.id));
      return { id: d.id, tab, panel };
    });
    list.append(...entries.map((e) => e.tab));
    list.addEventListener('keydown', (event) => {
      const index = entries.findIndex((e) => e.tab === document.activeElement);
      if (index < 0) return;
      let to = null;
      if (event.key === 'ArrowRight') to = (index + 1) % entries.length;
      else if (event.key === 'ArrowLeft') to = (index - 1 + entries.length) % entries.length;
      else if (event.key === 'Home') to = 0;
      else if (event.key === 'End') to = entries.length - 1;
      if (to === null) return;
      event.preventDefault();
      view.select(entries[to].id);
    });
    const view = {
      element: h('div', {}, list, entries.map((e) => e.panel)),
      selected: selectedId,
      select(id, { focus = true } = {}) {
        view.selected = id;
        for (const e of entries) {
          const on = e.id === id;
          e.tab.setAttribute('aria-selected', String(on));
          e.tab.tabIndex = on ? 0 : -1;
          e.panel.hidden = !on;
          if (on) {
            if (focus) e.tab.focus();
            syncUrl();
            panels[id].render(e.panel);
          }
        }
      },
    };
    return view;
  }

  /** The tab (and the events' status filter) in the URL, for reloads and links. */
  function syncUrl() {
    const tab = tabView.selected;
    setQuery({
      tab: tab === 'overview' ? null : tab,
      status: tab === 'events' ? events.status() : null,
    });
  }
}

// --- Helpers -----------------------------------------------------------------

function notFound(main) {
  document.title = 'No such API client · Portcullis';
  replace(main, h('div', { class: 'narrow' },
    h('h1', {}, 'No such API client'),
    h('p', {}, 'There is no API client with this ID. It may have been deleted.'),
    h('p', {}, h('a', { href: '/clients' }, 'Back to API clients'))));
}

/**
 * The client's effective permissions, by category, as read-only toggle
 * indicators: every permission when the reader may list them (roles:read),
 * otherwise the granted ones only.
 */
async function renderPermissions(panel, client, path) {
  panel.setAttribute('aria-busy', 'true');
  let mine;
  let all = null;
  try {
    [mine, all] = await Promise.all([
      api('GET', `${path}/permissions`),
      can('roles:read') ? api('GET', '/permissions') : Promise.resolve(null),
    ]);
  } catch (error) {
    if (error.status !== 401) replace(panel, alertBox(describe(error)));
    return;
  } finally {
    panel.removeAttribute('aria-busy');
  }
  const granted = new Set(mine.data.categories.flatMap((c) => c.permissions.map((p) => p.name)));
  const categories = all ? all.data.categories : mine.data.categories;
  const headingId = uid('permissions');
  replace(panel, h('section', { 'aria-labelledby': headingId },
    h('h2', { id: headingId }, 'Effective permissions'),
    h('p', { class: 'muted' }, client.role
      ? ['What the access tokens of this client may carry, from its role ', h('strong', {}, client.role), '.']
      : 'This client has no role: its access tokens carry no permissions.'),
    all ? null : h('p', { class: 'hint' }, 'Only the granted permissions are listed: listing every permission needs roles:read.'),
    categories.length === 0 ? null : h('div', { class: 'permission-groups' }, categories.map((category) => {
      const id = uid('category');
      return h('section', { class: 'card', 'aria-labelledby': id },
        h('h3', { id }, category.category),
        category.permissions.map((p) => {
          const on = granted.has(p.name);
          return h('div', { class: 'permission', dataset: { permission: p.name } },
            h('span', { class: on ? 'indicator on' : 'indicator', 'aria-hidden': 'true' }),
            h('div', {},
              h('code', {}, p.name),
              h('span', { class: 'visually-hidden' }, on ? ': granted' : ': not granted'),
              p.description ? h('p', { class: 'hint' }, p.description) : null));
        }));
    }))));
}

/** An ETag `"7"` as the number 7 (NaN for anything else). */
function version(etag) {
  return etag ? Number(String(etag).replace(/^"|"$/g, '')) : NaN;
}

/** The 412 message with its "Reload" action, next to the form. */
function staleAlert(message, reload) {
  const box = alertBox(message);
  box.firstChild.append(' ', h('button', { type: 'button', class: 'link-button', onclick: () => reload() }, 'Reload'));
  return box;
}

function latency(ms) {
  if (ms === null || ms === undefined) return '—';
  return ms < 10 ? `${ms.toFixed(1)} ms` : `${Math.round(ms)} ms`;
}

function fact(label, value) {
  return [h('dt', {}, label), h('dd', {}, value)];
}

/** A body under its heading: JSON pretty-printed, a form one pair a line. */
function bodySection(label, text) {
  const id = uid('body');
  return h('div', { class: 'event-body' },
    h('h3', { id }, label),
    text === null || text === undefined || text === ''
      ? h('p', { class: 'muted' }, 'No body.')
      : h('pre', { class: 'body', tabindex: '0', role: 'region', 'aria-labelledby': id }, pretty(text)));
}

export function pretty(text) {
  const trimmed = text.trim();
  if (trimmed.startsWith('{') || trimmed.startsWith('[')) {
    try {
      return JSON.stringify(JSON.parse(trimmed), null, 2);
    } catch { /* not JSON after all: as stored */ }
  }
  // A form body (the OAuth2 endpoints'): one name=value pair a line.
  if (/^[^\s=&]+=[^\s&]*(&[^\s=&]+=[^\s&]*)*$/.test(trimmed)) return trimmed.split('&').join('\n');
  return text;
}
