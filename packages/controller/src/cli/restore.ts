/**
 * `pgfleet restore CLUSTER [--backup ID|latest] --agent NAME -D PGDATA [-T OLD=NEW]...
 *  --mode standby|promote|none [--start] [--port N] [--socket-dir DIR] [--owner USER] [-U ROLE]
 *  [--start-timeout S] [--no-verify] [--target-time TS | --target-lsn LSN | --target-xid XID |
 *  --target-name NAME | --target immediate|latest] [--target-exclusive]
 *  [--target-timeline latest|current|N] [--target-action promote|pause|shutdown]`: the daemon
 * (with a target: after choosing the backup and checking the WAL archive) streams the backup to the
 * agent, which restores it (relocating tablespaces, rewriting tablespace_map), optionally starts
 * it and reports what PostgreSQL itself says: recovery state, timeline, tablespace locations.
 * The agent's statement of what the copy will be is printed before anything is written.
 */
import type { Command } from 'commander';
import { InvalidOptionError, NotSupportedError } from '@pgfleet/core/errors';
import { parseRecoveryTarget, recoveryTargetWire, type RecoveryTargetFlags } from '@pgfleet/core/recovery-target';
import { parseTablespaceMapping } from '@pgfleet/core/tablespace-mapping';
import type { RestoreBackupEvent__Output } from '@pgfleet/proto';
import { speaksAtLeast } from '@pgfleet/proto/versions';
import { connectController, endedWithoutResult, readStream } from './client.js';
import { addConnectionOptions, connectionOptions, type CommandContext } from './command-context.js';
import { formatBytes, formatDuration, formatProgress, printJson } from './output.js';

const collect = (value: string, previous: string[]): string[] => [...previous, value];

/** pg_basebackup's -T OLDDIR=NEWDIR, with its texts (core's parser). */
export { parseTablespaceMapping } from '@pgfleet/core/tablespace-mapping';

