/**
 * `pgfleet expire [CLUSTER] [--dry-run]`: removes backups beyond each cluster's retention, and
 * the WAL archive's segments older than the oldest kept backup's start (never a history file).
 */
import type { Command } from 'commander';
import type { ExpireBackupsResponse__Output } from '@pgfleet/proto';
import { callUnary, connectController } from './client.js';
import { addConnectionOptions, connectionOptions, type CommandContext } from './command-context.js';
import { printJson } from './output.js';

export function registerExpire(program: Command, ctx: CommandContext): void {
  addConnectionOptions(program.command('expire').description('remove backups beyond the retention (keep the newest N full backups)'))
    .argument('[cluster]', 'only this cluster')
    .option('--dry-run', 'only show what would be removed')
    .option('--json', 'print the result as JSON')
    .action(async (cluster: string | undefined, opts: Record<string, unknown>) => {
      const conn = await connectController(connectionOptions(opts), ctx.io.env);
      try {
        const dryRun = opts['dryRun'] === true;
        const res = await callUnary<object, ExpireBackupsResponse__Output>(conn, conn.client.expireBackups.bind(conn.client), { cluster: cluster ?? '', dryRun }, 'ExpireBackups');
        const list = (xs: ExpireBackupsResponse__Output['removed']) => xs.map((x) => ({ cluster: x.cluster, backupId: x.backupId, finishedAt: x.finishedAt }));
        if (opts['json']) {
          printJson(ctx.io, { dryRun, removed: list(res.removed), kept: list(res.kept), walRemoved: res.walRemoved.map((w) => ({ cluster: w.cluster, files: w.files })) });
        } else {
          for (const r of res.removed) ctx.io.stdout(`cluster "${r.cluster}": ${dryRun ? 'would remove' : 'removed'} backup ${r.backupId}\n`);
          for (const w of res.walRemoved) {
            ctx.io.stdout(`cluster "${w.cluster}": ${dryRun ? 'would remove' : 'removed'} ${w.files.length} WAL files older than the oldest kept backup\n`);
          }
          if (res.removed.length === 0 && res.walRemoved.length === 0) ctx.io.stdout('nothing to expire\n');
        }
        ctx.setExitCode(0);
      } finally {
        conn.close();
      }
    });
}
