/**
 * How the CLI talks to people and scripts. Human output: one line per event, sizes in binary
 * units, errors as "pgfleet: error: <message>" plus a "HINT: <sentence>" line on stderr.
 * --json: one JSON document on stdout when the command ends (nothing else on stdout), so
 * `pgfleet backups --json | jq` always parses.
 */
import type { PgFleetError } from '@pgfleet/core';

export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  env: NodeJS.ProcessEnv;
  /** Whether stderr is a terminal (progress is shown more often). */
  isTty: boolean;
  /** Resolves when the user asks to stop (SIGINT/SIGTERM), for `serve`. */
  interrupted: () => Promise<void>;
  /** Calls `handler` on each request to reload (SIGHUP), for `serve`; returns the undo. */
  onReload?: (handler: () => void) => () => void;
}

export const processIo: CliIo = {
  stdout: (t) => process.stdout.write(t),
  stderr: (t) => process.stderr.write(t),
  env: process.env,
  isTty: process.stderr.isTTY === true,
  interrupted: () => new Promise((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  }),
  onReload: (handler) => {
    process.on('SIGHUP', handler);
    return () => process.off('SIGHUP', handler);
  },
};

export function printJson(io: CliIo, value: unknown): void {
  io.stdout(JSON.stringify(value, null, 2) + '\n');
}

export function printError(io: CliIo, err: PgFleetError, prefix = ''): void {
  io.stderr(`pgfleet: error: ${prefix}${err.message}\n`);
  if (err.hint) io.stderr(`HINT: ${err.hint}\n`);
}

const UNITS = ['bytes', 'kB', 'MB', 'GB', 'TB'];

/** Like PostgreSQL's pg_size_pretty, with binary multiples (1 kB = 1024 bytes). */
export function formatBytes(n: number): string {
  let v = n;
  let u = 0;
  while (Math.abs(v) >= 10 * 1024 && u < UNITS.length - 1) {
    v /= 1024;
    u += 1;
  }
  return `${Math.round(v)} ${UNITS[u]}`;
}

export function formatRate(bytesPerSecond: number): string {
  return `${formatBytes(bytesPerSecond)}/s`;
}

/** "3s", "2m05s", "1h02m"; "?" when unknown (negative). */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** "12 MB of 40 MB (30%), 5120 kB/s, ETA 6s" or without total/eta when unknown. */
export function formatProgress(p: { doneBytes: number; totalBytes: number; rateBytesPerSecond: number; etaSeconds: number }): string {
  const parts = [p.totalBytes > 0
    ? `${formatBytes(p.doneBytes)} of ${formatBytes(p.totalBytes)} (${Math.min(100, Math.floor((p.doneBytes * 100) / p.totalBytes))}%)`
    : formatBytes(p.doneBytes)];
  if (p.rateBytesPerSecond > 0) parts.push(formatRate(p.rateBytesPerSecond));
  if (p.etaSeconds >= 0) parts.push(`ETA ${formatDuration(p.etaSeconds)}`);
  return parts.join(', ');
}

/** Fixed-width table for lists. */
export function formatTable(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd();
  return [line(headers), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n') + '\n';
}
