// Roles, permissions, users and "My access token": every change made in
// the console is checked over HTTP, and a viewer sees no write control
// while the server refuses its writes anyway.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  Deployment, launch, openPage, signIn, assertAccessible, assertNoErrors, assertNoHorizontalScroll, screenshot,
} from '../harness.mjs';

const ADMIN_ROLE_ID = '00000000-0000-4000-8000-000000000001';
const VIEWER_ROLE_ID = '00000000-0000-4000-8000-000000000002';
/** The first word of every control that changes something. */
const WRITE = /^(add|create|delete|edit|disable|enable|regenerate|revoke|generate|save|change|actions|invite|remove)\b/i;

let deployment;
let browser;
let admin; // an admin API client's access token, to set up and check over HTTP

before(async () => {
  deployment = new Deployment();
  deployment.createAdmin();
  await deployment.start();
  const client = deployment.createClient('e2e-admin', 'admin');
  admin = await deployment.token(client.client_id, client.client_secret);
  browser = await launch();
});

after(async () => {
  await browser?.close();
  await deployment?.stop();
  deployment?.assertNothingLeaked();
  deployment?.cleanup();
});

/** `deployment.api` with the admin token, asserting the status. */
async function rest(method, path, body, expected) {
  const answer = await deployment.api(admin, method, path, body);
  if (expected !== undefined) assert.equal(answer.status, expected, `${method} ${path}: ${JSON.stringify(answer.body)}`);
  return answer.body;
}

/** A user made over REST, with its generated password. */
async function createUser(email, name, roles) {
  const created = await rest('POST', '/users', { email, name, roles }, 201);
  deployment.remember(created.password);
  return { id: created.user.user_id, email, password: created.password };
}

/** A call of the admin API with a personal access token (or any bearer). */
function asBearer(token, method, path, body) {
  return deployment.api(token, method, path, body);
}

async function go(page, link, heading = link) {
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: link, exact: true }).click();
  await page.getByRole('heading', { name: heading, level: 1 }).waitFor();
}

async function clipboard(page) {
  return page.evaluate(() => navigator.clipboard.readText());
}

function scopeOf(jwt) {
  return JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString('utf8')).scope.split(' ').sort();
}

/** No control in <main> that changes something is shown (or usable). */
async function assertNoWriteControls(page, label) {
  const main = page.locator('main');
  const buttons = await main.getByRole('button', { name: WRITE }).allTextContents();
  assert.deepEqual(buttons, [], `${label}: write buttons shown to a viewer`);
  assert.equal(await main.getByRole('menuitem').count(), 0, `${label}: a menu of actions shown to a viewer`);
  assert.equal(await main.locator('input[type="checkbox"]:not([disabled])').count(), 0, `${label}: checkboxes shown to a viewer`);
  assert.equal(await main.locator('[role="switch"]:not([disabled]):not([aria-disabled="true"])').count(), 0, `${label}: a usable switch shown to a viewer`);
  assert.equal(await main.locator('form').count(), 0, `${label}: a form shown to a viewer`);
}

