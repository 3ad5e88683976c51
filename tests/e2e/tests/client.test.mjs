// The client detail page: the enable/disable switch, regenerating the
// secret, generating an access token, revoking every token, the role and
// the effective permissions, the event log, editing with a stale version,
// deleting; what a viewer sees; a phone's width. Every effect is checked
// over HTTP against the real server, not just on the page.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Deployment, launch, openPage, signIn, assertAccessible, assertNoErrors, assertNoHorizontalScroll, screenshot, sleep } from '../harness.mjs';

let deployment;
let browser;
let admin; // an admin API client: its token calls the REST API, its secret introspects

before(async () => {
  deployment = new Deployment();
  deployment.createAdmin();
  await deployment.start();
  admin = deployment.createClient('e2e-admin', 'admin');
  admin.token = await deployment.token(admin.client_id, admin.client_secret);
  browser = await launch();
});

after(async () => {
  await browser?.close();
  await deployment?.stop();
  deployment?.assertNothingLeaked();
  deployment?.cleanup();
});

/** Signs in and opens the client's page (at `?tab=…` when given). */
async function openClient(client, { tab, page } = {}) {
  const p = page || await openPage(browser, deployment);
  if (!page) await signIn(p, deployment);
  await p.goto(deployment.url(`/clients/${client.client_id}${tab ? `?tab=${tab}` : ''}`));
  await p.getByRole('heading', { name: client.name ?? client.client_name, level: 1 }).waitFor();
  return p;
}

function named(name, role = 'viewer') {
  return { ...deployment.createClient(name, role), name };
}

async function introspect(token) {
  const response = await fetch(deployment.url('/oauth2/introspect'), {
    method: 'POST',
    headers: {
      'Content-Type': 'application/x-www-form-urlencoded',
      Authorization: `Basic ${Buffer.from(`${admin.client_id}:${admin.client_secret}`).toString('base64')}`,
    },
    body: new URLSearchParams({ token }),
  });
  assert.equal(response.status, 200);
  return response.json();
}

async function clipboard(page) {
  return page.evaluate(() => navigator.clipboard.readText());
}

/** Events reach the database within 200 ms: waits until the client has `n`. */
async function waitForEvents(clientId, n) {
  for (let i = 0; i < 100; i += 1) {
    const { body } = await deployment.api(admin.token, 'GET', `/clients/${clientId}/events?kind=token.request`);
    if (body.items.length >= n) return;
    await sleep(50);
  }
  throw new Error(`fewer than ${n} token events recorded`);
}

test('the switch disables the client (its token request fails) and enables it with the same secret', async () => {
  const client = named('switch-sync');
  const page = await openClient(client);
  const toggle = page.getByRole('switch', { name: 'Enabled' });
  assert.equal(await toggle.getAttribute('aria-checked'), 'true');
  assert.equal(await page.title(), 'switch-sync · Portcullis');
  assert.equal(await page.getByRole('tab', { name: 'Overview' }).getAttribute('aria-selected'), 'true');
  await assertAccessible(page, 'client overview');
  await screenshot(page, 'client-overview');

  await toggle.click();
  await page.getByRole('status').filter({ hasText: 'switch-sync is disabled' }).waitFor();
  assert.equal(await toggle.getAttribute('aria-checked'), 'false');
  const refused = await deployment.token(client.client_id, client.client_secret, { raw: true });
  assert.equal(refused.status, 401);
  assert.equal((await refused.json()).error, 'invalid_client');
  assert.equal((await deployment.api(admin.token, 'GET', `/clients/${client.client_id}`)).body.status, 'disabled');

  // Space on the focused switch, as a keyboard user turns it on.
  await toggle.focus();
  await page.keyboard.press('Space');
  await page.getByRole('status').filter({ hasText: 'switch-sync is enabled' }).waitFor();
  assert.equal(await toggle.getAttribute('aria-checked'), 'true');
  assert.ok((await deployment.token(client.client_id, client.client_secret)).length > 20);
  assertNoErrors(page, 'switch');
  await page.context().close();
});

