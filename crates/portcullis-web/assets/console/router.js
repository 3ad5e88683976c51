// Paths to screens, with the History API: every screen has its own URL
// (bookmarkable, reloadable), and no URL ever holds a secret.

const routes = [];
let current = null;
let renderRoute = null;

/** route('/clients/:id', handler): handler(params, query) renders the screen. */
export function route(pattern, handler) {
  const names = [];
  const regex = new RegExp('^' + pattern.replace(/:([a-z_]+)/g, (_, name) => {
    names.push(name);
    return '([^/]+)';
  }) + '/?$');
  routes.push({ regex, names, handler });
}

export function start(render) {
  renderRoute = render;
  window.addEventListener('popstate', () => show(location.pathname + location.search));
  // Links inside the console navigate without reloading the page.
  document.addEventListener('click', (event) => {
    const link = event.target.closest && event.target.closest('a[href]');
    if (!link || event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    const url = new URL(link.href, location.href);
    if (url.origin !== location.origin || link.target || link.hasAttribute('download')) return;
    if (!routes.some((r) => r.regex.test(url.pathname))) return;
    event.preventDefault();
    navigate(url.pathname + url.search);
  });
  show(location.pathname + location.search);
}

/** Goes to `path` (adding a history entry unless `replace`). */
export function navigate(path, { replace = false } = {}) {
  if (replace) history.replaceState(null, '', path);
  else history.pushState(null, '', path);
  show(path);
}

/** Shows the current path again (after a change). */
export function refresh() {
  show(location.pathname + location.search);
}

function show(path) {
  const url = new URL(path, location.origin);
  for (const r of routes) {
    const match = r.regex.exec(url.pathname);
    if (match) {
      const params = {};
      r.names.forEach((name, i) => { params[name] = decodeURIComponent(match[i + 1]); });
      current = { handler: r.handler, params, query: url.searchParams, path: url.pathname };
      renderRoute(current);
      return;
    }
  }
  current = null;
  renderRoute(null);
}

export function currentRoute() {
  return current;
}

/** Replaces the query string of the current URL without a new history entry. */
export function setQuery(params) {
  const url = new URL(location.href);
  url.search = '';
  for (const [key, value] of Object.entries(params)) {
    if (value !== null && value !== undefined && value !== '') url.searchParams.set(key, value);
  }
  history.replaceState(null, '', url.pathname + url.search);
}
