/**
 * One cluster's backup into the repository, all or nothing:
 *   reserve an id and a staging directory -> take the backup into it (through the cluster's
 *   agent, or directly over the replication protocol), each archive's members checksummed as
 *   they arrive -> once backup_manifest is in, compare with it and check the WAL (the data is
 *   not read again: core's ArrivalVerifier) -> commit (backup.json written last, directory
 *   renamed into place).
 * On any failure the staging directory is removed and the attempt recorded as failed
 * (repository/attempts.ts, for `pgfleet backups --all`) before the error is rethrown, so
 * nothing of the attempt is ever listed as a backup or left behind; a crash of the daemon itself leaves a ".tmp-*"
 * directory that the next start removes.
 * Progress goes to `emit` (throttled): bytes, total estimate, rate and ETA. Files are written
 * on the thread pool (FileSink without `blocking`, fs/promises), never with blocking calls on
 * the daemon's event loop, which serves every other call meanwhile.
 */
import { join } from 'node:path';
import { ArrivalVerifier, FileSink, TeeStreamer, VerifyError, parseCompressionSpec, type Streamer } from '@pgfleet/core';
import { asPgFleetError, directoryFiles, type AgentClient } from '@pgfleet/proto';
import type { ClusterConfig } from '../config.js';
import { runBaseBackup, type BaseBackupRunOptions } from '../core-api.js';
import { recordAttempt, type BackupTrigger } from '../repository/attempts.js';
import type { BackupMetadata, BackupMetadataTablespace } from '../repository/backup-metadata.js';
import { METADATA_FORMAT } from '../repository/backup-metadata.js';
import { abortBackup, beginBackup, commitBackup, listStagedFiles, type StagedBackup } from '../repository/staging.js';
import { PGFLEET_VERSION } from '../version.js';

import { ProgressMeter, type ProgressReading } from './progress-meter.js';

export type ClusterBackupEvent =
  | { kind: 'started'; cluster: string; backupId: string; via: string }
  | ({ kind: 'progress' | 'verifying'; cluster: string; backupId: string } & ProgressReading)
  | { kind: 'completed'; cluster: string; backupId: string; metadata: BackupMetadata; path: string };

export interface ClusterBackupOptions {
  repository: string;
  cluster: ClusterConfig;
  /** The cluster's agent, or null for a direct backup. */
  agent: AgentClient | null;
  signal?: AbortSignal;
  emit?: (event: ClusterBackupEvent) => void;
  /** Minimum interval between progress events (default 500 ms). */
  progressIntervalMs?: number;
  /** Direct backups: the no-progress deadline of the replication connections (0: none). */
  noProgressTimeoutMs?: number;
  /** Why it runs, recorded with a failed attempt (default "request"). */
  trigger?: BackupTrigger;
}

/** What a backup run tells us, whichever way it ran. */
interface TakenBackup {
  systemIdentifier: string;
  serverVersionNum: number;
  timeline: number;
  startLsn: string;
  endLsn: string;
  tablespaces: BackupMetadataTablespace[];
  dataBytes: number;
}

export async function backupCluster(options: ClusterBackupOptions): Promise<{ metadata: BackupMetadata; path: string }> {
  const { cluster } = options;
  const emit = options.emit ?? (() => {});
  const staged = await beginBackup(options.repository, cluster.name);
  const via = options.agent ? `agent:${options.agent.name}` : 'direct';
  const interval = options.progressIntervalMs ?? 500;
  const meter = new ProgressMeter();
  let lastEmit = 0;
  const progress = (kind: 'progress' | 'verifying', done: number, total: number, force = false): void => {
    const now = Date.now();
    if (!force && now - lastEmit < interval) return;
    lastEmit = now;
    emit({ kind, cluster: cluster.name, backupId: staged.id, ...meter.update(done, total, now) });
  };

  // The controller asks for CRC-32C manifest checksums, so that is what is computed on arrival.
  const verifier = new ArrivalVerifier({ dir: staged.dir, algorithm: MANIFEST_CHECKSUMS });
  try {
    emit({ kind: 'started', cluster: cluster.name, backupId: staged.id, via });
    const label = `pgfleet ${cluster.name} ${staged.id}`;
    const taken = options.agent
      ? await takeThroughAgent(options.agent, cluster, staged, label, progress, verifier, options.signal)
      : await takeDirect(cluster, staged, label, progress, verifier, options.signal, options.noProgressTimeoutMs ?? 0);

    // The members were checksummed as they arrived: compare them with the manifest (and read
    // the WAL) before the backup may become usable.
    const verifyMeter = new ProgressMeter();
    progress('verifying', 0, 0, true);
    const verified = await verifier.finish({
      onProgress: (p) => {
        const now = Date.now();
        if (now - lastEmit < interval) return;
        lastEmit = now;
        emit({ kind: 'verifying', cluster: cluster.name, backupId: staged.id, ...verifyMeter.update(p.doneBytes, p.totalBytes, now) });
      },
    });
    if (!verified.ok) {
      const first = verified.problems[0];
      const more = verified.problems.length > 1 ? ` (and ${verified.problems.length - 1} more problems)` : '';
      throw new VerifyError(`backup of cluster "${cluster.name}" does not match its manifest: ${first?.message ?? 'unknown problem'}${more}`, {
        ...(first?.hint ? { hint: first.hint } : {}),
      });
    }
    options.signal?.throwIfAborted();

    // The archive of each tablespace as stored (with the client compression suffix).
    const stored = (await listStagedFiles(staged.dir)).map((f) => f.name);
    const tablespaces = taken.tablespaces.map((t) => ({
      ...t,
      archive: stored.find((n) => n === `${t.oid}.tar` || n.startsWith(`${t.oid}.tar.`)) ?? t.archive,
    }));

    const finishedAt = new Date();
    const committed = await commitBackup(staged, {
      format: METADATA_FORMAT,
      id: staged.id,
      cluster: cluster.name,
      type: 'full',
      status: 'ok',
      label,
      startLsn: taken.startLsn,
      endLsn: taken.endLsn,
      timeline: taken.timeline,
      systemIdentifier: taken.systemIdentifier,
      serverVersionNum: taken.serverVersionNum,
      tablespaces,
      dataBytes: taken.dataBytes,
      compression: cluster.compression,
      walMethod: cluster.walMethod,
      via,
      startedAt: staged.startedAt.toISOString(),
      finishedAt: finishedAt.toISOString(),
      verifiedAt: finishedAt.toISOString(),
      pgfleetVersion: PGFLEET_VERSION,
    });
    emit({ kind: 'completed', cluster: cluster.name, backupId: staged.id, ...committed });
    return committed;
  } catch (err) {
    await verifier.dispose();
    await abortBackup(staged);
    const e = asPgFleetError(err);
    try {
      await recordAttempt(options.repository, {
        format: 'pgfleet-attempt-1', cluster: cluster.name, id: staged.id, status: 'failed', startedAt: staged.startedAt.toISOString(),
        endedAt: new Date().toISOString(), trigger: options.trigger ?? 'request',
        error: { id: e.id, code: e.code, message: e.message, hint: e.hint ?? '' },
      });
    } catch {
      // The record is history (a full disk may be why the backup failed): the error itself
      // still reaches the caller and the daemon's log.
    }
    throw err;
  }
}