test('regenerating the secret (after confirming) shows the new one once: the old fails, the copied new one works', async () => {
  const client = named('rotate-me');
  const page = await openClient(client);

  // Cancelling changes nothing.
  await page.getByRole('button', { name: 'Regenerate secret', exact: true }).click();
  const cancel = page.getByRole('dialog', { name: 'Regenerate the client secret?' });
  await cancel.getByRole('button', { name: 'Cancel' }).click();
  await cancel.waitFor({ state: 'detached' });
  assert.equal((await deployment.token(client.client_id, client.client_secret, { raw: true })).status, 200);

  // Clicking the masked secret asks the same.
  const masked = page.getByRole('button', { name: 'Client secret pcs_•••••••• (hidden): regenerate it' });
  assert.equal((await masked.textContent()).trim(), 'pcs_••••••••');
  await masked.click();
  const confirm = page.getByRole('dialog', { name: 'Regenerate the client secret?' });
  await confirm.waitFor();
  await assertAccessible(page, 'regenerate confirmation');
  await confirm.getByRole('button', { name: 'Regenerate secret' }).click();
  const shown = page.getByRole('dialog', { name: 'New client secret' });
  await shown.waitFor();
  await assertAccessible(page, 'new secret dialog');
  await shown.getByRole('button', { name: 'Copy Client Secret' }).click();
  const secret = await clipboard(page);
  deployment.remember(secret);
  assert.match(secret, /^pcs_[0-9A-Za-z]{43}_[0-9A-Za-z]{6}$/);
  assert.notEqual(secret, client.client_secret);
  await shown.getByRole('button', { name: 'Done' }).click();
  await shown.waitFor({ state: 'detached' });
  assert.ok(!(await page.content()).includes(secret), 'the new secret is still in the DOM');
  assert.ok(!page.url().includes(secret));

  const old = await deployment.token(client.client_id, client.client_secret, { raw: true });
  assert.equal(old.status, 401);
  assert.equal((await old.json()).error, 'invalid_client');
  assert.ok((await deployment.token(client.client_id, secret)).length > 20);
  assertNoErrors(page, 'regenerate');
  await page.context().close();
});

test('a generated access token is shown once with its expiry and introspects active; "Revoke all tokens" ends it', async () => {
  const client = named('token-maker');
  const page = await openClient(client);
  await page.getByRole('button', { name: 'Generate access token' }).click();
  const dialog = page.getByRole('dialog', { name: 'Access token' });
  await dialog.waitFor();
  await assertAccessible(page, 'access token dialog');
  const expires = await dialog.locator('time').getAttribute('datetime');
  const lifetime = (Date.parse(expires) - Date.now()) / 1000;
  assert.ok(lifetime > 3500 && lifetime <= 3600, `expires in ${lifetime} s`);
  assert.match(await dialog.textContent(), /in 1 hour|in 60 minutes/);
  await dialog.getByRole('button', { name: 'Copy Access token' }).click();
  const token = await clipboard(page);
  deployment.remember(token);
  await dialog.getByRole('button', { name: 'Done' }).click();
  await dialog.waitFor({ state: 'detached' });
  assert.ok(!(await page.content()).includes(token), 'the token is still in the DOM');

  const active = await introspect(token);
  assert.equal(active.active, true);
  assert.equal(active.client_id, client.client_id);

  await page.getByRole('button', { name: 'Revoke all tokens' }).click();
  const confirm = page.getByRole('dialog', { name: 'Revoke all tokens?' });
  await assertAccessible(page, 'revoke confirmation');
  await confirm.getByRole('button', { name: 'Revoke all tokens' }).click();
  await page.getByRole('status').filter({ hasText: 'is revoked' }).waitFor();
  assert.deepEqual(await introspect(token), { active: false });
  // The secret still works: only the tokens went.
  assert.equal((await deployment.token(client.client_id, client.client_secret, { raw: true })).status, 200);
  assertNoErrors(page, 'access token');
  await page.context().close();
});