test('a role is created with two permissions, refused deletion while a client holds it, edited, then deleted', async () => {
  const page = await openPage(browser, deployment);
  await signIn(page, deployment);
  await go(page, 'Roles');
  await page.getByRole('link', { name: 'viewer', exact: true }).waitFor();
  const viewerRow = page.locator(`tr[data-role-id="${VIEWER_ROLE_ID}"]`);
  assert.match(await viewerRow.textContent(), /Built-in/);
  assert.match(await viewerRow.textContent(), /4 permissions/);
  await assertAccessible(page, 'roles');
  await screenshot(page, 'roles');

  await page.getByRole('button', { name: 'Create role' }).click();
  const dialog = page.getByRole('dialog', { name: 'Create role' });
  await dialog.getByLabel('Name', { exact: true }).fill('billing');
  await dialog.getByLabel('Description (optional)').fill('Reads what invoicing needs');
  await dialog.getByRole('checkbox', { name: 'clients:read', exact: true }).check();
  await dialog.getByRole('checkbox', { name: 'events:read', exact: true }).check();
  await assertAccessible(page, 'create role dialog');
  await dialog.getByRole('button', { name: 'Create' }).click();
  await page.getByRole('heading', { name: 'billing', level: 1 }).waitFor();
  await page.getByRole('status').filter({ hasText: 'Role “billing” created with 2 permissions' }).waitFor();
  const roleId = new URL(page.url()).pathname.split('/').pop();
  let role = await rest('GET', `/roles/${roleId}`, undefined, 200);
  assert.deepEqual([...role.permissions].sort(), ['clients:read', 'events:read']);
  assert.equal(role.description, 'Reads what invoicing needs');

  // A client holds it: the delete is refused, naming the client.
  const created = await rest('POST', '/clients', { name: 'invoice-sync', role: 'billing' }, 201);
  deployment.remember(created.client_secret);
  await page.getByRole('button', { name: 'Delete role' }).click();
  const confirm = page.getByRole('dialog', { name: 'Delete the role billing?' });
  await assertAccessible(page, 'delete role confirmation');
  await confirm.getByRole('button', { name: 'Delete role' }).click();
  const refusal = page.getByRole('alert').filter({ hasText: 'This role cannot be deleted' });
  await refusal.waitFor();
  assert.match(await refusal.textContent(), /1 API client still holds it/);
  await refusal.getByRole('link', { name: 'invoice-sync' }).waitFor();
  await rest('GET', `/roles/${roleId}`, undefined, 200);
  await refusal.getByRole('button', { name: 'Dismiss' }).click();

  // The permission set is edited by category; the client's next token carries it.
  await page.getByRole('checkbox', { name: 'events:read', exact: true }).uncheck();
  await page.getByRole('checkbox', { name: 'roles:read', exact: true }).check();
  await assertAccessible(page, 'role edit');
  await screenshot(page, 'role-edit');
  await page.getByRole('button', { name: 'Save changes' }).click();
  await page.getByRole('status').filter({ hasText: 'Saved.' }).waitFor();
  role = await rest('GET', `/roles/${roleId}`, undefined, 200);
  assert.deepEqual([...role.permissions].sort(), ['clients:read', 'roles:read']);
  assert.deepEqual(scopeOf(await deployment.token(created.client.client_id, created.client_secret)), ['clients:read', 'roles:read']);

  // Someone else changes it meanwhile: the console's edit is refused (412), not applied.
  await rest('PATCH', `/roles/${roleId}`, { description: 'Changed elsewhere' }, 200);
  await page.getByLabel('Description', { exact: true }).fill('My own edit');
  await page.getByRole('button', { name: 'Save changes' }).click();
  const stale = page.getByRole('alert').filter({ hasText: 'Someone else changed this' });
  await stale.waitFor();
  assert.equal((await rest('GET', `/roles/${roleId}`, undefined, 200)).description, 'Changed elsewhere');
  await stale.getByRole('button', { name: 'Reload' }).click();
  await page.getByRole('heading', { name: 'billing', level: 1 }).waitFor();
  assert.equal(await page.getByLabel('Description', { exact: true }).inputValue(), 'Changed elsewhere');

  // Once no one holds it, it is deleted.
  await rest('DELETE', `/clients/${created.client.client_id}`, undefined, 204);
  await page.getByRole('button', { name: 'Delete role' }).click();
  await page.getByRole('dialog', { name: 'Delete the role billing?' }).getByRole('button', { name: 'Delete role' }).click();
  await page.getByRole('heading', { name: 'Roles', level: 1 }).waitFor();
  await page.getByRole('status').filter({ hasText: 'Role “billing” deleted.' }).waitFor();
  assert.equal(await page.getByRole('link', { name: 'billing', exact: true }).count(), 0);
  await rest('GET', `/roles/${roleId}`, undefined, 404);

  // Built-in roles are read-only, even for an admin.
  await page.goto(deployment.url(`/roles/${ADMIN_ROLE_ID}`));
  await page.getByRole('heading', { name: 'admin', level: 1 }).waitFor();
  await page.getByText('Built-in roles cannot be changed or deleted.').waitFor();
  assert.equal(await page.locator('main').getByRole('button').count(), 0);
  assert.match(await page.locator('main').textContent(), /keys:write granted/);
  await assertAccessible(page, 'built-in role');
  assertNoErrors(page, 'roles');
  await page.context().close();
});

