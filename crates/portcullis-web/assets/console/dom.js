// Building the page from data: every text goes in as text (never as HTML),
// so nothing a client's name holds can become markup or script.

/**
 * h('button', {class: 'primary', onclick: fn, 'aria-label': 'Copy'}, 'Copy')
 * Attributes: `class`, `on…` (event listeners), booleans (true sets, false
 * omits), `dataset`, anything else as an attribute. Children: nodes,
 * strings, numbers, arrays of them; null/undefined/false are skipped.
 */
// At phone width the stylesheet stacks table rows (display: block), which
// makes browsers drop the table's semantics; explicit roles keep them for
// screen readers.
const TABLE_ROLES = { table: 'table', thead: 'rowgroup', tbody: 'rowgroup', tr: 'row', td: 'cell' };

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  const role = tag === 'th' ? ((attrs && attrs.scope) === 'row' ? 'rowheader' : 'columnheader') : TABLE_ROLES[tag];
  if (role && !(attrs && attrs.role)) el.setAttribute('role', role);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') {
      el.addEventListener(key.slice(2).toLowerCase(), value);
    } else if (key === 'dataset') {
      Object.assign(el.dataset, value);
    } else if (key === 'value' && 'value' in el) {
      el.value = value;
    } else if (key === 'checked' || key === 'disabled' || key === 'selected' || key === 'indeterminate') {
      el[key] = Boolean(value);
      if (key !== 'indeterminate' && value) el.setAttribute(key, '');
    } else {
      el.setAttribute(key, value === true ? '' : String(value));
    }
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** Replaces the children of `el`. */
export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

let uniqueCounter = 0;
/** An id unique in the page, for label/aria wiring. */
export function uid(prefix = 'id') {
  uniqueCounter += 1;
  return `${prefix}-${uniqueCounter}`;
}

/** A labelled form field: returns {field, input}. `input` is made by `make(id)`. */
export function field(label, make, hint) {
  const id = uid('field');
  const input = make(id);
  const hintId = hint ? uid('hint') : null;
  if (hintId) input.setAttribute('aria-describedby', hintId);
  const error = h('p', { class: 'field-error', id: uid('error'), hidden: true });
  const wrap = h('div', { class: 'field' },
    h('label', { for: id }, label),
    input,
    hint ? h('p', { class: 'hint', id: hintId }, hint) : null,
    error);
  return { field: wrap, input, error };
}

/** Shows (or clears, with null) a field's error message next to it. */
export function fieldError(f, message) {
  f.error.hidden = !message;
  f.error.textContent = message || '';
  if (message) {
    f.input.setAttribute('aria-invalid', 'true');
    f.input.setAttribute('aria-errormessage', f.error.id);
  } else {
    f.input.removeAttribute('aria-invalid');
    f.input.removeAttribute('aria-errormessage');
  }
}

/** An alert that can be dismissed; `kind` is 'error', 'success' or 'info'. */
export function alertBox(message, kind = 'error') {
  const box = h('div', { class: `alert alert-${kind}`, role: kind === 'error' ? 'alert' : 'status' },
    h('span', {}, message),
    h('button', { type: 'button', class: 'icon-button', 'aria-label': 'Dismiss', onclick: () => box.remove() }, '×'));
  return box;
}

/** A "Copy" button that copies `text()` to the clipboard and says so. */
export function copyButton(text, label = 'Copy', accessibleName = label) {
  const button = h('button', { type: 'button', class: 'copy', 'aria-label': accessibleName }, label);
  button.addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(text());
      button.textContent = 'Copied';
    } catch {
      button.textContent = 'Copy failed';
    }
    setTimeout(() => { button.textContent = label; }, 1500);
  });
  return button;
}

/** A status badge: enabled / disabled. */
export function statusBadge(status) {
  return h('span', { class: `badge badge-${status}` }, status === 'enabled' ? 'Enabled' : 'Disabled');
}

/**
 * A menu button (WAI-ARIA menu button pattern): Enter/Space/ArrowDown open
 * it on the first item, arrows move, Escape closes and returns focus,
 * Tab leaves. items: [{label, onSelect, danger, disabled}]
 */
export function menuButton(label, items, { disabled = false } = {}) {
  const menuId = uid('menu');
  const button = h('button', { type: 'button', class: 'menu-button', 'aria-haspopup': 'menu', 'aria-expanded': 'false', 'aria-controls': menuId, disabled }, label, h('span', { 'aria-hidden': 'true', class: 'caret' }, '▾'));
  const entries = items.map((item) => h('button', {
    type: 'button', role: 'menuitem', tabindex: '-1', class: item.danger ? 'danger-text' : null, disabled: item.disabled,
    onclick: () => { close(); item.onSelect(); },
  }, item.label));
  const menu = h('div', { class: 'menu', role: 'menu', id: menuId, 'aria-label': label, hidden: true }, entries);
  const wrap = h('div', { class: 'menu-wrap' }, button, menu);
  const enabled = () => entries.filter((e) => !e.disabled);
  function open(focusLast = false) {
    menu.hidden = false;
    button.setAttribute('aria-expanded', 'true');
    const list = enabled();
    if (list.length) (focusLast ? list[list.length - 1] : list[0]).focus();
    document.addEventListener('pointerdown', outside, true);
  }
  function close(returnFocus = true) {
    if (menu.hidden) return;
    menu.hidden = true;
    button.setAttribute('aria-expanded', 'false');
    document.removeEventListener('pointerdown', outside, true);
    if (returnFocus) button.focus();
  }
  function outside(event) {
    if (!wrap.contains(event.target)) close(false);
  }
  button.addEventListener('click', () => (menu.hidden ? open() : close()));
  button.addEventListener('keydown', (event) => {
    if (event.key === 'ArrowDown') { event.preventDefault(); open(); }
    if (event.key === 'ArrowUp') { event.preventDefault(); open(true); }
  });
  menu.addEventListener('keydown', (event) => {
    const list = enabled();
    const index = list.indexOf(document.activeElement);
    if (event.key === 'ArrowDown') { event.preventDefault(); list[(index + 1) % list.length].focus(); }
    else if (event.key === 'ArrowUp') { event.preventDefault(); list[(index - 1 + list.length) % list.length].focus(); }
    else if (event.key === 'Home') { event.preventDefault(); list[0].focus(); }
    else if (event.key === 'End') { event.preventDefault(); list[list.length - 1].focus(); }
    else if (event.key === 'Escape') { event.preventDefault(); close(); }
    else if (event.key === 'Tab') { close(false); }
  });
  return { element: wrap, button, setDisabled: (value) => { button.disabled = value; } };
}