test('assigning a role shows in the permissions tab; the tab is kept in the URL and arrow keys move between tabs', async () => {
  const client = named('role-taker', 'resource-server');
  const page = await openClient(client, { tab: 'role' });
  assert.equal(await page.getByRole('tab', { name: 'Role' }).getAttribute('aria-selected'), 'true');
  const role = page.getByRole('tabpanel', { name: 'Role' });
  await role.getByRole('combobox', { name: 'Role' }).selectOption('viewer');
  await assertAccessible(page, 'role tab');
  await role.getByRole('button', { name: 'Save role' }).click();
  await role.getByRole('status').filter({ hasText: 'The role is now viewer.' }).waitFor();
  assert.equal((await deployment.api(admin.token, 'GET', `/clients/${client.client_id}`)).body.role, 'viewer');

  await page.getByRole('tab', { name: 'Role' }).focus();
  await page.keyboard.press('ArrowRight');
  const tab = page.getByRole('tab', { name: 'Permissions' });
  assert.equal(await tab.getAttribute('aria-selected'), 'true');
  assert.ok(await tab.evaluate((el) => el === document.activeElement));
  assert.match(page.url(), /\?tab=permissions$/);
  const panel = page.getByRole('tabpanel', { name: 'Permissions' });
  const granted = panel.locator('[data-permission="clients:read"]');
  await granted.waitFor();
  assert.match(await granted.textContent(), /clients:read: granted/);
  assert.equal(await granted.locator('.indicator.on').count(), 1);
  const notGranted = panel.locator('[data-permission="clients:write"]');
  assert.match(await notGranted.textContent(), /clients:write: not granted/);
  assert.equal(await notGranted.locator('.indicator.on').count(), 0);
  // Its former role's permission is no longer its own.
  assert.match(await panel.locator('[data-permission="tokens:introspect"]').textContent(), /not granted/);
  await assertAccessible(page, 'permissions tab');
  await screenshot(page, 'client-permissions');

  // A reload keeps the tab.
  await page.reload();
  await page.getByRole('tabpanel', { name: 'Permissions' }).locator('[data-permission="clients:read"]').waitFor();
  assert.equal(await page.getByRole('tab', { name: 'Permissions' }).getAttribute('aria-selected'), 'true');
  await page.keyboard.press('Tab'); // onto the page, then Home/End on the tabs
  await page.getByRole('tab', { name: 'Permissions' }).focus();
  await page.keyboard.press('End');
  assert.equal(await page.getByRole('tab', { name: 'Events' }).getAttribute('aria-selected'), 'true');
  await page.keyboard.press('Home');
  assert.equal(await page.getByRole('tab', { name: 'Overview' }).getAttribute('aria-selected'), 'true');
  assert.doesNotMatch(page.url(), /tab=/);
  assertNoErrors(page, 'role and permissions');
  await page.context().close();
});

