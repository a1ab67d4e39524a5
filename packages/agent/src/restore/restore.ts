/**
 * The restore engine: one backup (a BackupSource) into a new data directory, used in-process
 * by `pgfleet-agent restore` and by the agent's Restore RPC.
 *
 * Order of work, and what it guarantees:
 *  1. Options are checked and paths canonicalized; every explicit target (data directory,
 *     --waldir, each -T NEWDIR) must be within allowedRoots (agent), not overlap another, and
 *     be absent or empty. The recovery mode is announced (a 'plan' event) before anything is
 *     written.
 *  2. backup_manifest, when the backup has one, is parsed; every file is then checked against
 *     it (size and checksum) while it streams past, and the first mismatch fails the restore.
 *  3. Staging directories are made next to each target (staging.ts; leftovers of killed
 *     restores are removed first). The base archive is extracted into the data directory's
 *     staging directory. While it streams, tablespace_map gives the tablespaces' original
 *     locations: the tablespace plan is made (-T mapping, or the original location when that
 *     is absent or empty) and checked then, before any tablespace data is written. The
 *     tablespace archives go to their own staging directories, WAL to pg_wal (or --waldir).
 *  4. Verification ends: files in the manifest that never came are an error; the WAL the
 *     manifest's WAL-Ranges need must be present and continuous.
 *  5. In staging: tablespace_map rewritten with the NEW locations and pg_tblspc/<oid> links
 *     pointing there (PostgreSQL recreates the links from the map at startup, so both must
 *     agree: SEED.md), the recovery configuration of the mode (recovery.ts), modes 0700 (0750
 *     when the backup had group access), ownership, fsync.
 *  6. Commit: staging directories renamed onto their targets (tablespaces, WAL, data directory
 *     last), parents fsynced. Any failure before or during this step removes everything the
 *     restore made; targets are left as they were.
 *  7. With `start`: pg_ctl start as the owner, wait until it accepts connections (promote: until
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

import { chmod, lchown, lstat, readlink, rm, stat, symlink, unlink } from 'node:fs/promises';
import path from 'node:path';
import {
  ArchiveFormatError, CancelledError, DirectoryExtractor, DirectoryNotEmptyError, FileIoError, InternalError, InvalidOptionError,
  ManifestVerifyStreamer, NotSupportedError, PgFleetError, StopVerification, VerifyContext, VerifyError, WalCheck,
  checkConfigValue, checkWalDirectory, fileError, isErrno, parseManifest, recoveryTargetSettings, type BackupManifest, type Streamer,
  type VerifyProblem,
} from '@pgfleet/core';
import { BaseArchiveInspector, type BaseArchiveFacts, type RememberedFile } from './inspect.js';
import { RECOVERY_MODES, describeMode, type RecoveryMode, type RestoreEvent, type RestoreOptions } from './options.js';
import { resolveOwner, type OsOwner } from './owner.js';
import { installationFor, type PostgresInstallation } from './pg-install.js';
import { applyRecoveryMode, removePromoteBlock } from './recovery.js';
import { REPORT_TIMEOUT_MS, reportInstanceAs, type InstanceReport } from './report.js';
import type { ArchiveInfo, BackupSource } from './source.js';
import { StagingDirectory, isMountPoint, removeLeftoverStaging } from './staging.js';
import {
  postgresProcessesIn, processAlive, processCwd, readPostmasterPid, startInstance, stopInstance, waitForPromotion, waitForStreaming,
  type PostmasterInfo,
} from './start.js';
import { fixOwnership, fsyncAll } from './finish.js';
import { ensureDirectoryNoFollow, writeFileNoFollow } from './no-follow.js';
import { parseTablespaceMap, formatTablespaceMap, planTablespaces, type PlannedTablespace } from './tablespaces.js';
import { checkLocalArchive, describePointInTime, recoveryOutcome, type RecoveryOutcome } from './targets.js';
import { canonicalPath, checkAllowed, checkNoOverlap, checkReachable, checkTargetUsable, type NamedTarget } from './validate.js';

export interface RestoredTablespace {
  oid: number;
  originalLocation: string;
  location: string;
}

export interface StartedInstanceReport extends InstanceReport {
  dataDir: string;
  pid: number;
  port: number;
  socketDir: string;
  logFile: string;
}

export interface RestoreReport {
  dataDir: string;
  mode: RecoveryMode;
  layout: 'tar' | 'plain';
  /** Major version from PG_VERSION. */
  major: number;
  tablespaces: RestoredTablespace[];
  walDir: string | null;
  verify: { verified: boolean; filesChecked: number; checksumAlgorithm: string | null; walSegmentsChecked: number };
  /** Source bytes read. */
  bytes: number;
  durationMs: number;
  warnings: string[];
  /** Present when the instance was started. */
  instance: StartedInstanceReport | null;
  /** Point-in-time recovery: the target, and (once started) where recovery stopped. */
  pointInTime: RecoveryOutcome | null;
}

