/**
 * Log sequence numbers. An LSN is an unsigned 64-bit byte position in the WAL stream, held as a
 * bigint so that no precision is lost above 2^53. The text form is `%X/%X` (upper-case hex,
 * no padding), as servers 13 to 18 print it; parsing is lenient (1 to 8 hex digits per half,
 * either case) so that the zero-padded low half printed by later servers is accepted too.
 */

import { InternalError, InvalidOptionError } from '../errors.js';

export type Lsn = bigint;

/** InvalidXLogRecPtr. */
export const INVALID_LSN: Lsn = 0n;

/** The largest representable LSN, 2^64 - 1. */
export const MAX_LSN: Lsn = 0xFFFF_FFFF_FFFF_FFFFn;

const LSN_PATTERN = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/;

/** Parses `X/X`; returns null when the text is not an LSN. */
export function tryParseLsn(text: string): Lsn | null {
  const m = LSN_PATTERN.exec(text);
  if (m === null) return null;
  return (BigInt(`0x${m[1]}`) << 32n) | BigInt(`0x${m[2]}`);
}

/** Parses `X/X`; throws InvalidOptionError naming the text when it is not an LSN. */
export function parseLsn(text: string): Lsn {
  const lsn = tryParseLsn(text);
  if (lsn === null) {
    throw new InvalidOptionError(`invalid LSN "${text}"`, {
      hint: 'An LSN is written as two hexadecimal numbers separated by a slash, such as 0/3000028.',
    });
  }
  return lsn;
}

/** Formats an LSN as `%X/%X`: upper-case hex halves without zero padding (`0/3000028`). */
export function formatLsn(lsn: Lsn): string {
  checkRange(lsn);
  const hi = (lsn >> 32n).toString(16).toUpperCase();
  const lo = (lsn & 0xFFFF_FFFFn).toString(16).toUpperCase();
  return `${hi}/${lo}`;
}

/** -1, 0 or 1, for sorting. */
export function compareLsn(a: Lsn, b: Lsn): -1 | 0 | 1 {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** lsn + bytes; the result must stay within 0 .. 2^64-1. */
export function addLsn(lsn: Lsn, bytes: number | bigint): Lsn {
  const delta = typeof bytes === 'bigint' ? bytes : BigInt(bytes);
  const result = lsn + delta;
  checkRange(result);
  return result;
}

/** a - b in bytes (negative when a < b). */
export function diffLsn(a: Lsn, b: Lsn): bigint {
  return a - b;
}

function checkRange(lsn: Lsn): void {
  if (lsn < 0n || lsn > MAX_LSN) {
    throw new InternalError(`LSN value ${lsn} is outside the 64-bit range`);
  }
}
