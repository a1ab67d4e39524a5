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
 * is masked from the first "password" keyword on, so a typo never leaks the rest. This is the
 * only place pgfleet decides what of a conninfo is secret; every log line, listing and error
 * that shows one goes through it.
 */

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
  const n = text.length;
  const isSpace = (c: string | undefined): boolean => c !== undefined && /\s/.test(c);
  let out = '';
  let copied = 0;
  let i = 0;
  while (i < n) {
    while (i < n && isSpace(text[i])) i += 1;
    if (i >= n) break;
    const keyStart = i;
    while (i < n && text[i] !== '=' && !isSpace(text[i])) i += 1;
    const key = text.slice(keyStart, i);
    while (i < n && isSpace(text[i])) i += 1;
    if (text[i] !== '=') return out + maskFromPassword(text.slice(copied));
    i += 1;
    while (i < n && isSpace(text[i])) i += 1;
    const valueStart = i;
    let value = '';
    if (text[i] === "'") {
      i += 1;
      let closed = false;
      while (i < n) {
        const c = text[i] as string;
        if (c === '\\' && i + 1 < n) {
          value += text[i + 1];
          i += 2;
        } else if (c === "'") {
          i += 1;
          closed = true;
          break;
        } else {
          value += c;
          i += 1;
        }
      }
      if (!closed) return out + maskFromPassword(text.slice(copied));
    } else {
      while (i < n && !isSpace(text[i])) {
        if (text[i] === '\\' && i + 1 < n) i += 1;
        value += text[i];
        i += 1;
      }
    }
    let replacement: string | null = null;
    if (key === 'password') {
      replacement = MASKED_PASSWORD;
    } else if (key === 'dbname' && (value.includes('=') || URI_PREFIX.test(value))) {
      const masked = maskConninfo(value);
      if (masked !== value) replacement = `'${masked.replace(/['\\]/g, (c) => `\\${c}`)}'`;
    }
    if (replacement !== null) {
      out += text.slice(copied, valueStart) + replacement;
      copied = i;
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