interface TablespaceTarget extends PlannedTablespace {
  /** In-place tablespace (a directory inside pg_tblspc): no link, no map entry. */
  inPlace: boolean;
  staging: StagingDirectory | null;
  seen: boolean;
}

const PROGRESS_STEP = 4 * 1024 * 1024;

/** Files of a running server that a restore never brings over (PostgreSQL's base backup excludes them too). */
const SOURCE_SERVER_FILES = ['postmaster.pid', 'postmaster.opts'] as const;

/** standby --start: how long the WAL receiver may take to stream from the primary, by default. */
const DEFAULT_FOLLOW_SECONDS = 30;

/** The longest the undo of a cancelled start waits for a starting postmaster's pid file. */
const POSTMASTER_APPEAR_MS = 10_000;

/** Restores `source` as `options` say; see the module comment. */
export async function restoreBackup(source: BackupSource, options: RestoreOptions): Promise<RestoreReport> {
  return new RestoreRun(source, options).run();
}

class RestoreRun {
  private readonly started = Date.now();
  private readonly warnings: string[] = [];
  private readonly emit: (event: RestoreEvent) => void;
  private owner!: OsOwner;
  private dataDir = '';
  private walDir: string | null = null;
  private explicitTargets: NamedTarget[] = [];
  private readonly stagings: StagingDirectory[] = [];
  private dataStaging!: StagingDirectory;
  private walStaging: StagingDirectory | null = null;
  private context: VerifyContext | null = null;
  private manifest: BackupManifest | null = null;
  private firstProblem: VerifyProblem | null = null;
  private facts: BaseArchiveFacts | null = null;
  private plan: TablespaceTarget[] | null = null;
  private major: number | null = null;
  private installation: PostgresInstallation | null = null;
  private seenBase = false;
  private bytesBefore = 0;
  private bytesInArchive = 0;
  private lastProgress = 0;
  private readonly bytesTotal: number;
  private walSegmentsChecked = 0;
  /** pg_ctl start was run (a postmaster may exist even if it did not return). */
  private startAttempted = false;
  /** Date.now() just before pg_ctl start was run: only a pid file written since is ours. */
  private startAttemptedAt = 0;

  constructor(private readonly source: BackupSource, private readonly options: RestoreOptions) {
    this.emit = options.onEvent ?? (() => undefined);
    this.bytesTotal = source.archives.reduce((n, a) => n + (a.size ?? 0), 0);
  }

  async run(): Promise<RestoreReport> {
    await this.prepare();
    try {
      await this.extract();
      await this.finishVerification();
      await this.finishStaging();
      await this.commit();
    } catch (err) {
      await this.discard();
      throw this.translate(err);
    }
    const instance = this.options.start ? await this.startAndReport() : null;
    // Cancelled after all, before the caller heard of it: cancelled still means undone.
    if (this.options.signal?.aborted) {
      await this.undoCommitted();
      throw new CancelledError('the restore was cancelled');
    }
    const plan = this.plan ?? [];
    return {
      dataDir: this.dataDir,
      mode: this.options.mode,
      layout: this.source.layout,
      major: this.major ?? 0,
      tablespaces: plan.filter((t) => !t.inPlace).map((t) => ({ oid: t.oid, originalLocation: t.originalLocation, location: t.location })),
      walDir: this.walDir,
      verify: {
        verified: this.context !== null,
        filesChecked: this.context?.matchedCount ?? 0,
        checksumAlgorithm: this.manifest?.files.find((f) => f.checksumAlgorithm !== 'NONE')?.checksumAlgorithm ?? (this.manifest ? 'NONE' : null),
        walSegmentsChecked: this.walSegmentsChecked,
      },
      bytes: this.bytesBefore,
      durationMs: Date.now() - this.started,
      warnings: this.warnings,
      instance,
      pointInTime: this.options.pointInTime ? await recoveryOutcome(this.options.pointInTime, this.targetTimeline, instance) : null,
    };
  }

  private warn(message: string): void {
    this.warnings.push(message);
    this.emit({ type: 'warning', message });
  }

  private checkCancelled(): void {
    if (this.options.signal?.aborted) throw new CancelledError('the restore was cancelled');
  }

  // ---- 1. options and targets -------------------------------------------------------------

