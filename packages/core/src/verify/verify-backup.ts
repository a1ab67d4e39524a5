/**
 * verifyBackup(dir): checks a backup directory against its backup_manifest, as pg_verifybackup
 * does, for plain backups (a data directory) and tar backups (base.tar[.gz|.tgz|.lz4|.zst],
 * <oid>.tar..., pg_wal.tar...), then checks the WAL the manifest's WAL-Ranges need (see
 * wal/wal-check.ts), segments and page headers first, then every record's header and CRC
 * (wal/record-reader.ts): in <dir>/pg_wal (plain), pg_wal.tar or base.tar's pg_wal/ (tar), or -w.
 *
 * The format is detected from PG_VERSION (present: plain), as pg_verifybackup 18 does.
 * Throws only when nothing can be verified: ManifestError (manifest invalid), FileIoError
 * (manifest or backup directory unreadable). Every problem with the backup itself is returned
 * in the result, and given to `onProblem` as soon as it is found.
 */

import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { FileIoError, InvalidOptionError } from '../errors.js';
import type { BackupManifest } from '../manifest/manifest.js';
import { readManifestFile } from '../manifest/parser.js';
import { StopVerification, type VerifyProblem } from '../manifest/verify-context.js';
import type { WalCheck } from '../wal/wal-check.js';
import { checkWalDirectory } from '../wal/wal-check-directory.js';
import { BackupVerification } from './backup-verification.js';
import { osErrorText } from './os-error.js';
import { filesToChecksum, verifyPlainChecksums, walkPlainBackup } from './plain-backup.js';

export type BackupFormat = 'plain' | 'tar';

export interface VerifyProgress {
  doneBytes: number;
  totalBytes: number;
}

export interface VerifyBackupOptions {
  /** Default: <dir>/backup_manifest. */
  manifestPath?: string;
  /** Default: detected (PG_VERSION present means plain). */
  format?: BackupFormat;
  /** Relative paths to leave out (-i); a directory covers everything below it. */
  ignore?: readonly string[];
  skipChecksums?: boolean;
  /** Check the WAL needed by the backup (default true; -n turns it off, records included). */
  checkWal?: boolean;
  /**
   * With checkWal: also read every WAL record of the manifest's ranges and check its header and
   * CRC, as pg_waldump does for pg_verifybackup (default true).
   */
  decodeWalRecords?: boolean;
  /** Where the WAL is (-w): a directory, or a pg_wal.tar[.gz|.lz4|.zst] file. */
  walPath?: string;
  /** Stop at the first problem (-e). */
  exitOnError?: boolean;
  onProblem?: (problem: VerifyProblem) => void;
  onProgress?: (progress: VerifyProgress) => void;
}

export interface VerifyBackupResult {
  ok: boolean;
  format: BackupFormat;
  manifest: BackupManifest;
  problems: VerifyProblem[];
  /** Manifest entries found in the backup. */
  filesMatched: number;
  /** Required WAL segments that were found and read. */
  walSegmentsChecked: string[];
  /** WAL records read and found valid (0 when records are not decoded). */
  walRecordsChecked: number;
}

export async function verifyBackup(dir: string, options: VerifyBackupOptions = {}): Promise<VerifyBackupResult> {
  const manifestPath = options.manifestPath ?? join(dir, 'backup_manifest');
  const manifest = await readManifestFile(manifestPath);
  try {
    const st = await stat(dir);
    if (!st.isDirectory()) throw Object.assign(new Error('not a directory'), { code: 'ENOTDIR' });
  } catch (err) {
    throw new FileIoError(`could not open directory "${dir}": ${osErrorText(err)}`, { cause: err });
  }
  const format = options.format ?? await detectFormat(dir);
  const checkWal = options.checkWal ?? true;
  const verification = new BackupVerification({
    manifest,
    ignore: options.ignore ?? [],
    skipChecksums: options.skipChecksums ?? false,
    exitOnError: options.exitOnError ?? false,
    ...(options.onProblem ? { onProblem: options.onProblem } : {}),
    walLocation: options.walPath ?? (format === 'plain' ? join(dir, 'pg_wal') : 'pg_wal.tar'),
    decodeWalRecords: options.decodeWalRecords ?? true,
  });
  const { context, wal } = verification;
  const progress = { doneBytes: 0, totalBytes: 0 };
  const tick = (done: number): void => {
    progress.doneBytes += done;
    options.onProgress?.({ ...progress });
  };

  try {
    if (format === 'plain') {
      await walkPlainBackup(context, dir);
      verification.filesDone();
      if (!context.skipChecksums) {
        const { files, totalBytes } = filesToChecksum(context);
        progress.totalBytes = totalBytes;
        tick(0);
        await verifyPlainChecksums(context, dir, files, tick);
      }
      if (checkWal) {
        verification.configureWal();
        await checkWalPath(wal, options.walPath ?? join(dir, 'pg_wal'));
        verification.finishWal();
      }
    } else {
      const { verifyTarBackup } = await import('./tar-backup.js');
      await verifyTarBackup({
        verification, dir, checkWal, walPath: options.walPath ?? null,
        checkWalPath: (path: string) => checkWalPath(wal, path),
        progress: (done, total) => {
          if (total !== undefined) progress.totalBytes = total;
          tick(done);
        },
      });
    }
  } catch (err) {
    if (!(err instanceof StopVerification)) throw err;
  }

  return {
    ok: !context.failed,
    format,
    manifest,
    problems: context.problems,
    filesMatched: context.matchedCount,
    walSegmentsChecked: [...wal.checkedSegments],
    walRecordsChecked: wal.walRecordsRead,
  };
}

async function detectFormat(dir: string): Promise<BackupFormat> {
  const path = join(dir, 'PG_VERSION');
  try {
    await stat(path);
    return 'plain';
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'tar';
    throw new FileIoError(`could not stat file "${path}": ${osErrorText(err)}`, { cause: err });
  }
}

/** -w DIR, a plain pg_wal, or -w pg_wal.tar[.*]. */
async function checkWalPath(wal: WalCheck, path: string): Promise<void> {
  let isDirectory = true;
  try {
    isDirectory = (await stat(path)).isDirectory();
  } catch {
    // reported by checkWalDirectory ("could not open directory")
  }
  if (isDirectory) {
    await checkWalDirectory(wal, path);
    return;
  }
  const { checkWalArchive } = await import('./tar-backup.js');
  await checkWalArchive(wal, path);
}

/** Parses -F's value: p, plain, t or tar. */
export function parseBackupFormat(text: string): BackupFormat {
  if (text === 'p' || text === 'plain') return 'plain';
  if (text === 't' || text === 'tar') return 'tar';
  throw new InvalidOptionError(`invalid backup format "${text}", must be "plain" or "tar"`);
}
