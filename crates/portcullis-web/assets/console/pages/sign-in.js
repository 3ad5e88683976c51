// Sign in with e-mail and password. One answer for an unknown e-mail and a
// wrong password: the server gives none other.

import { h, replace, field, alertBox } from '../dom.js';
import { api, describe } from '../api.js';
import { setSession } from '../session.js';

export function renderSignIn(root, message, signedIn) {
  document.title = 'Sign in · Portcullis';
  const email = field('Email', (id) => h('input', { id, name: 'email', type: 'email', autocomplete: 'username', required: true, autofocus: true }));
  const password = field('Password', (id) => h('input', { id, name: 'password', type: 'password', autocomplete: 'current-password', required: true }));
  const errors = h('div', { class: 'form-errors' }, message ? alertBox(message, 'info') : null);
  const button = h('button', { type: 'submit', class: 'primary wide' }, 'Sign in');
  const form = h('form', { class: 'card sign-in', novalidate: true }, errors, email.field, password.field, button);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    errors.replaceChildren();
    if (!email.input.value || !password.input.value) {
      errors.append(alertBox('Enter your e-mail and your password.'));
      return;
    }
    button.disabled = true;
    button.textContent = 'Signing in…';
    try {
      const { data } = await api('POST', '/session', {
        body: { email: email.input.value, password: password.input.value },
        signingIn: true,
      });
      password.input.value = '';
      const me = await api('GET', '/me', { signingIn: true });
      setSession({ user: me.data.user, permissions: me.data.permissions, csrf: data.csrf_token });
      signedIn();
    } catch (error) {
      const text = error.status === 401 ? 'The e-mail or the password is wrong.' : describe(error);
      errors.append(alertBox(text));
      password.input.value = '';
      password.input.focus();
    } finally {
      button.disabled = false;
      button.textContent = 'Sign in';
    }
  });
  replace(root, h('main', { id: 'main', class: 'sign-in-page' },
    h('div', { class: 'sign-in-brand' }, h('span', { class: 'brand-mark', 'aria-hidden': 'true' }), 'Portcullis'),
    h('h1', {}, 'Sign in'),
    form));
  email.input.focus();
}