  private async prepare(): Promise<void> {
    const o = this.options;
    if (!(RECOVERY_MODES as readonly string[]).includes(o.mode)) {
      throw new InvalidOptionError('no recovery mode given', { hint: 'Choose one with --mode standby, --mode promote or --mode none.' });
    }
    if (o.primaryConninfo && o.mode !== 'standby') {
      throw new InvalidOptionError('--primary-conninfo is only allowed with --mode standby');
    }
    if (o.primaryConninfo) checkConfigValue(o.primaryConninfo, '--primary-conninfo');
    const pitr = o.pointInTime ?? null;
    if (pitr && o.mode !== 'promote') {
      throw new InvalidOptionError(`recovery targets are not allowed with --mode ${o.mode}`, { hint: 'Restore to a point in time with --mode promote.' });
    }
    if (pitr) recoveryTargetSettings(pitr.target, pitr.restoreCommand);
    if (pitr && o.start && pitr.target.action === 'shutdown') {
      throw new InvalidOptionError('--target-action shutdown cannot be combined with --start', {
        hint: 'The server would stop itself at the target; restore without --start, or use --target-action pause.',
      });
    }
    if (!o.dataDir) throw new InvalidOptionError('no target data directory given', { hint: 'Name it with -D.' });
    for (const [what, p] of [['data directory', o.dataDir], ['WAL directory', o.walDir]] as const) {
      if (p && !path.isAbsolute(p)) throw new InvalidOptionError(`${what} "${p}" is not an absolute path`);
    }
    if (o.port !== undefined && o.port !== null && !(Number.isInteger(o.port) && o.port > 0 && o.port < 65536)) {
      throw new InvalidOptionError(`invalid port "${String(o.port)}"`);
    }
    this.owner = resolveOwner(o.owner);
    this.dataDir = await canonicalPath(o.dataDir);
    this.walDir = o.walDir ? await canonicalPath(o.walDir) : null;
    const roots = o.allowedRoots ? await Promise.all(o.allowedRoots.map(canonicalPath)) : null;
    this.explicitTargets = [{ path: this.dataDir, what: 'data directory' }];
    if (this.walDir) this.explicitTargets.push({ path: this.walDir, what: 'WAL directory' });
    const mappings = o.tablespaceMappings ?? [];
    for (const m of mappings) {
      this.explicitTargets.push({ path: await canonicalPath(m.newDir), what: `tablespace directory` });
      if (mappings.filter((x) => x.oldDir === m.oldDir).length > 1) {
        throw new InvalidOptionError(`tablespace "${m.oldDir}" is mapped more than once`);
      }
    }
    this.allowedRoots = roots;
    for (const t of this.explicitTargets) checkAllowed(t, roots);
    checkNoOverlap(this.explicitTargets);
    if (this.source.layout === 'plain' || this.source.location.startsWith('/')) {
      const from = await canonicalPath(this.source.location);
      for (const t of this.explicitTargets) {
        if (t.path === from || t.path.startsWith(`${from}/`) || from.startsWith(`${t.path}/`)) {
          throw new InvalidOptionError(`${t.what} "${t.path}" overlaps the backup "${from}"`);
        }
      }
    }

    const bytes = o.verify !== false || pitr?.walArchive ? await this.source.readManifest() : null;
    let pointInTime = pitr ? describePointInTime(pitr, null, null) : undefined;
    if (pitr?.walArchive) {
      // Before anything is written: the archive must hold every segment recovery will read.
      const checked = await checkLocalArchive(this.source, bytes === null ? null : parseManifest(bytes), { ...pitr, walArchive: pitr.walArchive });
      this.targetTimeline = checked.plan.targetTimeline;
      pointInTime = checked.statement;
    }
    const statement = describeMode(o.mode, this.dataDir, pitr?.target ?? null);
    this.emit({ type: 'plan', mode: o.mode, statement, dataDir: this.dataDir, ...(pointInTime ? { pointInTime } : {}) });

    for (const t of this.explicitTargets) await checkTargetUsable(t.path, t.what);
    if (this.owner.chown) for (const t of this.explicitTargets) await checkReachable(t, this.owner);

    if (o.verify !== false) {
      if (bytes === null) {
        this.warn('the backup has no backup_manifest: files are restored without checking them');
      } else {
        this.manifest = parseManifest(bytes);
        this.context = new VerifyContext({
          manifest: this.manifest,
          exitOnError: true,
          onProblem: (p) => {
            this.firstProblem ??= p;
          },
        });
      }
    }

    for (const t of this.explicitTargets) {
      for (const removed of await removeLeftoverStaging(t.path)) this.warn(`removed "${removed}" left behind by an interrupted restore`);
    }
    this.dataStaging = await this.makeStaging(this.dataDir);
    if (this.walDir) this.walStaging = await this.makeStaging(this.walDir);
  }

