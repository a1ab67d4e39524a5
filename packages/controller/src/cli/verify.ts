/**
 * `pgfleet verify CLUSTER [ID]`: re-verifies a stored backup (default: the latest) against its
 * backup_manifest, files and WAL. Exit code 0 when it matches, 81 (VerifyError) when not.
 */
import type { Command } from 'commander';
import { VerifyError } from '@pgfleet/core/errors';
import type { VerifyBackupEvent__Output } from '@pgfleet/proto';
import { connectController, endedWithoutResult, readStream } from './client.js';
import { addConnectionOptions, connectionOptions, type CommandContext } from './command-context.js';
import { formatProgress, printError, printJson } from './output.js';

export function registerVerify(program: Command, ctx: CommandContext): void {
  addConnectionOptions(program.command('verify').description('verify a stored backup against its manifest'))
    .argument('<cluster>', 'cluster name')
    .argument('[id]', 'backup id or "latest"', 'latest')
    .option('--json', 'print the result as JSON')
    .action(async (cluster: string, id: string, opts: Record<string, unknown>) => {
      const json = opts['json'] === true;
      const conn = await connectController(connectionOptions(opts), ctx.io.env);
      const problems: string[] = [];
      let done: VerifyBackupEvent__Output | null = null;
      let last = 0;
      try {
        const stream = conn.client.verifyBackup({ cluster, backupId: id });
        for await (const ev of readStream<VerifyBackupEvent__Output>(conn, stream, 'VerifyBackup')) {
          if (ev.kind === 'PROBLEM') {
            problems.push(ev.message);
            if (!json) ctx.io.stderr(`pgfleet: error: ${ev.message}\n`);
          } else if (ev.kind === 'PROGRESS' && !json && Date.now() - last >= 1000) {
            last = Date.now();
            ctx.io.stderr(`verifying ${ev.backupId}: ${formatProgress({ doneBytes: Number(ev.doneBytes), totalBytes: Number(ev.totalBytes), rateBytesPerSecond: 0, etaSeconds: -1 })}\n`);
          } else if (ev.kind === 'DONE') {
            done = ev;
          }
        }
      } finally {
        conn.close();
      }
      const result = done as VerifyBackupEvent__Output | null;
      if (result === null) throw endedWithoutResult(conn, 'VerifyBackup', 'a result');
      if (json) {
        printJson(ctx.io, { cluster, backupId: result.backupId, ok: result.ok, filesMatched: result.filesMatched, walSegments: result.walSegments, problems });
      } else if (result.ok) {
        ctx.io.stdout(`backup ${result.backupId} of cluster "${cluster}" successfully verified (${result.filesMatched} files, ${result.walSegments.length} WAL segments)\n`);
      } else {
        printError(ctx.io, new VerifyError(`backup ${result.backupId} of cluster "${cluster}" does not match its manifest (${problems.length} problems)`));
      }
      ctx.setExitCode(result.ok ? 0 : new VerifyError('').code);
    });
}
