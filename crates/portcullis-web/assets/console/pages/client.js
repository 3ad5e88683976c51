// Client detail: being built on this branch (tabs Overview, Role, Permissions, Events).
import { h, replace } from '../dom.js';
import { api } from '../api.js';
import { pageHeader } from '../layout.js';

export async function renderClient(main, params) {
  const { data } = await api('GET', `/clients/${encodeURIComponent(params.id)}`);
  document.title = `${data.name} · Portcullis`;
  replace(main, pageHeader(data.name), h('p', { class: 'mono' }, data.client_id));
}
