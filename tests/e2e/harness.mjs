// What every console test needs: the real binary on a random port with a
// fresh SQLite database (or PostgreSQL), its CLI, Debian's Chromium driven
// by playwright-core, and the checks every screen gets (axe-core, no
// JavaScript errors, no secret in the server log).

import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, rmSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const REPO = path.resolve(HERE, '..', '..');
export const BIN = process.env.PORTCULLIS_BIN || path.join(REPO, 'target', 'debug', 'portcullis');
export const CHROMIUM = process.env.PORTCULLIS_CHROMIUM || '/usr/bin/chromium';
const AXE = readFileSync(path.join(HERE, 'node_modules', 'axe-core', 'axe.min.js'), 'utf8');

export const ADMIN_EMAIL = 'admin@example.com';
export const ADMIN_PASSWORD = 'correct horse battery staple 42';

/** A server with its own database, master key and log. */
export class Deployment {
  constructor() {
    this.dir = mkdtempSync(path.join(tmpdir(), 'portcullis-e2e-'));
    this.secrets = new Set();
    this.env = {
      ...process.env,
      PORTCULLIS_DATABASE_URL: `sqlite:${path.join(this.dir, 'portcullis.db')}`,
      PORTCULLIS_MASTER_KEY_FILE: path.join(this.dir, 'master.key'),
      PORTCULLIS_LOG: process.env.PORTCULLIS_TEST_LOG || 'debug',
      NO_COLOR: '1',
    };
    for (const name of ['PORTCULLIS_MASTER_KEY', 'PORTCULLIS_LISTEN', 'PORTCULLIS_ISSUER', 'PORTCULLIS_AUDIENCE']) delete this.env[name];
    this.logPath = path.join(this.dir, 'server.log');
    this.process = null;
    this.base = null;
  }

  /** Runs `portcullis ARGS` on this deployment's database. */
  cli(args, input) {
    const result = spawnSync(BIN, args, { env: this.env, cwd: this.dir, input: input ?? '', encoding: 'utf8', timeout: 60_000 });
    if (result.status !== 0) throw new Error(`portcullis ${args.join(' ')} exited ${result.status}: ${result.stderr}`);
    return result.stdout;
  }

