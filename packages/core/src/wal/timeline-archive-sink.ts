/**
 * A continuous WAL archive's sink: the layout `<root>/<timeline as %08X>/<segment>[.lz4|.zst|.gz]`
 * that a fleet's repository keeps under `<repo>/<cluster>/wal`. Each timeline's directory is
 * written by a DirectoryWalSink in pg_receivewal's layout (the open segment `<segment>[suffix].partial`,
 * renamed once complete, fsync of file and directory) with `noClobber`: a completed segment
 * never replaces one stored already, and different content is a WalConflictError. A timeline's
 * history file is stored uncompressed as `<TTTTTTTT>.history` in its own timeline's directory,
 * written once (a different history for the same timeline is a conflict). A timeline directory
 * created here is made durable in its parent before anything is written into it.
 *
 * findStart() resumes after the newest segment stored in any timeline directory (the
 * newest segment number, then the highest timeline), as pg_receivewal would in one directory.
 */

import { mkdir, open, readdir, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { InternalError, WalConflictError, fileError, isErrno } from '../errors.js';
import { fsyncDirectory } from '../fs-sync.js';
import type { WalFileCompressionSpec } from './compressed-wal-file.js';
import { findStreamingStart, type StreamingStart } from './streaming-start.js';
import { DirectoryWalSink, type WalSink } from './wal-sinks.js';

export interface TimelineArchiveSinkOptions {
  /** `<repo>/<cluster>/wal`; created when missing. */
  root: string;
  segmentSize: number;
  compression: WalFileCompressionSpec | null;
  /** Told about files findStart() skips. */
  onWarning?: (message: string) => void;
}

const TIMELINE_DIRECTORY = /^[0-9A-F]{8}$/;

/** The directory of a timeline in an archive: `<root>/<%08X>`. */
export function timelineDirectory(root: string, timeline: number): string {
  return join(root, timeline.toString(16).toUpperCase().padStart(8, '0'));
}

/** The timelines an archive has directories for, ascending. */
export async function archiveTimelines(root: string): Promise<number[]> {
  let names: string[];
  try {
    names = await readdir(root);
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return [];
    throw fileError('could not read directory', root, err);
  }
  return names.filter((n) => TIMELINE_DIRECTORY.test(n)).map((n) => Number.parseInt(n, 16)).sort((a, b) => a - b);
}

/** Makes `dir` exist durably (mkdir, then fsync of its parent when it was created). */
async function ensureDirectory(dir: string, parent: string): Promise<void> {
  let created: string | undefined;
  try {
    created = await mkdir(dir, { recursive: true, mode: 0o700 });
  } catch (err) {
    throw fileError('could not create directory', dir, err);
  }
  if (created !== undefined) await fsyncDirectory(parent);
}

export class TimelineArchiveSink implements WalSink {
  readonly segmentSize: number;
  private readonly sinks = new Map<number, DirectoryWalSink>();
  private current: DirectoryWalSink | null = null;
  private rootReady = false;

  constructor(private readonly options: TimelineArchiveSinkOptions) {
    this.segmentSize = options.segmentSize;
  }

  private async sinkFor(timeline: number): Promise<DirectoryWalSink> {
    let sink = this.sinks.get(timeline);
    if (sink !== undefined) return sink;
    await this.prepareRoot();
    const directory = timelineDirectory(this.options.root, timeline);
    await ensureDirectory(directory, this.options.root);
    sink = new DirectoryWalSink({
      directory, segmentSize: this.segmentSize, sync: true, markDone: false, partialFiles: true,
      compression: this.options.compression, noClobber: true,
      ...(this.options.onWarning !== undefined ? { onWarning: this.options.onWarning } : {}),
    });
    this.sinks.set(timeline, sink);
    return sink;
  }

  private async prepareRoot(): Promise<void> {
    if (this.rootReady) return;
    await ensureDirectory(this.options.root, join(this.options.root, '..'));
    this.rootReady = true;
  }

  async open(segmentName: string): Promise<void> {
    if (this.current !== null) throw new InternalError(`a WAL file is still open before "${segmentName}"`);
    const timeline = Number.parseInt(segmentName.slice(0, 8), 16);
    if (!Number.isInteger(timeline) || timeline < 1) throw new InternalError(`invalid WAL segment name "${segmentName}"`);
    const sink = await this.sinkFor(timeline);
    await sink.open(segmentName);
    this.current = sink;
  }

  async write(offset: number, data: Buffer): Promise<void> {
    if (this.current === null) throw new InternalError('no WAL file is open');
    await this.current.write(offset, data);
  }

  async sync(): Promise<void> {
    await this.current?.sync();
  }

  async close(options: { complete: boolean }): Promise<void> {
    const sink = this.current;
    if (sink === null) throw new InternalError('no WAL file is open');
    this.current = null;
    await sink.close(options);
  }

  async hasHistoryFile(name: string): Promise<boolean> {
    const timeline = Number.parseInt(name.slice(0, 8), 16);
    try {
      await readFile(join(timelineDirectory(this.options.root, timeline), name));
      return true;
    } catch {
      return false;
    }
  }

  async writeHistoryFile(name: string, content: Buffer): Promise<void> {
    const timeline = Number.parseInt(name.slice(0, 8), 16);
    await this.sinkFor(timeline);
    await writeHistoryFileOnce(timelineDirectory(this.options.root, timeline), name, content);
  }

  async findStart(): Promise<StreamingStart | null> {
    let best: StreamingStart | null = null;
    for (const timeline of await archiveTimelines(this.options.root)) {
      const start = await findStreamingStart(timelineDirectory(this.options.root, timeline), this.segmentSize,
        this.options.onWarning !== undefined ? { onWarning: this.options.onWarning } : {});
      if (start !== null && (best === null || start.lsn > best.lsn || (start.lsn === best.lsn && start.timeline > best.timeline))) best = start;
    }
    return best;
  }

  async finish(): Promise<void> {
    if (this.current !== null) throw new InternalError('a WAL file is still open');
    for (const sink of this.sinks.values()) await sink.finish();
  }

  async dispose(): Promise<void> {
    this.current = null;
    for (const sink of this.sinks.values()) await sink.dispose();
  }
}

/**
 * Stores a timeline history file (`<dir>/<name>`) durably, once: the same content again is
 * accepted, other content is a WalConflictError (a timeline's history never changes).
 */
export async function writeHistoryFileOnce(dir: string, name: string, content: Buffer): Promise<'stored' | 'same'> {
  const path = join(dir, name);
  let existing: Buffer | null = null;
  try {
    existing = await readFile(path);
  } catch (err) {
    if (!isErrno(err, 'ENOENT')) throw fileError('could not read timeline history file', path, err);
  }
  if (existing !== null) {
    if (existing.equals(content)) return 'same';
    throw new WalConflictError(`timeline history file "${path}" is already archived with different content`, {
      hint: 'The archive keeps the stored file. Two servers with the same timeline may be archiving into one cluster\'s archive.',
    });
  }
  const tmp = `${path}.tmp`;
  try {
    const handle = await open(tmp, 'w', 0o600);
    try {
      await handle.writeFile(content);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmp, path);
  } catch (err) {
    throw fileError('could not write timeline history file', path, err);
  }
  await fsyncDirectory(dir);
  return 'stored';
}
