/**
 * `pgfleet backups [CLUSTER]`: every backup of the repository, usable or damaged; a damaged
 * one (found so by verify, a file missing or truncated, backup.json broken) is listed with the
 * reason and is never restored.
 */
import type { Command } from 'commander';
import type { ListBackupsResponse__Output } from '../gen/controller/pgfleet/v1/ListBackupsResponse.js';
import { backupJson } from './backup-json.js';
import { callUnary, connectController } from './client.js';
import { addConnectionOptions, connectionOptions, type CommandContext } from './command-context.js';
import { formatBytes, formatTable, printJson } from './output.js';

export function registerBackups(program: Command, ctx: CommandContext): void {
  addConnectionOptions(program.command('backups').description('list the backups (damaged ones with the reason)'))
    .argument('[cluster]', 'only this cluster')
    .option('--json', 'print the result as JSON')
    .action(async (cluster: string | undefined, opts: Record<string, unknown>) => {
      const conn = await connectController(connectionOptions(opts), ctx.io.env);
      try {
        const res = await callUnary<object, ListBackupsResponse__Output>(conn, conn.client.listBackups.bind(conn.client), { cluster: cluster ?? '' }, 'ListBackups');
        if (opts['json']) {
          printJson(ctx.io, res.backups.map(backupJson));
        } else {
          ctx.io.stdout(formatTable(['CLUSTER', 'BACKUP', 'FINISHED', 'SIZE', 'START LSN', 'END LSN', 'TL', 'VIA', 'STATUS'], res.backups.map((b) => [
            b.cluster, b.id, b.finishedAt.replace(/\.\d+Z$/, 'Z'), formatBytes(Number(b.sizeBytes)), b.startLsn, b.endLsn, String(b.timeline), b.via,
            b.status,
          ])));
          for (const b of res.backups) {
            if (b.status === 'damaged') ctx.io.stdout(`backup ${b.id} of cluster "${b.cluster}" is damaged: ${b.damage}\n`);
          }
        }
        ctx.setExitCode(0);
      } finally {
        conn.close();
      }
    });
}
