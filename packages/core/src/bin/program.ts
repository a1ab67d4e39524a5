/**
 * What every core command shares with PostgreSQL's client programs: it is named after the base
 * name of argv[0] (so that a symlink `pg_basebackup` -> pgfleet-basebackup says
 * "pg_basebackup: error: ..."), it reports errors as `<prog>: error: <message>` followed by
 * `<prog>: hint: <sentence>` when there is advice, and `--version` prints
 * `<prog> (PostgreSQL) 18.0 (pgfleet 0.1.0)`.
 *
 * The version line is read by wrappers the way PostgreSQL's is: barman drops every
 * parenthesised part and takes the second word ("18.0"), Patroni takes the third
 * whitespace-separated word ("18.0"); both then refuse a client whose major version is below the
 * server's. Our commands take PostgreSQL 18's command line and back up every server up to 18, so
 * they announce 18.0; the trailing "(pgfleet X.Y.Z)" says what they really are, and neither rule
 * reads it.
 */
import { basename } from 'node:path';
import { PgFleetError, ServerError } from '../errors.js';
import { GetoptComplaint } from './getopt.js';
import { PGFLEET_VERSION } from '../version.js';

/** The newest PostgreSQL major whose servers and command lines the core commands handle. */
export const NEWEST_SERVER_MAJOR = 18;

/**
 * The program's name: the base name of the script node was started with (argv[1]; node keeps
 * a symlink's own name there), without a ".js"/".ts" suffix; `fallback` when there is none.
 */
export function programName(fallback: string, argv: readonly string[] = process.argv): string {
  const script = argv[1];
  if (script === undefined || script === '') return fallback;
  const name = basename(script).replace(/\.(?:[cm]?js|ts)$/, '');
  return name === '' ? fallback : name;
}

/** The `--version` line, newline included. */
export function versionText(prog: string): string {
  return `${prog} (PostgreSQL) ${NEWEST_SERVER_MAJOR}.0 (pgfleet ${PGFLEET_VERSION})\n`;
}

/** PostgreSQL's advice after a command-line mistake (printed as a hint). */
export function tryHelpHint(prog: string): string {
  return `Try "${prog} --help" for more information.`;
}

/** `<prog>: error: <message>` and, when given, `<prog>: hint: <hint>`, each ending in "\n". */
export function errorText(prog: string, message: string, hint?: string): string {
  return `${prog}: error: ${message}\n${hint ? `${prog}: hint: ${hint}\n` : ''}`;
}

/**
 * What to print for anything thrown: a getopt complaint as getopt printed it, a server error as
 * libpq words it, other typed errors with their hint, anything else with its message.
 */
export function describeError(prog: string, err: unknown): string {
  if (err instanceof GetoptComplaint) {
    return `${err.complaint === null ? '' : `${err.complaint}\n`}${prog}: hint: ${err.hint ?? tryHelpHint(prog)}\n`;
  }
  // A server's refusal in libpq's words, as PostgreSQL's programs relay it.
  if (err instanceof ServerError && err.libpqText !== undefined) return `${prog}: error: ${err.libpqText}\n`;
  if (err instanceof PgFleetError) return errorText(prog, err.message, err.hint);
  return errorText(prog, err instanceof Error ? err.message : String(err));
}
