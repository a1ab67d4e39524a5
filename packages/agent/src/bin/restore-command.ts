/**
 * `pgfleet-agent restore`: restores a backup directory into a new data directory (the restore
 * engine, restore.ts), printing its plan and report. Imported by the program only when this
 * command runs.
 */

import path from 'node:path';
import { CancelledError, InvalidOptionError, parseRecoveryTarget, type RecoveryTargetFlags } from '@pgfleet/core';
import { openBackupDirectory } from '../restore/layout.js';
import type { RecoveryMode, TablespaceMapping } from '../restore/options.js';
import { restoreBackup } from '../restore/restore.js';
import { localRestoreCommand, modeForTarget, type PointInTimeOptions } from '../restore/targets.js';
import { formatReport, info, printError, printJsonError } from './cli-output.js';

export interface RestoreFlags extends RecoveryTargetFlags {
  from: string;
  pgdata: string;
  tablespaceMapping?: TablespaceMapping[];
  waldir?: string;
  mode?: RecoveryMode;
  primaryConninfo?: string;
  start?: boolean;
  port?: number;
  socketDir?: string;
  user?: string;
  owner?: string;
  pgBin?: string[];
  verify: boolean;
  sync: boolean;
  json?: boolean;
  startTimeout?: number;
  followTimeout?: number;
  walArchive?: string;
  restoreCommand?: string;
}

/** The point-in-time part of the options (targets.ts); null without a target. */
function pointInTimeOf(flags: RestoreFlags): PointInTimeOptions | null {
  const target = parseRecoveryTarget(flags);
  if (target === null) {
    if (flags.walArchive !== undefined || flags.restoreCommand !== undefined) {
      throw new InvalidOptionError(`${flags.walArchive !== undefined ? '--wal-archive' : '--restore-command'} needs a recovery target`, {
        hint: 'Add --target latest to recover everything the archive holds, or a --target-time, --target-lsn, --target-xid or --target-name.',
      });
    }
    return null;
  }
  if (flags.walArchive === undefined && flags.restoreCommand === undefined) {
    throw new InvalidOptionError('a recovery target needs a WAL archive', {
      hint: 'Name the directory pg_receivewal or pgfleet-receivewal writes to with --wal-archive DIR (or give --restore-command).',
    });
  }
  const walArchive = flags.walArchive === undefined ? null : path.resolve(flags.walArchive);
  return { target, walArchive, restoreCommand: flags.restoreCommand ?? localRestoreCommand(walArchive as string) };
}

export async function runRestore(flags: RestoreFlags): Promise<number> {
  let pointInTime: PointInTimeOptions | null;
  try {
    pointInTime = pointInTimeOf(flags);
    flags.mode = modeForTarget(flags.mode, pointInTime?.target ?? null);
  } catch (err) {
    if (flags.json) printJsonError(err);
    return printError(err);
  }
  if (!flags.mode) {
    info('error: no recovery mode given');
    process.stderr.write('HINT: Choose what the restored copy becomes with --mode standby, --mode promote or --mode none.\n');
    return 31;
  }
  const controller = new AbortController();
  const onSignal = (): void => controller.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const source = await openBackupDirectory(flags.from);
    const report = await restoreBackup(source, {
      dataDir: flags.pgdata,
      tablespaceMappings: flags.tablespaceMapping ?? [],
      walDir: flags.waldir ?? null,
      mode: flags.mode,
      primaryConninfo: flags.primaryConninfo ?? null,
      pointInTime,
      start: flags.start ?? false,
      port: flags.port ?? null,
      socketDir: flags.socketDir ?? null,
      owner: flags.owner ?? null,
      connectUser: flags.user ?? null,
      pgBin: flags.pgBin ?? [],
      verify: flags.verify,
      sync: flags.sync,
      ...(flags.startTimeout ? { startTimeoutSeconds: flags.startTimeout } : {}),
      ...(flags.followTimeout !== undefined ? { followTimeoutSeconds: flags.followTimeout } : {}),
      signal: controller.signal,
      onEvent: (event) => {
        if (event.type === 'plan') {
          info(event.statement);
          if (event.pointInTime) info(event.pointInTime);
        }
        else if (event.type === 'warning') info(`warning: ${event.message}`);
      },
    });
    if (flags.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    else process.stdout.write(formatReport(report, flags.from));
    return 0;
  } catch (caught) {
    const err = controller.signal.aborted && !(caught instanceof CancelledError) ? new CancelledError('the restore was cancelled') : caught;
    if (flags.json) printJsonError(err);
    return printError(err);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
