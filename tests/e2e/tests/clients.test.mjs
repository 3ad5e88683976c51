// The API clients page: sign in, create a client, copy its secret from the
// one-time dialog and use it; search, filter; bulk actions.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Deployment, launch, openPage, signIn, assertAccessible, assertNoErrors, assertNoHorizontalScroll, screenshot } from '../harness.mjs';

let deployment;
let browser;

before(async () => {
  deployment = new Deployment();
  deployment.createAdmin();
  await deployment.start();
  browser = await launch();
});

after(async () => {
  await browser?.close();
  await deployment?.stop();
  deployment?.assertNothingLeaked();
  deployment?.cleanup();
});

test('a wrong password and an unknown e-mail get the same answer', async () => {
  const page = await openPage(browser, deployment);
  await page.goto(deployment.url('/'));
  await page.getByRole('heading', { name: 'Sign in' }).waitFor();
  assert.match(page.url(), /\/sign-in/);
  await assertAccessible(page, 'sign in');
  await screenshot(page, 'sign-in');
  const answers = [];
  for (const [email, password] of [['admin@example.com', 'not the password at all'], ['nobody@example.com', 'not the password at all']]) {
    await page.getByLabel('Email').fill(email);
    await page.getByLabel('Password').fill(password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    const alert = page.getByRole('alert');
    await alert.waitFor();
    answers.push(await alert.textContent());
    await alert.getByRole('button', { name: 'Dismiss' }).click();
  }
  assert.equal(answers[0], answers[1]);
  assertNoErrors(page, 'sign in');
  await page.context().close();
});

test('a client created in the console gets a token with the secret copied from its one-time dialog', async () => {
  const page = await openPage(browser, deployment);
  await signIn(page, deployment);
  await page.getByRole('button', { name: 'Add API client' }).click();
  const dialog = page.getByRole('dialog', { name: 'Add API client' });
  await dialog.getByLabel('Name').fill('billing-sync');
  await dialog.getByLabel('Description (optional)').fill('Nightly invoices export');
  await dialog.getByLabel('Role').selectOption('viewer');
  await assertAccessible(page, 'add client dialog');
  await dialog.getByRole('button', { name: 'Create' }).click();

  const credentials = page.getByRole('dialog', { name: 'API client created' });
  await credentials.waitFor();
  await assertAccessible(page, 'credentials dialog');
  await screenshot(page, 'credentials');
  await credentials.getByRole('button', { name: 'Copy Client Secret' }).click();
  const secret = await page.evaluate(() => navigator.clipboard.readText());
  assert.match(secret, /^pcs_[0-9A-Za-z]{43}_[0-9A-Za-z]{6}$/);
  deployment.remember(secret);
  await credentials.getByRole('button', { name: 'Copy Client ID' }).click();
  const clientId = await page.evaluate(() => navigator.clipboard.readText());
  assert.match(clientId, /^[0-9a-f-]{36}$/);
  await credentials.getByRole('button', { name: 'Done' }).click();
  await credentials.waitFor({ state: 'detached' });

  // Gone from the page, the DOM and the URL once closed.
  assert.ok(!(await page.content()).includes(secret), 'the secret is still in the DOM');
  assert.ok(!page.url().includes(secret));
  const history = await page.evaluate(() => [location.href, document.referrer, history.length]);
  assert.ok(!JSON.stringify(history).includes(secret));

  const token = await deployment.token(clientId, secret);
  assert.ok(token.length > 20);
  assertNoErrors(page, 'create client');
  await page.context().close();
});

test('the list searches by name, filters by status and acts on the checked rows', async () => {
  const names = ['alpha-reporting', 'beta-reporting', 'gamma-ingest'];
  const clients = names.map((name) => deployment.createClient(name, 'viewer'));
  const page = await openPage(browser, deployment);
  await signIn(page, deployment);
  await page.getByLabel('Search by name').fill('reporting');
  await page.getByRole('link', { name: 'alpha-reporting' }).waitFor();
  await page.getByRole('link', { name: 'gamma-ingest' }).waitFor({ state: 'detached' });
  await assertAccessible(page, 'client list');
  // At laptop width the filters share one row: the status filter beside
  // the search box, not wrapped under it.
  const search = await page.getByLabel('Search by name').boundingBox();
  const status = await page.getByLabel('Filter by status').boundingBox();
  assert.ok(status.x > search.x + search.width, `status filter beside the search: ${JSON.stringify({ search, status })}`);
  assert.ok(Math.abs((status.y + status.height / 2) - (search.y + search.height / 2)) < 8, 'on the same row');
  await screenshot(page, 'clients');

  await page.getByRole('checkbox', { name: 'Select alpha-reporting' }).check();
  await page.getByRole('checkbox', { name: 'Select beta-reporting' }).check();
  await page.getByRole('button', { name: 'Actions' }).click();
  await page.getByRole('menuitem', { name: 'Delete' }).click();
  const confirm = page.getByRole('dialog');
  assert.match(await confirm.textContent(), /delete 2 API clients/);
  await confirm.getByRole('button', { name: 'Delete 2 API clients' }).click();
  await page.getByRole('status').filter({ hasText: 'Deleted: 2' }).waitFor();
  await page.getByRole('cell', { name: 'No API clients match.' }).waitFor();

  for (const c of clients.slice(0, 2)) {
    assert.equal((await deployment.token(c.client_id, c.client_secret, { raw: true })).status, 401);
  }
  assert.equal((await deployment.token(clients[2].client_id, clients[2].client_secret, { raw: true })).status, 200);

  await page.getByLabel('Search by name').fill('');
  await page.getByLabel('Filter by status').selectOption('disabled');
  await page.getByRole('cell', { name: 'No API clients match.' }).waitFor();
  assertNoErrors(page, 'client list');
  await page.context().close();
});

test('the list fits a phone screen without sideways scrolling', async () => {
  const page = await openPage(browser, deployment, { width: 390, height: 844 });
  await signIn(page, deployment);
  await page.getByRole('link', { name: 'gamma-ingest' }).waitFor();
  await assertNoHorizontalScroll(page, 'clients at 390 px');
  // The stacked rows name each value (the column headers are hidden).
  const labels = await page.locator('table.clients-table tbody tr').first().locator('td:not(.check)')
    .evaluateAll((cells) => cells.map((cell) => cell.dataset.label));
  assert.deepEqual(labels, ['Status', 'Name', 'Client ID', 'Last used', 'Created']);
  const before = await page.locator('table.clients-table tbody td[data-label="Name"]').first()
    .evaluate((cell) => getComputedStyle(cell, '::before').content);
  assert.equal(before, '"Name: "');
  await assertAccessible(page, 'clients at 390 px');
  assertNoErrors(page, 'phone');
  await page.context().close();
});