  private allowedRoots: string[] | null = null;
  /** Point-in-time recovery: the timeline the archive check resolved the target's to. */
  private targetTimeline: number | null = null;

  private async makeStaging(target: string): Promise<StagingDirectory> {
    const staging = new StagingDirectory(target, this.owner, await isMountPoint(target));
    this.stagings.push(staging);
    await staging.create();
    return staging;
  }

  // ---- 3. extraction ----------------------------------------------------------------------

  private async extract(): Promise<void> {
    if (this.walStaging) {
      // The base archive's pg_wal directory member then lands in the WAL staging directory.
      await this.symlinkOwned(this.walStaging.path, path.join(this.dataStaging.path, 'pg_wal'));
    }
    await this.source.stream(
      (info) => this.beginArchive(info),
      (info, bytes) => this.progress(info, bytes),
      this.options.signal,
    );
    this.bytesBefore += this.bytesInArchive;
    this.bytesInArchive = 0;
    if (!this.seenBase) throw new ArchiveFormatError(`the backup in "${this.source.location}" has no base archive`);
    await this.ensurePlan();
    for (const t of this.plan ?? []) {
      if (!t.seen && !t.inPlace) {
        throw new ArchiveFormatError(`the backup has no archive for tablespace ${t.oid} ("${t.originalLocation}")`, {
          hint: `Every tablespace in tablespace_map needs its ${t.oid}.tar archive.`,
        });
      }
    }
    const facts = this.facts as BaseArchiveFacts;
    if (!facts.files.has('backup_label')) {
      throw new ArchiveFormatError('the backup has no backup_label', {
        hint: 'Only base backups (pg_basebackup, pgfleet-basebackup or the low-level backup API) can be restored.',
      });
    }
  }

  private progress(info: ArchiveInfo, bytes: number): void {
    this.bytesInArchive = bytes;
    const done = this.bytesBefore + bytes;
    if (done - this.lastProgress < PROGRESS_STEP) return;
    this.lastProgress = done;
    this.emit({ type: 'progress', phase: 'extract', file: info.name, bytesDone: done, bytesTotal: this.bytesTotal });
  }

  private extractor(root: string): DirectoryExtractor {
    return new DirectoryExtractor({
      root,
      sync: this.options.sync !== false,
      owner: this.owner.chown ? { uid: this.owner.uid, gid: this.owner.gid } : null,
    });
  }

  private verifier(info: ArchiveInfo, next: Streamer): Streamer {
    if (this.context === null) return next;
    return new ManifestVerifyStreamer({ context: this.context, archiveName: info.name, tablespaceOid: info.oid, next });
  }

  private async beginArchive(info: ArchiveInfo): Promise<Streamer> {
    this.checkCancelled();
    this.bytesBefore += this.bytesInArchive;
    this.bytesInArchive = 0;
    this.emit({ type: 'progress', phase: 'extract', file: info.name, bytesDone: this.bytesBefore, bytesTotal: this.bytesTotal });
    if (info.kind === 'base') {
      if (this.seenBase) throw new ArchiveFormatError(`the backup has a second base archive "${info.name}"`);
      this.seenBase = true;
      const inspector = new BaseArchiveInspector(this.extractor(this.dataStaging.path), (name, facts) => this.onBaseFile(name, facts));
      this.facts = inspector.facts;
      return this.verifier(info, inspector);
    }
    if (!this.seenBase) throw new ArchiveFormatError(`archive "${info.name}" came before the base archive`);
    await this.ensurePlan();
    if (info.kind === 'wal') {
      const root = this.walStaging ? this.walStaging.path : path.join(this.dataStaging.path, 'pg_wal');
      return this.extractor(root);
    }
    const target = (this.plan ?? []).find((t) => t.oid === info.oid);
    if (!target) throw new InternalError(`no plan for tablespace archive "${info.name}"`);
    if (target.seen) throw new ArchiveFormatError(`the backup has a second archive for tablespace ${target.oid} ("${info.name}")`);
    target.seen = true;
    const root = target.staging ? target.staging.path : path.join(this.dataStaging.path, 'pg_tblspc', String(target.oid));
    return this.verifier(info, this.extractor(root));
  }

  private async onBaseFile(name: RememberedFile, facts: BaseArchiveFacts): Promise<void> {
    if (name === 'tablespace_map') {
      await this.ensurePlan();
    } else if (name === 'PG_VERSION') {
      const major = Number.parseInt(facts.files.get('PG_VERSION') ?? '', 10);
      if (!Number.isInteger(major) || major <= 0) throw new ArchiveFormatError('the backup\'s PG_VERSION file is not a version number');
      this.major = major;
      if (major < 12 && this.options.mode !== 'none') {
        throw new NotSupportedError(`restoring PostgreSQL ${major} backups with --mode ${this.options.mode} is not supported`, {
          hint: 'Use --mode none and write recovery.conf yourself; pgfleet-agent writes PostgreSQL 12+ recovery settings.',
        });
      }
      // Fail now rather than after the whole backup was extracted.
      if (this.options.start) this.installation = await installationFor(major, this.options.pgBin ?? []);
    }
  }

