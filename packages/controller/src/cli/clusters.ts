/** `pgfleet clusters`: the configured clusters with how they are backed up and their latest backup. */
import type { Command } from 'commander';
import type { ListClustersResponse__Output } from '@pgfleet/proto';
import { callUnary, connectController } from './client.js';
import { addConnectionOptions, connectionOptions, type CommandContext } from './command-context.js';
import { formatTable, printJson } from './output.js';

export function registerClusters(program: Command, ctx: CommandContext): void {
  addConnectionOptions(program.command('clusters').description('list the clusters'))
    .option('--json', 'print the result as JSON')
    .action(async (opts: Record<string, unknown>) => {
      const conn = await connectController(connectionOptions(opts), ctx.io.env);
      try {
        const res = await callUnary<object, ListClustersResponse__Output>(conn, conn.client.listClusters.bind(conn.client), {}, 'ListClusters');
        if (opts['json']) {
          printJson(ctx.io, res.clusters.map((c) => ({
            name: c.name, agent: c.agent || null, conninfo: c.conninfo, retentionFull: c.retentionFull || null,
            retentionDays: c.retentionDays || null, schedule: c.schedule || null, compression: c.compression, backups: c.backupCount, latestBackup: c.latestBackupId || null,
            latestBackupFinishedAt: c.latestBackupFinishedAt || null, backupRunning: c.backupRunning,
          })));
        } else {
          const keep = (c: ListClustersResponse__Output['clusters'][number]): string => [c.retentionFull ? `${c.retentionFull} full` : '', c.retentionDays ? `${c.retentionDays} days` : ''].filter(Boolean).join(' + ');
          ctx.io.stdout(formatTable(['NAME', 'VIA', 'KEEP', 'SCHEDULE', 'BACKUPS', 'LATEST', 'NOW'], res.clusters.map((c) => [
            c.name, c.agent ? `agent ${c.agent}` : 'direct', keep(c), c.schedule || '-', String(c.backupCount), c.latestBackupId,
            c.backupRunning ? 'backing up' : '',
          ])));
        }
        ctx.setExitCode(0);
      } finally {
        conn.close();
      }
    });
}
