/**
 * Bounds on what crosses a process boundary, so that one oversized request can neither make a
 * daemon work on it nor produce an error too large for the connection it shares with other
 * calls (gRPC carries an error's text in HTTP/2 trailers; a trailer larger than the peer
 * accepts ends the whole connection, not just the call).
 *
 * - Request fields are checked before any work (checkFieldLength, checkFieldCount): the
 *   limits are FIELD_LIMITS, in UTF-8 bytes; a longer value is an InvalidOptionError naming
 *   the field and never echoing the value.
 * - Error texts are cut to a size (boundText) with a marker saying how much was left out,
 *   and made well-formed (a lone UTF-16 surrogate cannot be encoded for the wire).
 */

import { InvalidOptionError } from './errors.js';

/** Largest accepted request fields, in UTF-8 bytes. */
export const FIELD_LIMITS = {
  /** A file or directory path: Linux's PATH_MAX. */
  path: 4096,
  /** A libpq connection string. */
  conninfo: 8192,
  /** A backup label: PostgreSQL refuses longer ones (MAXPGPATH). */
  label: 1024,
  /** A name or id: cluster, agent, backup id, role, OS user. */
  name: 255,
  /** A short option value: compression spec, mode, checkpoint, protocol version. */
  option: 256,
  /** Entries of a list (tablespace mappings, files of a restore). */
  entries: 4096,
} as const;

/** Longest error message and hint sent over the wire, in UTF-8 bytes. */
export const MAX_WIRE_MESSAGE_BYTES = 2048;
export const MAX_WIRE_HINT_BYTES = 1024;

/** Throws InvalidOptionError when `value` is longer than `limit` UTF-8 bytes. */
export function checkFieldLength(field: string, value: string, limit: number): void {
  // Cheap first: a string of n UTF-16 units has at most 3n UTF-8 bytes.
  if (value.length * 3 <= limit) return;
  const bytes = Buffer.byteLength(value, 'utf8');
  if (bytes > limit) {
    throw new InvalidOptionError(`request field "${field}" is too long (${bytes} bytes, at most ${limit})`);
  }
}

/** Throws InvalidOptionError when a list has more than `limit` entries. */
export function checkFieldCount(field: string, count: number, limit: number): void {
  if (count > limit) throw new InvalidOptionError(`request field "${field}" has too many entries (${count}, at most ${limit})`);
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/**
 * `text` well-formed and at most `maxBytes` UTF-8 bytes: a longer one is cut on a character
 * boundary and ends with "... [N more bytes]".
 */
export function boundText(text: string, maxBytes: number): string {
  const wellFormed = text.replace(LONE_SURROGATE, '\uFFFD');
  if (wellFormed.length * 3 <= maxBytes) return wellFormed;
  const bytes = Buffer.from(wellFormed, 'utf8');
  if (bytes.length <= maxBytes) return wellFormed;
  const marker = (left: number): string => ` ... [${left} more bytes]`;
  // The marker's own length depends on the number; reserve its longest form (none when even
  // that does not fit).
  const reserve = Buffer.byteLength(marker(bytes.length));
  let keep = reserve < maxBytes ? maxBytes - reserve : maxBytes;
  // Back up to the start of a UTF-8 character (continuation bytes are 10xxxxxx).
  while (keep > 0 && ((bytes[keep] ?? 0) & 0xc0) === 0x80) keep -= 1;
  const head = bytes.subarray(0, keep).toString('utf8');
  return reserve < maxBytes ? head + marker(bytes.length - keep) : head;
}
