/**
 * One base backup run: options -> connection -> BASE_BACKUP -> one streamer chain per archive
 * -> result. This is the engine behind pgfleet-basebackup and the agent's Backup call; it
 * prints nothing itself (a BackupReporter receives milestones and progress).
 *
 * Output contract (same as pg_basebackup 17):
 * - tar format: <D>/base.tar, <D>/<oid>.tar per tablespace, <D>/pg_wal.tar (-X stream), each
 *   with the compression suffix; <D>/backup_manifest. `-D -` writes base.tar to stdout with
 *   backup_manifest injected into it.
 * - plain format: the data directory in <D>, each tablespace in its (mapped) location with
 *   pg_tblspc/<oid> symlinked there, pg_wal streamed into <D>/pg_wal (or --waldir, symlinked).
 * - on failure, everything this run created is removed (unless noClean), except after a data
 *   checksum failure (ERROR XX001 once all data was sent), where nothing is removed, as
 *   pg_basebackup does: the archives or extracted files, pg_wal / pg_wal.tar as far as WAL was
 *   streamed, backup_manifest.tmp (not renamed) and the tablespace directories all stay.
 */
import { mkdir, readdir, rename, rm, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import {
  DirectoryNotEmptyError, InvalidOptionError, NotSupportedError, ServerError, fileError, isErrno,
} from './errors.js';
import type { ChunkKind, Streamer, TarMember } from './archive/streamer.js';
import type {
  BackupStart, BaseBackupHandler, BaseBackupOptions, TablespaceInfo,
} from './replication/base-backup-events.js';
import { ReplicationConnection, type ReplicationConnectOptions } from './replication/connection.js';
import { mergeConnectParams, parseConninfo } from './replication/connection-options.js';
import { WalReceiver, type WalReservation } from './wal/receiver.js';
import { DirectoryWalSink, TarWalSink } from './wal/wal-sinks.js';
import { TarParser } from './archive/tar-parser.js';
import { TarArchiver } from './archive/tar-archiver.js';
import { RecoveryConfigInjector } from './archive/recovery-injector.js';
import { MemberAppender } from './archive/member-appender.js';
import { buildPrimaryConninfo, recoveryConfigContents } from './archive/recovery-config.js';
import { createCompressor, createDecompressor } from './archive/compression.js';
import { compressionFromFileName, compressionSuffix, type CompressionSpec } from './archive/compression-spec.js';
import { FileSink } from './archive/file-sink.js';
import { StdoutSink } from './archive/stdout-sink.js';
import { DirectoryExtractor } from './archive/directory-extractor.js';
import { fsyncDirectory, fsyncFile } from './fs-sync.js';
import { parseLsn } from './wal/lsn.js';

export interface TablespaceMapping {
  oldDir: string;
  newDir: string;
}

/** pg_basebackup -t NAME[:DETAIL]: the server keeps the backup (server:/dir) or drops it (blackhole). */
export interface BackupTarget {
  name: string;
  detail: string | null;
}

export interface BaseBackupRunOptions {
  /** libpq-style: connectionString (-d) plus host/port/user overrides; the rest from PG* env.
   * noProgressTimeoutMs bounds every wait for the server on both connections (see
   * ReplicationConnectOptions); pg_basebackup has none, the daemons set one. */
  connection: { connectionString?: string; host?: string; port?: number; user?: string; noProgressTimeoutMs?: number };
  /** 'never' (-w), 'force' (-W: ask before connecting), 'auto'. */
  passwordPrompt: 'never' | 'force' | 'auto';
  /** Output directory; '-' writes the base archive to stdout (tar format only). Unused with a target. */
  pgdata: string;
  /** -t: the server stores or discards the backup; nothing is written locally (15+ servers). */
  target?: BackupTarget | null;
  format: 'plain' | 'tar';
  walMethod: 'none' | 'fetch' | 'stream';
  slot: string | null;
  createSlot: boolean;
  temporarySlot: boolean;
  compression: CompressionSpec;
  writeRecoveryConf: boolean;
  tablespaceMappings: TablespaceMapping[];
  waldir: string | null;
  checkpoint: 'fast' | 'spread';
  label: string;
  noClean: boolean;
  sync: boolean;
  progress: boolean;
  estimateSize: boolean;
  maxRateKbPerSec: number | null;
  statusIntervalSec: number;
  verbose: number;
  manifest: boolean;
  manifestChecksums: BaseBackupOptions['manifestChecksums'];
  manifestForceEncode: boolean;
  verifyChecksums: boolean;
  /**
   * Tar format only: where the files go instead of `pgdata` (which is then not touched). Called
   * once per file of pg_basebackup's layout ("base.tar.gz", "16384.tar", "pg_wal.tar",
   * "backup_manifest"), in the order they are written; the returned Streamer receives the
   * file's bytes as 'unknown' chunks. The agent's Backup RPC streams a backup this way.
   */
  output?: BackupOutput;
  /**
   * Write the backup's files (tar format) with blocking writes on the calling thread, as
   * pg_basebackup does, instead of on the threadpool. Default true: on the 2-CPU bench machine a
   * 2.2 GB tar backup took 2.65 s of CPU and 4.6 s instead of 3.70 s and 7.0 s. A daemon that
   * must keep its event loop responsive while a slow disk catches up sets it to false.
   */
  blockingWrites?: boolean;
}

export interface BackupOutput {
  createFile(name: string): Promise<Streamer>;
}

export interface ProgressState {
  doneBytes: number;
  /** Sum of the server's size estimates, in kB (0 without estimates). */
  totalKb: number;
  tablespaceNum: number;
  tablespaceCount: number;
  /** The file being written (tar) or null. */
  filename: string | null;
}

/** What the server said when the backup began (after the checkpoint, before any archive). */
export interface BackupStartInfo {
  systemIdentifier: string;
  serverVersionNum: number;
  timeline: number;
  startLsn: string;
  /** The user tablespaces (the main directory is not listed). */
  tablespaces: Array<{ oid: number; location: string }>;
  /** Sum of the server's size estimates in bytes; 0 unless asked for (progress with estimates). */
  estimatedBytes: number;
}

/** Receives what pg_basebackup prints: milestones (-v) and progress (-P). */
export interface BackupReporter {
  info(message: string): void;
  progress(state: ProgressState, final: boolean): void;
  /** With progress but not verbose, before the checkpoint: pg_basebackup prints "waiting for checkpoint". */
  waitingForCheckpoint?(): void;
  /** Called once, before the first archive is created (for callers that announce the backup). */
  started?(info: BackupStartInfo): void | Promise<void>;
}

export interface BackupTablespace {
  oid: number;
  location: string;
  archive: string | null;
}

export interface BaseBackupResult {
  systemIdentifier: string;
  serverVersionNum: number;
  timeline: number;
  startLsn: string;
  endLsn: string;
  tablespaces: BackupTablespace[];
  /** Archive files written (tar format), relative to pgdata. */
  files: string[];
  bytes: number;
  startedAt: Date;
  finishedAt: Date;
}

const silentReporter: BackupReporter = { info() {}, progress() {} };

/** What this run created, so a failure can undo exactly that and nothing else. */
class CleanupList {
  private readonly entries: Array<{ path: string; created: boolean; what: string }> = [];
  add(path: string, created: boolean, what: 'data directory' | 'WAL directory' | 'tablespace directory'): void {
    this.entries.push({ path, created, what });
  }
  /** Undoes in pg_basebackup's order (data directory, then WAL directory), with its messages. */
  async run(report: (msg: string) => void): Promise<void> {
    for (const { path, created, what } of this.entries) {
      try {
        if (created) {
          report(`removing ${what} "${path}"`);
          await rm(path, { recursive: true, force: true });
        } else {
          report(`removing contents of ${what} "${path}"`);
          for (const name of await readdir(path)) await rm(join(path, name), { recursive: true, force: true });
        }
      } catch {
        report(created ? `failed to remove ${what}` : `failed to remove contents of ${what}`);
      }
    }
  }
}

/**
 * A file of the backup in -D. Disposed before it was finalized (the run failed), it is removed,
 * unless the run keeps what it received (-n, or a data checksum failure, after which
 * pg_basebackup removes nothing and its WAL streamer, killed mid-segment, leaves pg_wal.tar as
 * far as it had got): the file is then flushed and closed as it stands, an unfinished archive.
 */
class BackupFile implements Streamer {
  private finalized = false;
  constructor(private readonly sink: FileSink, private readonly keep: () => boolean) {}

  content(member: TarMember | null, data: Buffer, kind: ChunkKind): Promise<void> {
    return this.sink.content(member, data, kind);
  }

  async finalize(): Promise<void> {
    await this.sink.finalize();
    this.finalized = true;
  }

  async dispose(): Promise<void> {
    if (this.finalized) return;
    if (this.keep()) {
      // A flush that fails (disk full) still leaves the file and closes it.
      await this.sink.finalize().catch(() => this.sink.dispose());
      return;
    }
    await this.sink.dispose();
    await rm(this.sink.path, { force: true }).catch(() => {});
  }
}

/** pg_basebackup's verify_dir_is_empty_or_create. Returns whether the directory was created. */
async function prepareEmptyDirectory(dir: string, mode: number, what: string): Promise<boolean> {
  let entries: string[];
  try {
    entries = await readdir(dir);
  } catch (err) {
    if (isErrno(err, 'ENOENT')) {
      try {
        await mkdir(dir, { recursive: true, mode });
      } catch (mkErr) {
        throw fileError('could not create directory', dir, mkErr);
      }
      return true;
    }
    if (isErrno(err, 'ENOTDIR')) {
      throw new DirectoryNotEmptyError(`directory "${dir}" exists but is not a directory`);
    }
    throw fileError('could not access directory', dir, err);
  }
  if (entries.length > 0) {
    throw new DirectoryNotEmptyError(`directory "${dir}" exists but is not empty`, {
      hint: `Remove its contents or choose an empty or non-existent ${what}.`,
    });
  }
  return false;
}

/**
 * What libpq's PQconninfo() would start from for -R: the keywords the user gave (connection
 * string, then -h/-p/-U), not the effective ones (libpq leaves host out when none was given);
 * buildPrimaryConninfo adds the environment and libpq's defaults. A password typed at the
 * prompt is the one effective value libpq also reports.
 */
function primaryConninfoParams(given: BaseBackupRunOptions['connection'], effective: Record<string, string>): Record<string, string> {
  const params = mergeConnectParams(given);
  if (params.password === undefined && process.env.PGPASSWORD === undefined && effective.password !== undefined) {
    params.password = effective.password;
  }
  return params;
}

function serverVersionText(num: number): string {
  return `${Math.floor(num / 10000)}.${num % 10000}`;
}

/** Builds the BASE_BACKUP option set exactly as pg_basebackup would for these options. */
function baseBackupCommandOptions(opts: BaseBackupRunOptions, serverVersionNum: number): BaseBackupOptions {
  const server = opts.compression.location === 'server' && opts.compression.method !== 'none';
  if (server && serverVersionNum < 150000) {
    throw new NotSupportedError(`server version ${serverVersionText(serverVersionNum)} does not support server-side compression`, {
      hint: 'Use client-side compression (-Z client-gzip) with servers older than 15.',
    });
  }
  return {
    label: opts.label,
    progress: opts.progress && opts.estimateSize,
    checkpoint: opts.checkpoint,
    wal: opts.walMethod === 'fetch',
    wait: opts.walMethod === 'none',
    maxRateKbPerSec: opts.maxRateKbPerSec,
    tablespaceMap: opts.format === 'tar',
    verifyChecksums: opts.verifyChecksums,
    manifest: !opts.manifest ? 'no' : opts.manifestForceEncode ? 'force-encode' : 'yes',
    manifestChecksums: opts.manifestChecksums,
    compression: server
      ? { method: opts.compression.method as 'gzip' | 'lz4' | 'zstd', detail: opts.compression.detail }
      : null,
    target: opts.target ?? null,
  };
}

/** Runs one base backup. Throws a PgFleetError on failure after cleaning up. */
export async function runBaseBackup(
  opts: BaseBackupRunOptions,
  reporter: BackupReporter = silentReporter,
  connectOptions: Pick<ReplicationConnectOptions, 'signal' | 'promptPassword' | 'onNotice'> = {},
): Promise<BaseBackupResult> {
  const startedAt = new Date();
  const cleanup = new CleanupList();
  const target = opts.target ?? null;
  const toStdout = target === null && opts.pgdata === '-' && opts.output === undefined;
  const toDirectory = target === null && !toStdout && opts.output === undefined;
  if (opts.output !== undefined && opts.format !== 'tar') {
    throw new InvalidOptionError('a backup output stream needs tar format');
  }
  /**
   * What to fsync once everything is received (unless -N). As pg_basebackup does, files are
   * not synced one by one as they are completed: an fsync in the middle of the stream stalls
   * it (up to 0.6 s per archive measured), while at the end most of the data is on disk already.
   */
  const syncAtEnd: Array<() => Promise<void>> = [];
  /** Set by a data checksum failure: everything received stays, as pg_basebackup leaves it. */
  let keepData = false;
  /** 0640 when the server's data directory allows group access (its files are), else 0600. */
  let fileMode = 0o600;
  /** A file of the backup's layout: into -D, or through the caller's output. */
  const createFile = async (name: string): Promise<Streamer> => {
    if (opts.output !== undefined) return opts.output.createFile(name);
    const path = join(opts.pgdata, name);
    const sink = await FileSink.create(path, { sync: false, blocking: opts.blockingWrites ?? true, removeOnFailure: false, mode: fileMode });
    if (opts.sync) syncAtEnd.push(() => fsyncFile(path));
    return new BackupFile(sink, () => keepData || opts.noClean);
  };
  const verbose = (msg: string) => { if (opts.verbose > 0) reporter.info(msg); };

  // Every handler below awaits its streamers, which copy what they keep: the connections can
  // read into recycled buffers.
  const conn = await ReplicationConnection.connect({
    ...opts.connection, passwordPrompt: opts.passwordPrompt, recycleReadBuffers: true, ...connectOptions,
  });
  let receiver: WalReceiver | null = null;
  /** The streaming connection and slot, made before BASE_BACKUP, until the receiver takes them. */
  let reservation: WalReservation | null = null;
  const openStreamers: Streamer[] = [];
  try {
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
    const dirMode = groupAccess ? 0o750 : 0o700;
    fileMode = groupAccess ? 0o640 : 0o600;
    if (target !== null && opts.writeRecoveryConf) {
      throw new InvalidOptionError('recovery configuration cannot be written when a backup target is used');
    }

    // Output directories first, so that a bad target fails before the server does any work.
    if (toDirectory) cleanup.add(opts.pgdata, await prepareEmptyDirectory(opts.pgdata, dirMode, 'directory with -D'), 'data directory');
    if (opts.waldir !== null) {
      cleanup.add(opts.waldir, await prepareEmptyDirectory(opts.waldir, dirMode, 'directory with --waldir'), 'WAL directory');
      try {
        await symlink(opts.waldir, join(opts.pgdata, 'pg_wal'));
      } catch (err) {
        throw fileError('could not create symbolic link', join(opts.pgdata, 'pg_wal'), err);
      }
    }

    const recoveryText = opts.writeRecoveryConf
      ? recoveryConfigContents({
        serverVersionNum: versionNum,
        // pg_basebackup 17 names the database given with -d, for logical slot synchronization.
        primaryConninfo: buildPrimaryConninfo(primaryConninfoParams(opts.connection, conn.connectionParameters()), {
          dbname: opts.connection.connectionString !== undefined
            ? parseConninfo(opts.connection.connectionString).dbname ?? null : null,
        }),
        slotName: opts.slot,
      })
      : null;

    const mapLocation = (location: string): string => {
      const m = opts.tablespaceMappings.find((t) => t.oldDir === location);
      return m ? m.newDir : location;
    };

    const command = baseBackupCommandOptions(opts, versionNum);
    const clientCompression = opts.compression.location === 'client' ? opts.compression : null;
    const files: string[] = [];
    const tablespaces: BackupTablespace[] = [];
    let progress: ProgressState = { doneBytes: 0, totalKb: 0, tablespaceNum: 0, tablespaceCount: 0, filename: null };
    let archiveBytes = 0;
    let current: Streamer | null = null;
    let baseStreamer: Streamer | null = null; // kept open when the manifest goes into base.tar
    let manifestChunks: Buffer[] = [];
    let manifestSink: Streamer | null = null;
    let startInfo: BackupStart | null = null;
    let endLsn = '';
    let lastProgress = 0;

    const report = (final: boolean) => {
      if (!opts.progress) return;
      const now = Date.now();
      if (!final && now - lastProgress < 1000) return;
      lastProgress = now;
      reporter.progress({ ...progress }, final);
    };

    const buildArchiveChain = async (name: string, ts: TablespaceInfo): Promise<Streamer> => {
      const isBase = ts.oid === null;
      const serverCompressed = (compressionFromFileName(name) ?? 'none') !== 'none';
      if (opts.format === 'plain') {
        // Extract: the main archive into -D, a tablespace into its (mapped) location.
        const root = isBase ? opts.pgdata : mapLocation(ts.location ?? '');
        // pg_tblspc/<oid> symlinks arrive pointing at the original locations: map them (-T).
        const extractor = new DirectoryExtractor({
          root,
          sync: false,
          blockingWrites: opts.blockingWrites ?? true,
          mapLinkTarget: (target, member) => (/^pg_tblspc\/[0-9]+$/.test(member.name) ? mapLocation(target) : target),
          onFile: (f) => { progress.filename = f; },
        });
        if (opts.sync) syncAtEnd.push(() => extractor.syncCreated());
        let chain: Streamer = extractor;
        if (isBase && recoveryText !== null) {
          chain = new RecoveryConfigInjector(chain, { serverVersionNum: versionNum, contents: recoveryText, groupAccess });
        }
        chain = new TarParser(chain, { archiveName: name });
        if (serverCompressed) chain = createDecompressor(compressionFromFileName(name) ?? 'none', chain);
        return chain;
      }
      // Tar format: write the archive as it comes, unless something must be injected into it.
      const injectManifest = isBase && toStdout && opts.manifest;
      const injectRecovery = isBase && recoveryText !== null;
      if ((injectManifest || injectRecovery) && serverCompressed) {
        throw new InvalidOptionError(`cannot parse archive "${name}"`, {
          hint: injectManifest
            ? 'Using - as the output directory requires parsing the archive: use client-side compression.'
            : 'The -R option requires parsing the archive: use client-side compression.',
        });
      }
      const fileName = clientCompression && clientCompression.method !== 'none'
        ? name + compressionSuffix(clientCompression.method) : name;
      let chain: Streamer;
      if (toStdout) {
        chain = new StdoutSink();
      } else {
        chain = await createFile(fileName);
        files.push(fileName);
      }
      progress.filename = toStdout ? '-' : join(opts.pgdata, fileName);
      if (clientCompression && clientCompression.method !== 'none') chain = createCompressor(clientCompression, chain);
      if (injectManifest || injectRecovery) {
        chain = new TarArchiver(chain);
        if (injectManifest) {
          const appender = new MemberAppender(chain);
          baseStreamer = appender;
          chain = appender;
        }
        if (injectRecovery) chain = new RecoveryConfigInjector(chain, { serverVersionNum: versionNum, contents: recoveryText, groupAccess });
        chain = new TarParser(chain, { archiveName: name });
      }
      return chain;
    };

    const handler: BaseBackupHandler = {
      onStart: async (start) => {
        startInfo = start;
        verbose('checkpoint completed');
        if (opts.walMethod !== 'none') verbose(`write-ahead log start point: ${start.startLsn} on timeline ${start.timeline}`);
        const userTablespaces = start.tablespaces.filter((t) => t.oid !== null);
        progress.tablespaceCount = start.tablespaces.length;
        progress.totalKb = Math.floor(start.tablespaces.reduce((s, t) => s + (t.sizeEstimate ?? 0), 0) / 1024);
        if (toStdout && userTablespaces.length > 0) {
          throw new InvalidOptionError(`can only write single tablespace to stdout, database has ${start.tablespaces.length}`, {
            hint: 'Write the backup to a directory with -D DIR instead of -D -.',
          });
        }
        if (opts.format === 'plain' && target === null) {
          for (const m of opts.tablespaceMappings) {
            if (!userTablespaces.some((t) => t.location === m.oldDir)) {
              throw new InvalidOptionError(`tablespace mapping old directory "${m.oldDir}" does not match any tablespace`, {
                hint: `The server's tablespaces are at: ${userTablespaces.map((t) => `"${t.location}"`).join(', ') || 'none'}.`,
              });
            }
          }
          for (const ts of userTablespaces) {
            const loc = ts.location ?? '';
            if (!loc.startsWith('/')) continue; // in-place tablespace: extracted below -D
            const target = mapLocation(loc);
            cleanup.add(target, await prepareEmptyDirectory(target, dirMode, 'directory with -T OLDDIR=NEWDIR'), 'tablespace directory');
          }
        }
        for (const ts of userTablespaces) tablespaces.push({ oid: ts.oid as number, location: ts.location ?? '', archive: null });
        await reporter.started?.({
          systemIdentifier: system.systemId,
          serverVersionNum: versionNum,
          timeline: start.timeline,
          startLsn: start.startLsn,
          tablespaces: tablespaces.map((t) => ({ oid: t.oid, location: t.location })),
          estimatedBytes: progress.totalKb * 1024,
        });
        if (opts.walMethod === 'stream') {
          verbose('starting background WAL receiver');
          const sink = opts.format === 'plain'
            ? new DirectoryWalSink({
              directory: join(opts.pgdata, 'pg_wal'), segmentSize: walSegmentSize, sync: opts.sync,
              fileMode: groupAccess ? 0o640 : 0o600, directoryMode: dirMode,
            })
            : new TarWalSink({
              segmentSize: walSegmentSize,
              next: await (async () => {
                // pg_basebackup's tar WAL method compresses with gzip only: under client lz4 or
                // zstd (and server compression) pg_wal.tar stays uncompressed.
                const walGzip = clientCompression !== null && clientCompression.method === 'gzip' ? clientCompression : null;
                const walName = 'pg_wal.tar' + (walGzip ? compressionSuffix('gzip') : '');
                files.push(walName);
                const file = await createFile(walName);
                return walGzip ? createCompressor(walGzip, file) : file;
              })(),
            });
          const reserved = reservation as WalReservation;
          reservation = null; // start() owns it from here on, and releases it if it fails
          receiver = await WalReceiver.start({
            reservation: reserved,
            startLsn: start.startLsn,
            timeline: start.timeline,
            segmentSize: walSegmentSize,
            systemId: system.systemId,
            statusIntervalSec: opts.statusIntervalSec,
            sink,
            onSlotCreated: (slot, temporary) =>
              verbose(temporary ? `created temporary replication slot "${slot}"` : `created replication slot "${slot}"`),
            // A failed receiver must fail the backup now, not when the archives are done.
            onError: (err) => conn.destroy(err),
          });
        }
      },
      onArchiveStart: async (name, ts) => {
        if (ts.oid !== null) {
          const t = tablespaces.find((x) => x.oid === ts.oid);
          if (t) t.archive = name;
        }
        // A backup target gets the data on the server: nothing arrives here to be written.
        if (target !== null) return;
        current = await buildArchiveChain(name, ts);
        openStreamers.push(current);
      },
      onArchiveData: async (data) => {
        archiveBytes += data.length;
        if (current) await current.content(null, data, 'unknown');
        report(false);
      },
      onArchiveEnd: async () => {
        // Progress names the archive in progress by its index, from 0, as pg_basebackup does.
        progress.tablespaceNum += 1;
        if (!current) return;
        // With the manifest going into base.tar, base.tar stays open until the manifest is in.
        if (baseStreamer === null) await current.finalize();
        else manifestSink = current;
        current = null;
      },
      onManifestStart: async () => {
        manifestChunks = [];
        if (target === null && !toStdout) {
          // In a directory the manifest becomes final by rename once everything is on disk.
          const sink = await createFile(toDirectory ? 'backup_manifest.tmp' : 'backup_manifest');
          openStreamers.push(sink);
          current = sink;
        }
      },
      onManifestData: async (data) => {
        if (toStdout) manifestChunks.push(Buffer.from(data));
        else if (current) await current.content(null, data, 'unknown');
      },
      onManifestEnd: async () => {
        if (toStdout && baseStreamer !== null && manifestSink !== null) {
          await (baseStreamer as MemberAppender).append('backup_manifest', Buffer.concat(manifestChunks), { mode: groupAccess ? 0o640 : 0o600 });
          await (manifestSink as Streamer).finalize();
          manifestSink = null;
        } else if (current) {
          await current.finalize();
          current = null;
        }
      },
      onProgress: (bytes) => {
        progress.doneBytes = bytes;
        report(false);
      },
      onEnd: async (end) => {
        endLsn = end.endLsn;
        // Printed as soon as the server says it, also when an error follows (checksum failure).
        if (opts.walMethod !== 'none') verbose(`write-ahead log end point: ${endLsn}`);
      },
    };

    if (opts.walMethod === 'stream') {
      // The streaming connection and its slot come first: the slot then holds the WAL from
      // before the backup's checkpoint until streaming begins (receiver.ts, step 1).
      reservation = await WalReceiver.reserve({
        connect: () => ReplicationConnection.connect({
          ...opts.connection, passwordPrompt: opts.passwordPrompt === 'force' ? 'auto' : opts.passwordPrompt,
          recycleReadBuffers: true, ...connectOptions,
        }),
        slot: opts.slot,
        temporarySlot: opts.temporarySlot,
        createSlot: opts.createSlot,
      });
    }
    verbose('initiating base backup, waiting for checkpoint to complete');
    if (opts.progress && opts.verbose === 0) reporter.waitingForCheckpoint?.();
    try {
      await conn.baseBackup(command, handler);
    } catch (err) {
      if (err instanceof ServerError && err.sqlState === 'XX001') keepData = true;
      throw err;
    }
    if (baseStreamer !== null && manifestSink !== null) await (manifestSink as Streamer).finalize();
    progress.filename = null;
    report(true);

    if (receiver !== null) {
      verbose('waiting for background process to finish streaming ...');
      await (receiver as WalReceiver).stopAt(parseLsn(endLsn));
      receiver = null;
    }
    // Everything is made durable first (unless -N); the manifest becomes final only after
    // that, and its rename is made durable, as pg_basebackup orders it.
    if (opts.sync && target === null) {
      verbose('syncing data to disk ...');
      for (const sync of syncAtEnd) await sync();
    }
    if (!toDirectory && opts.manifest && !toStdout) files.push('backup_manifest');
    if (toDirectory && opts.manifest) {
      verbose('renaming backup_manifest.tmp to backup_manifest');
      await rename(join(opts.pgdata, 'backup_manifest.tmp'), join(opts.pgdata, 'backup_manifest'));
      files.push('backup_manifest');
      if (opts.sync) await fsyncDirectory(opts.pgdata);
    }
    verbose('base backup completed');
    const s = startInfo as BackupStart | null;
    return {
      systemIdentifier: system.systemId,
      serverVersionNum: versionNum,
      timeline: s?.timeline ?? system.timeline,
      startLsn: s?.startLsn ?? '',
      endLsn,
      tablespaces,
      files,
      bytes: archiveBytes,
      startedAt,
      finishedAt: new Date(),
    };
  } catch (err) {
    if (receiver !== null) await (receiver as WalReceiver).abort().catch(() => {});
    if (reservation !== null) await (reservation as WalReservation).release();
    for (const s of openStreamers) await s.dispose().catch(() => {});
    if (keepData) {
      // Kept without a word, as pg_basebackup keeps it after a checksum failure.
    } else if (opts.noClean) {
      if (!toStdout) reporter.info(`data directory "${opts.pgdata}" not removed at user's request`);
    } else {
      await cleanup.run((m) => reporter.info(m));
    }
    throw err;
  } finally {
    await conn.close().catch(() => {});
  }
}

/** Exposed for tests: the directory preparation rule. */
export { prepareEmptyDirectory };
