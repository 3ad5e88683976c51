// Dialogs are real modal dialogs: the native <dialog> shown with
// showModal() makes the rest of the page inert (focus stays inside), Escape
// closes it, and focus returns to what opened it. A closed dialog is
// removed from the document, so a secret it showed is gone from the DOM.

import { h, alertBox } from './dom.js';
import { describe } from './api.js';

/**
 * openDialog({title, content, actions, onClose, wide}) → {dialog, close, body}
 * `content` is a node or an array of nodes; `actions` a list of buttons.
 */
export function openDialog({ title, content, actions = [], onClose, wide = false, describedBy }) {
  const opener = document.activeElement;
  const titleId = `dialog-title-${Math.random().toString(36).slice(2)}`;
  const body = h('div', { class: 'dialog-body' }, content);
  const dialog = h('dialog', {
    class: wide ? 'dialog wide' : 'dialog',
    role: 'dialog',
    'aria-modal': 'true',
    'aria-labelledby': titleId,
    'aria-describedby': describedBy,
  },
  h('div', { class: 'dialog-header' },
    h('h2', { id: titleId }, title),
    h('button', { type: 'button', class: 'icon-button', 'aria-label': 'Close', onclick: () => close() }, '×')),
  body,
  actions.length ? h('div', { class: 'dialog-actions' }, actions) : null);
  let closed = false;
  function close(result) {
    if (closed) return;
    closed = true;
    if (dialog.open) dialog.close();
    dialog.remove();
    if (opener && opener.isConnected && typeof opener.focus === 'function') opener.focus();
    if (onClose) onClose(result);
  }
  dialog.addEventListener('cancel', (event) => { event.preventDefault(); close(); });
  dialog.addEventListener('close', () => close());
  document.body.append(dialog);
  dialog.showModal();
  const first = dialog.querySelector('[autofocus]') || body.querySelector('input, select, textarea, button') || dialog.querySelector('.dialog-actions button');
  if (first) first.focus();
  return { dialog, close, body };
}

/** Asks to confirm; resolves true on confirm, false on cancel or Escape. */
export function confirmDialog({ title, message, confirmLabel = 'Confirm', danger = false }) {
  return new Promise((resolve) => {
    const messageId = `dialog-message-${Math.random().toString(36).slice(2)}`;
    const cancel = h('button', { type: 'button', onclick: () => d.close(false) }, 'Cancel');
    const ok = h('button', { type: 'button', class: danger ? 'danger' : 'primary', onclick: () => d.close(true) }, confirmLabel);
    const d = openDialog({
      title,
      content: h('p', { id: messageId }, message),
      actions: [cancel, ok],
      describedBy: messageId,
      onClose: (result) => resolve(result === true),
    });
    cancel.focus();
  });
}

/**
 * A form in a dialog: `submit(values)` runs on submit; an error it throws
 * is shown in the dialog (the dialog stays open); on success the dialog
 * closes and the promise resolves with what `submit` returned (null when
 * cancelled).
 */
export function formDialog({ title, fields, submitLabel, submit, danger = false }) {
  return new Promise((resolve) => {
    const errors = h('div', { class: 'dialog-errors' });
    const submitButton = h('button', { type: 'submit', class: danger ? 'danger' : 'primary' }, submitLabel);
    const form = h('form', { novalidate: true }, errors, fields,
      h('div', { class: 'dialog-actions' },
        h('button', { type: 'button', onclick: () => d.close(null) }, 'Cancel'),
        submitButton));
    let result = null;
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      errors.replaceChildren();
      submitButton.disabled = true;
      try {
        result = await submit();
        d.close(result);
      } catch (error) {
        if (!error || !error.handled) errors.append(alertBox(describe(error)));
      } finally {
        submitButton.disabled = false;
      }
    });
    const d = openDialog({ title, content: form, onClose: (r) => resolve(r === undefined ? result : r) });
  });
}

/**
 * Shows values that are displayed only this once (a client secret, a
 * token), each with a Copy button. Resolves when closed; the dialog and
 * the values leave the page then.
 */
export function oneTimeDialog({ title, values, warning, extra }) {
  return new Promise((resolve) => {
    const rows = values.map(({ label, value, secret }) => {
      const id = `value-${Math.random().toString(36).slice(2)}`;
      let v = value;
      const copy = h('button', { type: 'button', class: 'copy', 'aria-label': `Copy ${label}` }, 'Copy');
      copy.addEventListener('click', async () => {
        try {
          await navigator.clipboard.writeText(v);
          copy.textContent = 'Copied';
        } catch {
          copy.textContent = 'Copy failed';
        }
        setTimeout(() => { if (copy.isConnected) copy.textContent = 'Copy'; }, 1500);
      });
      const row = h('div', { class: 'one-time-row' },
        h('span', { class: 'one-time-label', id }, label),
        h('code', { class: secret ? 'one-time-value secret' : 'one-time-value', 'aria-labelledby': id, 'data-testid': label }, value),
        copy);
      return row;
    });
    const done = h('button', { type: 'button', class: 'primary', onclick: () => d.close() }, 'Done');
    const d = openDialog({
      title,
      wide: true,
      content: [
        warning ? h('p', { class: 'alert alert-warning', role: 'note' }, warning) : null,
        rows,
        extra || null,
      ],
      actions: [done],
      onClose: () => {
        // Forget the values: only the closed dialog held them.
        values.forEach((entry) => { entry.value = null; });
        resolve();
      },
    });
  });
}

export { alertBox };
