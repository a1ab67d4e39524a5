/**
 * One verification run of a backup, assembled once: the manifest context, the WAL check and
 * the order pg_verifybackup checks things in (data archives, tablespaces first; then entries
 * never seen; then the WAL the WAL-Ranges need). Every verifier of pgfleet goes through it,
 * so the checks, their order and their messages are the same by construction:
 *  - verifyBackup (pgfleet-verifybackup) on a stored directory,
 *  - ArrivalVerifier on a backup being received (the manifest comes last: members are
 *    observed as they arrive and checked here once it is in, observed()),
 *  - the agent's restore, which checks every member as it streams into staging (archive())
 *    and the staged WAL after.
 *
 *   archive(a, next)   a data archive's parsed members, checked as they pass on to `next`
 *   observed(a, ...)   the same checks, on members observed before the manifest was known
 *   filesDone()        after the last data archive: manifest entries never seen
 *   configureWal()     what pg_control and PG_VERSION said, for the WAL check
 *   finishWal()        after the last WAL segment: ranges not covered
 */

import type { Streamer } from '../archive/streamer.js';
import type { BackupManifest } from '../manifest/manifest.js';
import { VerifyContext, type VerifyProblem } from '../manifest/verify-context.js';
import { ManifestVerifyStreamer, type ObservedMember } from '../manifest/verify-streamer.js';
import { WalCheck } from '../wal/wal-check.js';
import { WalCheckStreamer } from '../wal/wal-check-streamer.js';

export interface BackupVerificationOptions {
  manifest: BackupManifest;
  /** Relative paths to leave out (-i). */
  ignore?: readonly string[];
  skipChecksums?: boolean;
  /** Stop at the first problem (-e): StopVerification, for the caller to catch. */
  exitOnError?: boolean;
  onProblem?: (problem: VerifyProblem) => void;
  /** Where messages say the WAL is: "pg_wal.tar", "<dir>/pg_wal", -w's path. */
  walLocation: string;
  /** Read every record of the ranges and check its CRC, as pg_waldump does (default true). */
  decodeWalRecords?: boolean;
  /**
   * WAL problems go here instead of to the context (as kind "wal"): for a caller that judges
   * them itself (a restored standby may get its WAL elsewhere).
   */
  onWalProblem?: (message: string, segment: string) => void;
}

/** An archive of the backup as the verification names it. */
export interface VerifiedArchive {
  /** "base.tar", "16384.tar.gz". */
  name: string;
  /** The tablespace OID of `<oid>.tar`; null for base.tar. */
  tablespaceOid: number | null;
}

export class BackupVerification {
  readonly context: VerifyContext;
  readonly wal: WalCheck;

  constructor(options: BackupVerificationOptions) {
    this.context = new VerifyContext({
      manifest: options.manifest,
      ignore: options.ignore ?? [],
      skipChecksums: options.skipChecksums ?? false,
      exitOnError: options.exitOnError ?? false,
      ...(options.onProblem ? { onProblem: options.onProblem } : {}),
    });
    const context = this.context;
    this.wal = new WalCheck({
      ranges: options.manifest.walRanges,
      location: options.walLocation,
      decodeRecords: options.decodeWalRecords ?? true,
      onProblem: options.onWalProblem ?? ((message, segment) => context.report('wal', message, segment ? { path: segment } : {})),
    });
  }

  get manifest(): BackupManifest {
    return this.context.manifest;
  }

  /**
   * The stage that checks one data archive's parsed members against the manifest while they
   * pass on to `next`. `walFromBase`: base.tar's pg_wal/ segment members (-X fetch) also go to
   * the WAL check, as they pass (configured first from pg_control, which comes before them).
   */
  archive(archive: VerifiedArchive, options: { next?: Streamer | null; walFromBase?: boolean } = {}): ManifestVerifyStreamer {
    let next = options.next ?? null;
    if (options.walFromBase && archive.tablespaceOid === null) {
      if (next !== null) throw new TypeError('a WAL check of base.tar is not combined with a next stage');
      next = new WalCheckStreamer({ check: this.wal, prefix: 'pg_wal/', beforeFirstSegment: () => this.configureWal() });
    }
    return new ManifestVerifyStreamer({ context: this.context, archiveName: archive.name, tablespaceOid: archive.tablespaceOid, next });
  }

  /**
   * The checks of archive(), on what was observed of its members while it arrived before the
   * manifest (each member whose trailer was seen). `failure`: why reading the archive stopped
   * (decompressor or tar error), reported after those members as verifyBackup reports it.
   */
  observed(archive: VerifiedArchive, members: Iterable<ObservedMember>, failure: string | null): void {
    const verifier = this.archive(archive);
    for (const member of members) verifier.verifyObserved(member);
    if (failure !== null) {
      this.context.report('io', `could not read archive "${archive.name}": ${failure}`, { path: archive.name, fatal: true });
    }
  }

  /** After the last data archive: every manifest entry never seen is reported missing. */
  filesDone(): void {
    this.context.reportMissing();
  }

  /** Hands what pg_control and PG_VERSION said (as the archives were read) to the WAL check. */
  configureWal(): void {
    const context = this.context;
    const major = context.pgVersion !== null && /^\d+$/.test(context.pgVersion) ? Number(context.pgVersion) : null;
    this.wal.configure({
      segmentSize: context.controlFile?.walSegmentSize ?? null,
      blockSize: context.controlFile?.walBlockSize ?? null,
      serverMajor: major,
      systemIdentifier: context.controlFile?.systemIdentifier ?? null,
    });
  }

  /** After the last WAL segment: ranges whose segments never came are reported. */
  finishWal(): void {
    this.wal.finish();
  }

  get ok(): boolean {
    return !this.context.failed;
  }
}
