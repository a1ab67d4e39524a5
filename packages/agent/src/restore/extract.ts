/**
 * Extraction: every archive of the source into its staging directory, through the manifest
 * check. The base archive goes to the data directory's staging directory, past an inspector
 * that learns what the rest of the restore needs (tablespace_map, backup_label, PG_VERSION,
 * the tablespace links); as soon as the tablespaces' original locations are known they are
 * planned (prepare.ts prepareTablespaces), before any tablespace data is written. Tablespace
 * archives go to their own staging directories (in-place ones into the data directory's), WAL
 * to pg_wal (or --waldir). The source begins the base archive first and may begin others while
 * it streams: an external tablespace's archive is let in once the tablespaces are planned (its
 * own staging directory exists then), an in-place tablespace's or the WAL archive once the base
 * archive is complete (they land in directories it creates). A source that reads archive files
 * extracts the base and tablespace archives at once that way (tar-directory-source.ts): while
 * one waits for the disk, the other decompresses.
 *
 * Each archive's files are fsynced once it is extracted, while the next archive streams: the
 * disk writes one archive back while the next is written. run() resolves only once every fsync
 * has, and rejects only once none is still running. Waiting for each archive's fsyncs before
 * reading on stalled the whole chain, the controller's stream included, for a fifth of a
 * restore. Big files are also started on their way to disk while they are written (the
 * extractor's writeback): with the kernel's default thresholds nothing else would write a
 * restore's first gigabytes out before those fsyncs.
 */

import path from 'node:path';
import { ArchiveFormatError, CancelledError, DirectoryExtractor, InternalError, NotSupportedError, type Streamer } from '@pgfleet/core';
import { installationFor } from '../instance/pg-install.js';
import type { RestoreContext } from './context.js';
import { BaseArchiveInspector, type BaseArchiveFacts, type RememberedFile } from './inspect.js';
import { prepareTablespaces } from './prepare.js';
import type { ArchiveInfo } from './source.js';
import { symlinkOwned } from './staging-files.js';
import type { RestoreVerification } from './verification.js';

const PROGRESS_STEP = 4 * 1024 * 1024;

/** A promise with its settlers; a rejection nobody awaits is not reported as unhandled. */
function milestone(): { promise: Promise<void>; resolve: () => void; reject: (err: unknown) => void } {
  let resolve!: () => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => {});
  return { promise, resolve, reject };
}

export class ArchiveExtraction {
  private seenBase = false;
  private readonly seenTablespaces = new Set<number>();
  /** Source bytes consumed so far, per archive being or having been extracted. */
  private readonly bytesIn = new Map<string, number>();
  private lastProgress = 0;
  private readonly syncs: Promise<void>[] = [];
  /** The tablespaces are planned (prepareTablespaces): external tablespace archives may start. */
  private readonly planned = milestone();
  /** The base archive is extracted: the WAL and in-place tablespace archives may start. */
  private readonly baseDone = milestone();

  constructor(private readonly ctx: RestoreContext, private readonly verification: RestoreVerification) {}

  async run(): Promise<void> {
    const ctx = this.ctx;
    if (ctx.walStaging) {
      // The base archive's pg_wal directory member then lands in the WAL staging directory.
      await symlinkOwned(ctx.owner, ctx.walStaging.path, path.join(ctx.dataStaging.path, 'pg_wal'));
    }
    try {
      await ctx.source.stream(
        (info) => this.beginArchive(info),
        (info, bytes) => this.progress(info, bytes),
        ctx.options.signal,
      );
    } catch (err) {
      // The caller removes the stagings next: no fsync of ours may still be running then.
      await Promise.allSettled(this.syncs);
      throw err;
    }
    ctx.bytesBefore += this.bytesRead();
    this.bytesIn.clear();
    await this.synced();
    if (!this.seenBase) throw new ArchiveFormatError(`the backup in "${ctx.source.location}" has no base archive`);
    for (const t of ctx.tablespacePlan()) {
      if (t.kind === 'external' && !this.seenTablespaces.has(t.oid)) {
        throw new ArchiveFormatError(`the backup has no archive for tablespace ${t.oid} ("${t.originalLocation}")`, {
          hint: `Every tablespace in tablespace_map needs its ${t.oid}.tar archive.`,
        });
      }
    }
    if (!ctx.baseFacts().files.has('backup_label')) {
      throw new ArchiveFormatError('the backup has no backup_label', {
        hint: 'Only base backups (pg_basebackup, pgfleet-basebackup or the low-level backup API) can be restored.',
      });
    }
  }

  private bytesRead(): number {
    let n = 0;
    for (const bytes of this.bytesIn.values()) n += bytes;
    return n;
  }

