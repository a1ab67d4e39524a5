/**
 * GetWal: one WAL file for an agent's restore_command (archive.proto): a WalFileHeader (size,
 * SHA-256, whether it is the incomplete newest segment), then the bytes in 1 MB chunks,
 * honouring flow control. A file the archive lacks ends the call with NotFoundError (recovery
 * ends there); a file that cannot be read or fails its check with that error (the agent aborts
 * recovery rather than end it early).
 */
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import type * as grpc from '@grpc/grpc-js';
import { InvalidOptionError } from '@pgfleet/core';
import type { GetWalEvent, GetWalRequest__Output, WalArchiveHandlers } from '@pgfleet/proto';
import { readWalFileForRecovery } from '../wal/wal-files.js';
import type { ControllerState } from './service-context.js';
import { walClusterFor } from './wal-archive-service.js';

const CHUNK = 1024 * 1024;

export function getWal(state: ControllerState): WalArchiveHandlers['GetWal'] {
  return async (call: grpc.ServerWritableStream<GetWalRequest__Output, GetWalEvent>) => {
    const ref = call.request.file;
    if (!ref) throw new InvalidOptionError('a WAL request must name its file');
    const cluster = await walClusterFor(state, ref, call.getPeer());
    const file = await readWalFileForRecovery(state.config.repository, cluster.name, ref.name);
    const sha256 = createHash('sha256').update(file.content).digest('hex');
    call.write({ header: { cluster: cluster.name, size: String(file.content.length), sha256, partial: file.partial } });
    for (let at = 0; at < file.content.length && !call.cancelled; at += CHUNK) {
      if (!call.write({ data: file.content.subarray(at, at + CHUNK) })) await once(call, 'drain');
    }
    call.end();
  };
}
