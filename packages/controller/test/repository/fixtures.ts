// Test helpers: temporary repositories and fabricated usable backups (backup.json + files),
// for catalog, cleanup and expire tests that do not need a real backup's content.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { formatBackupMetadata, type BackupMetadata } from '../../src/repository/backup-metadata.js';
import { backupDir } from '../../src/repository/layout.js';

const made: string[] = [];
after(async () => {
  for (const d of made) await rm(d, { recursive: true, force: true });
});

export async function tempDir(prefix = 'pgfleet-ctl-'): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), prefix));
  made.push(d);
  return d;
}

export function sampleMetadata(cluster: string, id: string, files: Array<{ name: string; size: number }> = []): BackupMetadata {
  return {
    format: 1, id, cluster, type: 'full', status: 'ok', label: `pgfleet ${id}`,
    startLsn: '0/2000028', endLsn: '0/2000100', timeline: 1, systemIdentifier: '7000000000000000001',
    serverVersionNum: 150000, tablespaces: [], files, sizeBytes: files.reduce((s, f) => s + f.size, 0),
    dataBytes: 100, compression: 'none', walMethod: 'stream', via: 'direct',
    startedAt: '2025-01-01T00:00:00.000Z', finishedAt: '2025-01-01T00:00:01.000Z', verifiedAt: '2025-01-01T00:00:01.000Z',
    pgfleetVersion: '0.1.0',
  };
}

/** A directory that the catalog accepts as a usable backup. */
export async function fakeBackup(repo: string, cluster: string, id: string): Promise<string> {
  const dir = backupDir(repo, cluster, id);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'base.tar'), Buffer.alloc(1024));
  await writeFile(join(dir, 'backup_manifest'), '{}\n');
  const meta = sampleMetadata(cluster, id, [{ name: 'backup_manifest', size: 3 }, { name: 'base.tar', size: 1024 }]);
  await writeFile(join(dir, 'backup.json'), formatBackupMetadata(meta));
  return dir;
}
