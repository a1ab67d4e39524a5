/**
 * `pgfleet backup CLUSTER...|--all [--parallel N]`: asks the daemon to back the clusters up and
 * shows its event stream: start, progress (bytes, rate, ETA; at most every second on a
 * terminal, every 5 s otherwise, the first one interval after the start: progress-lines.ts),
 * verification, result or failure per cluster, then a summary.
 * Exit code: 0 when every cluster was backed up, else the catalogue code of the first failed
 * cluster (in the order given). --json: {backups: [...], failures: [...]} at the end.
 */
import type { Command } from 'commander';
import { InvalidOptionError } from '@pgfleet/core/errors';
import type { BackupClustersEvent__Output } from '@pgfleet/proto';
import { backupJson, type BackupJson } from './backup-json.js';
import { connectController, endedWithoutResult, loadWire, readStream } from './client.js';
import { addConnectionOptions, connectionOptions, type CommandContext } from './command-context.js';
import { formatBytes, formatDuration, printError, printJson } from './output.js';
import { ProgressLines } from './progress-lines.js';

export function registerBackup(program: Command, ctx: CommandContext): void {
  addConnectionOptions(program.command('backup').description('back up clusters now'))
    .argument('[clusters...]', 'cluster names')
    .option('--all', 'every configured cluster')
    .option('--parallel <n>', 'clusters backed up at the same time (default: the daemon\'s "parallel")')
    .option('--json', 'print the result as JSON')
    .action(async (clusters: string[], opts: Record<string, unknown>) => {
      const parallelText = opts['parallel'] as string | undefined;
      if (parallelText !== undefined && !/^[1-9][0-9]*$/.test(parallelText)) {
        throw new InvalidOptionError(`invalid value "${parallelText}" for option --parallel`, { hint: 'Give a positive integer.' });
      }
      const json = opts['json'] === true;
      const conn = await connectController(connectionOptions(opts), ctx.io.env);
      const { errorFromId } = await loadWire();
      const order = [...clusters];
      const completed: BackupJson[] = [];
      const failures: Array<{ cluster: string; error: { id: string; code: number; message: string; hint: string; raisedFrom?: string } }> = [];
      const progress = new ProgressLines(ctx.io.isTty ? 1000 : 5000);
      const say = (line: string): void => { if (!json) ctx.io.stderr(line + '\n'); };
      let finished = false;
      try {
        const stream = conn.client.backupClusters({ clusters, all: opts['all'] === true, parallel: parallelText ? Number(parallelText) : 0 });
        for await (const ev of readStream<BackupClustersEvent__Output>(conn, stream, 'BackupClusters')) {
          const who = `cluster "${ev.cluster}"`;
          switch (ev.kind) {
            case 'QUEUED':
              if (!order.includes(ev.cluster)) order.push(ev.cluster);
              break;
            case 'STARTED':
              say(`${who}: backup ${ev.backupId} started (${ev.via === 'direct' ? 'direct' : ev.via.replace(/^agent:/, 'agent ')})`);
              progress.started(ev.cluster, Date.now());
              break;
            case 'PROGRESS':
            case 'VERIFYING': {
              const p = { doneBytes: Number(ev.doneBytes), totalBytes: Number(ev.totalBytes), rateBytesPerSecond: ev.rateBytesPerSecond, etaSeconds: ev.etaSeconds };
              const line = progress.line(ev.cluster, ev.kind === 'VERIFYING' ? 'verify' : 'transfer', p, Date.now());
              if (line !== null) say(`${who}: ${line}`);
              break;
            }
            case 'COMPLETED': {
              const b = ev.backup;
              if (!b) break;
              completed.push(backupJson(b));
              const seconds = (Date.parse(b.finishedAt) - Date.parse(b.startedAt)) / 1000;
              say(`${who}: backup ${b.id} completed and verified: ${formatBytes(Number(b.sizeBytes))} in ${formatDuration(seconds)}, WAL ${b.startLsn} to ${b.endLsn} on timeline ${b.timeline}`);
              break;
            }
            case 'FAILED': {
              const e = ev.error;
              if (!e) break;
              failures.push({ cluster: ev.cluster, error: { id: e.id, code: e.code, message: e.message, hint: e.hint, ...(e.raisedFrom ? { raisedFrom: e.raisedFrom } : {}) } });
              if (!json) printError(ctx.io, errorFromId(e.id, e.code, e.message, e.hint || undefined), `${who}: backup failed: `);
              break;
            }
            case 'FINISHED':
              finished = true;
              say(`${ev.completed} of ${ev.completed + ev.failed} cluster${ev.completed + ev.failed === 1 ? '' : 's'} backed up${ev.failed > 0 ? `, ${ev.failed} failed` : ''}`);
              break;
            default:
              break;
          }
        }
      } finally {
        conn.close();
      }
      if (!finished) throw endedWithoutResult(conn, 'BackupClusters', 'its final summary: some backups may not have run');
      if (json) printJson(ctx.io, { backups: completed, failures });
      const firstFailed = order.map((c) => failures.find((f) => f.cluster === c)).find((f) => f !== undefined);
      ctx.setExitCode(firstFailed ? firstFailed.error.code : 0);
    });
}
