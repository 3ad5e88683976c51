// The admin REST API, as the console calls it: same origin, the session
// cookie (HttpOnly: scripts never see it) and the CSRF token on every
// request that changes something.

import { session, sessionEnded } from './session.js';

/** An answer that is not 2xx: `status`, the problem document and its text. */
export class ApiError extends Error {
  constructor(status, problem) {
    super((problem && (problem.detail || problem.title)) || `the server answered ${status}`);
    this.status = status;
    this.problem = problem || {};
  }

  /** The problem type without its URN prefix: `escalation`, `in-use`, … */
  get kind() {
    const type = this.problem.type || '';
    return type.startsWith('urn:portcullis:problem:') ? type.slice('urn:portcullis:problem:'.length) : type;
  }
}

/**
 * api('GET', '/clients?limit=50') → {data, etag}
 * options: {body, ifMatch}
 */
export async function api(method, path, options = {}) {
  const headers = { Accept: 'application/json' };
  if (method !== 'GET' && method !== 'HEAD' && session.csrf) headers['X-CSRF-Token'] = session.csrf;
  if (options.body !== undefined) headers['Content-Type'] = 'application/json';
  if (options.ifMatch) headers['If-Match'] = options.ifMatch;
  let response;
  try {
    response = await fetch(`/api/v1${path}`, {
      method,
      headers,
      credentials: 'same-origin',
      cache: 'no-store',
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
    });
  } catch {
    throw new ApiError(0, { title: 'The server cannot be reached', detail: 'The server cannot be reached. Check the connection and try again.' });
  }
  let data = null;
  const text = await response.text();
  if (text) {
    try { data = JSON.parse(text); } catch { data = null; }
  }
  if (!response.ok) {
    const error = new ApiError(response.status, data);
    // A session that ended (idle or past its absolute end, or signed out
    // elsewhere) sends the user back to sign in, saying why.
    if (response.status === 401 && !options.signingIn) sessionEnded();
    throw error;
  }
  return { data, etag: response.headers.get('ETag') };
}

/** A human sentence for an error, for alerts. */
export function describe(error) {
  if (!(error instanceof ApiError)) return String(error && error.message ? error.message : error);
  const p = error.problem;
  if (error.kind === 'escalation' && Array.isArray(p.missing_permissions)) {
    return `Refused: this needs permissions you do not hold (${p.missing_permissions.join(', ')}).`;
  }
  if (error.kind === 'precondition-failed') {
    return 'Someone else changed this in the meantime. Reload to see their change, then edit again.';
  }
  if (error.status === 403) return p.detail || 'You do not have permission to do this.';
  return p.detail || p.title || error.message;
}