  /** Starts `portcullis serve` on a random port; resolves once /healthz answers. */
  async start(extraArgs = [], extraEnv = {}) {
    const log = [];
    this.process = spawn(BIN, ['serve', '--listen', '127.0.0.1:0', ...extraArgs], {
      env: { ...this.env, ...extraEnv }, cwd: this.dir, stdio: ['ignore', 'pipe', 'pipe'],
    });
    const collect = (chunk) => { log.push(chunk); writeFileSync(this.logPath, Buffer.concat(log)); };
    this.process.stdout.on('data', collect);
    this.process.stderr.on('data', collect);
    const deadline = Date.now() + 30_000;
    while (!this.base) {
      const text = Buffer.concat(log).toString('utf8').replace(/\x1b\[[0-9;]*m/g, '');
      const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(text);
      if (m) this.base = m[1];
      else if (this.process.exitCode !== null) throw new Error(`portcullis serve exited: ${text}`);
      else if (Date.now() > deadline) throw new Error(`no "listening on" line: ${text}`);
      else await sleep(25);
    }
    for (;;) {
      try {
        if ((await fetch(`${this.base}/healthz`)).ok) break;
      } catch { /* not yet */ }
      if (Date.now() > deadline) throw new Error('/healthz never answered');
      await sleep(50);
    }
    return this;
  }

  url(p) { return `${this.base}${p}`; }

  async stop() {
    if (this.process && this.process.exitCode === null) {
      const exited = new Promise((resolve) => this.process.once('exit', resolve));
      this.process.kill('SIGTERM');
      await Promise.race([exited, sleep(15_000)]);
    }
  }

  cleanup() { rmSync(this.dir, { recursive: true, force: true }); }

  /** Values the server must never write into its log. */
  remember(...values) { for (const v of values) if (v) this.secrets.add(v); }

  log() { try { return readFileSync(this.logPath, 'utf8'); } catch { return ''; } }

  assertNothingLeaked() {
    const log = this.log();
    for (const secret of this.secrets) {
      assert.ok(!log.includes(secret), `a secret reached the server log: ${secret.slice(0, 8)}…`);
    }
  }

  /** The first administrator, through the CLI. */
  createAdmin(email = ADMIN_EMAIL, password = ADMIN_PASSWORD) {
    this.cli(['users', 'create-admin', '--email', email, '--password-stdin'], `${password}\n`);
    this.remember(password);
    return { email, password };
  }

  /** An API client through the CLI: {client_id, client_secret}. */
  createClient(name, role = 'admin') {
    const client = JSON.parse(this.cli(['clients', 'create', '--name', name, '--role', role, '--json']));
    this.remember(client.client_secret);
    return client;
  }

  /** A client-credentials token over HTTP; the Response when `raw`. */
  async token(clientId, secret, { raw = false } = {}) {
    const response = await fetch(this.url('/oauth2/token'), {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'client_credentials', client_id: clientId, client_secret: secret }),
    });
    if (raw) return response;
    assert.equal(response.status, 200, await response.clone().text());
    const body = await response.json();
    this.remember(body.access_token);
    return body.access_token;
  }

  /** A call of the admin REST API with a bearer token. */
  async api(token, method, p, body) {
    const response = await fetch(this.url(`/api/v1${p}`), {
      method,
      headers: { Authorization: `Bearer ${token}`, ...(body ? { 'Content-Type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    const text = await response.text();
    return { status: response.status, body: text ? JSON.parse(text) : null, headers: response.headers };
  }
}

export function sleep(ms) { return new Promise((resolve) => setTimeout(resolve, ms)); }

/** Headless Chromium from Debian, never a downloaded browser. */
export async function launch() {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-dev-shm-usage'],
  });
}

/**
 * A page that records every JavaScript error and console error (a CSP
 * violation is one), with the clipboard granted.
 */
export async function openPage(browser, deployment, { width = 1280, height = 900, colorScheme = 'light' } = {}) {
  const context = await browser.newContext({
    viewport: { width, height },
    colorScheme,
    timezoneId: 'Europe/Berlin',
    locale: 'en-GB',
  });
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: deployment.base });
  const page = await context.newPage();
  page.errors = [];
  page.on('pageerror', (error) => page.errors.push(`pageerror: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error') {
      // An expected answer (401 before sign-in, 4xx of a refused change)
      // is logged by Chromium as a failed resource; it is no script error.
      const text = message.text();
      if (/Failed to load resource: the server responded with a status of 4\d\d/.test(text)) return;
      page.errors.push(`console: ${text}`);
    }
  });
  return page;
}

/** Signs in through the form; waits for the API clients page. */
export async function signIn(page, deployment, email = ADMIN_EMAIL, password = ADMIN_PASSWORD) {
  await page.goto(deployment.url('/sign-in'));
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'API clients', level: 1 }).waitFor();
}

/** axe-core on the current page: no serious or critical violation. */
export async function assertAccessible(page, label) {
  await page.evaluate(AXE);
  const result = await page.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const r = await axe.run(document, { resultTypes: ['violations'] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 3).map((n) => n.target.join(' ')) }));
  });
  const bad = result.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.deepEqual(bad, [], `${label}: axe-core found serious or critical violations:\n${JSON.stringify(bad, null, 2)}`);
}

/** No horizontal scrolling at the page's width. */
export async function assertNoHorizontalScroll(page, label) {
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  assert.ok(overflow <= 0, `${label}: the page scrolls ${overflow}px sideways`);
}

export function assertNoErrors(page, label) {
  assert.deepEqual(page.errors, [], `${label}: JavaScript errors in the browser`);
}

/** Where screenshots go when PORTCULLIS_SCREENSHOTS is set (see screenshots.mjs). */
export async function screenshot(page, name) {
  const dir = process.env.PORTCULLIS_SCREENSHOTS;
  if (!dir) return;
  mkdirSync(dir, { recursive: true });
  await page.screenshot({ path: path.join(dir, `${name}.png`), fullPage: false });
}
