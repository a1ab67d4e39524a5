/**
 * `pgfleet backups [CLUSTER] [--all]`: every backup of the repository, usable or damaged; a
 * damaged one (found so by verify, a file missing or truncated, backup.json broken) is listed
 * with the reason and is never restored. `--all` adds the attempts that left no backup:
 * failed (with the error), incomplete (the daemon stopped during them) and running ones.
 * RECOVERABLE TO is how far the WAL archive carries each backup (its window starts at END LSN);
 * where a gap or a missing archive cuts it short, a line below the table says why.
 * `--json` prints an array of backups, or with --all `{ backups, attempts }`.
 */
import type { Command } from 'commander';
import type { ListBackupsResponse__Output } from '@pgfleet/proto';
import { backupJson, recoverableToText, recoverableWindowNote } from './backup-json.js';
import { callUnary, connectController } from './client.js';
import { addConnectionOptions, connectionOptions, type CommandContext } from './command-context.js';
import { formatBytes, formatTable, printJson } from './output.js';

export function registerBackups(program: Command, ctx: CommandContext): void {
  addConnectionOptions(program.command('backups').description('list the backups (damaged ones with the reason)'))
    .argument('[cluster]', 'only this cluster')
    .option('--all', 'also the failed, incomplete and running attempts')
    .option('--json', 'print the result as JSON')
    .action(async (cluster: string | undefined, opts: Record<string, unknown>) => {
      const conn = await connectController(connectionOptions(opts), ctx.io.env);
      const all = opts['all'] === true;
      try {
        const res = await callUnary<object, ListBackupsResponse__Output>(conn, conn.client.listBackups.bind(conn.client), { cluster: cluster ?? '', all }, 'ListBackups');
        const attempts = res.attempts.map((a) => ({
          cluster: a.cluster, id: a.id, status: a.status, startedAt: a.startedAt, endedAt: a.endedAt || null, trigger: a.trigger || null,
          error: a.error ? { id: a.error.id, code: a.error.code, message: a.error.message, hint: a.error.hint || null } : null,
        }));
        if (opts['json']) {
          printJson(ctx.io, all ? { backups: res.backups.map(backupJson), attempts } : res.backups.map(backupJson));
        } else {
          const listed = res.backups.map(backupJson);
          ctx.io.stdout(formatTable(['CLUSTER', 'BACKUP', 'FINISHED', 'SIZE', 'START LSN', 'END LSN', 'RECOVERABLE TO', 'TL', 'VIA', 'STATUS'], listed.map((b) => [
            b.cluster, b.id, b.finishedAt.replace(/\.\d+Z$/, 'Z'), formatBytes(b.sizeBytes), b.startLsn, b.endLsn, recoverableToText(b), String(b.timeline),
            b.via, b.status,
          ])));
          for (const b of listed) {
            if (b.status === 'damaged') ctx.io.stdout(`backup ${b.id} of cluster "${b.cluster}" is damaged: ${b.damage ?? ''}\n`);
            const note = recoverableWindowNote(b);
            if (note !== null) ctx.io.stdout(`${note}\n`);
          }
          if (all) {
            ctx.io.stdout(`\nattempts without a backup:\n${attempts.length === 0 ? 'none\n' : formatTable(['CLUSTER', 'ATTEMPT', 'STARTED', 'STATUS', 'TRIGGER', 'REASON'], attempts.map((a) => [
              a.cluster, a.id, a.startedAt.replace(/\.\d+Z$/, 'Z'), a.status, a.trigger ?? '', a.error?.message.replace(/\n/g, ' ') ?? '',
            ]))}`);
          }
        }
        ctx.setExitCode(0);
      } finally {
        conn.close();
      }
    });
}
