/**
 * The WalArchive service (archive.proto), which the controller serves to agents only (role
 * "agent"): PushWal (push-wal.ts) and GetWal (get-wal.ts). Both name a file of a cluster's
 * archive with a WalFileRef: the cluster by name, or else the one cluster whose archive belongs
 * to the caller's system identifier.
 */
import { InvalidOptionError, NotFoundError } from '@pgfleet/core';
import { checkProtocolCompatibility, type WalArchiveHandlers, type WalFileRef__Output } from '@pgfleet/proto';
import type { ClusterConfig } from '../config.js';
import { readWalArchiveMetadata } from '../wal/wal-archiver.js';
import { getWal } from './get-wal.js';
import { pushWal } from './push-wal.js';
import { clusterByName, type ControllerState } from './service-context.js';

export function createWalArchiveHandlers(state: ControllerState): WalArchiveHandlers {
  return {
    PushWal: pushWal(state),
    GetWal: getWal(state),
  };
}

/** The cluster a WalFileRef names (see the module comment), after the caller's protocol version is checked. */
export async function walClusterFor(state: ControllerState, ref: WalFileRef__Output, peer: string): Promise<ClusterConfig> {
  if (ref.protocolVersion !== '') checkProtocolCompatibility(state.protocolVersion, ref.protocolVersion, { peer: `agent ${peer}`, self: 'controller' });
  if (ref.cluster !== '') return clusterByName(state, ref.cluster);
  if (ref.systemIdentifier === '') {
    throw new InvalidOptionError('a WAL file request names neither a cluster nor a system identifier', { hint: 'Give --cluster NAME.' });
  }
  const matches: ClusterConfig[] = [];
  for (const c of state.config.clusters) {
    const meta = await readWalArchiveMetadata(state.config.repository, c.name).catch(() => null);
    if (meta?.systemIdentifier === ref.systemIdentifier) matches.push(c);
  }
  if (matches.length === 1) return matches[0] as ClusterConfig;
  if (matches.length === 0) {
    throw new NotFoundError(`no cluster's WAL archive belongs to system ${ref.systemIdentifier}`, {
      hint: 'Give --cluster NAME, or archive the server first (fleet.yaml "wal: { archive: stream }", or archive-push).',
    });
  }
  throw new InvalidOptionError(`the WAL archives of clusters ${matches.map((m) => `"${m.name}"`).join(', ')} all belong to system ${ref.systemIdentifier}`, {
    hint: 'Give --cluster NAME to say which one.',
  });
}
