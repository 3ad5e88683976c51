// Users and the personal access token: being built on this branch.
import { h, replace } from '../dom.js';
import { pageHeader } from '../layout.js';

export async function renderUsers(main) { replace(main, pageHeader('Users'), h('p', {}, '')); }
export async function renderAccount(main) { replace(main, pageHeader('My access token'), h('p', {}, '')); }
