/**
 * Extraction: every archive of the source into its staging directory, through the manifest
 * check. The base archive goes to the data directory's staging directory, past an inspector
 * that learns what the rest of the restore needs (tablespace_map, backup_label, PG_VERSION,
 * the tablespace links); as soon as the tablespaces' original locations are known they are
 * planned (prepare.ts prepareTablespaces), before any tablespace data is written. Tablespace
 * archives go to their own staging directories (in-place ones into the data directory's), WAL
 * to pg_wal (or --waldir). The order is the source's contract: base first.
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
import { ArchiveFormatError, DirectoryExtractor, InternalError, NotSupportedError, type Streamer } from '@pgfleet/core';
import { installationFor } from '../instance/pg-install.js';
import type { RestoreContext } from './context.js';
import { BaseArchiveInspector, type BaseArchiveFacts, type RememberedFile } from './inspect.js';
import { prepareTablespaces } from './prepare.js';
import type { ArchiveInfo } from './source.js';
import { symlinkOwned } from './staging-files.js';
import type { RestoreVerification } from './verification.js';

const PROGRESS_STEP = 4 * 1024 * 1024;

export class ArchiveExtraction {
  private seenBase = false;
  private readonly seenTablespaces = new Set<number>();
  private bytesInArchive = 0;
  private lastProgress = 0;
  private readonly syncs: Promise<void>[] = [];

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
    ctx.bytesBefore += this.bytesInArchive;
    this.bytesInArchive = 0;
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

  private progress(info: ArchiveInfo, bytes: number): void {
    this.bytesInArchive = bytes;
    const done = this.ctx.bytesBefore + bytes;
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
    ctx.bytesBefore += this.bytesInArchive;
    this.bytesInArchive = 0;
    ctx.emit({ type: 'progress', phase: 'extract', file: info.name, bytesDone: ctx.bytesBefore, bytesTotal: ctx.bytesTotal });
    if (info.kind === 'base') {
      if (this.seenBase) throw new ArchiveFormatError(`the backup has a second base archive "${info.name}"`);
      this.seenBase = true;
      const inspector = new BaseArchiveInspector(
        this.extractor(ctx.dataStaging.path),
        (name, facts) => this.onBaseFile(name, facts),
        (facts) => prepareTablespaces(ctx, facts),
      );
      ctx.facts = inspector.facts;
      return this.verification.wrap(info, inspector);
    }
    if (!this.seenBase) throw new ArchiveFormatError(`archive "${info.name}" came before the base archive`);
    if (info.kind === 'wal') return this.extractor(ctx.walRoot());
    const target = ctx.tablespacePlan().find((t) => t.oid === info.oid);
    if (!target) throw new InternalError(`no plan for tablespace archive "${info.name}"`);
    if (this.seenTablespaces.has(target.oid)) {
      throw new ArchiveFormatError(`the backup has a second archive for tablespace ${target.oid} ("${info.name}")`);
    }
    this.seenTablespaces.add(target.oid);
    const staging = ctx.tablespaceStagings.get(target.oid);
    const root = target.kind === 'external' && staging ? staging.path : path.join(ctx.dataStaging.path, 'pg_tblspc', String(target.oid));
    return this.verification.wrap(info, this.extractor(root));
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
