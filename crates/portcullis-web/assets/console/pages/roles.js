// Roles and permissions: being built on this branch.
import { h, replace } from '../dom.js';
import { pageHeader } from '../layout.js';

export async function renderRoles(main) { replace(main, pageHeader('Roles'), h('p', {}, '')); }
export async function renderRole(main) { replace(main, pageHeader('Role'), h('p', {}, '')); }
export async function renderPermissions(main) { replace(main, pageHeader('Permissions'), h('p', {}, '')); }
