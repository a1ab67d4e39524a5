/**
 * The agent's Backup call (proto/pgfleet/v1/BACKUP-RPC.md): runs core's runBaseBackup (tar
 * format) against the local server and streams pg_basebackup's tar layout to the caller as
 *
 *     started ( file_begin data* file_end )* result        (progress anywhere after started)
 *
 * Files go out one at a time. The data archives (base.tar, <oid>.tar) and backup_manifest come
 * from the server one after the other, so they stream live, each chunk waiting for gRPC's
 * 'drain' (a slow caller slows the server down). pg_wal.tar under -X stream is written at the
 * same time as the data archives, so it (and anything else created while a live file is open)
 * is spooled to a private temporary directory and sent after runBaseBackup has finished; the
 * directory is removed whatever happens. A cancelled call aborts the backup (its signal), which
 * stops the WAL receiver and drops the temporary slot; nothing is left on the agent's disk.
 * Only a killed agent (kill -9) leaves its spool, named `pgfleet-agent-backup-<pid>-<random>`
 * in the system temporary directory: the next agent removes those of dead processes when it
 * starts (removeLeftoverSpools).
 *
 * `started` is sent before the first file is created, from core's reporter hook (the server
 * has then answered BASE_BACKUP with its start point): system identifier, server version,
 * timeline, start LSN, the tablespaces and the size estimate, all from the backup's own
 * connection.
 */

import { once } from 'node:events';
import { createReadStream } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type * as grpc from '@grpc/grpc-js';
import {
  CancelledError,
  FileSink,
  InternalError,
  InvalidOptionError,
  fileError,
  parseCompressionSpec,
  type ChunkKind,
  type Streamer,
  type TarMember,
} from '@pgfleet/core';
import type { AgentConfig } from '../config.js';
import { runBaseBackup, type BaseBackupRunOptions } from './backup-core-api.js';
import type { BackupEvent } from '../gen/pgfleet/v1/BackupEvent.js';
import type { BackupRequest__Output } from '../gen/pgfleet/v1/BackupRequest.js';
import { resolveOwner } from '../restore/owner.js';
import { processAlive } from '../restore/staging.js';
import { readPostmasterPid } from '../restore/start.js';
import { canonicalPath, checkAllowed } from '../restore/validate.js';

/** The spool directories of Backup calls: `<tmpdir>/pgfleet-agent-backup-<pid>-<random>`. */
const SPOOL_PREFIX = 'pgfleet-agent-backup-';
const SPOOL_NAME = /^pgfleet-agent-backup-([1-9][0-9]*)-[A-Za-z0-9]{6}$/;

/**
 * Removes the spool directories that agent processes killed during a Backup left in `dir` (the
 * system temporary directory). Called once when the agent starts, before it serves: a
 * directory named with this process's own PID is then an earlier process's too (an agent that
 * is PID 1 in a container has the same PID after every restart). Directories of live agents,
 * and anything not named like a spool, are left alone. Returns the paths removed.
 */
export async function removeLeftoverSpools(dir: string = os.tmpdir()): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    const pid = Number(SPOOL_NAME.exec(name)?.[1] ?? 0);
    if (pid === 0 || (pid !== process.pid && processAlive(pid))) continue;
    const leftover = path.join(dir, name);
    try {
      await rm(leftover, { recursive: true, force: true });
    } catch (err) {
      throw fileError('could not remove leftover backup spool directory', leftover, err);
    }
    removed.push(leftover);
  }
  return removed;
}

/** Data messages are coalesced to about this size (BACKUP-RPC.md recommends 64 KiB - 1 MiB). */
const CHUNK = 256 * 1024;

export interface BackupCallContext {
  config: AgentConfig;
  log: (line: string) => void;
  signal: AbortSignal;
}

type Connection = BaseBackupRunOptions['connection'];

/** Where runBaseBackup connects: the request's conninfo, else the data directory's running server. */
export async function backupConnection(req: BackupRequest__Output, config: AgentConfig): Promise<Connection> {
  if (req.conninfo !== '') return { connectionString: req.conninfo };
  if (req.dataDir === '') {
    throw new InvalidOptionError('a backup request needs a conninfo or a data directory', {
      hint: 'Set BackupRequest.conninfo to the local server\'s connection string, or data_dir to its data directory.',
    });
  }
  if (!path.isAbsolute(req.dataDir)) throw new InvalidOptionError(`data directory "${req.dataDir}" is not an absolute path`);
  const dataDir = await canonicalPath(path.resolve(req.dataDir));
  checkAllowed({ path: dataDir, what: 'data directory' }, config.allowedRoots);
  const pm = await readPostmasterPid(dataDir);
  if (!pm?.alive) throw new InvalidOptionError(`no server is running in "${dataDir}"`, { hint: 'Start it, or give BackupRequest.conninfo.' });
  return { host: pm.socketDir, port: pm.port, user: config.connectUser ?? resolveOwner(config.osUser).name };
}

