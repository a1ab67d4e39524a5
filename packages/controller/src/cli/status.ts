/**
 * `pgfleet status [--json]`: the fleet at a glance: per cluster its state, the newest backup's
 * age, size and duration, the WAL archive's lag and restore window, the next scheduled run and
 * the last drill (daemon/fleet-status.ts). Exit status 0 whatever the states (`pgfleet check`
 * is the command that fails).
 */
import type { Command } from 'commander';
import type { ClusterStatus__Output, FleetStatus__Output } from '@pgfleet/proto';
import { formatDuration } from '../daemon/age-text.js';
import { callUnary, connectController } from './client.js';
import { addConnectionOptions, connectionOptions, type CommandContext } from './command-context.js';
import { formatBytes, formatTable, printJson } from './output.js';

const short = (t: string): string => t.replace(/\.\d+Z$/, 'Z');

function walJson(c: ClusterStatus__Output): Record<string, unknown> {
  const w = c.wal;
  if (!w?.available) return { available: false, reason: w?.reason ?? 'not configured' };
  return {
    available: true, lagBytes: Number(w.lagBytes), lagSeconds: w.lagSeconds, slotRetainedBytes: Number(w.slotRetainedBytes), gaps: w.gaps,
    restoreFrom: w.restoreFrom || null, restoreTo: w.restoreTo || null, slotPresent: w.slotPresent, slotActive: w.slotActive,
  };
}

export function statusJson(s: FleetStatus__Output): Record<string, unknown> {
  return {
    generatedAt: s.generatedAt,
    repository: { freeBytes: Number(s.repositoryFreeBytes), sizeBytes: Number(s.repositorySizeBytes) },
    clusters: s.clusters.map((c) => ({
      name: c.name, state: c.state, problems: c.problems,
      lastBackup: c.lastBackupId ? {
        id: c.lastBackupId, finishedAt: c.lastBackupFinishedAt, ageSeconds: c.lastBackupAgeSeconds,
        sizeBytes: Number(c.lastBackupSizeBytes), durationSeconds: c.lastBackupDurationSeconds,
      } : null,
      backupCount: c.backupCount, backupRunning: c.backupRunning, maxAgeSeconds: Number(c.maxAgeSeconds),
      schedule: c.schedule || null, nextRunAt: c.nextRunAt || null,
      wal: walJson(c),
      lastFailure: c.lastFailure ? { at: c.lastFailureAt, id: c.lastFailure.id, code: c.lastFailure.code, message: c.lastFailure.message } : null,
      failuresSinceStart: c.failures,
      drill: c.drill,
    })),
  };
}

function walText(c: ClusterStatus__Output): [string, string] {
  const w = c.wal;
  if (!w?.available) return [`archive: ${w?.reason ?? 'not configured'}`, '-'];
  const window = w.restoreFrom && w.restoreTo ? `${short(w.restoreFrom)} .. ${short(w.restoreTo)}` : 'none';
  return [`${formatBytes(Number(w.lagBytes))}, ${formatDuration(w.lagSeconds)}`, window];
}

export function registerStatus(program: Command, ctx: CommandContext): void {
  addConnectionOptions(program.command('status').description('the fleet at a glance: backups, WAL, schedules'))
    .option('--json', 'print the result as JSON')
    .action(async (opts: Record<string, unknown>) => {
      const conn = await connectController(connectionOptions(opts), ctx.io.env);
      try {
        const res = await callUnary<object, FleetStatus__Output>(conn, conn.client.getFleetStatus.bind(conn.client), {}, 'GetFleetStatus');
        if (opts['json']) {
          printJson(ctx.io, statusJson(res));
        } else {
          ctx.io.stdout(formatTable(['CLUSTER', 'STATE', 'LAST BACKUP', 'AGE', 'SIZE', 'DURATION', 'WAL LAG', 'RESTORE WINDOW', 'NEXT RUN', 'LAST DRILL'],
            res.clusters.map((c) => {
              const [lag, window] = walText(c);
              return [
                c.name, c.backupRunning ? `${c.state} (backing up)` : c.state, c.lastBackupId || 'none',
                c.lastBackupId ? formatDuration(c.lastBackupAgeSeconds) : '-', c.lastBackupId ? formatBytes(Number(c.lastBackupSizeBytes)) : '-',
                c.lastBackupId ? formatDuration(c.lastBackupDurationSeconds) : '-', lag, window, c.nextRunAt ? short(c.nextRunAt) : 'not scheduled', c.drill,
              ];
            })));
          for (const c of res.clusters) {
            for (const p of c.problems) ctx.io.stdout(`cluster "${c.name}": ${p}\n`);
          }
          ctx.io.stdout(`repository: ${formatBytes(Number(res.repositoryFreeBytes))} free of ${formatBytes(Number(res.repositorySizeBytes))}\n`);
        }
        ctx.setExitCode(0);
      } finally {
        conn.close();
      }
    });
}