  /** Original locations (tablespace_map, else links), -T mappings applied, targets checked, staging made. */
  private async ensurePlan(): Promise<void> {
    if (this.plan !== null) return;
    const facts = this.facts as BaseArchiveFacts;
    const originals = new Map<number, string>();
    const mapText = facts.files.get('tablespace_map');
    if (mapText !== undefined) {
      for (const [oid, loc] of parseTablespaceMap(mapText)) originals.set(oid, loc);
    } else if (this.source.tablespaceLocations) {
      for (const [oid, loc] of this.source.tablespaceLocations) originals.set(oid, loc);
    } else {
      for (const [oid, target] of facts.tablespaceLinks) {
        if (path.isAbsolute(target)) originals.set(oid, target);
      }
    }
    const planned = planTablespaces(originals, this.options.tablespaceMappings ?? []);
    const plan: TablespaceTarget[] = [];
    for (const p of planned) {
      plan.push({ ...p, location: await canonicalPath(p.location), inPlace: false, staging: null, seen: false });
    }
    // Tablespace archives no location is known for: in-place tablespaces (15+: a directory in
    // pg_tblspc, spclocation "pg_tblspc/<oid>"), restored inside the data directory.
    for (const a of this.source.archives) {
      if (a.kind !== 'tablespace' || a.oid === null || originals.has(a.oid)) continue;
      plan.push({ oid: a.oid, originalLocation: `pg_tblspc/${a.oid}`, location: path.join(this.dataDir, 'pg_tblspc', String(a.oid)),
        mapped: false, inPlace: true, staging: null, seen: false });
      this.warn(`tablespace ${a.oid} has no location in the backup; it is restored in place, as "pg_tblspc/${a.oid}"`);
    }
    const external = plan.filter((t) => !t.inPlace);
    const targets: NamedTarget[] = [...this.explicitTargets.filter((t) => t.what !== 'tablespace directory')];
    for (const t of external) targets.push({ path: t.location, what: `directory of tablespace ${t.oid}` });
    for (const t of external) checkAllowed({ path: t.location, what: `directory of tablespace ${t.oid}` }, this.allowedRoots);
    checkNoOverlap(targets);
    for (const t of external) {
      if (!t.mapped) {
        try {
          await checkTargetUsable(t.location, `original location of tablespace ${t.oid}`);
        } catch (err) {
          if (!(err instanceof DirectoryNotEmptyError)) throw err;
          throw new DirectoryNotEmptyError(err.message, {
            hint: `It may belong to the instance the backup was taken from; restore the tablespace elsewhere with -T "${t.originalLocation}=NEWDIR".`,
          });
        }
      } else {
        await checkTargetUsable(t.location, `directory of tablespace ${t.oid}`);
      }
    }
    if (this.owner.chown) {
      for (const t of external) await checkReachable({ path: t.location, what: `directory of tablespace ${t.oid}` }, this.owner);
    }
    this.plan = plan;
    for (const t of external) {
      for (const removed of await removeLeftoverStaging(t.location)) this.warn(`removed "${removed}" left behind by an interrupted restore`);
      t.staging = await this.makeStaging(t.location);
    }
  }

  // ---- 4. verification end ----------------------------------------------------------------

  private async finishVerification(): Promise<void> {
    this.emit({ type: 'progress', phase: 'verify', file: '', bytesDone: this.bytesBefore, bytesTotal: this.bytesTotal });
    if (this.context === null || this.manifest === null) return;
    this.context.reportMissing();
    if (this.manifest.walRanges.length === 0) return;
    const control = this.context.controlFile;
    const walDir = this.walStaging ? this.walStaging.path : path.join(this.dataStaging.path, 'pg_wal');
    const problems: string[] = [];
    const check = new WalCheck({
      ranges: this.manifest.walRanges,
      segmentSize: control?.walSegmentSize ?? null,
      blockSize: control?.walBlockSize ?? null,
      serverMajor: this.major,
      systemIdentifier: control?.systemIdentifier ?? null,
      location: 'pg_wal',
      onProblem: (message) => problems.push(message),
      // Every record's CRC, as pg_waldump checks it: a damaged record would otherwise surface
      // only when the started server stops recovery short of consistency.
      decodeRecords: true,
    });
    // A base archive without pg_wal (it is always in PostgreSQL's) must still read as "missing".
    await ensureDirectoryNoFollow(walDir, 0o700);
    await checkWalDirectory(check, walDir, { followLinks: false });
    check.finish();
    this.walSegmentsChecked = check.checkedSegments.length;
    if (problems.length === 0) return;
    // Only a promoted copy must become consistent from the backup's own WAL; a standby (or
    // files only) may still get it from a primary or an archive.
    if (this.options.mode !== 'promote') {
      this.warn(`the backup's WAL is incomplete (${problems[0] as string}); the copy needs it from its primary or a WAL archive`);
      return;
    }
    throw new VerifyError(`the backup's WAL is not usable: ${problems[0] as string}`, {
      hint: 'A promoted copy needs the WAL of the backup to become consistent; take the backup with -X stream or -X fetch.',
    });
  }