test('the events tab lists token requests newest first, filters by status class and shows one event redacted and pretty-printed', async () => {
  const client = named('event-maker');
  await deployment.token(client.client_id, client.client_secret);
  const wrong = 'definitely-not-the-secret-0123';
  deployment.remember(wrong);
  assert.equal((await deployment.token(client.client_id, wrong, { raw: true })).status, 401);
  await waitForEvents(client.client_id, 2);

  const page = await openClient(client, { tab: 'events' });
  const panel = page.getByRole('tabpanel', { name: 'Events' });
  const rows = panel.locator('tbody tr');
  await rows.nth(2).waitFor();
  assert.equal(await rows.count(), 3);
  // Newest first: the refused request came second; the client's creation
  // (a change event, made with the CLI) before both.
  assert.equal((await rows.nth(2).locator('td[data-label="Kind"]').textContent()).trim(), 'client.created');
  assert.equal((await rows.nth(2).locator('td[data-label="Status"]').textContent()).trim(), '—');
  assert.equal((await rows.nth(0).locator('td[data-label="Status"]').textContent()).trim(), '401');
  assert.equal((await rows.nth(1).locator('td[data-label="Status"]').textContent()).trim(), '200');
  assert.equal((await rows.nth(0).locator('td[data-label="Kind"]').textContent()).trim(), 'token.request');
  assert.match(await rows.nth(0).locator('td[data-label="Latency"]').textContent(), /\d ms$/);
  assert.equal((await rows.nth(0).locator('td[data-label="Source IP"]').textContent()).trim(), '127.0.0.1');
  await assertAccessible(page, 'events tab');
  await screenshot(page, 'client-events');

  await panel.getByLabel('Filter by status').selectOption('4xx');
  await rows.filter({ hasText: '200' }).waitFor({ state: 'detached' });
  assert.equal(await rows.count(), 1);
  assert.match(page.url(), /\?tab=events&status=4xx$/);

  // Enter on the row (its time button) opens the refused request.
  await rows.nth(0).getByRole('button').focus();
  await page.keyboard.press('Enter');
  const dialog = page.getByRole('dialog', { name: 'Event token.request' });
  await dialog.waitFor();
  const response = await dialog.getByRole('region', { name: 'Response' }).textContent();
  assert.match(response, /^\{\n {2}"error": "invalid_client"/, 'the JSON answer is pretty-printed');
  const request = await dialog.getByRole('region', { name: 'Request' }).textContent();
  assert.match(request, /^grant_type=client_credentials$/m);
  assert.match(request, /^client_secret=\[redacted\]$/m);
  assert.ok(!(await dialog.textContent()).includes(wrong), 'the wrong secret is shown');
  await assertAccessible(page, 'event dialog');
  await screenshot(page, 'client-event-detail');
  await page.keyboard.press('Escape');
  await dialog.waitFor({ state: 'detached' });

  // A reload keeps the tab and the filter; a click on the row opens the successful one.
  await page.reload();
  await page.getByRole('tabpanel', { name: 'Events' }).locator('tbody tr').first().waitFor();
  assert.equal(await page.getByLabel('Filter by status').inputValue(), '4xx');
  await page.getByLabel('Filter by status').selectOption('2xx');
  const ok = page.getByRole('tabpanel', { name: 'Events' }).locator('tbody tr', { hasText: '200' });
  await ok.locator('td[data-label="Kind"]').click();
  const success = page.getByRole('dialog', { name: 'Event token.request' });
  const text = await success.textContent();
  assert.ok(!text.includes(client.client_secret), 'the secret is shown');
  assert.match(text, /client_secret=pcs_…/);
  assert.match(await success.getByRole('region', { name: 'Response' }).textContent(), /^\{\n {2}"access_token": "eyJ/);
  await success.getByRole('button', { name: 'Close' }).first().click();
  await success.waitFor({ state: 'detached' });
  assertNoErrors(page, 'events');
  await page.context().close();
});

test('an edit over a stale version is refused with "someone else changed this" and a reload; then it saves', async () => {
  const client = named('stale-edit');
  const page = await openClient(client);
  await page.getByRole('button', { name: 'Edit' }).click();
  const form = page.getByRole('form', { name: 'Edit details' });
  await form.getByLabel('Name').fill('edited-in-console');
  await assertAccessible(page, 'edit form');

  const meanwhile = await deployment.api(admin.token, 'PATCH', `/clients/${client.client_id}`, { name: 'renamed-elsewhere' });
  assert.equal(meanwhile.status, 200);
  await form.getByRole('button', { name: 'Save' }).click();
  const stale = form.getByRole('alert');
  await stale.waitFor();
  assert.match(await stale.textContent(), /Someone else changed this/);
  await assertAccessible(page, 'stale edit');
  assert.equal((await deployment.api(admin.token, 'GET', `/clients/${client.client_id}`)).body.name, 'renamed-elsewhere');

  await stale.getByRole('button', { name: 'Reload' }).click();
  await page.getByRole('heading', { name: 'renamed-elsewhere', level: 1 }).waitFor();
  await form.waitFor({ state: 'detached' });

  // Own changes (the switch) do not make the open form stale.
  await page.getByRole('button', { name: 'Edit' }).click();
  await form.getByLabel('Description (optional)').fill('Pushes invoices nightly');
  await form.getByLabel('Access-token lifetime (seconds)').fill('30');
  await form.getByRole('button', { name: 'Save' }).click();
  await form.getByText('Enter a whole number of seconds from 60 to 86400.').waitFor();
  await form.getByLabel('Access-token lifetime (seconds)').fill('900');
  await page.getByRole('switch', { name: 'Enabled' }).click();
  await page.getByRole('status').filter({ hasText: 'is disabled' }).waitFor();
  // A name the server refuses is answered next to its field.
  await form.getByLabel('Name').fill('bad\u0007name');
  await form.getByRole('button', { name: 'Save' }).click();
  const nameError = form.locator('.field-error:not([hidden])');
  await nameError.waitFor();
  assert.equal(await form.getByLabel('Name').getAttribute('aria-invalid'), 'true');
  await form.getByLabel('Name').fill('renamed-elsewhere');
  await form.getByRole('button', { name: 'Save' }).click();
  await page.getByRole('status').filter({ hasText: 'Saved.' }).waitFor();
  const stored = (await deployment.api(admin.token, 'GET', `/clients/${client.client_id}`)).body;
  assert.equal(stored.description, 'Pushes invoices nightly');
  assert.equal(stored.access_token_ttl_seconds, 900);
  assert.equal(stored.status, 'disabled');
  await page.getByText('15 min').waitFor();
  assertNoErrors(page, 'stale edit');
  await page.context().close();
});

test('delete asks first, then returns to the list; the client is gone', async () => {
  const client = named('delete-me');
  const page = await openClient(client);
  await page.getByRole('button', { name: 'Delete' }).click();
  const confirm = page.getByRole('dialog', { name: 'Delete delete-me?' });
  await assertAccessible(page, 'delete confirmation');
  await confirm.getByRole('button', { name: 'Delete API client' }).click();
  await page.getByRole('heading', { name: 'API clients', level: 1 }).waitFor();
  assert.equal(new URL(page.url()).pathname, '/clients');
  assert.equal((await deployment.api(admin.token, 'GET', `/clients/${client.client_id}`)).status, 404);
  assert.equal((await deployment.token(client.client_id, client.client_secret, { raw: true })).status, 401);

  // Its old address now says so, with a way back.
  for (const id of [client.client_id, 'not-a-client-id']) {
    await page.goto(deployment.url(`/clients/${id}`));
    await page.getByRole('heading', { name: 'No such API client', level: 1 }).waitFor();
    await assertAccessible(page, 'no such client');
  }
  await page.getByRole('link', { name: 'Back to API clients' }).click();
  await page.getByRole('heading', { name: 'API clients', level: 1 }).waitFor();
  assertNoErrors(page, 'delete');
  await page.context().close();
});

test('a role change the user may not make is refused with the missing permissions', async () => {
  const limited = await deployment.api(admin.token, 'POST', '/roles', {
    name: 'client-keeper', description: 'Keeps clients', permissions: ['clients:read', 'clients:write', 'roles:read'],
  });
  assert.equal(limited.status, 201, JSON.stringify(limited.body));
  const password = 'a long enough password for the keeper';
  deployment.remember(password);
  const user = await deployment.api(admin.token, 'POST', '/users', { email: 'keeper@example.com', name: 'Keeper', roles: ['client-keeper'], password });
  assert.equal(user.status, 201, JSON.stringify(user.body));
  const client = named('keeper-target');
  const page = await openPage(browser, deployment);
  await signIn(page, deployment, 'keeper@example.com', password);
  await openClient(client, { tab: 'role', page });
  // No tokens:issue, clients:secrets or events:read: none of their controls.
  assert.equal(await page.getByRole('button', { name: 'Generate access token' }).count(), 0);
  assert.equal(await page.getByRole('tab', { name: 'Events' }).count(), 0);
  const role = page.getByRole('tabpanel', { name: 'Role' });
  await role.getByRole('combobox', { name: 'Role' }).selectOption('admin');
  await role.getByRole('button', { name: 'Save role' }).click();
  const refusal = role.getByRole('alert');
  await refusal.waitFor();
  assert.match(await refusal.textContent(), /Refused: this needs permissions you do not hold \(.*clients:secrets.*\)/);
  assert.equal((await deployment.api(admin.token, 'GET', `/clients/${client.client_id}`)).body.role, 'viewer');
  await assertAccessible(page, 'escalation refused');
  assertNoErrors(page, 'escalation');
  await page.context().close();
});

test('a viewer sees the client but no control that changes it', async () => {
  const password = 'a long enough password for the viewer';
  deployment.remember(password);
  const user = await deployment.api(admin.token, 'POST', '/users', { email: 'viewer@example.com', name: 'Viewer', roles: ['viewer'], password });
  assert.equal(user.status, 201, JSON.stringify(user.body));
  const client = named('looked-at');
  const page = await openPage(browser, deployment);
  await signIn(page, deployment, 'viewer@example.com', password);
  await openClient(client, { page });
  assert.equal(await page.getByRole('switch').count(), 0);
  for (const name of ['Generate access token', 'Revoke all tokens', 'Delete', 'Edit', 'Regenerate secret']) {
    assert.equal(await page.getByRole('button', { name, exact: true }).count(), 0, `a viewer sees "${name}"`);
  }
  assert.equal(await page.getByRole('button', { name: 'Client secret pcs_•••••••• (hidden): regenerate it' }).count(), 0);
  await page.getByText('pcs_••••••••').waitFor();
  await page.getByRole('tab', { name: 'Role' }).click();
  await page.getByRole('tabpanel', { name: 'Role' }).getByText('Current role:').waitFor();
  assert.equal(await page.getByRole('button', { name: 'Save role' }).count(), 0);
  await page.getByRole('tab', { name: 'Events' }).click();
  await page.getByRole('tabpanel', { name: 'Events' }).locator('tbody tr').first().waitFor();
  await assertAccessible(page, 'viewer');
  assertNoErrors(page, 'viewer');
  await page.context().close();
});

test('every tab fits a phone screen without sideways scrolling', async () => {
  const client = named('a-client-with-a-rather-long-name-for-a-small-phone-screen');
  await deployment.token(client.client_id, client.client_secret);
  await waitForEvents(client.client_id, 1);
  const page = await openPage(browser, deployment, { width: 390, height: 844 });
  await signIn(page, deployment);
  await openClient(client, { page });
  await assertNoHorizontalScroll(page, 'overview at 390 px');
  for (const [tab, ready] of [['Role', 'Save role'], ['Permissions', null], ['Events', null]]) {
    await page.getByRole('tab', { name: tab }).click();
    const panel = page.getByRole('tabpanel', { name: tab });
    if (ready) await panel.getByRole('button', { name: ready }).waitFor();
    else await panel.locator(tab === 'Events' ? 'tbody tr td' : '.permission').first().waitFor();
    await assertNoHorizontalScroll(page, `${tab} at 390 px`);
    await assertAccessible(page, `${tab} at 390 px`);
  }
  await page.getByRole('tabpanel', { name: 'Events' }).locator('tbody tr').first().click();
  await page.getByRole('dialog', { name: 'Event token.request' }).waitFor();
  await assertNoHorizontalScroll(page, 'event dialog at 390 px');
  assertNoErrors(page, 'phone');
  await page.context().close();
});