test('a role edit that would hand out permissions its editor lacks is refused and shown', async () => {
  await rest('POST', '/roles', { name: 'role-editor', permissions: ['roles:read', 'roles:write'] }, 201);
  const ops = await rest('POST', '/roles', { name: 'ops', permissions: ['roles:read'] }, 201);
  const editor = await createUser('editor@example.com', 'Eddie Editor', ['role-editor']);
  const page = await openPage(browser, deployment);
  await signIn(page, deployment, editor.email, editor.password);
  await page.goto(deployment.url(`/roles/${ops.id}`));
  await page.getByRole('heading', { name: 'ops', level: 1 }).waitFor();
  await page.getByRole('checkbox', { name: 'keys:write', exact: true }).check();
  await page.getByRole('button', { name: 'Save changes' }).click();
  const refusal = page.getByRole('alert').filter({ hasText: 'Refused' });
  await refusal.waitFor();
  assert.match(await refusal.textContent(), /needs permissions you do not hold \(keys:write\)/);
  assert.deepEqual((await rest('GET', `/roles/${ops.id}`, undefined, 200)).permissions, ['roles:read']);
  await assertAccessible(page, 'escalation refused');
  assertNoErrors(page, 'escalation');
  await page.context().close();
});

test('a custom permission is added, described and deleted, also from the roles that hold it', async () => {
  const page = await openPage(browser, deployment);
  await signIn(page, deployment);
  await go(page, 'Permissions');
  await page.getByRole('cell', { name: 'clients:read', exact: true }).waitFor();
  assert.equal(await page.locator('tr[data-permission="clients:read"] button').count(), 0, 'a built-in permission offers changes');
  await assertAccessible(page, 'permissions');
  await screenshot(page, 'permissions');

  await page.getByRole('button', { name: 'Add permission' }).click();
  let dialog = page.getByRole('dialog', { name: 'Add permission' });
  await dialog.getByLabel('Name', { exact: true }).fill('invoices:read');
  await dialog.getByText('Category: invoices').waitFor();
  await dialog.getByLabel('Description (optional)').fill('Read invoices');
  await assertAccessible(page, 'add permission dialog');
  await dialog.getByRole('button', { name: 'Add' }).click();
  await page.getByRole('status').filter({ hasText: 'Permission invoices:read added' }).waitFor();
  await page.getByRole('heading', { name: 'invoices', level: 2 }).waitFor();
  let categories = (await rest('GET', '/permissions', undefined, 200)).categories;
  assert.deepEqual(categories.find((c) => c.category === 'invoices').permissions,
    [{ name: 'invoices:read', description: 'Read invoices', builtin: false }]);

  // A name that exists is refused next to the field.
  await page.getByRole('button', { name: 'Add permission' }).click();
  dialog = page.getByRole('dialog', { name: 'Add permission' });
  await dialog.getByLabel('Name', { exact: true }).fill('invoices:read');
  await dialog.getByRole('button', { name: 'Add' }).click();
  await dialog.getByText('A permission named invoices:read exists already.').waitFor();
  await dialog.getByRole('button', { name: 'Cancel' }).click();

  await page.getByRole('button', { name: 'Edit invoices:read' }).click();
  dialog = page.getByRole('dialog', { name: 'Edit invoices:read' });
  await dialog.getByLabel('Description').fill('Read and list invoices');
  await assertAccessible(page, 'edit permission dialog');
  await dialog.getByRole('button', { name: 'Save' }).click();
  await page.getByRole('cell', { name: 'Read and list invoices' }).waitFor();
  categories = (await rest('GET', '/permissions', undefined, 200)).categories;
  assert.equal(categories.find((c) => c.category === 'invoices').permissions[0].description, 'Read and list invoices');

  // Held by a role: a second confirmation removes it from the role too.
  const accounting = await rest('POST', '/roles', { name: 'accounting', permissions: ['invoices:read', 'clients:read'] }, 201);
  await page.getByRole('button', { name: 'Delete invoices:read' }).click();
  await page.getByRole('dialog', { name: 'Delete invoices:read?' }).getByRole('button', { name: 'Delete permission' }).click();
  const cascade = page.getByRole('dialog', { name: 'Remove invoices:read from 1 role?' });
  await cascade.waitFor();
  assert.match(await cascade.textContent(), /accounting/);
  await assertAccessible(page, 'permission in use');
  await cascade.getByRole('button', { name: 'Remove from roles and delete' }).click();
  await page.getByRole('status').filter({ hasText: 'Permission invoices:read deleted.' }).waitFor();
  assert.equal(await page.getByRole('heading', { name: 'invoices', level: 2 }).count(), 0);
  categories = (await rest('GET', '/permissions', undefined, 200)).categories;
  assert.ok(!categories.some((c) => c.category === 'invoices'));
  assert.deepEqual((await rest('GET', `/roles/${accounting.id}`, undefined, 200)).permissions, ['clients:read']);

  // One no role holds goes with one confirmation.
  await rest('POST', '/permissions', { name: 'reports:export', description: 'Export reports' }, 201);
  await page.reload();
  await page.getByRole('button', { name: 'Delete reports:export' }).click();
  await page.getByRole('dialog', { name: 'Delete reports:export?' }).getByRole('button', { name: 'Delete permission' }).click();
  await page.getByRole('status').filter({ hasText: 'Permission reports:export deleted.' }).waitFor();
  categories = (await rest('GET', '/permissions', undefined, 200)).categories;
  assert.ok(!categories.some((c) => c.category === 'reports'));
  assertNoErrors(page, 'permissions');
  await page.context().close();
});

