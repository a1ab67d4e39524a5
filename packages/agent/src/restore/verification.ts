/**
 * The restore's check of the backup against its backup_manifest, one run of core's
 * BackupVerification (the checks, order and messages of pgfleet-verifybackup): each file's
 * size and checksum while it streams into staging (the first mismatch ends the restore), then,
 * once everything is extracted, the files that never came and the WAL the manifest's
 * WAL-Ranges need (present, continuous, every record's CRC) in the staged pg_wal. Without a
 * manifest (or with verify off) nothing is checked, with a warning.
 */

import {
  BackupVerification, StopVerification, VerifyError, checkWalDirectory, parseManifest, type Streamer, type VerifyProblem,
} from '@pgfleet/core';
import type { RestoreContext } from './context.js';
import { ensureDirectoryNoFollow } from './no-follow.js';
import type { ArchiveInfo } from './source.js';

export interface VerificationSummary {
  verified: boolean;
  filesChecked: number;
  checksumAlgorithm: string | null;
  walSegmentsChecked: number;
}

export class RestoreVerification {
  private firstProblem: VerifyProblem | null = null;
  private readonly walProblems: string[] = [];
  private readonly verification: BackupVerification | null;

  private constructor(manifest: Buffer | null) {
    this.verification = manifest === null ? null : new BackupVerification({
      manifest: parseManifest(manifest),
      exitOnError: true,
      onProblem: (p) => {
        this.firstProblem ??= p;
      },
      // Named as the restore names it: the staged copy's pg_wal.
      walLocation: 'pg_wal',
      onWalProblem: (message) => this.walProblems.push(message),
    });
  }

  /** Reads the backup's manifest (unless verify is off); a backup without one is restored unchecked, with a warning. */
  static async load(ctx: RestoreContext): Promise<RestoreVerification> {
    if (ctx.options.verify === false) return new RestoreVerification(null);
    const bytes = ctx.manifestBytes !== undefined ? ctx.manifestBytes : await ctx.source.readManifest();
    if (bytes === null) {
      ctx.warn('the backup has no backup_manifest: files are restored without checking them');
      return new RestoreVerification(null);
    }
    return new RestoreVerification(bytes);
  }

  /** The archive's members pass the manifest check on their way to `next`. */
  wrap(info: ArchiveInfo, next: Streamer): Streamer {
    if (this.verification === null) return next;
    return this.verification.archive({ name: info.name, tablespaceOid: info.oid }, { next });
  }

  /**
   * After extraction: files in the manifest that never came are an error; the WAL in the
   * staged pg_wal must cover the WAL-Ranges. Incomplete WAL fails only a promoted copy (it
   * must become consistent from the backup's own WAL); a standby, or files only, may still get
   * it from a primary or an archive, with a warning.
   */
  async finish(ctx: RestoreContext): Promise<void> {
    ctx.phase('verify');
    const verification = this.verification;
    if (verification === null) return;
    verification.filesDone();
    if (verification.manifest.walRanges.length === 0) return;
    verification.configureWal();
    const walDir = ctx.walRoot();
    // A base archive without pg_wal (it is always in PostgreSQL's) must still read as "missing".
    await ensureDirectoryNoFollow(walDir, 0o700);
    await checkWalDirectory(verification.wal, walDir, { followLinks: false });
    verification.finishWal();
    const problems = this.walProblems;
    if (problems.length === 0) return;
    if (ctx.options.mode !== 'promote') {
      ctx.warn(`the backup's WAL is incomplete (${problems[0] as string}); the copy needs it from its primary or a WAL archive`);
      return;
    }
    throw new VerifyError(`the backup's WAL is not usable: ${problems[0] as string}`, {
      hint: 'A promoted copy needs the WAL of the backup to become consistent; take the backup with -X stream or -X fetch.',
    });
  }

  /** The first problem of a run that ended with StopVerification, as the restore's error. */
  translate(err: unknown): unknown {
    if (!(err instanceof StopVerification)) return err;
    const p = this.firstProblem;
    return new VerifyError(p ? p.message : 'the backup does not match its manifest', {
      hint: p?.hint ?? 'The backup is damaged or incomplete; nothing was restored.',
    });
  }

  summary(): VerificationSummary {
    const v = this.verification;
    return {
      verified: v !== null,
      filesChecked: v?.context.matchedCount ?? 0,
      checksumAlgorithm: v === null ? null : v.manifest.files.find((f) => f.checksumAlgorithm !== 'NONE')?.checksumAlgorithm ?? 'NONE',
      walSegmentsChecked: v?.wal.checkedSegments.length ?? 0,
    };
  }
}
