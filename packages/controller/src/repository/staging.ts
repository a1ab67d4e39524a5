/**
 * Writing one backup into the repository, all or nothing:
 *   beginBackup   -> <repo>/<cluster>/backups/.tmp-<id>/ created (empty), id reserved
 *   ... archives and backup_manifest are written into it (fsynced) and verified ...
 *   commitBackup  -> every file fsynced, backup.json written atomically inside, the directory
 *                    renamed to <id> and the parent fsynced: from here on the backup is listed
 *   abortBackup   -> the staging directory removed (also done at daemon start for leftovers)
 * The staging directory is a sibling of the final one, so the rename never crosses file systems.
 */
import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { InternalError, fileError, isErrno } from '@pgfleet/core';
import { fsyncDirectory, fsyncFile, renameDurably, writeFileAtomic } from './atomic-write.js';
import { newBackupId } from './backup-id.js';
import { formatBackupMetadata, type BackupMetadata, type BackupMetadataFile } from './backup-metadata.js';
import { BACKUP_METADATA_FILE, EXPIRE_PREFIX, TMP_PREFIX, backupDir, backupsDir, stagingDir } from './layout.js';

export interface StagedBackup {
  repository: string;
  cluster: string;
  id: string;
  /** The staging directory the backup is written into. */
  dir: string;
  startedAt: Date;
}

/** Reserves a new backup id and creates its empty staging directory. */
export async function beginBackup(repository: string, cluster: string, startedAt: Date = new Date()): Promise<StagedBackup> {
  const parent = backupsDir(repository, cluster);
  try {
    await mkdir(parent, { recursive: true, mode: 0o700 });
  } catch (err) {
    throw fileError('could not create directory', parent, err);
  }
  for (let attempt = 0; attempt < 100; attempt += 1) {
    const taken = new Set<string>();
    for (const name of await readdir(parent)) {
      taken.add(name.startsWith(TMP_PREFIX) ? name.slice(TMP_PREFIX.length)
        : name.startsWith(EXPIRE_PREFIX) ? name.slice(EXPIRE_PREFIX.length) : name);
    }
    const id = newBackupId(startedAt, taken);
    const dir = stagingDir(repository, cluster, id);
    try {
      await mkdir(dir, { mode: 0o700 });
    } catch (err) {
      if (isErrno(err, 'EEXIST')) continue; // another backup of this cluster took it just now
      throw fileError('could not create directory', dir, err);
    }
    return { repository, cluster, id, dir, startedAt };
  }
  throw new InternalError(`could not reserve a backup id in "${parent}"`);
}

/** The files in a staging directory with their sizes (backup.json excluded), sorted by name. */
export async function listStagedFiles(dir: string): Promise<BackupMetadataFile[]> {
  const files: BackupMetadataFile[] = [];
  for (const name of (await readdir(dir)).sort()) {
    if (name === BACKUP_METADATA_FILE) continue;
    const st = await stat(join(dir, name));
    if (!st.isFile()) throw new InternalError(`unexpected entry "${join(dir, name)}" in a backup directory`);
    files.push({ name, size: st.size });
  }
  return files;
}

/**
 * Makes the staged backup usable: fsyncs its files, writes backup.json (with `files` and
 * `sizeBytes` filled in from the directory) and renames it into place. Returns the final
 * metadata and path.
 */
export async function commitBackup(
  staged: StagedBackup,
  metadata: Omit<BackupMetadata, 'files' | 'sizeBytes'>,
): Promise<{ metadata: BackupMetadata; path: string }> {
  if (metadata.id !== staged.id || metadata.cluster !== staged.cluster) {
    throw new InternalError(`backup metadata names "${metadata.cluster}/${metadata.id}", staged is "${staged.cluster}/${staged.id}"`);
  }
  const files = await listStagedFiles(staged.dir);
  for (const f of files) await fsyncFile(join(staged.dir, f.name));
  const full: BackupMetadata = { ...metadata, files, sizeBytes: files.reduce((s, f) => s + f.size, 0) };
  await writeFileAtomic(join(staged.dir, BACKUP_METADATA_FILE), formatBackupMetadata(full));
  const path = backupDir(staged.repository, staged.cluster, staged.id);
  await renameDurably(staged.dir, path);
  return { metadata: full, path };
}

/** Removes the staging directory (nothing of the attempt stays). Never throws. */
export async function abortBackup(staged: StagedBackup): Promise<void> {
  await rm(staged.dir, { recursive: true, force: true }).catch(() => {});
  await fsyncDirectory(backupsDir(staged.repository, staged.cluster)).catch(() => {});
}