test('a user created with a generated password signs in, gets new roles, and is disabled out of its session', async () => {
  await rest('POST', '/roles', { name: 'auditor', permissions: ['clients:read', 'events:read'] }, 201);
  const page = await openPage(browser, deployment);
  await signIn(page, deployment);
  await go(page, 'Users');
  await page.getByRole('cell', { name: 'admin@example.com', exact: true }).waitFor();
  await assertAccessible(page, 'users');
  await screenshot(page, 'users');

  await page.getByRole('button', { name: 'Add user' }).click();
  const dialog = page.getByRole('dialog', { name: 'Add user' });
  await dialog.getByLabel('Email').fill('dana@example.com');
  await dialog.getByLabel('Name', { exact: true }).fill('Dana Scully');
  assert.ok(await dialog.getByRole('checkbox', { name: 'viewer', exact: true }).isChecked());
  await assertAccessible(page, 'add user dialog');
  await dialog.getByRole('button', { name: 'Create' }).click();
  const once = page.getByRole('dialog', { name: 'User created' });
  await once.waitFor();
  await assertAccessible(page, 'user created dialog');
  await once.getByRole('button', { name: 'Copy Password' }).click();
  const password = await clipboard(page);
  deployment.remember(password);
  assert.ok(password.length >= 12, 'the generated password is too short');
  await once.getByRole('button', { name: 'Done' }).click();
  await once.waitFor({ state: 'detached' });
  assert.ok(!(await page.content()).includes(password), 'the password is still in the DOM');
  assert.ok(!page.url().includes(encodeURIComponent(password)));
  await page.getByRole('cell', { name: 'dana@example.com', exact: true }).waitFor();
  const dana = (await rest('GET', '/users?q=dana', undefined, 200)).items[0];
  assert.deepEqual(dana.roles, ['viewer']);

  // The new user signs in with the copied password, in a browser of its own.
  const other = await openPage(browser, deployment);
  await signIn(other, deployment, 'dana@example.com', password);
  await go(other, 'Roles');

  // Search, then change its roles.
  await page.getByLabel('Search by e-mail or name').fill('dana');
  await page.getByRole('cell', { name: 'admin@example.com', exact: true }).waitFor({ state: 'detached' });
  await page.getByRole('button', { name: 'Actions for dana@example.com' }).click();
  await page.getByRole('menuitem', { name: 'Change roles' }).click();
  const roles = page.getByRole('dialog', { name: 'Roles of Dana Scully' });
  await roles.getByRole('checkbox', { name: 'auditor', exact: true }).check();
  await assertAccessible(page, 'change roles dialog');
  await roles.getByRole('button', { name: 'Save roles' }).click();
  await page.getByRole('status').filter({ hasText: 'Dana Scully now holds' }).waitFor();
  assert.deepEqual([...(await rest('GET', `/users/${dana.user_id}`, undefined, 200)).roles].sort(), ['auditor', 'viewer']);

  // Disabled: its session ends, and its next action lands on sign-in saying so.
  await page.getByRole('button', { name: 'Actions for dana@example.com' }).click();
  await page.getByRole('menuitem', { name: 'Disable' }).click();
  const confirm = page.getByRole('dialog', { name: 'Disable Dana Scully?' });
  await assertAccessible(page, 'disable user confirmation');
  await confirm.getByRole('button', { name: 'Disable user' }).click();
  await page.getByRole('status').filter({ hasText: 'dana@example.com is disabled.' }).waitFor();
  assert.equal((await page.locator(`tr[data-user-id="${dana.user_id}"] .badge`).textContent()), 'Disabled');
  await assertAccessible(page, 'users with a disabled user'); // its dimmed row keeps a readable contrast
  assert.equal((await rest('GET', `/users/${dana.user_id}`, undefined, 200)).status, 'disabled');
  await other.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Permissions', exact: true }).click();
  await other.getByRole('heading', { name: 'Sign in', level: 1 }).waitFor();
  await other.getByText(/session has ended/i).waitFor();
  assertNoErrors(other, 'disabled user');
  await other.context().close();

  await page.getByRole('button', { name: 'Actions for dana@example.com' }).click();
  await page.getByRole('menuitem', { name: 'Enable' }).click();
  await page.getByRole('status').filter({ hasText: 'dana@example.com is enabled.' }).waitFor();
  assert.equal((await rest('GET', `/users/${dana.user_id}`, undefined, 200)).status, 'enabled');

  await page.getByRole('button', { name: 'Actions for dana@example.com' }).click();
  await page.getByRole('menuitem', { name: 'Delete' }).click();
  await page.getByRole('dialog', { name: 'Delete Dana Scully?' }).getByRole('button', { name: 'Delete user' }).click();
  await page.getByRole('cell', { name: 'No users match.' }).waitFor();
  await rest('GET', `/users/${dana.user_id}`, undefined, 404);
  assertNoErrors(page, 'users');
  await page.context().close();
});

