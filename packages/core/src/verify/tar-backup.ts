/**
 * Verification of a tar-format backup directory, as pg_verifybackup 18 does it: the directory
 * may hold base.tar, <oid>.tar and pg_wal.tar, each optionally .gz/.tgz, .lz4 or .zst (anything
 * else is a problem). Tablespace archives and base.tar are streamed through the manifest
 * verifier; base.tar's pg_wal/ members (-X fetch) and pg_wal.tar's members go to the WAL check.
 * Manifest entries never seen in any archive are reported after the last archive.
 *
 * One file besides is passed over: `backup.json`, when it is a regular file. A pgfleet
 * repository keeps a backup as exactly this layout plus that file (its metadata), so that
 * the directory can be verified and restored as it is.
 */

import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { PgFleetError } from '../errors.js';
import { readArchiveFile } from '../archive/archive-reader.js';
import type { Streamer } from '../archive/streamer.js';
import type { VerifyContext } from '../manifest/verify-context.js';
import type { WalCheck } from '../wal/wal-check.js';
import { WalCheckStreamer } from '../wal/wal-check-streamer.js';
import type { BackupVerification } from './backup-verification.js';
import { osErrorText } from './os-error.js';

const TAR_SUFFIX = /^(\.tar|\.tgz|\.tar\.gz|\.tar\.lz4|\.tar\.zst)$/;
/** The metadata file of a backup in a pgfleet repository, tolerated next to the archives. */
export const REPOSITORY_METADATA_FILE = 'backup.json';
const OID_MAX = 0xFFFF_FFFF;

export type TarArchiveKind = 'base' | 'wal' | 'tablespace';

export interface TarArchiveFile {
  name: string;
  kind: TarArchiveKind;
  /** For tablespace archives. */
  tablespaceOid: number | null;
}

/** Classifies a file name found in a tar-format backup; null if it does not belong there. */
export function classifyTarArchive(name: string): TarArchiveFile | null {
  if (name.startsWith('base')) {
    return TAR_SUFFIX.test(name.slice(4)) ? { name, kind: 'base', tablespaceOid: null } : null;
  }
  if (name.startsWith('pg_wal')) {
    return TAR_SUFFIX.test(name.slice(6)) ? { name, kind: 'wal', tablespaceOid: null } : null;
  }
  const m = /^(\d+)(.*)$/.exec(name);
  if (m === null) return null;
  const oid = Number(m[1]);
  if (oid <= 0 || oid > OID_MAX || !TAR_SUFFIX.test(m[2] ?? '')) return null;
  return { name, kind: 'tablespace', tablespaceOid: oid };
}

export interface VerifyTarBackupOptions {
  verification: BackupVerification;
  dir: string;
  /** false: WAL is not checked (-n). */
  checkWal: boolean;
  /** -w: WAL is checked there instead of in the archives. */
  walPath: string | null;
  checkWalPath: (path: string) => Promise<void>;
  /** Archive file bytes read since the last call; `total` (all archives but WAL) once, first. */
  progress: (doneBytes: number, totalBytes?: number) => void;
}

/** What a tar-format backup directory holds, as far as it belongs there. */
export interface TarBackupListing {
  /** Data archives (base.tar, <oid>.tar), tablespaces first and base.tar last. */
  archives: Array<TarArchiveFile & { size: number }>;
  /** The first pg_wal.tar[.*] in name order, if any. */
  walArchive: { name: string; size: number } | null;
}

/**
 * Lists a tar-format backup directory as pg_verifybackup does, reporting to `context` every
 * entry that is not a regular file or not expected there; null when the directory cannot be
 * read (reported, fatal). Tablespaces come first and base.tar last: base.tar's WAL (-X fetch)
 * then follows pg_control. Names for which `skip` is true are passed over without a word (a
 * caller's own working files).
 */
