/**
 * Lexical helpers for replication command text (repl_scanner.l): string constants are
 * single-quoted with '' as the only escape and backslashes taken literally (standard
 * conforming strings); identifiers are double-quoted with "" as the escape. Slot names are
 * checked against the server's own rule before they are sent, so a bad name fails here with a
 * clear message instead of as a syntax error.
 */

import { InvalidOptionError } from '../errors.js';

/** A string constant: `it's` -> `'it''s'`. NUL cannot be sent in a query string. */
export function quoteLiteral(value: string): string {
  if (value.includes('\0')) {
    throw new InvalidOptionError('a string in a replication command cannot contain a NUL character');
  }
  return `'${value.replace(/'/g, "''")}'`;
}

/** A double-quoted identifier: `a"b` -> `"a""b"`. */
export function quoteIdentifier(value: string): string {
  if (value.includes('\0')) {
    throw new InvalidOptionError('an identifier in a replication command cannot contain a NUL character');
  }
  return `"${value.replace(/"/g, '""')}"`;
}

/** The server's rule for slot names (ReplicationSlotValidateName). */
export function checkSlotName(name: string): void {
  if (name.length === 0) {
    throw new InvalidOptionError('replication slot name "" is too short');
  }
  if (name.length > 63) {
    throw new InvalidOptionError(`replication slot name "${name}" is too long`, {
      hint: 'Replication slot names have at most 63 characters.',
    });
  }
  if (!/^[a-z0-9_]+$/.test(name)) {
    throw new InvalidOptionError(`replication slot name "${name}" contains invalid character`, {
      hint: 'Replication slot names may only contain lower case letters, numbers, and the underscore character.',
    });
  }
}

/** A slot name checked and double-quoted, as pg_basebackup sends it. */
export function quoteSlotName(name: string): string {
  checkSlotName(name);
  return `"${name}"`;
}

/** A SHOW parameter name: a plain (possibly dotted) identifier, sent bare. */
export function checkParameterName(name: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*)*$/.test(name)) {
    throw new InvalidOptionError(`invalid configuration parameter name "${name}"`);
  }
  return name;
}
