/**
 * `pgfleet show CLUSTER [BACKUP] [--json]`: one backup in detail (default the newest usable
 * one): begin and end WAL position and time, duration, throughput, data, stored and WAL
 * sizes, compression ratio, verification, how far the WAL archive carries it, and the backups
 * before and after it.
 */
import type { Command } from 'commander';
import type { BackupDetail__Output } from '@pgfleet/proto';
import { ProtocolError } from '@pgfleet/core/errors';
import { formatDuration } from '../daemon/age-text.js';
import { backupJson, recoverableToText, recoverableWindowNote } from './backup-json.js';
import { callUnary, connectController } from './client.js';
import { addConnectionOptions, connectionOptions, type CommandContext } from './command-context.js';
import { formatBytes, printJson } from './output.js';

export function registerShow(program: Command, ctx: CommandContext): void {
  addConnectionOptions(program.command('show').description('one backup in detail (default: the newest usable one)'))
    .argument('<cluster>', 'the cluster')
    .argument('[backup]', 'backup id, or "latest"')
    .option('--json', 'print the result as JSON')
    .action(async (cluster: string, backup: string | undefined, opts: Record<string, unknown>) => {
      const conn = await connectController(connectionOptions(opts), ctx.io.env);
      try {
        const d = await callUnary<object, BackupDetail__Output>(conn, conn.client.showBackup.bind(conn.client), { cluster, backupId: backup ?? '' }, 'ShowBackup');
        if (!d.backup) throw new ProtocolError(`controller "${conn.address}" answered ShowBackup without the backup`);
        const b = backupJson(d.backup);
        if (opts['json']) {
          printJson(ctx.io, {
            ...b, durationSeconds: d.durationSeconds, throughputBytesPerSecond: d.throughputBytesPerSecond, walBytes: Number(d.walBytes),
            compressionRatio: d.compressionRatio, startWalFile: d.startWalFile, endWalFile: d.endWalFile,
            previousId: d.previousId || null, nextId: d.nextId || null,
          });
        } else {
          const lines: Array<[string, string]> = [
            ['backup', `${b.id} of cluster "${b.cluster}" (${b.type}, ${b.via})`],
            ['status', b.status === 'damaged' ? `damaged: ${b.damage ?? ''}` : `${b.status}, verified ${b.verifiedAt || 'never'}`],
            ['begin', `${b.startedAt}  WAL ${b.startLsn} (${d.startWalFile}, timeline ${b.timeline})`],
            ['end', `${b.finishedAt}  WAL ${b.endLsn} (${d.endWalFile})`],
            ['duration', `${formatDuration(d.durationSeconds)} (${formatBytes(d.throughputBytesPerSecond)}/s)`],
            ['data', formatBytes(b.dataBytes)],
            ['stored', `${formatBytes(b.sizeBytes)} (compression ${b.compression}, ratio ${d.compressionRatio.toFixed(2)})`],
            ['wal', `${formatBytes(Number(d.walBytes))} (${b.walMethod})`],
            ['server', `PostgreSQL ${b.serverVersionNum}, system ${b.systemIdentifier}`],
            ['recoverable', b.recoverableWindow === null ? '-' : `${b.endLsn} to ${recoverableToText(b)}${b.recoverableWindow.to.time ? ` (${b.recoverableWindow.to.time})` : ''}`],
            ['tablespaces', b.tablespaces.length === 0 ? 'none' : b.tablespaces.map((t) => `${t.oid} ${t.location}`).join(', ')],
            ['previous', d.previousId || 'none'],
            ['next', d.nextId || 'none'],
            ['path', b.path],
          ];
          for (const [k, v] of lines) ctx.io.stdout(`${`${k}:`.padEnd(13)}${v}\n`);
          const note = recoverableWindowNote(b);
          if (note !== null) ctx.io.stdout(`${note}\n`);
        }
        ctx.setExitCode(0);
      } finally {
        conn.close();
      }
    });
}