export async function listTarBackup(context: VerifyContext, dir: string, skip: (name: string) => boolean = () => false): Promise<TarBackupListing | null> {
  let names: string[];
  try {
    names = (await readdir(dir)).filter((name) => !skip(name)).sort();
  } catch (err) {
    context.report('io', `could not open directory "${dir}": ${osErrorText(err)}`, { fatal: true });
    return null;
  }
  const archives: TarBackupListing['archives'] = [];
  let walArchive: TarBackupListing['walArchive'] = null;
  for (const name of names) {
    if (context.shouldIgnore(name)) continue;
    let size: number;
    try {
      const st = await stat(join(dir, name));
      if (!st.isFile()) {
        context.report('unexpected', `file "${name}" is not a regular file`, { path: name });
        continue;
      }
      size = st.size;
    } catch (err) {
      context.report('io', `could not stat file or directory "${name}": ${osErrorText(err)}`, { path: name });
      continue;
    }
    if (name === REPOSITORY_METADATA_FILE) continue;
    const archive = classifyTarArchive(name);
    if (archive === null) {
      context.report('unexpected', `file "${name}" is not expected in a tar format backup`, { path: name });
      continue;
    }
    if (archive.kind === 'wal') {
      walArchive ??= { name, size };
      continue;
    }
    archives.push({ ...archive, size });
  }
  archives.sort((a, b) => (a.kind === b.kind ? 0 : a.kind === 'base' ? 1 : -1));
  return { archives, walArchive };
}

export async function verifyTarBackup(options: VerifyTarBackupOptions): Promise<void> {
  const { verification, dir } = options;
  const { context, wal } = verification;
  // First pass: what is there, and is it allowed to be there.
  const listing = await listTarBackup(context, dir);
  if (listing === null) return;
  const { archives } = listing;
  options.progress(0, archives.reduce((n, a) => n + a.size, 0));

  // Second pass: stream each archive through the verifier.
  const walFromBase = options.checkWal && options.walPath === null;
  for (const archive of archives) {
    const verifier = verification.archive(archive, { walFromBase: archive.kind === 'base' && walFromBase });
    let seen = 0;
    await readArchive(context, join(dir, archive.name), archive.name, verifier, (bytesRead) => {
      options.progress(bytesRead - seen);
      seen = bytesRead;
    });
  }
  verification.filesDone();

  if (!options.checkWal) return;
  verification.configureWal();
  if (options.walPath !== null) {
    await options.checkWalPath(options.walPath);
  } else {
    await checkTarBackupWal(context, wal, dir, listing);
  }
  verification.finishWal();
}

/**
 * The WAL of a tar-format backup found where pg_verifybackup looks without -w: pg_wal.tar[.*]
 * (read now; `onProgress` gets its bytes read and size, first 0), else base.tar's pg_wal/
 * members (-X fetch, checked as base.tar passed), else a fatal problem. The caller has
 * configured the check and calls finish() after.
 */
export async function checkTarBackupWal(context: VerifyContext, wal: WalCheck, dir: string, listing: TarBackupListing,
  options: { onProgress?: (doneBytes: number, totalBytes: number) => void } = {}): Promise<void> {
  const { walArchive } = listing;
  const base = listing.archives.find((a) => a.kind === 'base');
  if (walArchive !== null) {
    wal.location = walArchive.name; // "pg_wal.tar.gz"
    const onProgress = options.onProgress;
    onProgress?.(0, walArchive.size);
    await checkWalArchive(wal, join(dir, walArchive.name), { onProgress: onProgress && ((done) => onProgress(done, walArchive.size)) });
  } else if (base !== undefined) {
    wal.location = base.name;
  } else {
    context.report('wal', 'WAL archive not found', {
      fatal: true,
      hint: 'Specify the correct path using the option -w/--wal-path. Or you must use -n/--no-parse-wal when verifying a tar-format backup.',
    });
  }
}

/**
 * Feeds a pg_wal.tar[.*] archive (flat member names) to the WAL check; an unreadable archive is
 * a WAL problem. `onProgress` gets the archive file's bytes read so far.
 */
export async function checkWalArchive(wal: WalCheck, path: string, options: { onProgress?: (bytesRead: number) => void } = {}): Promise<void> {
  const streamer = new WalCheckStreamer({ check: wal, prefix: '' });
  try {
    await readArchiveFile(path, streamer, { onProgress: options.onProgress });
  } catch (err) {
    if (!(err instanceof PgFleetError)) throw err;
    wal.problem(`could not read archive "${path}": ${err.message}`, '');
  }
}

async function readArchive(context: VerifyContext, path: string, name: string, streamer: Streamer,
  onProgress: (bytesRead: number) => void): Promise<void> {
  try {
    await readArchiveFile(path, streamer, { onProgress });
  } catch (err) {
    // A damaged archive cannot be checked further, like pg_verifybackup's fatal tar errors.
    if (!(err instanceof PgFleetError)) throw err;
    context.report('io', `could not read archive "${name}": ${err.message}`, { path: name, fatal: true });
  }
}
