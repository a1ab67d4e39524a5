/**
 * The verdict of `pgfleet verify`, remembered: backup.json is rewritten (atomically and
 * durably, see atomic-write.ts) with status "ok", or "damaged" and what was found, and the time
 * of the check as verifiedAt. Only backup.json changes; the backup's files are never written.
 * A damaged backup is then listed as damaged with the reason and never chosen for a restore
 * (catalog.ts) until a later verify finds it whole again.
 */
import { join } from 'node:path';
import { writeFileAtomic } from './atomic-write.js';
import { MAX_RECORDED_PROBLEMS, formatBackupMetadata, type BackupMetadata } from './backup-metadata.js';
import { BACKUP_METADATA_FILE } from './layout.js';

export interface VerifyVerdict {
  /** The problems verify reported; none means the backup matched its manifest. */
  problems: string[];
  at: Date;
}

/** Writes the verdict into the backup's backup.json; returns the metadata as written. */
export async function recordVerdict(dir: string, metadata: BackupMetadata, verdict: VerifyVerdict): Promise<BackupMetadata> {
  const { damage: _previous, ...rest } = metadata;
  const at = verdict.at.toISOString();
  const first = verdict.problems[0];
  const updated: BackupMetadata = first === undefined
    ? { ...rest, status: 'ok', verifiedAt: at }
    : {
      ...rest,
      status: 'damaged',
      damage: {
        reason: verdict.problems.length > 1 ? `${first} (and ${verdict.problems.length - 1} more problems)` : first,
        problems: verdict.problems.slice(0, MAX_RECORDED_PROBLEMS),
        foundAt: at,
      },
      verifiedAt: at,
    };
  await writeFileAtomic(join(dir, BACKUP_METADATA_FILE), formatBackupMetadata(updated));
  return updated;
}