export function backupRunOptions(req: BackupRequest__Output, connection: Connection, output: BaseBackupRunOptions['output']): BaseBackupRunOptions {
  const checkpoint = req.checkpoint === '' ? 'fast' : req.checkpoint;
  if (checkpoint !== 'fast' && checkpoint !== 'spread') {
    throw new InvalidOptionError(`invalid checkpoint argument "${req.checkpoint}", must be "fast" or "spread"`);
  }
  const walMethod = req.walMethod === '' ? 'stream' : req.walMethod;
  if (walMethod !== 'stream' && walMethod !== 'fetch') {
    throw new InvalidOptionError(`invalid wal-method option "${req.walMethod}", must be "fetch" or "stream"`);
  }
  return {
    connection,
    passwordPrompt: 'never',
    pgdata: '',
    format: 'tar',
    walMethod,
    slot: null,
    createSlot: false,
    temporarySlot: walMethod === 'stream',
    compression: parseCompressionSpec(req.compression === '' ? 'none' : req.compression),
    writeRecoveryConf: false,
    tablespaceMappings: [],
    waldir: null,
    checkpoint,
    label: req.label === '' ? 'pgfleet-agent backup' : req.label,
    noClean: false,
    sync: false,
    progress: true,
    estimateSize: true,
    maxRateKbPerSec: req.maxRateKb > 0 ? req.maxRateKb : null,
    statusIntervalSec: 10,
    // Milestones are needed: the start point for `started` comes from them.
    verbose: 1,
    manifest: true,
    manifestChecksums: (req.manifestChecksums === '' ? 'CRC32C' : req.manifestChecksums) as BaseBackupRunOptions['manifestChecksums'],
    manifestForceEncode: false,
    verifyChecksums: true,
    output,
  };
}

/**
 * Writes events to the call in order, waiting for 'drain' when gRPC's buffer is full. A caller
 * that takes nothing for `noProgressMs` (gone without a word, or stopped) ends the backup: its
 * WAL sender and temporary slot must not wait for it.
 */
class EventWriter {
  constructor(
    private readonly call: grpc.ServerWritableStream<BackupRequest__Output, BackupEvent>,
    private readonly signal: AbortSignal,
    private readonly noProgressMs: number,
  ) {}

  async send(event: BackupEvent): Promise<void> {
    if (this.signal.aborted || this.call.cancelled) throw new CancelledError('the backup was cancelled');
    if (!this.call.write(event)) {
      const stalled = AbortSignal.timeout(this.noProgressMs);
      try {
        await once(this.call, 'drain', { signal: AbortSignal.any([this.signal, stalled]) });
      } catch {
        if (stalled.aborted && !this.signal.aborted) {
          throw new CancelledError(`the caller took nothing of the backup for ${this.noProgressMs / 1000} s: it is gone or stuck`, {
            hint: 'The agent stopped the backup and dropped its temporary replication slot; take the backup again.',
          });
        }
        throw new CancelledError('the backup was cancelled');
      }
    }
  }

  /** For progress: never waits (a progress message is small and the next data write waits anyway). */
  post(event: BackupEvent): void {
    if (!this.signal.aborted && !this.call.cancelled) this.call.write(event);
  }
}

/** A file sent as it is written: file_begin now, data chunks of about CHUNK bytes, file_end at finalize. */
class LiveFile implements Streamer {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  bytes = 0;

  constructor(private readonly writer: EventWriter, private readonly onDone: () => void) {}

  async content(_member: TarMember | null, data: Buffer, _kind: ChunkKind): Promise<void> {
    if (data.length === 0) return;
    this.pending.push(Buffer.from(data));
    this.pendingBytes += data.length;
    this.bytes += data.length;
    if (this.pendingBytes >= CHUNK) await this.flush();
  }

  private async flush(): Promise<void> {
    if (this.pendingBytes === 0) return;
    const data = this.pending.length === 1 ? (this.pending[0] as Buffer) : Buffer.concat(this.pending);
    this.pending = [];
    this.pendingBytes = 0;
    await this.writer.send({ data });
  }

  async finalize(): Promise<void> {
    await this.flush();
    await this.writer.send({ fileEnd: {} });
    this.onDone();
  }

  async dispose(): Promise<void> {
    this.pending = [];
  }
}

