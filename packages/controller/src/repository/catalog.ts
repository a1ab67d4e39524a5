/**
 * The catalog: which backups of a cluster are usable. A backup is usable when its directory
 * name is a backup id, it holds a valid backup.json naming that id and cluster, and every file
 * backup.json lists is present with its recorded size. Everything else is reported as
 * `unusable` with the reason (never listed as a backup, never restored from).
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
    const problem = await checkBackup(path, name, cluster, (metadata) => catalog.backups.push({ metadata, path }));
    if (problem !== null) catalog.unusable.push({ name, path, reason: problem });
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

async function checkBackup(path: string, id: string, cluster: string, accept: (m: BackupMetadata) => void): Promise<string | null> {
  let text: string;
  try {
    text = await readFile(join(path, BACKUP_METADATA_FILE), 'utf8');
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return `no ${BACKUP_METADATA_FILE} (incomplete backup)`;
    return `could not read ${BACKUP_METADATA_FILE}: ${err instanceof Error ? err.message : String(err)}`;
  }
  const parsed = parseBackupMetadata(text);
  if (!parsed.ok) return `${BACKUP_METADATA_FILE}: ${parsed.reason}`;
  const meta = parsed.metadata;
  if (meta.id !== id) return `${BACKUP_METADATA_FILE} names backup "${meta.id}"`;
  if (meta.cluster !== cluster) return `${BACKUP_METADATA_FILE} names cluster "${meta.cluster}"`;
  for (const f of meta.files) {
    try {
      const st = await stat(join(path, f.name));
      if (st.size !== f.size) return `file "${f.name}" has size ${st.size}, ${BACKUP_METADATA_FILE} says ${f.size}`;
    } catch {
      return `file "${f.name}" is missing`;
    }
  }
  accept(meta);
  return null;
}