  // ---- 5. staging ---------------------------------------------------------------------------

  private async finishStaging(): Promise<void> {
    this.checkCancelled();
    this.emit({ type: 'progress', phase: 'finish', file: '', bytesDone: this.bytesBefore, bytesTotal: this.bytesTotal });
    const facts = this.facts as BaseArchiveFacts;
    const data = this.dataStaging.path;
    const groupAccess = this.source.dataDirectoryMode !== null
      ? this.source.dataDirectoryMode === 0o750
      : facts.globalDirMode !== null && (facts.globalDirMode & 0o070) !== 0;
    const dirMode = groupAccess ? 0o750 : 0o700;
    const fileMode = groupAccess ? 0o640 : 0o600;
    const toSync: string[] = [data];
    const external = (this.plan ?? []).filter((t) => !t.inPlace);

    // A backup copied from a running cluster (not by a base backup, which leaves them out)
    // has the source server's: its pid file would make the undo of a cancelled start, or
    // pg_ctl, take that server's pid for the copy's.
    for (const name of SOURCE_SERVER_FILES) {
      const file = path.join(data, name);
      if (!(await lstat(file).catch(() => null))) continue;
      try {
        await rm(file, { force: true });
      } catch (err) {
        throw fileError('could not remove file', file, err);
      }
      this.warn(`the backup contains "${name}" (of the server it was copied from); it was not restored`);
    }

    if (facts.files.has('tablespace_map')) {
      const file = path.join(data, 'tablespace_map');
      await rm(file, { force: true });
      await writeFileNoFollow(file, formatTablespaceMap(external.map((t) => [t.oid, t.location] as const)), { mode: fileMode, exclusive: true });
      toSync.push(file);
    }
    const tblspc = path.join(data, 'pg_tblspc');
    await this.mkdirOwned(tblspc, dirMode);
    for (const t of external) {
      const link = path.join(tblspc, String(t.oid));
      const existing = await lstat(link).catch(() => null);
      if (existing) {
        throw new ArchiveFormatError(`the base archive has a "pg_tblspc/${t.oid}" entry that is not a symbolic link`, {
          hint: 'A tablespace is either a link in pg_tblspc or a directory in it, not both.',
        });
      }
      await this.symlinkOwned(t.location, link);
    }
    toSync.push(tblspc);
    if (this.walStaging && this.walDir) {
      const link = path.join(data, 'pg_wal');
      const st = await lstat(link);
      if (st.isSymbolicLink() && (await readlink(link)) === this.walStaging.path) await unlink(link);
      await this.symlinkOwned(this.walDir, link);
    }
    const walRoot = this.walStaging ? this.walStaging.path : path.join(data, 'pg_wal');
    await this.mkdirOwned(walRoot, dirMode);
    await this.mkdirOwned(path.join(walRoot, 'archive_status'), dirMode);
    toSync.push(walRoot);

    const pitr = this.options.pointInTime;
    const recovery = await applyRecoveryMode(data, this.options.mode, {
      primaryConninfo: this.options.primaryConninfo ?? null, fileMode,
      targetSettings: pitr ? recoveryTargetSettings(pitr.target, pitr.restoreCommand) : null,
    });
    for (const f of recovery.written) toSync.push(path.join(data, f));

    for (const s of this.stagings) s.mode = dirMode;
    const roots = [this.dataStaging, ...(this.walStaging ? [this.walStaging] : []), ...external.map((t) => t.staging as StagingDirectory)];
    for (const s of roots) {
      await this.chmod(s.path, dirMode);
      toSync.push(s.path, ...(await fixOwnership(s.path, this.owner)));
    }
    if (this.options.sync !== false) await fsyncAll(toSync);
  }

  private async chmod(p: string, mode: number): Promise<void> {
    try {
      await chmod(p, mode);
    } catch (err) {
      throw fileError('could not set permissions of directory', p, err);
    }
  }

