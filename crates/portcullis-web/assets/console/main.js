// The console's entry point: who is signed in, then the screen the path names.

import { h, replace, alertBox } from './dom.js';
import { api, describe } from './api.js';
import { session, setSession, onSessionEnded } from './session.js';
import { route, start, navigate } from './router.js';
import { frame } from './layout.js';
import { renderSignIn } from './pages/sign-in.js';
import { renderClients } from './pages/clients.js';
import { renderClient } from './pages/client.js';
import { renderRoles, renderRole, renderPermissions } from './pages/roles.js';
import { renderUsers, renderAccount } from './pages/users.js';

const root = document.getElementById('app');
const SESSION_ENDED = 'Your session has ended (idle too long, or past its time limit). Sign in again.';
let signInMessage = null;

/** Loads who is signed in from the session cookie; false when nobody is. */
async function loadSession() {
  if (session.user) return true;
  try {
    const { data } = await api('GET', '/me', { signingIn: true });
    if (data.kind !== 'user' || !data.csrf_token) return false;
    setSession({ user: data.user, permissions: data.permissions, csrf: data.csrf_token });
    return true;
  } catch (error) {
    // A page opened (or reloaded) with the cookie of a session that has
    // ended: the server says so, and so does the sign-in screen.
    if (error.status === 401 && /session has ended/.test(error.problem.detail || '')) signInMessage = SESSION_ENDED;
    return false;
  }
}

onSessionEnded((wasSignedIn) => {
  if (wasSignedIn) signInMessage = SESSION_ENDED;
  const back = location.pathname.startsWith('/sign-in') ? null : location.pathname + location.search;
  navigate(back ? `/sign-in?next=${encodeURIComponent(back)}` : '/sign-in', { replace: true });
});

/** Screens need a session; the sign-in screen does not. */
function screen(title, render) {
  return async ({ params, query, path }) => {
    if (!(await loadSession())) {
      const back = path + (query.toString() ? `?${query}` : '');
      navigate(`/sign-in?next=${encodeURIComponent(back)}`, { replace: true });
      return;
    }
    const main = frame(root, path, title);
    try {
      await render(main, params, query);
    } catch (error) {
      if (error && error.status === 401) return;
      replace(main, alertBox(describe(error)));
    }
  };
}

route('/', async () => navigate('/clients', { replace: true }));
route('/sign-in', async ({ query }) => {
  if (await loadSession()) {
    navigate(safeNext(query.get('next')), { replace: true });
    return;
  }
  const message = signInMessage;
  signInMessage = null;
  renderSignIn(root, message, () => navigate(safeNext(query.get('next')), { replace: true }));
});
route('/clients', screen('API clients', renderClients));
route('/clients/:id', screen('API client', renderClient));
route('/roles', screen('Roles', renderRoles));
route('/roles/:id', screen('Role', renderRole));
route('/permissions', screen('Permissions', renderPermissions));
route('/users', screen('Users', renderUsers));
route('/account', screen('My access token', renderAccount));

/** Only a path of this console, never another site (no open redirect). */
function safeNext(next) {
  if (!next || !next.startsWith('/')) return '/clients';
  // Judge the URL the browser would make of it: a tab or newline in
  // `/\t/evil.example` is dropped by the URL parser, giving `//evil.example`.
  let url;
  try { url = new URL(next, location.origin); } catch { return '/clients'; }
  if (url.origin !== location.origin || url.pathname.startsWith('/sign-in')) return '/clients';
  return url.pathname + url.search + url.hash;
}

start((current) => {
  if (!current) {
    document.title = 'Not found · Portcullis';
    replace(root, h('main', { id: 'main', class: 'narrow' }, h('h1', {}, 'Not found'), h('p', {}, h('a', { href: '/clients' }, 'Back to API clients'))));
    return;
  }
  current.handler(current);
});