test('my personal access token is generated, copied, used, rotated and revoked', async () => {
  const page = await openPage(browser, deployment);
  await signIn(page, deployment);
  await go(page, 'My access token');
  await page.getByText('You have no personal access token.').waitFor();
  await assertAccessible(page, 'account without token');

  const takeToken = async (title) => {
    const dialog = page.getByRole('dialog', { name: title });
    await dialog.waitFor();
    await assertAccessible(page, 'token dialog');
    await dialog.getByRole('button', { name: 'Copy Personal access token' }).click();
    const token = await clipboard(page);
    deployment.remember(token);
    assert.match(token, /^pat_[0-9A-Za-z]{43}_[0-9A-Za-z]+$/);
    await dialog.getByRole('button', { name: 'Done' }).click();
    await dialog.waitFor({ state: 'detached' });
    assert.ok(!(await page.content()).includes(token), 'the token is still in the DOM');
    return token;
  };

  await page.getByRole('button', { name: 'Generate token' }).click();
  const first = await takeToken('Your new personal access token');
  const hint = await page.locator('.masked-token').textContent();
  assert.ok(first.endsWith(hint.slice(-4)) && !hint.includes(first.slice(4, 40)), `the hint ${hint} is not a mask of the token`);
  await page.getByRole('button', { name: 'Revoke and regenerate' }).waitFor();
  await assertAccessible(page, 'account with token');
  await screenshot(page, 'account');
  const me = await asBearer(first, 'GET', '/me');
  assert.equal(me.status, 200);
  assert.equal(me.body.kind, 'user');
  assert.equal(me.body.user.email, 'admin@example.com');

  await page.getByRole('button', { name: 'Revoke and regenerate' }).click();
  const confirm = page.getByRole('dialog', { name: 'Revoke and regenerate?' });
  await assertAccessible(page, 'revoke and regenerate confirmation');
  await confirm.getByRole('button', { name: 'Revoke and regenerate' }).click();
  const second = await takeToken('Your new personal access token');
  assert.notEqual(second, first);
  assert.equal((await asBearer(first, 'GET', '/me')).status, 401);
  assert.equal((await asBearer(second, 'GET', '/me')).status, 200);

  await page.getByRole('button', { name: 'Revoke', exact: true }).click();
  await page.getByRole('dialog', { name: 'Revoke your access token?' }).getByRole('button', { name: 'Revoke token' }).click();
  await page.getByText('You have no personal access token.').waitFor();
  assert.equal((await asBearer(second, 'GET', '/me')).status, 401);
  assertNoErrors(page, 'account');
  await page.context().close();
});