  /** A directory in staging, made or reused, never through a link (ownership is fixed for the whole tree afterwards). */
  private async mkdirOwned(dir: string, mode: number): Promise<void> {
    await ensureDirectoryNoFollow(dir, mode);
  }

  private async symlinkOwned(target: string, link: string): Promise<void> {
    try {
      await symlink(target, link);
    } catch (err) {
      throw fileError(`could not create symbolic link "${link}" to`, target, err);
    }
    if (this.owner.chown) {
      try {
        await lchown(link, this.owner.uid, this.owner.gid);
      } catch (err) {
        throw fileError('could not change owner of', link, err);
      }
    }
  }

  // ---- 6. commit ----------------------------------------------------------------------------

  private async commit(): Promise<void> {
    this.checkCancelled();
    // The data directory last: until it appears, nothing looks like a restored instance.
    const order = [...this.stagings.filter((s) => s !== this.dataStaging), this.dataStaging];
    const touched: StagingDirectory[] = [];
    try {
      for (const s of order) {
        // Touched before its commit: a mount-point target may be partly moved when it fails.
        touched.push(s);
        await s.commit();
      }
    } catch (err) {
      const failed = await this.undoAll(touched.reverse());
      if (failed) {
        throw new FileIoError(`the restore into "${this.dataDir}" could not be committed, and undoing the commit failed: ${failed.message}`, {
          cause: err,
          hint: `The commit failed with: ${err instanceof Error ? err.message : String(err)}. ${failed.hint}`,
        });
      }
      throw err;
    }
    if (this.options.sync !== false) {
      await fsyncAll(order.map((s) => path.dirname(s.target)));
    }
  }

  private async discard(): Promise<void> {
    for (const s of [...this.stagings].reverse()) await s.discard();
  }

  private translate(err: unknown): unknown {
    if (err instanceof StopVerification) {
      const p = this.firstProblem;
      return new VerifyError(p ? p.message : 'the backup does not match its manifest', {
        hint: p?.hint ?? 'The backup is damaged or incomplete; nothing was restored.',
      });
    }
    if (err instanceof PgFleetError) return err;
    if (isErrno(err)) return fileError('file operation failed on', (err as NodeJS.ErrnoException).path ?? '?', err);
    return err;
  }

  // ---- 7. start -----------------------------------------------------------------------------

  private async startAndReport(): Promise<StartedInstanceReport> {
    const o = this.options;
    const signal = o.signal;
    try {
      this.checkCancelled();
      const installation = this.installation ?? (await installationFor(this.major ?? 0, o.pgBin ?? []));
      this.installation = installation;
      const timeout = o.startTimeoutSeconds ?? 300;
      const deadline = Date.now() + timeout * 1000;
      this.emit({ type: 'progress', phase: 'start', file: '', bytesDone: this.bytesBefore, bytesTotal: this.bytesTotal });
      this.startAttempted = true;
      this.startAttemptedAt = Date.now();
      const started = await startInstance({
        dataDir: this.dataDir, binDir: installation.binDir, owner: this.owner,
        port: o.port ?? null, socketDir: o.socketDir ?? null, timeoutSeconds: timeout, ...(signal ? { signal } : {}),
      });
      const target = {
        socketDir: started.socketDir, port: started.port,
        user: o.connectUser || process.env['PGUSER'] || this.owner.name,
      };
      let report: InstanceReport;
      if (o.mode === 'promote') {
        const paused = o.pointInTime?.target.action === 'pause' && o.pointInTime.target.kind !== 'latest';
        report = await waitForPromotion({
          dataDir: this.dataDir, owner: this.owner, target, deadline, timeoutSeconds: timeout, logFile: started.logFile, paused,
          ...(signal ? { signal } : {}),
        });
        if (!paused) await removePromoteBlock(this.dataDir);
      } else if (o.mode === 'standby' && (o.followTimeoutSeconds ?? DEFAULT_FOLLOW_SECONDS) > 0) {
        // A standby that does not follow its primary is not what was asked for, whatever its state.
        report = await waitForStreaming({
          dataDir: this.dataDir, owner: this.owner, target, logFile: started.logFile,
          deadline: Math.min(deadline, Date.now() + (o.followTimeoutSeconds ?? DEFAULT_FOLLOW_SECONDS) * 1000), ...(signal ? { signal } : {}),
        });
        if (report.walReceiver?.status === null) {
          this.warn(`role "${target.user}" may not see the WAL receiver's status (pg_read_all_stats): whether the standby streams from its primary was not checked`);
        }
      } else {
        report = await reportInstanceAs(this.owner, target, {
          dataDir: this.dataDir, timeoutMs: Math.max(1000, Math.min(deadline - Date.now(), REPORT_TIMEOUT_MS)), ...(signal ? { signal } : {}),
        });
      }
      const pid = (await readPostmasterPid(this.dataDir))?.pid ?? 0;
      return { ...report, dataDir: this.dataDir, pid, port: started.port, socketDir: started.socketDir, logFile: started.logFile };
    } catch (err) {
      // A cancellation undoes the restore; any other failure keeps the files (module comment).
      if (!signal?.aborted) throw err;
      await this.undoCommitted();
      throw new CancelledError('the restore was cancelled');
    }
  }

