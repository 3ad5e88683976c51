// Regenerates docs/screenshots/: runs the whole e2e suite with
// PORTCULLIS_SCREENSHOTS set, so that every screenshot(page, name) call in
// the tests writes docs/screenshots/<name>.png, then takes the two shots
// no test takes: the API clients list in the dark theme and at 390 px.
//
//   cargo build -p portcullis && cd tests/e2e && npm run screenshots

import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Deployment, launch, openPage, signIn, screenshot, sleep, REPO, BIN } from './harness.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const OUT = path.join(REPO, 'docs', 'screenshots');
process.env.PORTCULLIS_SCREENSHOTS = OUT;

function heading(text) {
  process.stdout.write(`\n==> ${text}\n`);
}

heading(`e2e suite with screenshots into ${path.relative(REPO, OUT)}/ (binary: ${BIN})`);
const suite = spawnSync(process.execPath, ['--test', '--test-concurrency=1', 'tests/'], {
  cwd: HERE,
  env: process.env,
  stdio: 'inherit',
});
if (suite.status !== 0) {
  process.stderr.write(`the e2e suite failed (exit ${suite.status}): its screenshots are not to be trusted\n`);
  process.exit(suite.status ?? 1);
}

heading('API clients: dark theme and 390 px');
const deployment = new Deployment();
let browser;
try {
  deployment.createAdmin();
  const clients = ['billing-sync', 'crm-integration', 'marketing-site', 'nightly-export', 'partner-webhooks', 'search-indexer']
    .map((name) => deployment.createClient(name, 'viewer'));
  await deployment.start();
  for (const client of clients.slice(0, 3)) await deployment.token(client.client_id, client.client_secret);
  const admin = deployment.createClient('ops-automation', 'admin');
  const token = await deployment.token(admin.client_id, admin.client_secret);
  const disabled = await deployment.api(token, 'POST', '/clients/bulk', { action: 'disable', client_ids: [clients[3].client_id] });
  if (disabled.status !== 200) throw new Error(`could not disable a client: ${disabled.status}`);
  // Last-used times are written in batches every few seconds: wait for them.
  for (let tries = 0; ; tries += 1) {
    const { body } = await deployment.api(token, 'GET', `/clients/${clients[0].client_id}`);
    if (body.last_used_at) break;
    if (tries === 60) throw new Error('the last-used times were never written');
    await sleep(250);
  }

  browser = await launch();
  for (const [name, options] of [
    ['clients-dark', { colorScheme: 'dark' }],
    ['clients-phone', { width: 390, height: 844 }],
  ]) {
    const page = await openPage(browser, deployment, options);
    await signIn(page, deployment);
    await page.getByRole('link', { name: 'search-indexer' }).waitFor();
    await screenshot(page, name);
    if (page.errors.length) throw new Error(`${name}: JavaScript errors: ${page.errors.join('; ')}`);
    await page.context().close();
    process.stdout.write(`wrote ${path.relative(REPO, path.join(OUT, `${name}.png`))}\n`);
  }
} finally {
  await browser?.close();
  await deployment.stop();
  deployment.assertNothingLeaked();
  deployment.cleanup();
}
