/**
 * maskConninfo: a libpq connection string as it may be shown or logged, with every password
 * replaced by "********" and everything else kept as written. Both forms are covered:
 *
 *   keyword/value   host=db password=secret          password='a \'quoted\' one'
 *                   dbname='postgresql://u:pw@h/db'  (libpq expands a dbname that is itself a
 *                                                     connection string: masked inside too)
 *   URI             postgresql://user:secret@host/db?password=secret&sslmode=require
 *
 * It never throws: a string libpq would refuse (an unterminated quote, a keyword without "=")
 * is masked from the first "password" keyword on, so a typo never leaks the rest. Keyword/value
 * strings are split by the same scanner the connection uses (connection-options.ts). This is the
 * only place pgfleet decides what of a conninfo is secret; every log line, listing and error
 * that shows one goes through it.
 */

import { quoteConninfoValue } from '../archive/recovery-config.js';
import { scanKeywordValueConninfo } from './connection-options.js';

export const MASKED_PASSWORD = '********';

const URI_PREFIX = /^postgres(?:ql)?:\/\//;

/** The connection string with its passwords masked (see the module comment). */
export function maskConninfo(conninfo: string): string {
  return URI_PREFIX.test(conninfo.trimStart()) ? maskUri(conninfo) : maskKeywordValue(conninfo);
}

function maskUri(uri: string): string {
  const lead = uri.length - uri.trimStart().length;
  const schemeEnd = uri.indexOf('://', lead) + 3;
  // libpq: the user information runs to the first "@" seen before any "/" (URI.c's look-ahead).
  let i = schemeEnd;
  while (i < uri.length && uri[i] !== '@' && uri[i] !== '/') i += 1;
  let out = uri.slice(0, schemeEnd);
  let rest = uri.slice(schemeEnd);
  if (uri[i] === '@') {
    const userinfo = uri.slice(schemeEnd, i);
    const colon = userinfo.indexOf(':');
    out += colon >= 0 ? `${userinfo.slice(0, colon)}:${MASKED_PASSWORD}@` : `${userinfo}@`;
    rest = uri.slice(i + 1);
  }
  const q = rest.indexOf('?');
  if (q < 0) return out + rest;
  const [query, fragment] = splitOnce(rest.slice(q + 1), '#');
  const params = query.split('&').map((p) => {
    const eq = p.indexOf('=');
    if (eq < 0) return p;
    const key = safeDecode(p.slice(0, eq));
    const value = p.slice(eq + 1);
    if (key === 'password') return `${p.slice(0, eq)}=${MASKED_PASSWORD}`;
    if (key === 'dbname') {
      const masked = maskConninfo(safeDecode(value));
      return masked === safeDecode(value) ? p : `${p.slice(0, eq)}=${encodeURIComponent(masked)}`;
    }
    return p;
  });
  return `${out}${rest.slice(0, q)}?${params.join('&')}${fragment === null ? '' : `#${fragment}`}`;
}

function maskKeywordValue(text: string): string {
  let tokens;
  try {
    tokens = scanKeywordValueConninfo(text);
  } catch {
    return maskFromPassword(text);
  }
  let out = '';
  let copied = 0;
  for (const t of tokens) {
    let replacement: string | null = null;
    if (t.key === 'password') {
      replacement = MASKED_PASSWORD;
    } else if (t.key === 'dbname' && (t.value.includes('=') || URI_PREFIX.test(t.value))) {
      const masked = maskConninfo(t.value);
      if (masked !== t.value) replacement = quoteConninfoValue(masked);
    }
    if (replacement !== null) {
      out += text.slice(copied, t.valueStart) + replacement;
      copied = t.valueEnd;
    }
  }
  return out + text.slice(copied);
}

/** A string that cannot be parsed: everything after the first "password" keyword goes. */
function maskFromPassword(text: string): string {
  const m = /\bpassword\s*=/.exec(text);
  return m === null ? text : `${text.slice(0, m.index + m[0].length)}${MASKED_PASSWORD}`;
}

function splitOnce(text: string, sep: string): [string, string | null] {
  const at = text.indexOf(sep);
  return at < 0 ? [text, null] : [text.slice(0, at), text.slice(at + 1)];
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
