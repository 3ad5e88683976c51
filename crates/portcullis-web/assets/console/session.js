// Who is signed in, in memory only: the CSRF token and the user's
// permissions (the cookie itself is HttpOnly). A reload asks `/me` again.

export const session = {
  user: null,
  permissions: new Set(),
  csrf: null,
};

const listeners = new Set();

/** Called when the server says the session has ended. */
export function onSessionEnded(listener) {
  listeners.add(listener);
}

export function sessionEnded() {
  const wasSignedIn = session.user !== null;
  clear();
  for (const listener of listeners) listener(wasSignedIn);
}

export function setSession({ user, permissions, csrf }) {
  session.user = user;
  session.permissions = new Set(permissions || []);
  session.csrf = csrf;
}

export function clear() {
  session.user = null;
  session.permissions = new Set();
  session.csrf = null;
}

/** Whether the signed-in user holds `permission` (the server checks again). */
export function can(permission) {
  return session.permissions.has(permission);
}
