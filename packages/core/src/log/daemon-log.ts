/**
 * The log of a daemon (the agent, the controller), on pino: one event per line, each with its
 * time (ISO 8601, UTC) and level, in one of two formats:
 *
 *   text  2026-11-24T10:00:00.123Z INFO  pgfleet-agent: listening on 127.0.0.1:7443 (mutual TLS)
 *   json  {"level":"info","time":"2026-11-24T10:00:00.123Z","pid":1234,"hostname":"db1",
 *          "name":"pgfleet-agent","peer":"ipv4:10.0.0.2:51234","msg":"listening on ..."}
 *
 * The message says everything a person needs; the structured fields beside it (cluster, agent,
 * peer, error with its id, code and hint) are for machines and appear in JSON only. A message
 * never spans lines: in text, line breaks inside it (an error's HINT line) become spaces. Levels
 * below the configured one are dropped. Lines go to stderr synchronously, so that nothing
 * written before an exit is lost.
 */
import type * as Pino from 'pino';
import { PgFleetError } from '../errors.js';
import { lazyRequire } from '../lazy-require.js';
import type { LogFormat, LogLevel } from './log-basics.js';

export { LOG_FORMATS, LOG_LEVELS, errorText } from './log-basics.js';
export type { LogFormat, LogLevel } from './log-basics.js';

// Required when a log is created: programs that load the package's index without running a
// daemon (pgfleet-agent restore, the pgfleet CLI) do not pay for pino (about 20 ms of start-up).
const loadPino = lazyRequire<typeof Pino>('pino');

/** Structured fields of one event (JSON only). */
export type LogFields = Record<string, unknown>;

export interface DaemonLog {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
}

export interface DaemonLogOptions {
  /** The daemon's program name, on every line. */
  name: string;
  format: LogFormat;
  level: LogLevel;
  /** Where lines go (default: stderr, synchronously). */
  write?: (line: string) => void;
}

/** A log that drops everything (tests, embedded servers without a log). */
export const silentLog: DaemonLog = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };

/** An error as structured fields: catalogue id, code, message and hint. */
export function errorFields(err: unknown): LogFields {
  if (err instanceof PgFleetError) return { id: err.id, code: err.code, message: err.message, ...(err.hint ? { hint: err.hint } : {}) };
  return { id: 'internal', message: err instanceof Error ? err.message : String(err) };
}

interface JsonEvent {
  time?: string;
  level?: string;
  name?: string;
  msg?: string;
}

/** One JSON event as a text line. */
export function formatTextLine(json: string): string {
  const e = JSON.parse(json) as JsonEvent;
  const level = (e.level ?? 'info').toUpperCase().padEnd(5);
  return `${e.time ?? ''} ${level} ${e.name ?? ''}: ${(e.msg ?? '').replace(/\r?\n/g, ' ')}\n`;
}

export function createDaemonLog(options: DaemonLogOptions): DaemonLog {
  const out = options.write ?? ((line: string) => process.stderr.write(line));
  const destination = { write: options.format === 'json' ? out : (line: string) => out(formatTextLine(line)) };
  const { pino, stdTimeFunctions } = loadPino();
  const logger: Pino.Logger = pino({
    name: options.name,
    level: options.level,
    timestamp: stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  }, destination);
  // Messages are passed as they are: no printf-style interpolation of a "%s" they may contain.
  const at = (level: LogLevel) => (message: string, fields?: LogFields): void => {
    if (fields) logger[level](fields, message);
    else logger[level](message);
  };
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}
