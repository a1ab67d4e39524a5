/**
 * Single WAL files in and out of a cluster's archive (`<repo>/<cluster>/wal/<TLI>/`), for the
 * agents' archive_command and restore_command:
 *
 * - storePushedWalFile(): a segment archived by PostgreSQL is checked (size, long page header,
 *   system identifier: core's checkSegmentContent; the archive is claimed for that server when
 *   new), written compressed as the cluster's archive is, fsynced, and given its name without
 *   ever replacing a stored file (core's storeWithoutClobbering: same content "same", other
 *   content WalConflictError). A history file is stored once (writeHistoryFileOnce). A
 *   `<segment>.partial` (what a promoted server archives of its old timeline) is stored only
 *   when the archive has nothing of that segment yet.
 * - readWalFileForRecovery(): a segment (decompressed and checked), a history file, or, when
 *   the newest segment of its timeline is only a `.partial`, its received part zero-filled to
 *   the segment size (what an incomplete segment looks like to recovery: the end of WAL).
 */

import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import {
  InvalidOptionError, NotFoundError, checkSegmentContent, compressWalFileContent, fileError, fsyncDirectory, isErrno, isTimelineHistoryFileName,
  isValidWalSegmentSize, isWalSegmentName, parseWalFileName, parseWalSegmentName, readWalFileContent, storeWithoutClobbering, timelineDirectory,
  walCompressionSuffix, writeHistoryFileOnce, type WalFileCompressionSpec,
} from '@pgfleet/core';
import type { ClusterConfig } from '../config.js';
import { walDir } from '../repository/layout.js';
import { claimWalArchive, readWalArchiveMetadata } from './wal-archiver.js';

export interface StoredWalFile {
  outcome: 'stored' | 'same';
  path: string;
}

function timelineOf(name: string): number {
  return Number.parseInt(name.slice(0, 8), 16);
}

function compressionOf(cluster: ClusterConfig): WalFileCompressionSpec | null {
  const m = cluster.wal.compression;
  return m === 'none' ? null : { method: m, level: m === 'gzip' ? -1 : 0 };
}

async function ensureTimelineDirectory(repository: string, cluster: string, timeline: number): Promise<string> {
  const root = walDir(repository, cluster);
  const dir = timelineDirectory(root, timeline);
  let created: string | undefined;
  try {
    created = await mkdir(dir, { recursive: true, mode: 0o700 });
  } catch (err) {
    throw fileError('could not create directory', dir, err);
  }
  if (created !== undefined) {
    await fsyncDirectory(root);
    await fsyncDirectory(join(root, '..'));
  }
  return dir;
}

