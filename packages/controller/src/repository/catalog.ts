/**
 * The catalog: which backups of a cluster are usable. A backup is usable when its directory
 * name is a backup id, it holds a valid backup.json naming that id and cluster whose status is
 * "ok" (not found damaged by `pgfleet verify`), and every file backup.json lists is present
 * with its recorded size. Every other backup directory is `unusable` (damaged) with the reason,
 * and its metadata when backup.json could be read: listed as damaged, never restored from,
 * never counted by retention.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fileError, isErrno } from '@pgfleet/core';
import { compareBackupIds, isBackupId } from './backup-id.js';
import { parseBackupMetadata, type BackupMetadata } from './backup-metadata.js';
import { BACKUP_METADATA_FILE, backupsDir } from './layout.js';

export interface CatalogEntry {
  metadata: BackupMetadata;
  /** The backup directory. */
  path: string;
}

export interface UnusableEntry {
  name: string;
  path: string;
  reason: string;
  /** backup.json, when it is valid (the damage is elsewhere). */
  metadata: BackupMetadata | null;
}

export interface ClusterCatalog {
  /** Oldest first. */
  backups: CatalogEntry[];
  unusable: UnusableEntry[];
  /** Work-in-progress names (".tmp-*", ".expire-*"). */
  inProgress: string[];
}

export async function readClusterCatalog(repository: string, cluster: string): Promise<ClusterCatalog> {
  const dir = backupsDir(repository, cluster);
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return { backups: [], unusable: [], inProgress: [] };
    throw fileError('could not open directory', dir, err);
  }
  const catalog: ClusterCatalog = { backups: [], unusable: [], inProgress: [] };
  for (const name of names.sort()) {
    const path = join(dir, name);
    if (name.startsWith('.')) {
      catalog.inProgress.push(name);
      continue;
    }
    if (!isBackupId(name)) continue; // not ours: left alone
    const { problem, metadata } = await checkBackup(path, name, cluster);
    if (problem === null && metadata !== null) catalog.backups.push({ metadata, path });
    else catalog.unusable.push({ name, path, reason: problem ?? 'unknown', metadata });
  }
  catalog.backups.sort((a, b) => compareBackupIds(a.metadata.id, b.metadata.id));
  return catalog;
}

/** The usable backup `id` of a cluster, or "latest" (the newest); null when there is none. */
export async function findBackup(repository: string, cluster: string, id: string): Promise<CatalogEntry | null> {
  const { backups } = await readClusterCatalog(repository, cluster);
  if (id === '' || id === 'latest') return backups[backups.length - 1] ?? null;
  return backups.find((b) => b.metadata.id === id) ?? null;
}

/** Why a backup directory is not usable (null: it is), and its valid backup.json if any. */
export async function checkBackup(path: string, id: string, cluster: string): Promise<{ problem: string | null; metadata: BackupMetadata | null }> {
  const unusable = (problem: string, metadata: BackupMetadata | null = null) => ({ problem, metadata });
  let text: string;
  try {
    text = await readFile(join(path, BACKUP_METADATA_FILE), 'utf8');
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return unusable(`no ${BACKUP_METADATA_FILE} (incomplete backup)`);
    return unusable(`could not read ${BACKUP_METADATA_FILE}: ${err instanceof Error ? err.message : String(err)}`);
  }
  const parsed = parseBackupMetadata(text);
  if (!parsed.ok) return unusable(`${BACKUP_METADATA_FILE}: ${parsed.reason}`);
  const meta = parsed.metadata;
  if (meta.id !== id) return unusable(`${BACKUP_METADATA_FILE} names backup "${meta.id}"`);
  if (meta.cluster !== cluster) return unusable(`${BACKUP_METADATA_FILE} names cluster "${meta.cluster}"`);
  for (const f of meta.files) {
    try {
      const st = await stat(join(path, f.name));
      if (st.size !== f.size) return unusable(`file "${f.name}" has size ${st.size}, ${BACKUP_METADATA_FILE} says ${f.size}`, meta);
    } catch {
      return unusable(`file "${f.name}" is missing`, meta);
    }
  }
  if (meta.status === 'damaged') return unusable(`pgfleet verify found it damaged at ${meta.damage?.foundAt ?? meta.verifiedAt}: ${meta.damage?.reason ?? 'no reason recorded'}`, meta);
  return { problem: null, metadata: meta };
}
