// The frame around every screen once signed in: the header, its
// navigation (only the screens the user may read) and sign-out.

import { h, replace, alertBox } from './dom.js';
import { api, describe } from './api.js';
import { session, can, clear } from './session.js';
import { navigate } from './router.js';

const NAV = [
  { path: '/clients', label: 'API clients', permission: 'clients:read' },
  { path: '/roles', label: 'Roles', permission: 'roles:read' },
  { path: '/permissions', label: 'Permissions', permission: 'roles:read' },
  { path: '/users', label: 'Users', permission: 'users:read' },
  { path: '/account', label: 'My access token', permission: null },
];

/** Renders the frame and returns the <main> element for the screen. */
export function frame(root, activePath, title) {
  document.title = title ? `${title} · Portcullis` : 'Portcullis';
  const main = h('main', { id: 'main', tabindex: '-1' });
  const nav = h('nav', { 'aria-label': 'Main' },
    h('ul', {}, NAV.filter((item) => !item.permission || can(item.permission)).map((item) =>
      h('li', {}, h('a', {
        href: item.path,
        'aria-current': activePath.startsWith(item.path) ? 'page' : null,
      }, item.label)))));
  const signOut = h('button', { type: 'button', class: 'link-button', onclick: async () => {
    try { await api('DELETE', '/session'); } catch { /* already ended */ }
    clear();
    navigate('/sign-in', { replace: true });
  } }, 'Sign out');
  replace(root,
    h('a', { class: 'skip-link', href: '#main', onclick: (e) => { e.preventDefault(); main.focus(); } }, 'Skip to content'),
    h('header', { class: 'top' },
      h('a', { class: 'brand', href: '/clients' }, h('span', { class: 'brand-mark', 'aria-hidden': 'true' }), 'Portcullis'),
      nav,
      h('div', { class: 'who' },
        h('span', { class: 'who-name', title: session.user ? session.user.email : '' }, session.user ? session.user.name : ''),
        signOut)),
    main);
  return main;
}

/** The page heading, with optional actions at its right. */
export function pageHeader(title, ...actions) {
  return h('div', { class: 'page-header' }, h('h1', {}, title), h('div', { class: 'page-actions' }, actions));
}

/**
 * After a change: reloads the screen's data with `load`, then announces
 * `message` in `alerts`, so that the announcement never comes before the
 * screen shows the change. The change itself is made, so a failed reload
 * is shown beside the message, not instead of it.
 */
export async function reloadThenSay(alerts, load, message, kind = 'success') {
  try {
    await load();
  } catch (error) {
    if (error.status === 401) return;
    alerts.replaceChildren(alertBox(message, kind), alertBox(`The screen could not be reloaded: ${describe(error)}`));
    return;
  }
  alerts.replaceChildren(alertBox(message, kind));
}
