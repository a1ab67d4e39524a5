/**
 * The restore engine: one backup (a BackupSource) into a new data directory, used in-process
 * by `pgfleet-agent restore` and by the agent's Restore RPC.
 *
 * Order of work, and what it guarantees:
 *  1. Options are checked and paths canonicalized (plan.ts, prepare.ts); every explicit target (data directory,
 *     --waldir, each -T NEWDIR) must be within allowedRoots (agent), not overlap another, and
 *     be absent or empty. The recovery mode is announced (a 'plan' event) before anything is
 *     written.
 *  2. backup_manifest, when the backup has one, is parsed (verification.ts); every file is then checked against
 *     it (size and checksum) while it streams past, and the first mismatch fails the restore.
 *  3. Staging directories are made next to each target (staging.ts; leftovers of killed
 *     restores are removed first). Extraction (extract.ts): The base archive is extracted into the data directory's
 *     staging directory. While it streams, tablespace_map gives the tablespaces' original
 *     locations: the tablespace plan is made (-T mapping, or the original location when that
 *     is absent or empty) and checked then, before any tablespace data is written. The
 *     tablespace archives go to their own staging directories, WAL to pg_wal (or --waldir).
 *  4. Verification ends: files in the manifest that never came are an error; the WAL the
 *     manifest's WAL-Ranges need must be present and continuous.
 *  5. In staging (finish.ts): tablespace_map rewritten with the NEW locations and pg_tblspc/<oid> links
 *     pointing there (PostgreSQL recreates the links from the map at startup, so both must
 *     agree: SEED.md), the recovery configuration of the mode (recovery.ts), modes 0700 (0750
 *     when the backup had group access), ownership, fsync.
 *  6. Commit (commit.ts): staging directories renamed onto their targets (tablespaces, WAL, data directory
 *     last), parents fsynced. Any failure before or during this step removes everything the
 *     restore made; targets are left as they were.
 *  7. With `start` (bring-up.ts, with ../instance/): pg_ctl start as the owner, wait until it accepts connections (promote: until
 *     it has left recovery, then drop the promote settings; standby: until its WAL receiver
 *     streams from the primary, followTimeoutSeconds at most), and report what the server says.
 *     All of it within one deadline (startTimeoutSeconds); a failure here leaves the restored
 *     files (and a server that did come up) in place and says why. A cancellation here (the
 *     signal) stops the server and empties the committed targets, including what the start
 *     wrote into them: cancelled means undone, and an undo that cannot finish names what it left.
 *     Only a server this start made is stopped (its pid file is newer than the start and its
 *     process works in the data directory); the backup's own postmaster.pid/postmaster.opts
 *     (a copy of a running server) are never restored.
 * The original tablespace directories are never written to or read from: data comes from the
 * archives only, and an original location is only ever inspected (is it empty?) when no -T
 * mapping moves that tablespace.
 */

import { CancelledError, PgFleetError, fileError, isErrno } from '@pgfleet/core';
import { BringUp, type StartedInstanceReport } from './bring-up.js';
import { commitStagings, discardStagings, undoCommitted } from './commit.js';
import { RestoreContext } from './context.js';
import { ArchiveExtraction } from './extract.js';
import { finishStaging } from './finish.js';
import type { RecoveryMode, RestoreOptions } from './options.js';
import { externalTablespaces } from './plan.js';
import { makeStagings, prepareTargets } from './prepare.js';
import type { BackupSource } from './source.js';
import { recoveryOutcome, type RecoveryOutcome } from './targets.js';
import { RestoreVerification, type VerificationSummary } from './verification.js';

export type { StartedInstanceReport } from './bring-up.js';

export interface RestoredTablespace {
  oid: number;
  originalLocation: string;
  location: string;
}

export interface RestoreReport {
  dataDir: string;
  mode: RecoveryMode;
  layout: 'tar' | 'plain';
  /** Major version from PG_VERSION. */
  major: number;
  tablespaces: RestoredTablespace[];
  walDir: string | null;
  verify: VerificationSummary;
  /** Source bytes read. */
  bytes: number;
  durationMs: number;
  warnings: string[];
  /** Present when the instance was started. */
  instance: StartedInstanceReport | null;
  /** Point-in-time recovery: the target, and (once started) where recovery stopped. */
  pointInTime: RecoveryOutcome | null;
}

/** Restores `source` as `options` say; see the module comment. */
export async function restoreBackup(source: BackupSource, options: RestoreOptions): Promise<RestoreReport> {
  const ctx = new RestoreContext(source, options);
  await prepareTargets(ctx);
  const verification = await RestoreVerification.load(ctx);
  try {
    await makeStagings(ctx);
    await new ArchiveExtraction(ctx, verification).run();
    await verification.finish(ctx);
    await finishStaging(ctx);
    await commitStagings(ctx);
  } catch (err) {
    await discardStagings(ctx);
    throw translate(verification.translate(err));
  }
  const instance = options.start ? await bringUp(ctx) : null;
  // Cancelled after all, before the caller heard of it: cancelled still means undone.
  if (options.signal?.aborted) {
    await undoCommitted(ctx, null);
    throw new CancelledError('the restore was cancelled');
  }
  const pointInTime = options.pointInTime ? await recoveryOutcome(options.pointInTime, ctx.targetTimeline, instance) : null;
  return report(ctx, verification.summary(), instance, pointInTime);
}

/** Starts the copy; a cancellation undoes the restore, any other failure keeps the files (module comment). */
async function bringUp(ctx: RestoreContext): Promise<StartedInstanceReport> {
  const start = new BringUp(ctx);
  try {
    return await start.run();
  } catch (err) {
    if (!ctx.options.signal?.aborted) throw err;
    await undoCommitted(ctx, start.startedAt);
    throw new CancelledError('the restore was cancelled');
  }
}

function report(ctx: RestoreContext, verify: VerificationSummary, instance: StartedInstanceReport | null,
  pointInTime: RecoveryOutcome | null): RestoreReport {
  return {
    dataDir: ctx.dataDir,
    mode: ctx.options.mode,
    layout: ctx.source.layout,
    major: ctx.major ?? 0,
    tablespaces: externalTablespaces(ctx.tablespaces ?? []).map((t) => ({ oid: t.oid, originalLocation: t.originalLocation, location: t.location })),
    walDir: ctx.walDir,
    verify,
    bytes: ctx.bytesBefore,
    durationMs: Date.now() - ctx.started,
    warnings: ctx.warnings,
    instance,
    pointInTime,
  };
}

function translate(err: unknown): unknown {
  if (err instanceof PgFleetError) return err;
  if (isErrno(err)) return fileError('file operation failed on', (err as NodeJS.ErrnoException).path ?? '?', err);
  return err;
}