test('a viewer sees no write control on any screen, and its writes over REST are refused', async () => {
  const viewer = await createUser('val@example.com', 'Val Viewer', ['viewer']);
  const client = await rest('POST', '/clients', { name: 'visible-to-viewers', role: 'viewer' }, 201);
  deployment.remember(client.client_secret);
  const reporting = await rest('POST', '/roles', { name: 'reporting', permissions: ['clients:read'] }, 201);
  await rest('POST', '/permissions', { name: 'reports:read', description: 'Read reports' }, 201);

  const page = await openPage(browser, deployment);
  await signIn(page, deployment, viewer.email, viewer.password);
  const screens = [
    ['clients list', '/clients', page.getByRole('link', { name: 'visible-to-viewers' })],
    ['client detail', `/clients/${client.client.client_id}`, page.getByRole('heading', { name: 'visible-to-viewers', level: 1 })],
    ['roles', '/roles', page.getByRole('link', { name: 'reporting', exact: true })],
    ['role', `/roles/${reporting.id}`, page.getByRole('heading', { name: 'reporting', level: 1 })],
    ['permissions', '/permissions', page.getByRole('cell', { name: 'reports:read', exact: true })],
    ['users', '/users', page.getByRole('cell', { name: 'val@example.com', exact: true })],
  ];
  for (const [label, path, ready] of screens) {
    await page.goto(deployment.url(path));
    await ready.waitFor();
    await assertNoWriteControls(page, label);
    await assertAccessible(page, `${label} as a viewer`);
  }

  // Its own token it may have; with it, writes are refused all the same.
  await go(page, 'My access token');
  await page.getByRole('button', { name: 'Generate token' }).click();
  const dialog = page.getByRole('dialog', { name: 'Your new personal access token' });
  await dialog.getByRole('button', { name: 'Copy Personal access token' }).click();
  const pat = await clipboard(page);
  deployment.remember(pat);
  await dialog.getByRole('button', { name: 'Done' }).click();
  assert.equal((await asBearer(pat, 'GET', '/me')).status, 200);
  const writes = [
    ['POST', '/clients', { name: 'sneaky' }],
    ['DELETE', `/clients/${client.client.client_id}`],
    ['POST', '/roles', { name: 'sneaky', permissions: [] }],
    ['PATCH', `/roles/${reporting.id}`, { permissions: [] }],
    ['POST', '/permissions', { name: 'sneaky:write' }],
    ['DELETE', '/permissions/reports:read'],
    ['POST', '/users', { email: 'sneaky@example.com', name: 'Sneaky', roles: ['viewer'] }],
    ['PATCH', `/users/${viewer.id}`, { roles: ['admin'] }],
  ];
  for (const [method, path, body] of writes) {
    const answer = await asBearer(pat, method, path, body);
    assert.equal(answer.status, 403, `${method} ${path} with a viewer's token: ${JSON.stringify(answer.body)}`);
    assert.equal(answer.body.type, 'urn:portcullis:problem:insufficient-scope');
  }
  await rest('GET', `/clients/${client.client.client_id}`, undefined, 200);
  assert.deepEqual((await rest('GET', `/roles/${reporting.id}`, undefined, 200)).permissions, ['clients:read']);
  assert.deepEqual((await rest('GET', `/users/${viewer.id}`, undefined, 200)).roles, ['viewer']);
  assert.equal((await rest('GET', '/users?q=sneaky', undefined, 200)).items.length, 0);
  assertNoErrors(page, 'viewer');
  await page.context().close();

  // An admin revokes the viewer's token from the users list: it stops at once.
  const adminPage = await openPage(browser, deployment);
  await signIn(adminPage, deployment);
  await go(adminPage, 'Users');
  await adminPage.getByRole('button', { name: 'Actions for val@example.com' }).click();
  await adminPage.getByRole('menuitem', { name: 'Revoke access token' }).click();
  const confirm = adminPage.getByRole('dialog', { name: 'Revoke the access token of Val Viewer?' });
  await assertAccessible(adminPage, 'revoke user token confirmation');
  await confirm.getByRole('button', { name: 'Revoke token' }).click();
  await adminPage.getByRole('status').filter({ hasText: 'The personal access token of val@example.com is revoked.' }).waitFor();
  assert.equal((await asBearer(pat, 'GET', '/me')).status, 401);
  await adminPage.getByRole('button', { name: 'Actions for val@example.com' }).click();
  await adminPage.getByRole('menuitem', { name: 'Revoke access token' }).click();
  await adminPage.getByRole('dialog', { name: 'Revoke the access token of Val Viewer?' }).getByRole('button', { name: 'Revoke token' }).click();
  await adminPage.getByRole('status').filter({ hasText: 'val@example.com has no personal access token' }).waitFor();
  assertNoErrors(adminPage, 'revoke user token');
  await adminPage.context().close();
});