  /**
   * Undoes a committed restore that was cancelled (its start, or just after the commit): stops
   * the server this restore started (pg_ctl stop -m immediate: the copy is thrown away), then
   * empties every target (staging.ts undo()). A server that cannot be confirmed stopped keeps its
   * files, and an undo that fails names what it left; both are CancelledErrors with a hint.
   */
  private async undoCommitted(): Promise<void> {
    if (this.startAttempted) await this.stopStartedServer();
    const failed = await this.undoAll([...this.stagings].reverse());
    if (failed) {
      throw new CancelledError(`the restore into "${this.dataDir}" was cancelled, and undoing it failed: ${failed.message}`, {
        cause: failed.cause, hint: failed.hint,
      });
    }
  }

  /**
   * Stops the postmaster the cancelled pg_ctl start made, if any. pg_ctl may have been killed
   * before the postmaster wrote its pid file: while a postgres process runs in the data
   * directory, its pid file is waited for (bounded). Only a pid file written after the start
   * was attempted, by a process working in this data directory, is acted on.
   */
  private async stopStartedServer(): Promise<void> {
    const installation = this.installation;
    const waitMs = Math.min((this.options.startTimeoutSeconds ?? 300) * 1000, POSTMASTER_APPEAR_MS);
    const until = Date.now() + waitMs;
    let pm = await this.startedPostmaster();
    while (pm === null && Date.now() < until) {
      const running = await postgresProcessesIn(this.dataDir);
      if (running !== null && running.length === 0) break;
      await new Promise((r) => setTimeout(r, 100));
      pm = await this.startedPostmaster();
    }
    const kept = (pids: number[], cause?: unknown): CancelledError => new CancelledError(
      `the restore into "${this.dataDir}" was cancelled after its instance had started, and the instance could not be stopped; the restored files were kept`, {
        ...(cause === undefined ? {} : { cause }),
        hint: `Stop it (${pids.length === 1 ? 'process' : 'processes'} ${pids.join(', ')}) with "pg_ctl stop -D ${this.dataDir}" and remove the restored directories by hand.`,
      });
    if (pm === null) {
      const stray = await postgresProcessesIn(this.dataDir);
      if (stray !== null && stray.length > 0) throw kept(stray);
      return;
    }
    if (installation === null) throw new InternalError(`an instance runs in "${this.dataDir}" but no installation was chosen`);
    try {
      await stopInstance({ dataDir: this.dataDir, binDir: installation.binDir, owner: this.owner, mode: 'immediate', timeoutSeconds: 20 });
    } catch (err) {
      // pg_ctl may fail only because the server went away meanwhile.
      if (processAlive(pm.pid)) throw kept([pm.pid], err);
    }
  }

  /** The live postmaster whose pid file this restore's start wrote; null when there is none. */
  private async startedPostmaster(): Promise<PostmasterInfo | null> {
    const file = path.join(this.dataDir, 'postmaster.pid');
    const pm = await readPostmasterPid(this.dataDir).catch(() => null);
    if (pm === null || !pm.alive) return null;
    const st = await stat(file).catch(() => null);
    // One second of slack for file systems with coarse timestamps.
    if (st === null || st.mtimeMs < this.startAttemptedAt - 1000) return null;
    const cwd = await processCwd(pm.pid);
    if (cwd !== null && cwd !== this.dataDir) return null;
    return pm;
  }

  /**
   * Undoes each staging directory (committed or not); returns what failed, with a hint naming
   * every path left behind, or null when everything is gone.
   */
  private async undoAll(stagings: StagingDirectory[]): Promise<{ message: string; cause: unknown; hint: string } | null> {
    const left: string[] = [];
    let first: unknown = null;
    for (const s of stagings) {
      try {
        await s.undo();
      } catch (err) {
        first ??= err;
        left.push(s.leftBehind());
      }
    }
    if (left.length === 0) return null;
    return {
      message: first instanceof Error ? first.message : String(first),
      cause: first,
      hint: `Left behind: ${left.map((p) => `"${p}"`).join(', ')}; remove ${left.length === 1 ? 'it' : 'them'} by hand (a mount point itself stays) before restoring there again.`,
    };
  }
}