export function registerRestore(program: Command, ctx: CommandContext): void {
  addConnectionOptions(program.command('restore').description('restore a backup through an agent'))
    .argument('<cluster>', 'cluster whose backup to restore')
    .option('--backup <id>', 'backup id or "latest"', 'latest')
    .requiredOption('--agent <name>', 'agent that restores (the target host)')
    .requiredOption('-D, --pgdata <dir>', 'target data directory on the agent\'s host (absent or empty)')
    .option('-T, --tablespace-mapping <OLD=NEW>', 'relocate the tablespace at OLD to NEW (repeatable)', collect, [])
    .option('--mode <mode>', 'what the copy becomes: standby, promote or none')
    .option('--start', 'start the restored instance and report on it')
    .option('--port <n>', 'port for the started instance')
    .option('--waldir <dir>', 'put pg_wal in this directory (symbolic link)')
    .option('--primary-conninfo <conninfo>', 'standby mode: connection to the primary')
    .option('--socket-dir <dir>', 'unix socket directory for the started instance (default: the agent\'s)')
    .option('--owner <osuser>', 'OS user owning the files and running the server (default: the agent\'s osUser)')
    .option('-U, --user <role>', 'role for the report connection (default: the agent\'s)')
    .option('--start-timeout <seconds>', 'how long to wait for the start, the recovery and the promotion (default 300)')
    .option('--no-verify', 'do not check files against backup_manifest')
    .option('--target-time <timestamp>', 'point in time: recover up to this time (with a time zone, e.g. "2026-12-06 14:01:00+00")')
    .option('--target-lsn <lsn>', 'point in time: recover up to this WAL location')
    .option('--target-xid <xid>', 'point in time: recover up to this transaction\'s commit')
    .option('--target-name <name>', 'point in time: recover up to this restore point')
    .option('--target <immediate|latest>', 'immediate: stop once consistent; latest: replay the whole archive')
    .option('--target-exclusive', 'stop just before the target instead of just after it')
    .option('--target-timeline <latest|current|N>', 'the timeline to recover along (default latest)')
    .option('--target-action <promote|pause|shutdown>', 'what the server does at the target (default promote)')
    .option('--json', 'print the result as JSON')
    .action(async (cluster: string, opts: Record<string, unknown>) => {
      const mappings = (opts['tablespaceMapping'] as string[]).map(parseTablespaceMapping);
      const portText = opts['port'] as string | undefined;
      if (portText !== undefined && !/^[1-9][0-9]{0,4}$/.test(portText)) throw new InvalidOptionError(`invalid port number: "${portText}"`);
      const timeoutText = opts['startTimeout'] as string | undefined;
      if (timeoutText !== undefined && !/^[1-9][0-9]{0,4}$/.test(timeoutText)) throw new InvalidOptionError(`invalid start timeout: "${timeoutText}"`);
      const target = parseRecoveryTarget(opts as RecoveryTargetFlags);
      const json = opts['json'] === true;
      const say = (line: string): void => { if (!json) ctx.io.stderr(line + '\n'); };
      const conn = await connectController(connectionOptions(opts), ctx.io.env);
      if (target && !speaksAtLeast(conn.info.protocolVersion, '1.3')) {
        conn.close();
        // An older controller would ignore the target and restore to the end of the backup.
        throw new NotSupportedError(`the controller speaks protocol ${conn.info.protocolVersion}, which has no point-in-time recovery`, {
          hint: 'Upgrade the controller to a release with protocol 1.3 or later.',
        });
      }
      let done: RestoreBackupEvent__Output | null = null;
      let plan = '';
      let pitrPlan = '';
      let last = 0;
      const every = ctx.io.isTty ? 1000 : 5000;
      try {
        const stream = conn.client.restoreBackup({
          cluster, backupId: opts['backup'] as string, agent: opts['agent'] as string, pgdata: opts['pgdata'] as string,
          tablespaceMappings: mappings, mode: (opts['mode'] as string | undefined) ?? '', start: opts['start'] === true,
          port: portText ? Number(portText) : 0, waldir: (opts['waldir'] as string | undefined) ?? '',
          primaryConninfo: (opts['primaryConninfo'] as string | undefined) ?? '',
          socketDir: (opts['socketDir'] as string | undefined) ?? '', owner: (opts['owner'] as string | undefined) ?? '',
          connectUser: (opts['user'] as string | undefined) ?? '', startTimeoutSeconds: timeoutText ? Number(timeoutText) : 0,
          noVerify: opts['verify'] === false,
          ...(target ? {
            recoveryTarget: recoveryTargetWire(target),
          } : {}),
        });
        for await (const ev of readStream<RestoreBackupEvent__Output>(conn, stream, 'RestoreBackup')) {
          if (ev.kind === 'STARTED') {
            say(`restoring backup ${ev.backupId} of cluster "${cluster}" (${formatBytes(Number(ev.totalBytes))}) on agent "${ev.agent}"`);
            if (ev.pointInTimePlan) {
              pitrPlan = ev.pointInTimePlan;
              say(ev.pointInTimePlan);
            }
          } else if (ev.kind === 'PLAN') {
            plan = ev.message;
            say(ev.message);
          } else if (ev.kind === 'PROGRESS') {
            const now = Date.now();
            if (now - last < every) continue;
            last = now;
            say(`${ev.phase}${ev.file ? ` ${ev.file}` : ''}: ${formatProgress({ doneBytes: Number(ev.doneBytes), totalBytes: Number(ev.totalBytes), rateBytesPerSecond: ev.rateBytesPerSecond, etaSeconds: ev.etaSeconds })}`);
          } else if (ev.kind === 'DONE') {
            done = ev;
          }
        }
      } finally {
        conn.close();
      }
      const r = done as RestoreBackupEvent__Output | null;
      if (r === null) throw endedWithoutResult(conn, 'RestoreBackup', 'a result: the restore may not have happened');
      const tablespaces = r.tablespaces.map((t) => ({ oid: t.oid, originalLocation: t.originalLocation, location: t.location }));
      if (json) {
        printJson(ctx.io, {
          cluster, backupId: r.backupId, agent: r.agent, plan, dataDirectory: r.dataDirectory, mode: r.mode, major: r.major,
          walDir: r.walDir || null, verified: r.verified, bytes: Number(r.bytes), durationMs: Number(r.durationMs), warnings: r.warnings,
          tablespaces,
          instance: r.started ? { inRecovery: r.inRecovery, recoveryState: r.recoveryState, timeline: r.timeline, port: r.port, serverVersion: r.serverVersion } : null,
          pointInTime: r.pointInTime ? { plan: pitrPlan, ...r.pointInTime } : null,
        });
      } else {
        ctx.io.stdout(`restored backup ${r.backupId} into "${r.dataDirectory}" on agent "${r.agent}" (mode ${r.mode}, ${formatBytes(Number(r.bytes))} in ${formatDuration(Number(r.durationMs) / 1000)})\n`);
        for (const t of tablespaces) ctx.io.stdout(`tablespace ${t.oid}: "${t.location}" (was "${t.originalLocation}")\n`);
        for (const w of r.warnings) ctx.io.stdout(`warning: ${w}\n`);
        if (r.started) {
          ctx.io.stdout(`server ${r.serverVersion} running on port ${r.port}: ${r.inRecovery ? 'in recovery (read-only)' : 'read-write'}${r.recoveryState ? ` (${r.recoveryState})` : ''}, timeline ${r.timeline}\n`);
        }
        const p = r.pointInTime;
        if (p) {
          ctx.io.stdout(`recovery target: ${p.target} (timeline ${p.targetTimeline})\n`);
          if (p.started) {
            ctx.io.stdout(`recovery stopped at ${p.stoppedLsn || '?'}, last replayed transaction ${p.lastTransactionTime || 'none'}, now on timeline ${p.timeline}\n`);
            ctx.io.stdout(`target reached: ${p.reached ? 'yes' : 'NO'}${p.serverMessage ? ` (server: ${p.serverMessage})` : ''}\n`);
          }
        }
      }
      ctx.setExitCode(0);
    });
}
