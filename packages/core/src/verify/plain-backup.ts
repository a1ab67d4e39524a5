/**
 * Verification of a plain-format backup directory against its manifest, in pg_verifybackup's
 * order: first walk the directory (stat follows symlinks, so pg_tblspc/<oid> links lead into
 * the tablespaces) checking presence and size of every file, then report manifest entries not
 * found, then read every file that still looks right and compare checksums. global/pg_control
 * gets the version 2 checks during the walk. Problems go to the VerifyContext.
 *
 * Symbolic links are followed only where a plain backup has them: pg_tblspc/<oid> (the
 * tablespaces) and pg_wal (--waldir). Any other is a problem, also at an always-ignored name
 * (recovery.signal -> /etc/x), as in tar archives: a restore that took it could write through it.
 */

import { lstat, open, readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { createChecksum } from '../manifest/checksum.js';
import type { ManifestFile } from '../manifest/manifest.js';
import { CONTROL_FILE_PATH, type VerifyContext } from '../manifest/verify-context.js';
import { isTablespaceLinkName } from '../archive/tablespace-link.js';
import { osErrorText } from './os-error.js';

const READ_CHUNK = 128 * 1024;

export interface PlainProgress {
  /** Called with the number of checksummed bytes as reading progresses. */
  addDone(bytes: number): void;
  setTotal(bytes: number): void;
}

/** Walks the backup directory: presence, type and size of every file. */
export async function walkPlainBackup(context: VerifyContext, backupDir: string): Promise<void> {
  await walkDirectory(context, backupDir, null);
}

async function walkDirectory(context: VerifyContext, fullpath: string, relpath: string | null): Promise<void> {
  let names: string[];
  try {
    names = (await readdir(fullpath)).sort();
  } catch (err) {
    context.report('io', `could not open directory "${fullpath}": ${osErrorText(err)}`,
      relpath === null ? {} : { path: relpath });
    if (relpath !== null) context.ignore(relpath);
    return;
  }
  for (const name of names) {
    const childRel = relpath === null ? name : `${relpath}/${name}`;
    const ignored = context.shouldIgnore(childRel);
    if (ignored && context.shouldIgnoreLink(childRel)) continue;
    if (await isStrayLink(context, join(fullpath, name), childRel) || ignored) continue;
    await walkEntry(context, join(fullpath, name), childRel);
  }
}

/** A symbolic link where a plain backup has none: reported; true when it was one. */
async function isStrayLink(context: VerifyContext, fullpath: string, relpath: string): Promise<boolean> {
  if (relpath === 'pg_wal' || isTablespaceLinkName(relpath)) return false;
  const st = await lstat(fullpath).catch(() => null);
  if (st === null || !st.isSymbolicLink()) return false;
  context.reportNotRegular(relpath, relpath, 'a symbolic link', '');
  return true;
}

async function walkEntry(context: VerifyContext, fullpath: string, relpath: string): Promise<void> {
  let st;
  try {
    st = await stat(fullpath);
  } catch (err) {
    context.report('io', `could not stat file or directory "${relpath}": ${osErrorText(err)}`, { path: relpath });
    // Nothing more about this path, or anything below it.
    context.ignore(relpath);
    return;
  }
  if (st.isDirectory()) {
    await walkDirectory(context, fullpath, relpath);
    return;
  }
  if (!st.isFile()) {
    context.report('unexpected', `"${relpath}" is not a regular file or directory`, { path: relpath });
    return;
  }
  // Read for the WAL check whatever the manifest says (cheap, and needed for geometry).
  if (relpath === 'PG_VERSION' && st.size < 64) {
    context.pgVersion = (await readFile(fullpath, 'utf8').catch(() => '')).trim() || null;
  }
  const entry = context.lookup(relpath);
  if (entry === null) {
    context.report('extra', `"${relpath}" is present on disk but not in the manifest`, { path: relpath });
    return;
  }
  if (entry.size !== st.size) {
    context.markBad(entry);
    context.report('size', `"${relpath}" has size ${st.size} on disk but size ${entry.size} in the manifest`,
      { path: relpath });
  }
  if (relpath === CONTROL_FILE_PATH) {
    let data: Buffer;
    try {
      data = await readFile(fullpath);
    } catch (err) {
      context.report('io', `could not read file "${fullpath}": ${osErrorText(err)}`, { path: relpath });
      return;
    }
    // pg_verifybackup checks the control file even when its size was wrong.
    context.checkControlFile(data.subarray(0, 8192), `"${fullpath}"`, { verify: true, size: data.length });
  }
}

/** The manifest entries whose checksums the second pass reads, with their total size. */
export function filesToChecksum(context: VerifyContext): { files: ManifestFile[]; totalBytes: number } {
  const files = context.manifest.files.filter((f) => context.shouldVerifyChecksum(f) && !context.shouldIgnore(f.path));
  return { files, totalBytes: files.reduce((n, f) => n + f.size, 0) };
}

/** Second pass: reads files and compares checksums. */
export async function verifyPlainChecksums(context: VerifyContext, backupDir: string,
  files: readonly ManifestFile[], onBytes: (n: number) => void): Promise<void> {
  const buffer = Buffer.alloc(READ_CHUNK);
  for (const entry of files) {
    await verifyFileChecksum(context, entry, join(backupDir, entry.path), buffer, onBytes);
  }
}

async function verifyFileChecksum(context: VerifyContext, entry: ManifestFile, fullpath: string,
  buffer: Buffer, onBytes: (n: number) => void): Promise<void> {
  let handle;
  try {
    handle = await open(fullpath, 'r');
  } catch (err) {
    context.report('io', `could not open file "${entry.path}": ${osErrorText(err)}`, { path: entry.path });
    return;
  }
  const checksum = createChecksum(entry.checksumAlgorithm);
  let bytesRead = 0;
  try {
    for (;;) {
      let n: number;
      try {
        ({ bytesRead: n } = await handle.read(buffer, 0, buffer.length, null));
      } catch (err) {
        context.report('io', `could not read file "${entry.path}": ${osErrorText(err)}`, { path: entry.path });
        return;
      }
      if (n === 0) break;
      checksum.update(buffer.subarray(0, n));
      bytesRead += n;
      onBytes(n);
    }
  } finally {
    await handle.close();
  }
  if (bytesRead !== entry.size) {
    context.report('size', `file "${entry.path}" should contain ${entry.size} bytes, but read ${bytesRead}`,
      { path: entry.path });
    return;
  }
  context.compareChecksum(entry, checksum.digest(), '');
}
