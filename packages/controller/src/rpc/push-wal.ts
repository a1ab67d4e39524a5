/**
 * PushWal: one WAL file from an agent's archive_command (archive.proto): a WalFileRef, then the
 * bytes (at most a 1 GB segment), stored by wal-files.ts. A refusal (other content already
 * archived) is logged and kept in the cluster's WAL state, and ends the call with the
 * WalConflictError, so that archive-push fails and PostgreSQL keeps the file and retries.
 */
import type * as grpc from '@grpc/grpc-js';
import { InvalidOptionError, WalConflictError, errorFields, errorText } from '@pgfleet/core';
import { toServiceError, type PushWalRequest__Output, type PushWalResponse, type WalArchiveHandlers, type WalFileRef__Output } from '@pgfleet/proto';
import { storePushedWalFile } from '../wal/wal-files.js';
import type { ControllerState } from './service-context.js';
import { walClusterFor } from './wal-archive-service.js';

const MAX_BYTES = 1024 * 1024 * 1024;

export function pushWal(state: ControllerState): WalArchiveHandlers['PushWal'] {
  return (call: grpc.ServerReadableStream<PushWalRequest__Output, PushWalResponse>, callback: grpc.sendUnaryData<PushWalResponse>) => {
    const peer = call.getPeer();
    let ref: WalFileRef__Output | null = null;
    const chunks: Buffer[] = [];
    let bytes = 0;
    let failed = false;
    const fail = (err: unknown): void => {
      if (failed) return;
      failed = true;
      callback(toServiceError(err) as grpc.ServiceError);
    };
    call.on('data', (req: PushWalRequest__Output) => {
      if (failed) return;
      if (req.file) {
        if (ref !== null) fail(new InvalidOptionError('a WAL push names its file once'));
        ref = req.file;
      } else if (req.data) {
        if (ref === null) return fail(new InvalidOptionError('a WAL push must name its file first'));
        bytes += req.data.length;
        if (bytes > MAX_BYTES) return fail(new InvalidOptionError(`WAL file "${ref.name}" is larger than 1 GB`));
        chunks.push(req.data);
      }
    });
    call.on('end', () => {
      if (failed) return;
      const file = ref;
      if (file === null) return fail(new InvalidOptionError('a WAL push must name its file first'));
      void (async () => {
        const cluster = await walClusterFor(state, file, peer);
        try {
          const stored = await storePushedWalFile(state.config.repository, cluster, file.name, Buffer.concat(chunks), file.systemIdentifier);
          state.logger.info(`cluster "${cluster.name}": WAL file "${file.name}" archived by ${peer} (${stored.outcome})`, { cluster: cluster.name });
          callback(null, { outcome: stored.outcome, cluster: cluster.name, path: stored.path });
        } catch (err) {
          if (err instanceof WalConflictError) {
            state.walReceivers.noteConflict(cluster.name, errorText(err));
            state.logger.error(`cluster "${cluster.name}": archive-push of "${file.name}" refused: ${errorText(err)}`, { cluster: cluster.name, error: errorFields(err) });
          }
          throw err;
        }
      })().catch(fail);
    });
    call.on('error', () => undefined);
  };
}