/** Writes `bytes` to a new file in `dir` whose name ends like `suffixName`, durably; returns its path. */
async function writeTemporary(dir: string, suffixName: string, bytes: Buffer): Promise<string> {
  const path = join(dir, `.push-${randomBytes(6).toString('hex')}.${suffixName}`);
  try {
    const handle = await open(path, 'wx', 0o600);
    try {
      await handle.writeFile(bytes);
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch (err) {
    await unlink(path).catch(() => undefined);
    throw fileError('could not write WAL file', path, err);
  }
  return path;
}

/** Stores one file pushed by archive_command (see the module comment). */
export async function storePushedWalFile(repository: string, cluster: ClusterConfig, name: string, content: Buffer,
  systemIdentifier: string): Promise<StoredWalFile> {
  if (isTimelineHistoryFileName(name)) {
    const dir = await ensureTimelineDirectory(repository, cluster.name, timelineOf(name));
    return { outcome: await writeHistoryFileOnce(dir, name, content), path: join(dir, name) };
  }
  const file = parseWalFileName(name);
  if (file === null || file.compression !== 'none') {
    throw new InvalidOptionError(`"${name}" is not a WAL file name PostgreSQL archives`, {
      hint: 'archive-push takes a segment, a "<segment>.partial" or a timeline history file.',
    });
  }
  const meta = await readWalArchiveMetadata(repository, cluster.name);
  const segmentSize = meta?.segmentSize ?? content.length;
  if (!isValidWalSegmentSize(segmentSize)) throw new InvalidOptionError(`WAL file "${name}" has ${content.length} bytes, not a WAL segment size`);
  const header = checkSegmentContent(content, file.segment, segmentSize);
  if (systemIdentifier !== '' && systemIdentifier !== header.systemIdentifier) {
    throw new InvalidOptionError(`WAL file "${name}" belongs to system ${header.systemIdentifier}, not to the pushing server's ${systemIdentifier}`);
  }
  await claimWalArchive(repository, cluster.name, { systemIdentifier: header.systemIdentifier, segmentSize });
  const dir = await ensureTimelineDirectory(repository, cluster.name, timelineOf(name));
  const spec = compressionOf(cluster);
  const suffix = walCompressionSuffix(spec?.method ?? 'none');
  const bytes = spec === null ? content : await compressWalFileContent(spec, content);
  if (file.partial) {
    const existing = (await readdir(dir)).find((n) => n.startsWith(file.segment));
    if (existing !== undefined) return { outcome: 'same', path: join(dir, existing) };
  }
  const finalName = `${file.segment}${suffix}${file.partial ? '.partial' : ''}`;
  const tmp = await writeTemporary(dir, finalName, bytes);
  try {
    const outcome = file.partial
      ? await storeWithoutClobbering(tmp, join(dir, finalName), dir, finalName, segmentSize)
      : await storeWithoutClobbering(tmp, join(dir, finalName), dir, file.segment, segmentSize);
    await fsyncDirectory(dir);
    return { outcome, path: join(dir, finalName) };
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
}

export interface RecoveryWalFile {
  content: Buffer;
  /** The newest, incomplete segment of its timeline, zero-filled. */
  partial: boolean;
}

/** What restore_command gets for `name` (see the module comment); NotFoundError when the archive lacks it. */
export async function readWalFileForRecovery(repository: string, cluster: string, name: string): Promise<RecoveryWalFile> {
  const notFound = (): NotFoundError => new NotFoundError(`WAL file "${name}" is not in the archive of cluster "${cluster}"`);
  const historyName = isTimelineHistoryFileName(name);
  if (!historyName && !isWalSegmentName(name)) throw new InvalidOptionError(`"${name}" is not a WAL segment or timeline history file name`);
  const dir = timelineDirectory(walDir(repository, cluster), timelineOf(name));
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    if (isErrno(err, 'ENOENT')) throw notFound();
    throw fileError('could not read directory', dir, err);
  }
  if (historyName) {
    if (!names.includes(name)) throw notFound();
    return { content: await readFile(join(dir, name)), partial: false };
  }
  const meta = await readWalArchiveMetadata(repository, cluster);
  if (meta === null) throw notFound();
  const complete = names.find((n) => { const f = parseWalFileName(n); return f !== null && !f.partial && f.segment === name; });
  if (complete !== undefined) {
    const content = await readWalFileContent(join(dir, complete), meta.segmentSize);
    checkSegmentContent(content, name, meta.segmentSize);
    return { content, partial: false };
  }
  const partial = names.find((n) => { const f = parseWalFileName(n); return f !== null && f.partial && f.segment === name; });
  if (partial === undefined) throw notFound();
  // Only the newest segment of the timeline may be served incomplete: an older .partial is a
  // segment that was never finished on this timeline (the server moved on to another one).
  const segno = parseWalSegmentName(name, meta.segmentSize)?.segno ?? -1n;
  const newer = names.some((n) => {
    const f = parseWalFileName(n);
    const id = f === null ? null : parseWalSegmentName(f.segment, meta.segmentSize);
    return id !== null && id.segno > segno;
  });
  if (newer) throw notFound();
  const received = await readWalFileContent(join(dir, partial), meta.segmentSize);
  const content = Buffer.alloc(meta.segmentSize);
  received.copy(content);
  return { content, partial: true };
}