const MANIFEST_CHECKSUMS = 'CRC32C';

type Progress = (kind: 'progress', done: number, total: number, force?: boolean) => void;

async function takeDirect(
  cluster: ClusterConfig, staged: StagedBackup, label: string, progress: Progress, verifier: ArrivalVerifier, signal: AbortSignal | undefined,
  noProgressTimeoutMs: number,
): Promise<TakenBackup> {
  const options: BaseBackupRunOptions = {
    connection: { connectionString: cluster.conninfo, noProgressTimeoutMs },
    // Each file goes to the staging directory and, at the same time, to the verifier.
    destination: {
      kind: 'sinks',
      async createFile(name: string): Promise<Streamer> {
        const file = await FileSink.create(join(staged.dir, name), { removeOnFailure: false });
        return new TeeStreamer([file, verifier.observe(name)]);
      },
    },
    walMethod: cluster.walMethod,
    compression: parseCompressionSpec(cluster.compression),
    checkpoint: cluster.checkpoint,
    label,
    maxRateKbPerSec: cluster.maxRateKb,
    manifest: { checksums: MANIFEST_CHECKSUMS },
  };
  const result = await runBaseBackup(options, {
    info() {},
    progress: (state, final) => progress('progress', state.doneBytes, state.totalKb * 1024, final),
  }, signal ? { signal } : {});
  return {
    systemIdentifier: result.systemIdentifier,
    serverVersionNum: result.serverVersionNum,
    timeline: result.timeline,
    startLsn: result.startLsn,
    endLsn: result.endLsn,
    tablespaces: result.tablespaces.map((t) => ({ oid: t.oid, location: t.location, archive: t.archive ?? '' })),
    dataBytes: result.bytes,
  };
}

async function takeThroughAgent(
  agent: AgentClient, cluster: ClusterConfig, staged: StagedBackup, label: string, progress: Progress, verifier: ArrivalVerifier,
  signal?: AbortSignal,
): Promise<TakenBackup> {
  const outcome = await agent.receiveBackup({
    conninfo: cluster.conninfo,
    label,
    checkpoint: cluster.checkpoint,
    walMethod: cluster.walMethod,
    compression: cluster.compression,
    manifestChecksums: MANIFEST_CHECKSUMS,
    maxRateKb: cluster.maxRateKb ?? 0,
  }, {
    // Each file is fsynced when it ends and verified as it arrives (the archives are not read
    // back, so they are written past the page cache; the verifier reads backup_manifest and
    // pg_wal.tar again, from the disk then). Its chunks are views into gRPC messages, which
    // nothing writes again: the verifier may keep them without a copy.
    open: directoryFiles(staged.dir, { sync: true, directIo: true, observe: (name) => verifier.observe(name, { inputOwned: true }) }),
    onProgress: (p) => progress('progress', p.doneBytes > 0 ? p.doneBytes : p.receivedBytes, p.totalBytes),
    ...(signal ? { signal } : {}),
  });
  const r = outcome.result;
  progress('progress', Number(r.bytes), Number(r.bytes), true);
  return {
    systemIdentifier: r.systemIdentifier,
    serverVersionNum: r.serverVersionNum,
    timeline: r.timeline,
    startLsn: r.startLsn,
    endLsn: r.endLsn,
    tablespaces: r.tablespaces.map((t) => ({ oid: t.oid, location: t.location, archive: t.archive })),
    dataBytes: Number(r.bytes),
  };
}
