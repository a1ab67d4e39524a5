/**
 * VerifyBackup: re-reads a stored backup and checks it against its backup_manifest (files and
 * WAL), streaming progress, each problem as it is found, and the verdict, which is also
 * recorded in backup.json (a damaged backup is never restored). Progress is coalesced while the
 * client is slow. A client that cancels (or the daemon's shutdown) stops the reading at the
 * next chunk: core's verifyBackup takes no signal, so its progress callback throws
 * CancelledError, which ends the verification; a cancelled verification records nothing.
 */
import type * as grpc from '@grpc/grpc-js';
import {
  ArchiveFormatError, CancelledError, ManifestError, UnsafePathError, VerifyError, WalFormatError, WalMissingError, verifyBackup,
} from '@pgfleet/core';
import type { ControllerHandlers, VerifyBackupEvent, VerifyBackupRequest__Output } from '@pgfleet/proto';
import { BACKUP_METADATA_FILE } from '../repository/layout.js';
import { recordVerdict } from '../repository/verdict.js';
import { checkVerifyBackupRequest } from './request-limits.js';
import { ServerStream } from './server-stream.js';
import { backupOf, clusterByName, useBackup, type ControllerState, type NamedBackup } from './service-context.js';

/** What verifyBackup throws when the backup itself is bad (rather than the reading of it). */
const DAMAGE = [ArchiveFormatError, ManifestError, UnsafePathError, VerifyError, WalFormatError, WalMissingError];

type VerifyResult = Awaited<ReturnType<typeof verifyBackup>>;

/** Reads the backup, sending problems and progress; damage that stops the reading is recorded. */
async function verifyNamed(named: NamedBackup, stream: ServerStream<VerifyBackupEvent>): Promise<VerifyResult> {
  // The verdict is remembered in backup.json (when there is a valid one to write it to).
  const remember = async (problems: string[]): Promise<void> => {
    if (named.metadata !== null) await recordVerdict(named.path, named.metadata, { problems, at: new Date() });
  };
  let last = 0;
  let result: VerifyResult;
  try {
    result = await verifyBackup(named.path, {
      format: 'tar',
      ignore: [BACKUP_METADATA_FILE], // ours, not the server's: not in the manifest
      onProblem: (p) => stream.send({ kind: 'PROBLEM', backupId: named.id, message: p.message }),
      onProgress: (p) => {
        if (stream.signal.aborted) throw new CancelledError(`the verification of backup ${named.id} was cancelled`);
        const now = Date.now();
        if (now - last < 500) return;
        last = now;
        stream.send({ kind: 'PROGRESS', backupId: named.id, doneBytes: String(p.doneBytes), totalBytes: String(p.totalBytes) }, 'progress');
      },
    });
  } catch (err) {
    // A manifest or archive that cannot even be read is damage too; an I/O failure or a
    // cancellation says nothing about the backup and is not recorded.
    if (DAMAGE.some((cls) => err instanceof cls)) await remember([(err as Error).message]);
    throw err;
  }
  stream.signal.throwIfAborted();
  await remember(result.problems.map((p) => p.message));
  return result;
}

export function verifyBackupHandler(state: ControllerState): ControllerHandlers['VerifyBackup'] {
  return (call: grpc.ServerWritableStream<VerifyBackupRequest__Output, VerifyBackupEvent>) => {
    const stream = new ServerStream(call, state.shutdown);
    const run = async (): Promise<void> => {
      checkVerifyBackupRequest(call.request);
      const cluster = clusterByName(state, call.request.cluster);
      const named = await backupOf(state, cluster.name, call.request.backupId, 'accept');
      const release = useBackup(state, cluster.name, named.id, 'verify');
      try {
        // A backup.json that cannot be read is the first problem; the files are checked anyway.
        if (named.metadata === null) stream.send({ kind: 'PROBLEM', backupId: named.id, message: named.damage ?? 'backup.json is not usable' });
        const result = await verifyNamed(named, stream);
        const ok = result.ok && named.metadata !== null;
        const problems = result.problems.length + (named.metadata === null ? 1 : 0);
        state.logger.info(`cluster "${cluster.name}": backup ${named.id} verified: ${ok ? 'ok' : `${problems} problems, recorded as damaged`}`);
        stream.send({ kind: 'DONE', backupId: named.id, ok, filesMatched: result.filesMatched, walSegments: result.walSegmentsChecked });
      } finally {
        release();
      }
    };
    run().then(() => stream.end(), (err: unknown) => {
      if (stream.signal.aborted) state.logger.info(`verification cancelled: ${err instanceof Error ? err.message : String(err)}`);
      return stream.fail(err);
    });
  };
}