test('roles, a role, permissions, users and my access token fit a phone screen', async () => {
  const phoneRole = await rest('POST', '/roles', { name: 'phone-role', permissions: ['clients:read'] }, 201);
  const page = await openPage(browser, deployment, { width: 390, height: 844 });
  await signIn(page, deployment);
  const screens = [
    ['roles', '/roles', page.getByRole('link', { name: 'phone-role' })],
    ['role', `/roles/${phoneRole.id}`, page.getByRole('button', { name: 'Save changes' })],
    ['built-in role', `/roles/${VIEWER_ROLE_ID}`, page.getByText('Built-in roles cannot be changed or deleted.')],
    // Stacked at this width, table cells are no longer exposed as cells.
    ['permissions', '/permissions', page.locator('tr[data-permission="keys:write"]')],
    ['users', '/users', page.locator('main').getByText('admin@example.com', { exact: true })],
    ['account', '/account', page.getByRole('button', { name: 'Generate token' })],
  ];
  for (const [label, path, ready] of screens) {
    await page.goto(deployment.url(path));
    await ready.waitFor();
    await assertNoHorizontalScroll(page, `${label} at 390 px`);
    await assertAccessible(page, `${label} at 390 px`);
  }
  await page.goto(deployment.url('/roles'));
  await page.getByRole('button', { name: 'Create role' }).click();
  await page.getByRole('dialog', { name: 'Create role' }).getByRole('checkbox', { name: 'keys:write', exact: true }).waitFor();
  await assertNoHorizontalScroll(page, 'create role dialog at 390 px');
  assertNoErrors(page, 'phone');
  await page.context().close();
});