  private progress(info: ArchiveInfo, bytes: number): void {
    this.bytesIn.set(info.name, bytes);
    const done = this.ctx.bytesBefore + this.bytesRead();
    if (done - this.lastProgress < PROGRESS_STEP) return;
    this.lastProgress = done;
    this.ctx.emit({ type: 'progress', phase: 'extract', file: info.name, bytesDone: done, bytesTotal: this.ctx.bytesTotal });
  }

  private extractor(root: string): Streamer {
    const { options, owner } = this.ctx;
    const sync = options.sync !== false;
    // Its files are fsynced at the end: the disk may as well start on them now, and big ones
    // need not pass through the page cache at all (direct I/O, see DirectoryExtractor).
    const extractor = new DirectoryExtractor({ root, owner: owner.chown ? { uid: owner.uid, gid: owner.gid } : null, writeback: sync, directIo: sync });
    if (!sync) return extractor;
    return {
      content: (member, data, kind) => extractor.content(member, data, kind),
      finalize: async () => {
        await extractor.finalize();
        const synced = extractor.syncCreated();
        // Awaited at the end of run(); a failure must not count as unhandled until then.
        synced.catch(() => {});
        this.syncs.push(synced);
      },
      dispose: () => extractor.dispose(),
    };
  }

  /** Waits for every extracted archive's fsyncs; throws the first failure. */
  private async synced(): Promise<void> {
    const results = await Promise.allSettled(this.syncs);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }

  private async beginArchive(info: ArchiveInfo): Promise<Streamer> {
    const ctx = this.ctx;
    ctx.checkCancelled();
    this.bytesIn.set(info.name, 0);
    ctx.emit({ type: 'progress', phase: 'extract', file: info.name, bytesDone: ctx.bytesBefore + this.bytesRead(), bytesTotal: ctx.bytesTotal });
    if (info.kind === 'base') return this.beginBase(info);
    if (!this.seenBase) throw new ArchiveFormatError(`archive "${info.name}" came before the base archive`);
    if (info.kind === 'wal') {
      await this.baseDone.promise;
      return this.extractor(ctx.walRoot());
    }
    await this.planned.promise;
    const target = ctx.tablespacePlan().find((t) => t.oid === info.oid);
    if (!target) throw new InternalError(`no plan for tablespace archive "${info.name}"`);
    if (this.seenTablespaces.has(target.oid)) {
      throw new ArchiveFormatError(`the backup has a second archive for tablespace ${target.oid} ("${info.name}")`);
    }
    this.seenTablespaces.add(target.oid);
    const staging = ctx.tablespaceStagings.get(target.oid);
    if (target.kind === 'external' && staging) return this.verification.wrap(info, this.extractor(staging.path));
    await this.baseDone.promise;
    return this.verification.wrap(info, this.extractor(path.join(ctx.dataStaging.path, 'pg_tblspc', String(target.oid))));
  }

  /** The base archive's chain; its milestones fail when it ends without being finalized. */
  private beginBase(info: ArchiveInfo): Streamer {
    const ctx = this.ctx;
    if (this.seenBase) throw new ArchiveFormatError(`the backup has a second base archive "${info.name}"`);
    this.seenBase = true;
    const inspector = new BaseArchiveInspector(
      this.extractor(ctx.dataStaging.path),
      (name, facts) => this.onBaseFile(name, facts),
      async (facts) => {
        await prepareTablespaces(ctx, facts);
        this.planned.resolve();
      },
    );
    ctx.facts = inspector.facts;
    const chain = this.verification.wrap(info, inspector);
    let finalized = false;
    return {
      content: (member, data, kind) => chain.content(member, data, kind),
      finalize: async () => {
        await chain.finalize();
        finalized = true;
        this.planned.resolve();
        this.baseDone.resolve();
      },
      dispose: async () => {
        if (!finalized) {
          const stopped = new CancelledError(`the base archive "${info.name}" was not extracted`);
          this.planned.reject(stopped);
          this.baseDone.reject(stopped);
        }
        await chain.dispose();
      },
    };
  }

  private async onBaseFile(name: RememberedFile, facts: BaseArchiveFacts): Promise<void> {
    if (name !== 'PG_VERSION') return;
    const ctx = this.ctx;
    const major = Number.parseInt(facts.files.get('PG_VERSION') ?? '', 10);
    if (!Number.isInteger(major) || major <= 0) throw new ArchiveFormatError('the backup\'s PG_VERSION file is not a version number');
    ctx.major = major;
    if (major < 12 && ctx.options.mode !== 'none') {
      throw new NotSupportedError(`restoring PostgreSQL ${major} backups with --mode ${ctx.options.mode} is not supported`, {
        hint: 'Use --mode none and write recovery.conf yourself; pgfleet-agent writes PostgreSQL 12+ recovery settings.',
      });
    }
    // Fail now rather than after the whole backup was extracted.
    if (ctx.options.start) ctx.installation = await installationFor(major, ctx.options.pgBin ?? []);
  }
}
