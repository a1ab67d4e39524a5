/**
 * @pgfleet/core: the replication protocol client, archive streamers, manifests and WAL helpers.
 * Explicit named re-exports only; each module documents its own contract.
 */
export * from './errors.js';
export type { ChunkKind, MemberType, TarMember, Streamer } from './archive/streamer.js';
export type {
  TablespaceInfo, BackupStart, BackupEnd, BaseBackupHandler, BaseBackupOptions,
} from './replication/base-backup-events.js';
