/**
 * The agent's Backup call (proto/pgfleet/v1/BACKUP-RPC.md): runs core's runBaseBackup (tar
 * format) against the local server and streams pg_basebackup's tar layout to the caller as a
 * file stream (@pgfleet/proto's FileStreamWriter):
 *
 *     started ( file_begin | data | file_end | progress )* result
 *
 * Every file is sent as the server produces it, each chunk waiting for gRPC's 'drain' (a slow
 * caller slows the server down): pg_wal.tar under -X stream, written while the data archives
 * arrive, interleaves with them under its own file id. Nothing is written to the agent's disk.
 * A cancelled call aborts the backup (its signal), which stops the WAL receiver and drops the
 * temporary slot.
 *
 * `started` is sent before the first file is created, from core's reporter hook (the server
 * has then answered BASE_BACKUP with its start point): system identifier, server version,
 * timeline, start LSN, the tablespaces and the size estimate, all from the backup's own
 * connection.
 */

import { once } from 'node:events';
import path from 'node:path';
import type * as grpc from '@grpc/grpc-js';
import {
  CancelledError, InternalError, InvalidOptionError, parseCompressionSpec, runBaseBackup,
  type BackupOutput, type BackupStartInfo, type BaseBackupResult, type BaseBackupRunOptions, type ManifestChecksums, type Streamer,
} from '@pgfleet/core';
import { FileStreamWriter, type BackupEvent, type BackupRequest__Output } from '@pgfleet/proto';
import type { AgentConfig } from '../config.js';
import { resolveOwner } from '../instance/owner.js';
import { readPostmasterPid } from '../instance/status.js';
import { canonicalPath, checkAllowed } from '../policy/allowed-roots.js';

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

export function backupRunOptions(req: BackupRequest__Output, connection: Connection, output: BackupOutput): BaseBackupRunOptions {
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
    destination: { kind: 'sinks', ...output },
    walMethod,
    compression: parseCompressionSpec(req.compression === '' ? 'none' : req.compression),
    checkpoint,
    label: req.label === '' ? 'pgfleet-agent backup' : req.label,
    maxRateKbPerSec: req.maxRateKb > 0 ? req.maxRateKb : null,
    manifest: { checksums: (req.manifestChecksums === '' ? 'CRC32C' : req.manifestChecksums) as ManifestChecksums },
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

function tablespaceOidOf(name: string): number {
  const m = /^([1-9][0-9]*)\.tar/.exec(name);
  return m ? Number(m[1]) : 0;
}

/** The `started` event: who the server is and where the backup starts. */
function startedEvent(info: BackupStartInfo): BackupEvent {
  return {
    started: {
      startLsn: info.startLsn, timeline: info.timeline, systemIdentifier: info.systemIdentifier,
      serverVersionNum: info.serverVersionNum, estimatedBytes: String(info.estimatedBytes),
      tablespaces: info.tablespaces.map((t) => ({ oid: t.oid, location: t.location, archive: '' })),
    },
  };
}

/** The `result` event; `sent` are the files in the order they were begun. */
function resultEvent(result: BaseBackupResult, sent: string[], req: BackupRequest__Output, walMethod: string): BackupEvent {
  return {
    result: {
      systemIdentifier: result.systemIdentifier,
      serverVersionNum: result.serverVersionNum,
      timeline: result.timeline,
      startLsn: result.startLsn,
      endLsn: result.endLsn,
      // core names the server's archive ("16384.tar"); the wire names the file sent ("16384.tar.gz").
      tablespaces: result.tablespaces.map((t) => ({
        oid: t.oid, location: t.location, archive: sent.find((n) => tablespaceOidOf(n) === t.oid) ?? t.archive ?? '',
      })),
      files: sent,
      bytes: String(result.bytes),
      startedAt: result.startedAt.toISOString(),
      finishedAt: result.finishedAt.toISOString(),
      compression: req.compression === '' ? 'none' : req.compression,
      walMethod,
    },
  };
}

/** Serves one Backup call; resolves when the call has ended (with OK or an error status). */
export async function serveBackupCall(
  call: grpc.ServerWritableStream<BackupRequest__Output, BackupEvent>,
  context: BackupCallContext,
): Promise<void> {
  const req = call.request;
  const noProgressMs = context.config.noProgressTimeoutSeconds * 1000;
  const writer = new EventWriter(call, context.signal, noProgressMs);
  const files = new FileStreamWriter((frame) => writer.send(frame));
  let startedSent = false;

  const connection = { ...await backupConnection(req, context.config), noProgressTimeoutMs: noProgressMs };
  const options = backupRunOptions(req, connection, {
    createFile: async (name: string): Promise<Streamer> => {
      if (!startedSent) throw new InternalError(`file "${name}" created before the backup started`);
      return files.begin({ name, tablespaceOid: tablespaceOidOf(name) });
    },
  });
  const result = await runBaseBackup(options, {
    info: () => {},
    // Before the first file: who the server is and where the backup starts.
    started: async (info) => {
      await writer.send(startedEvent(info));
      startedSent = true;
    },
    progress: (state) => {
      if (startedSent) writer.post({ progress: { doneBytes: String(state.doneBytes), totalBytes: String(state.totalKb * 1024) } });
    },
  }, { signal: context.signal });
  await writer.send(resultEvent(result, files.begun, req, options.walMethod));
  context.log(`Backup: ${result.files.length} files, ${result.bytes} bytes, ${result.startLsn} - ${result.endLsn}`);
  call.end();
}
