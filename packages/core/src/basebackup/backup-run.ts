/**
 * One base backup run, one step per method, in the order they happen:
 *   connect -> checkServer -> prepareOutput (directories first, so that a bad target fails
 *   before the server does any work) -> reserveWalStream (-X stream: the streaming connection
 *   and slot before BASE_BACKUP) -> BASE_BACKUP, whose events are the on* methods (onStart:
 *   announce, tablespace directories, WAL receiver; then per archive a chain from
 *   archive-chain.ts; then the manifest) -> finishWalStream -> complete (fsync, manifest
 *   renamed last) -> result. Any failure: abort, which stops the receiver, disposes what is
 *   open and removes what this run created (unless kept: -n, or a data checksum failure).
 * Every handler awaits its streamers, which copy what they keep: the connections can read
 * into recycled buffers.
 */
import { rename, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { InvalidOptionError, NotSupportedError, ServerError, fileError } from '../errors.js';
import type { Streamer } from '../archive/streamer.js';
import type { CompressionSpec } from '../archive/compression-spec.js';
import { createCompressor } from '../archive/compression.js';
import { compressionSuffix } from '../archive/compression-spec.js';
import { FileSink } from '../archive/file-sink.js';
import type { MemberAppender } from '../archive/member-appender.js';
import { buildPrimaryConninfo, recoveryConfigContents } from '../archive/recovery-config.js';
import type { BackupStart, BackupEnd, BaseBackupHandler, TablespaceInfo } from '../replication/base-backup-events.js';
import { ReplicationConnection, type ReplicationConnectOptions } from '../replication/connection.js';
import { parseConninfo } from '../replication/connection-options.js';
import { WalReceiver, type WalReservation } from '../wal/receiver.js';
import { DirectoryWalSink, TarWalSink } from '../wal/wal-sinks.js';
import { fsyncDirectory, fsyncFile } from '../fs-sync.js';
import { parseLsn } from '../wal/lsn.js';
import type {
  BackupDestination, BackupReporter, BackupTablespace, BaseBackupResult, BaseBackupRunOptions, ProgressState,
} from '../basebackup.js';
import { ArchiveChainBuilder } from './archive-chain.js';
import { BackupFile, CleanupList, prepareEmptyDirectory } from './backup-files.js';
import { baseBackupCommandOptions, primaryConninfoParams, serverVersionText } from './command.js';

type DirectoryDestination = Extract<BackupDestination, { kind: 'directory' }>;

/** What the server told before the backup began. */
interface ServerFacts {
  versionNum: number;
  systemId: string;
  timeline: number;
  walSegmentSize: number;
  groupAccess: boolean;
  dirMode: number;
}

export class BackupRun {
  private readonly startedAt = new Date();
  private readonly cleanup = new CleanupList();
  private readonly directory: DirectoryDestination | null;
  private readonly toStdout: boolean;
  private readonly clientCompression: CompressionSpec | null;
  /**
   * What to fsync once everything is received (unless -N). As pg_basebackup does, files are
   * not synced one by one as they are completed: an fsync in the middle of the stream stalls
   * it (up to 0.6 s per archive measured), while at the end most of the data is on disk already.
   */
  private readonly syncAtEnd: Array<() => Promise<void>> = [];
  /** Set by a data checksum failure: everything received stays, as pg_basebackup leaves it. */
  private keepData = false;
  /** 0640 when the server's data directory allows group access (its files are), else 0600. */
  private fileMode = 0o600;
  private conn!: ReplicationConnection;
  private server!: ServerFacts;
  private receiver: WalReceiver | null = null;
  /** The streaming connection and slot, made before BASE_BACKUP, until the receiver takes them. */
  private reservation: WalReservation | null = null;
  private readonly openStreamers: Streamer[] = [];
  private chains!: ArchiveChainBuilder;
  private readonly files: string[] = [];
  private readonly tablespaces: BackupTablespace[] = [];
  private readonly progress: ProgressState = { doneBytes: 0, totalKb: 0, tablespaceNum: 0, tablespaceCount: 0, filename: null };
  private lastProgress = 0;
  private archiveBytes = 0;
  private current: Streamer | null = null;
  /** base.tar to stdout: kept open, and where the manifest is appended, until the manifest is in. */
  private manifestAppender: MemberAppender | null = null;
  private manifestSink: Streamer | null = null;
  private manifestChunks: Buffer[] = [];
  private startInfo: BackupStart | null = null;
  private endLsn = '';

  constructor(
    private readonly opts: BaseBackupRunOptions,
    private readonly reporter: BackupReporter,
    private readonly connectOptions: Pick<ReplicationConnectOptions, 'signal' | 'promptPassword' | 'onNotice'>,
  ) {
    const d = opts.destination;
    this.directory = d.kind === 'directory' ? d : null;
    this.toStdout = d.kind === 'stdout';
    this.clientCompression = opts.compression && opts.compression.location === 'client' ? opts.compression : null;
  }

  async run(): Promise<BaseBackupResult> {
    this.checkOptions();
    this.conn = await this.connect(this.opts.passwordPrompt ?? 'never');
    try {
      await this.checkServer();
      await this.prepareOutput();
      await this.reserveWalStream();
      await this.takeBackup();
      await this.finishWalStream();
      await this.complete();
      return this.result();
    } catch (err) {
      await this.abort();
      throw err;
    } finally {
      await this.conn.close().catch(() => {});
    }
  }

  private get manifestWanted(): boolean {
    return this.opts.manifest !== null;
  }

  private get sync(): boolean {
    return this.directory !== null && this.directory.sync !== false;
  }

  private verbose(message: string): void {
    this.reporter.verbose?.(message);
  }

  private checkOptions(): void {
    const d = this.opts.destination;
    if (d.kind === 'directory' && d.format === 'plain' && this.clientCompression !== null && this.clientCompression.method !== 'none') {
      throw new InvalidOptionError('only tar mode backups can be compressed');
    }
  }

  private connect(passwordPrompt: 'never' | 'force' | 'auto'): Promise<ReplicationConnection> {
    return ReplicationConnection.connect({
      ...this.opts.connection, passwordPrompt, recycleReadBuffers: true, ...this.connectOptions,
    });
  }

  private async checkServer(): Promise<void> {
    const conn = this.conn;
    const versionNum = conn.serverVersionNum;
    if (versionNum < 130000 || versionNum >= 190000) {
      throw new NotSupportedError(
        `incompatible server version ${serverVersionText(versionNum)}`,
        { hint: 'pgfleet-basebackup supports PostgreSQL 13 to 18.' },
      );
    }
    const system = await conn.identifySystem();
    const walSegmentSize = await conn.walSegmentSize();
    const groupAccess = (await conn.show('data_directory_mode')) === '0750';
    this.server = {
      versionNum, systemId: system.systemId, timeline: system.timeline, walSegmentSize, groupAccess, dirMode: groupAccess ? 0o750 : 0o700,
    };
    this.fileMode = groupAccess ? 0o640 : 0o600;
    if (this.opts.destination.kind === 'server' && this.opts.writeRecoveryConf) {
      throw new InvalidOptionError('recovery configuration cannot be written when a backup target is used');
    }
  }

  /** The output directories, then the chain builder (with -R's configuration). */
  private async prepareOutput(): Promise<void> {
    const d = this.directory;
    const { dirMode } = this.server;
    if (d !== null) {
      this.cleanup.add(d.path, await prepareEmptyDirectory(d.path, dirMode, 'directory with -D'), 'data directory');
      const waldir = d.waldir ?? null;
      if (waldir !== null) {
        this.cleanup.add(waldir, await prepareEmptyDirectory(waldir, dirMode, 'directory with --waldir'), 'WAL directory');
        try {
          await symlink(waldir, join(d.path, 'pg_wal'));
        } catch (err) {
          throw fileError('could not create symbolic link', join(d.path, 'pg_wal'), err);
        }
      }
    }
    const plain = d !== null && d.format === 'plain';
    this.chains = new ArchiveChainBuilder({
      output: plain ? 'plain' : this.toStdout ? 'stdout' : 'files',
      dataDir: d?.path ?? '',
      mapLocation: (location) => this.mapLocation(location),
      blocking: d?.blocking ?? true,
      clientCompression: this.clientCompression,
      recoveryText: this.recoveryText(),
      serverVersionNum: this.server.versionNum,
      groupAccess: this.server.groupAccess,
      injectManifest: this.toStdout && this.manifestWanted,
      createFile: async (name) => {
        const file = await this.createFile(name);
        this.files.push(name);
        return file;
      },
      syncAtEnd: (sync) => this.syncAtEnd.push(sync),
      writeback: this.sync,
      onFile: (name) => {
        this.progress.filename = name;
      },
    });
  }

  private mapLocation(location: string): string {
    const m = this.directory?.tablespaceMappings?.find((t) => t.oldDir === location);
    return m ? m.newDir : location;
  }

  /** -R: the standby configuration, with the connection as libpq would report it. */
  private recoveryText(): string | null {
    if (!this.opts.writeRecoveryConf) return null;
    const given = this.opts.connection;
    return recoveryConfigContents({
      serverVersionNum: this.server.versionNum,
      // pg_basebackup 17 names the database given with -d, for logical slot synchronization.
      primaryConninfo: buildPrimaryConninfo(primaryConninfoParams(given, this.conn.connectionParameters()), {
        dbname: given.connectionString !== undefined ? parseConninfo(given.connectionString).dbname ?? null : null,
      }),
      slotName: this.opts.slot ?? null,
    });
  }

  /** A file of the backup's layout: into the directory, or through the caller's sinks. */
  private async createFile(name: string): Promise<Streamer> {
    const d = this.opts.destination;
    if (d.kind === 'sinks') return d.createFile(name);
    if (d.kind !== 'directory') throw new InvalidOptionError(`file "${name}" of the backup has no destination`);
    const path = join(d.path, name);
    // fsynced at the end of the run (as pg_basebackup does), and started on its way to disk now.
    const sink = await FileSink.create(path, { sync: false, writeback: this.sync, blocking: d.blocking ?? true, removeOnFailure: false, mode: this.fileMode });
    if (this.sync) this.syncAtEnd.push(() => fsyncFile(path));
    return new BackupFile(sink, () => this.keepData || d.noClean === true);
  }

  /** -X stream: the streaming connection and its slot come first, so the slot holds the WAL from before the checkpoint (receiver.ts, step 1). */
  private async reserveWalStream(): Promise<void> {
    if (this.opts.walMethod !== 'stream') return;
    const prompt = this.opts.passwordPrompt ?? 'never';
    this.reservation = await WalReceiver.reserve({
      connect: () => this.connect(prompt === 'force' ? 'auto' : prompt),
      slot: this.opts.slot ?? null,
      temporarySlot: this.opts.temporarySlot ?? (this.opts.slot ?? null) === null,
      createSlot: this.opts.createSlot ?? false,
    });
  }

  private async takeBackup(): Promise<void> {
    const command = baseBackupCommandOptions(this.opts, this.server.versionNum);
    this.verbose('initiating base backup, waiting for checkpoint to complete');
    this.reporter.waitingForCheckpoint?.();
    const handler: BaseBackupHandler = {
      onStart: (start) => this.onStart(start),
      onArchiveStart: (name, ts) => this.onArchiveStart(name, ts),
      onArchiveData: (data) => this.onArchiveData(data),
      onArchiveEnd: () => this.onArchiveEnd(),
      onManifestStart: () => this.onManifestStart(),
      onManifestData: (data) => this.onManifestData(data),
      onManifestEnd: () => this.onManifestEnd(),
      onProgress: (bytes) => {
        this.progress.doneBytes = bytes;
        this.report(false);
      },
      onEnd: async (end) => this.onEnd(end),
    };
    try {
      await this.conn.baseBackup(command, handler);
    } catch (err) {
      if (err instanceof ServerError && err.sqlState === 'XX001') this.keepData = true;
      throw err;
    }
    if (this.manifestAppender !== null && this.manifestSink !== null) await this.manifestSink.finalize();
    this.progress.filename = null;
    this.report(true);
  }

  private report(final: boolean): void {
    const progress = this.reporter.progress;
    if (progress === undefined) return;
    const now = Date.now();
    if (!final && now - this.lastProgress < 1000) return;
    this.lastProgress = now;
    progress.call(this.reporter, { ...this.progress }, final);
  }

  private async onStart(start: BackupStart): Promise<void> {
    this.startInfo = start;
    this.verbose('checkpoint completed');
    if (this.opts.walMethod !== 'none') this.verbose(`write-ahead log start point: ${start.startLsn} on timeline ${start.timeline}`);
    const userTablespaces = start.tablespaces.filter((t) => t.oid !== null);
    this.progress.tablespaceCount = start.tablespaces.length;
    this.progress.totalKb = Math.floor(start.tablespaces.reduce((s, t) => s + (t.sizeEstimate ?? 0), 0) / 1024);
    if (this.toStdout && userTablespaces.length > 0) {
      throw new InvalidOptionError(`can only write single tablespace to stdout, database has ${start.tablespaces.length}`, {
        hint: 'Write the backup to a directory with -D DIR instead of -D -.',
      });
    }
    if (this.directory !== null && this.directory.format === 'plain') await this.prepareTablespaceDirectories(userTablespaces);
    for (const ts of userTablespaces) this.tablespaces.push({ oid: ts.oid as number, location: ts.location ?? '', archive: null });
    await this.reporter.started?.({
      systemIdentifier: this.server.systemId,
      serverVersionNum: this.server.versionNum,
      timeline: start.timeline,
      startLsn: start.startLsn,
      tablespaces: this.tablespaces.map((t) => ({ oid: t.oid, location: t.location })),
      estimatedBytes: this.progress.totalKb * 1024,
    });
    if (this.opts.walMethod === 'stream') await this.startWalStream(start);
  }

  /** Plain format: every -T must match a tablespace; each (mapped) location absent or empty. */
  private async prepareTablespaceDirectories(userTablespaces: readonly TablespaceInfo[]): Promise<void> {
    for (const m of this.directory?.tablespaceMappings ?? []) {
      if (!userTablespaces.some((t) => t.location === m.oldDir)) {
        throw new InvalidOptionError(`tablespace mapping old directory "${m.oldDir}" does not match any tablespace`, {
          hint: `The server's tablespaces are at: ${userTablespaces.map((t) => `"${t.location}"`).join(', ') || 'none'}.`,
        });
      }
    }
    for (const ts of userTablespaces) {
      const loc = ts.location ?? '';
      if (!loc.startsWith('/')) continue; // in-place tablespace: extracted below -D
      const target = this.mapLocation(loc);
      this.cleanup.add(target, await prepareEmptyDirectory(target, this.server.dirMode, 'directory with -T OLDDIR=NEWDIR'), 'tablespace directory');
    }
  }

  private async startWalStream(start: BackupStart): Promise<void> {
    this.verbose('starting background WAL receiver');
    const { walSegmentSize, groupAccess, dirMode } = this.server;
    const d = this.directory;
    const sink = d !== null && d.format === 'plain'
      ? new DirectoryWalSink({
        directory: join(d.path, 'pg_wal'), segmentSize: walSegmentSize, sync: this.sync,
        fileMode: groupAccess ? 0o640 : 0o600, directoryMode: dirMode,
      })
      : new TarWalSink({ segmentSize: walSegmentSize, next: await this.walArchive() });
    const reserved = this.reservation as WalReservation;
    this.reservation = null; // start() owns it from here on, and releases it if it fails
    this.receiver = await WalReceiver.start({
      reservation: reserved,
      startLsn: start.startLsn,
      timeline: start.timeline,
      segmentSize: walSegmentSize,
      systemId: this.server.systemId,
      statusIntervalSec: this.opts.statusIntervalSec ?? 10,
      sink,
      onSlotCreated: (slot, temporary) =>
        this.verbose(temporary ? `created temporary replication slot "${slot}"` : `created replication slot "${slot}"`),
      // A failed receiver must fail the backup now, not when the archives are done.
      onError: (err) => this.conn.destroy(err),
    });
  }

  /** pg_wal.tar: pg_basebackup's tar WAL method compresses with gzip only (under client lz4 or zstd, and server compression, it stays uncompressed). */
  private async walArchive(): Promise<Streamer> {
    const c = this.clientCompression;
    const walGzip = c !== null && c.method === 'gzip' ? c : null;
    const walName = 'pg_wal.tar' + (walGzip ? compressionSuffix('gzip') : '');
    this.files.push(walName);
    const file = await this.createFile(walName);
    return walGzip ? createCompressor(walGzip, file) : file;
  }

  private async onArchiveStart(name: string, ts: TablespaceInfo): Promise<void> {
    if (ts.oid !== null) {
      const t = this.tablespaces.find((x) => x.oid === ts.oid);
      if (t) t.archive = name;
    }
    // A backup target gets the data on the server: nothing arrives here to be written.
    if (this.opts.destination.kind === 'server') return;
    const chain = await this.chains.build(name, ts);
    if (chain.manifestAppender !== null) this.manifestAppender = chain.manifestAppender;
    this.current = chain.head;
    this.openStreamers.push(chain.head);
  }

  private async onArchiveData(data: Buffer): Promise<void> {
    this.archiveBytes += data.length;
    if (this.current) await this.current.content(null, data, 'unknown');
    this.report(false);
  }

  private async onArchiveEnd(): Promise<void> {
    // Progress names the archive in progress by its index, from 0, as pg_basebackup does.
    this.progress.tablespaceNum += 1;
    if (!this.current) return;
    // With the manifest going into base.tar, base.tar stays open until the manifest is in.
    if (this.manifestAppender === null) await this.current.finalize();
    else this.manifestSink = this.current;
    this.current = null;
  }

  private async onManifestStart(): Promise<void> {
    this.manifestChunks = [];
    const kind = this.opts.destination.kind;
    if (kind === 'server' || kind === 'stdout') return;
    // In a directory the manifest becomes final by rename once everything is on disk.
    const sink = await this.createFile(kind === 'directory' ? 'backup_manifest.tmp' : 'backup_manifest');
    this.openStreamers.push(sink);
    this.current = sink;
  }

  private async onManifestData(data: Buffer): Promise<void> {
    if (this.toStdout) this.manifestChunks.push(Buffer.from(data));
    else if (this.current) await this.current.content(null, data, 'unknown');
  }

  private async onManifestEnd(): Promise<void> {
    if (this.toStdout && this.manifestAppender !== null && this.manifestSink !== null) {
      await this.manifestAppender.append('backup_manifest', Buffer.concat(this.manifestChunks), { mode: this.server.groupAccess ? 0o640 : 0o600 });
      await this.manifestSink.finalize();
      this.manifestSink = null;
    } else if (this.current) {
      await this.current.finalize();
      this.current = null;
    }
  }

  private onEnd(end: BackupEnd): void {
    this.endLsn = end.endLsn;
    // Printed as soon as the server says it, also when an error follows (checksum failure).
    if (this.opts.walMethod !== 'none') this.verbose(`write-ahead log end point: ${this.endLsn}`);
  }

  private async finishWalStream(): Promise<void> {
    const receiver = this.receiver;
    if (receiver === null) return;
    this.verbose('waiting for background process to finish streaming ...');
    await receiver.stopAt(parseLsn(this.endLsn));
    this.receiver = null;
  }

  /** Everything is made durable first (unless -N); the manifest becomes final only after that, and its rename is made durable, as pg_basebackup orders it. */
  private async complete(): Promise<void> {
    const d = this.directory;
    if (this.sync) {
      this.verbose('syncing data to disk ...');
      for (const sync of this.syncAtEnd) await sync();
    }
    if (d === null && this.manifestWanted && !this.toStdout) this.files.push('backup_manifest');
    if (d !== null && this.manifestWanted) {
      this.verbose('renaming backup_manifest.tmp to backup_manifest');
      await rename(join(d.path, 'backup_manifest.tmp'), join(d.path, 'backup_manifest'));
      this.files.push('backup_manifest');
      if (this.sync) await fsyncDirectory(d.path);
    }
    this.verbose('base backup completed');
  }

  private result(): BaseBackupResult {
    const s = this.startInfo;
    return {
      systemIdentifier: this.server.systemId,
      serverVersionNum: this.server.versionNum,
      timeline: s?.timeline ?? this.server.timeline,
      startLsn: s?.startLsn ?? '',
      endLsn: this.endLsn,
      tablespaces: this.tablespaces,
      files: this.files,
      bytes: this.archiveBytes,
      startedAt: this.startedAt,
      finishedAt: new Date(),
    };
  }

  private async abort(): Promise<void> {
    if (this.receiver !== null) await this.receiver.abort().catch(() => {});
    if (this.reservation !== null) await this.reservation.release();
    for (const s of this.openStreamers) await s.dispose().catch(() => {});
    if (this.keepData) {
      // Kept without a word, as pg_basebackup keeps it after a checksum failure.
    } else if (this.directory?.noClean) {
      this.reporter.info(`data directory "${this.directory.path}" not removed at user's request`);
    } else {
      await this.cleanup.run((m) => this.reporter.info(m));
    }
  }
}
