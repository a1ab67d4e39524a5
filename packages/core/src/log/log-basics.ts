/**
 * The parts of the daemons' log (daemon-log.ts) that need no logger: the formats and levels a
 * command line offers, and an error's text on one line. Its own module so that a program
 * that only names them (a CLI's options, PostgreSQL's archive and restore commands) does not
 * load pino.
 */
import { PgFleetError } from '../errors.js';

export const LOG_FORMATS = ['text', 'json'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** An error's text on one line: its message, then its hint ("... HINT: ..."), else the stack of an unexpected error. */
export function errorText(err: unknown): string {
  const text = err instanceof PgFleetError ? err.format() : err instanceof Error ? (err.stack ?? err.message) : String(err);
  return text.replace(/\n+/g, ' ');
}
