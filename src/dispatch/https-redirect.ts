// The answer of a plain listener with `redirectToHttps`: 308 Permanent Redirect (RFC 9110
// §15.4.9: unlike 301, the method and body are kept) to the same host and request-target on
// https://, on the configured port. Without a Host there is nothing to redirect to: 400.
import type { RequestWhere } from '../http/request-target.js';
import type { LocalAnswer } from '../http/local-answer.js';

/** RFC 3986 §3.2.2 host: an IP literal or a reg-name (lower-cased already). */
const HOST = /^(?:\[[0-9a-f:.]+\]|[a-z0-9._~!$&'()*+,;=%-]+)$/;

export function httpsRedirect(where: RequestWhere, port: number): LocalAnswer {
  if (!HOST.test(where.host)) return { status: 400, detail: 'no valid Host to redirect to https:// with', code: 'PRX_REDIRECT_NO_HOST' };
  const location = `https://${where.host}${port === 443 ? '' : `:${port}`}${where.path}${where.query}`;
  return { status: 308, detail: `use ${location}`, code: 'PRX_REDIRECT_HTTPS', fields: `Location: ${location}\r\n` };
}