function tablespaceOidOf(name: string): number {
  const m = /^([1-9][0-9]*)\.tar/.exec(name);
  return m ? Number(m[1]) : 0;
}

/** Serves one Backup call; resolves when the call has ended (with OK or an error status). */
export async function serveBackupCall(
  call: grpc.ServerWritableStream<BackupRequest__Output, BackupEvent>,
  context: BackupCallContext,
): Promise<void> {
  const req = call.request;
  const noProgressMs = context.config.noProgressTimeoutSeconds * 1000;
  const writer = new EventWriter(call, context.signal, noProgressMs);
  let spoolDir: string | null = null;
  const spooled: Array<{ name: string; path: string }> = [];
  let liveOpen = false;
  let startedSent = false;
  let estimatedBytes = 0;

  try {
    const connection = { ...await backupConnection(req, context.config), noProgressTimeoutMs: noProgressMs };
    const options = backupRunOptions(req, connection, {
      createFile: async (name: string): Promise<Streamer> => {
        if (!startedSent) throw new InternalError(`file "${name}" created before the backup started`);
        if (name.startsWith('pg_wal.tar') || liveOpen) {
          spoolDir ??= await mkdtemp(path.join(os.tmpdir(), `${SPOOL_PREFIX}${process.pid}-`)).catch((err: unknown) => {
            throw fileError('could not create directory', os.tmpdir(), err);
          });
          const file = path.join(spoolDir, name);
          spooled.push({ name, path: file });
          return FileSink.create(file, { removeOnFailure: true });
        }
        liveOpen = true;
        await writer.send({ fileBegin: { name, size: '0', tablespaceOid: tablespaceOidOf(name), tablespaceLocation: '' } });
        return new LiveFile(writer, () => { liveOpen = false; });
      },
    });
    const result = await runBaseBackup(options, {
      info: () => {},
      // Before the first file: who the server is and where the backup starts.
      started: async (info) => {
        estimatedBytes = info.estimatedBytes;
        await writer.send({
          started: {
            startLsn: info.startLsn, timeline: info.timeline, systemIdentifier: info.systemIdentifier,
            serverVersionNum: info.serverVersionNum, estimatedBytes: String(info.estimatedBytes),
            tablespaces: info.tablespaces.map((t) => ({ oid: t.oid, location: t.location, archive: '' })),
          },
        });
        startedSent = true;
      },
      progress: (state) => {
        estimatedBytes = state.totalKb * 1024;
        if (startedSent) writer.post({ progress: { doneBytes: String(state.doneBytes), totalBytes: String(estimatedBytes) } });
      },
    }, { signal: context.signal });

    // The held-back files, now complete.
    for (const f of spooled) {
      await writer.send({ fileBegin: { name: f.name, size: '0', tablespaceOid: 0, tablespaceLocation: '' } });
      try {
        for await (const chunk of createReadStream(f.path, { highWaterMark: CHUNK })) await writer.send({ data: chunk as Buffer });
      } catch (err) {
        if (err instanceof CancelledError) throw err;
        throw fileError('could not read file', f.path, err);
      }
      await writer.send({ fileEnd: {} });
    }
    // The spool is gone before the caller hears the result: a finished call leaves nothing.
    if (spoolDir !== null) {
      await rm(spoolDir, { recursive: true, force: true }).catch(() => undefined);
      spoolDir = null;
    }
    await writer.send({
      result: {
        systemIdentifier: result.systemIdentifier,
        serverVersionNum: result.serverVersionNum,
        timeline: result.timeline,
        startLsn: result.startLsn,
        endLsn: result.endLsn,
        // core names the server's archive ("16384.tar"); the wire names the file sent ("16384.tar.gz").
        tablespaces: result.tablespaces.map((t) => ({
          oid: t.oid, location: t.location, archive: result.files.find((n) => tablespaceOidOf(n) === t.oid) ?? t.archive ?? '',
        })),
        files: [...result.files.filter((n) => !spooled.some((s) => s.name === n)), ...spooled.map((s) => s.name)],
        bytes: String(result.bytes),
        startedAt: result.startedAt.toISOString(),
        finishedAt: result.finishedAt.toISOString(),
        compression: req.compression === '' ? 'none' : req.compression,
        walMethod: options.walMethod,
      },
    });
    context.log(`Backup: ${result.files.length} files, ${result.bytes} bytes, ${result.startLsn} - ${result.endLsn}`);
    call.end();
  } finally {
    if (spoolDir !== null) await rm(spoolDir, { recursive: true, force: true }).catch(() => undefined);
  }
}
