/**
 * Where things live in a repository (a local directory):
 *
 *   <repo>/<cluster>/backups/<backup-id>/            a usable backup: pg_basebackup's tar layout
 *                                                    (base.tar[.gz|.lz4|.zst], <oid>.tar...,
 *                                                    pg_wal.tar, backup_manifest) + backup.json
 *   <repo>/<cluster>/backups/.tmp-<backup-id>/       a backup being written (or left by a crash)
 *   <repo>/<cluster>/backups/.expire-<backup-id>/    a backup being removed
 *   <repo>/<cluster>/wal/<timeline %08X>/            the continuous WAL archive: <segment>[.lz4|.zst|.gz],
 *                                                    the open one as <segment>[suffix].partial, and
 *                                                    the timeline's <TTTTTTTT>.history
 *   <repo>/<cluster>/wal/archive.json                the archived server's system identifier and
 *                                                    WAL segment size
 *
 * Only directories whose name is a backup id and that hold backup.json are backups. Every name
 * starting with "." is work in progress of this daemon and is removed at daemon start.
 */
import { join } from 'node:path';

export const BACKUP_METADATA_FILE = 'backup.json';
export const TMP_PREFIX = '.tmp-';
export const EXPIRE_PREFIX = '.expire-';

export function clusterDir(repository: string, cluster: string): string {
  return join(repository, cluster);
}

export function backupsDir(repository: string, cluster: string): string {
  return join(repository, cluster, 'backups');
}

export function backupDir(repository: string, cluster: string, id: string): string {
  return join(backupsDir(repository, cluster), id);
}

export function stagingDir(repository: string, cluster: string, id: string): string {
  return join(backupsDir(repository, cluster), TMP_PREFIX + id);
}

export function expiringDir(repository: string, cluster: string, id: string): string {
  return join(backupsDir(repository, cluster), EXPIRE_PREFIX + id);
}

export const WAL_ARCHIVE_METADATA_FILE = 'archive.json';
/** The stretches of WAL the server removed before the archive received them (wal/removed-wal.ts). */
export const WAL_REMOVED_FILE = 'removed.json';

/** The cluster's continuous WAL archive: one directory per timeline below it. */
export function walDir(repository: string, cluster: string): string {
  return join(repository, cluster, 'wal');
}
