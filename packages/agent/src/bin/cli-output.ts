/**
 * How pgfleet-agent prints: messages on stderr prefixed with the program name; errors as
 * "pgfleet-agent: error: <message>" plus a "HINT: ..." line; a restore report as a few
 * readable lines (stdout) or, with --json, as one JSON document (stdout) and nothing else on
 * stdout; a failure with --json is also one JSON document on stdout, {"error": {id, code,
 * message, hint}}.
 */

import { PgFleetError } from '@pgfleet/core/errors';
import type { RestoreReport } from '../restore/restore.js';

export const PROGRAM = 'pgfleet-agent';

export function info(message: string): void {
  process.stderr.write(`${PROGRAM}: ${message}\n`);
}

/** With --json: the error as one JSON document on stdout (stderr still gets the text). */
export function printJsonError(err: unknown): void {
  const e = err instanceof PgFleetError
    ? { id: err.id, code: err.code, message: err.message, ...(err.hint ? { hint: err.hint } : {}) }
    : { id: 'internal', code: 1, message: err instanceof Error ? err.message : String(err) };
  process.stdout.write(`${JSON.stringify({ error: e }, null, 2)}\n`);
}

/** Prints an error and returns the exit code (the catalogue code; 1 for unknown errors). */
export function printError(err: unknown): number {
  if (err instanceof PgFleetError) {
    process.stderr.write(`${PROGRAM}: error: ${err.message}\n`);
    if (err.hint) process.stderr.write(`HINT: ${err.hint}\n`);
    return err.code;
  }
  const message = err instanceof Error ? (err.stack ?? err.message) : String(err);
  process.stderr.write(`${PROGRAM}: error: ${message}\n`);
  return 1;
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(1)} ${units[i] as string}`;
}

export function formatReport(r: RestoreReport, from: string): string {
  const lines: string[] = [];
  lines.push(`restored ${r.layout} backup "${from}" (PostgreSQL ${r.major}, ${formatBytes(r.bytes)}) into "${r.dataDir}" in ${(r.durationMs / 1000).toFixed(1)} s`);
  lines.push(`recovery mode: ${r.mode}`);
  if (r.walDir) lines.push(`WAL directory: "${r.walDir}"`);
  for (const t of r.tablespaces) lines.push(`tablespace ${t.oid}: "${t.originalLocation}" restored to "${t.location}"`);
  lines.push(r.verify.verified
    ? `verified: ${r.verify.filesChecked} files against backup_manifest (${r.verify.checksumAlgorithm ?? 'NONE'}), ${r.verify.walSegmentsChecked} WAL segments`
    : 'not verified: the backup has no backup_manifest');
  for (const w of r.warnings) lines.push(`warning: ${w}`);
  const i = r.instance;
  if (i) {
    lines.push(`started: PostgreSQL ${i.serverVersion}, pid ${i.pid}, port ${i.port}, socket directory "${i.socketDir}", log "${i.logFile}"`);
    lines.push(`state: ${i.recoveryState === 'standby' ? 'standby (in recovery, read-only)' : 'primary (read-write)'}, timeline ${i.timeline ?? '?'}`);
    if (i.walReceiver) lines.push(`WAL receiver: ${i.walReceiver.status ?? 'unknown'} from ${i.walReceiver.senderHost}:${i.walReceiver.senderPort}`);
    for (const t of i.tablespaces) lines.push(`tablespace "${t.name}" (${t.oid}): pg_tablespace_location = "${t.location}"`);
  }
  const p = r.pointInTime;
  if (p) {
    lines.push(`recovery target: ${p.target}${p.targetTimeline === null ? '' : ` (timeline ${p.targetTimeline})`}`);
    if (p.stoppedAt) {
      lines.push(`recovery stopped at ${p.stoppedAt.lsn ?? '?'}, last replayed transaction ${p.stoppedAt.lastTransactionTime ?? 'none'}, now on timeline ${p.stoppedAt.timeline ?? '?'}`);
      lines.push(`target reached: ${p.reached ? 'yes' : 'NO'}${p.serverMessage ? ` (server: ${p.serverMessage})` : ''}`);
    }
  }
  return `${lines.join('\n')}\n`;
}
