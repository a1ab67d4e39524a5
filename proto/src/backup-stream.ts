/**
 * The receiving side of the agent's Backup stream (BACKUP-RPC.md), for every caller: checks the
 * grammar
 *
 *     started ( file_begin | data | file_end | progress )* result
 *
 * (files may interleave: pg_wal.tar arrives while base.tar does; every file begun is ended
 * before the result) and hands each file's bytes to a sink the caller opens for it, awaiting
 * every write, so a slow disk slows the stream (and the agent) instead of filling memory.
 * Names must be those of pg_basebackup's tar layout (BACKUP_FILE_NAME), each at most once;
 * result.files must name exactly the files received, among them backup_manifest and a
 * base.tar. Any violation is a ProtocolError naming the agent. A file cut off is aborted (its
 * sink's abort()); files already written stay for the caller to remove.
 *
 * directoryFiles(dir) is the usual sink: each file created exclusively in `dir`, optionally
 * fsynced at its end and shown, as it is written, to an observer streamer (the controller
 * verifies a backup as it arrives).
 */

import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { DirectFile, ProtocolError, Writeback, WritebackFile, fileError, type Streamer } from '@pgfleet/core';
import type { BackupEvent__Output } from './gen/pgfleet/v1/BackupEvent.js';
import type { BackupResult__Output } from './gen/pgfleet/v1/BackupResult.js';
import type { BackupStarted__Output } from './gen/pgfleet/v1/BackupStarted.js';
import { FileStreamReader, type IncomingFile } from './file-stream.js';

/** The files of pg_basebackup's tar layout, the only names a Backup stream may send. */
export const BACKUP_FILE_NAME = /^(?:(?:base|pg_wal|[1-9][0-9]*)\.tar(?:\.gz|\.lz4|\.zst)?|backup_manifest)$/;

/** Where one received file's bytes go. */
export interface ReceivingFile {
  write(chunk: Buffer): Promise<void>;
  /** The file is complete. */
  end(): Promise<void>;
  /** The stream failed while the file was open. Never throws. */
  abort(): Promise<void>;
}

export interface ReceivedFile {
  name: string;
  size: number;
  tablespaceOid: number | null;
  tablespaceLocation: string | null;
}

export interface BackupOutcome {
  started: BackupStarted__Output;
  result: BackupResult__Output;
  files: ReceivedFile[];
}

export interface ReceiveBackupOptions {
  /** 'agent "db1"', for messages. */
  peer: string;
  /** Opens the sink of a file when its file_begin arrives (after its name was checked). */
  open: (file: IncomingFile) => Promise<ReceivingFile>;
  /** Every event, as it arrives. */
  onEvent?: (event: BackupEvent__Output) => void;
  /** Server-side bytes (from progress events) and received bytes, whenever either changes. */
  onProgress?: (progress: { doneBytes: number; totalBytes: number; receivedBytes: number }) => void;
}

/** Event kinds as agent.proto spells them, for messages. */
const WIRE_NAMES: Record<string, string> = { fileBegin: 'file_begin', fileEnd: 'file_end' };

/** The state of one stream being received. */
class BackupStreamReceiver {
  private started: BackupStarted__Output | null = null;
  private result: BackupResult__Output | null = null;
  private readonly reader: FileStreamReader;
  private readonly sinks = new Map<number, ReceivingFile>();
  private receivedBytes = 0;
  private doneBytes = 0;
  private totalBytes = 0;

  constructor(private readonly options: ReceiveBackupOptions) {
    this.reader = new FileStreamReader({ fail: (problem) => this.fail(problem) });
  }

  fail(problem: string): never {
    throw new ProtocolError(`backup stream from ${this.options.peer}: ${problem}`);
  }

  private progress(): void {
    this.options.onProgress?.({ doneBytes: this.doneBytes, totalBytes: this.totalBytes, receivedBytes: this.receivedBytes });
  }

  async accept(event: BackupEvent__Output): Promise<void> {
    this.options.onEvent?.(event);
    if (this.result !== null) this.fail(`event "${event.event ?? 'unknown'}" after the result`);
    if (event.event !== 'started' && event.event !== undefined && this.started === null) {
      this.fail(`"${WIRE_NAMES[event.event] ?? event.event}" before "started"`);
    }
    switch (event.event) {
      case 'started':
        if (this.started !== null) this.fail('second "started" event');
        this.started = event.started ?? this.fail('empty "started" event');
        this.totalBytes = Number(this.started.estimatedBytes);
        this.progress();
        return;
      case 'progress': {
        this.doneBytes = Number(event.progress?.doneBytes ?? 0);
        const total = Number(event.progress?.totalBytes ?? 0);
        if (total > 0) this.totalBytes = total;
        this.progress();
        return;
      }
      case 'fileBegin':
        return this.begin(event.fileBegin ?? this.fail('empty "file_begin" event'));
      case 'data': {
        const { file, chunk } = this.reader.data(event.data ?? this.fail('empty "data" event'));
        await this.sinks.get(file.fileId)?.write(chunk);
        this.receivedBytes += chunk.length;
        this.progress();
        return;
      }
      case 'fileEnd':
        return this.end(this.reader.end(event.fileEnd ?? this.fail('empty "file_end" event')));
      case 'result': {
        const left = this.reader.open[0];
        if (left !== undefined) this.fail(`"result" while "${left.name}" is still open`);
        this.result = event.result ?? this.fail('empty "result" event');
        return;
      }
      default:
        this.fail('event of unknown type (newer agent?)');
    }
  }

  private async begin(begin: NonNullable<BackupEvent__Output['fileBegin']>): Promise<void> {
    if (!BACKUP_FILE_NAME.test(begin.name)) this.fail(`unexpected file name "${begin.name}"`);
    const file = this.reader.begin(begin);
    this.sinks.set(file.fileId, await this.options.open(file));
  }

  private async end(file: IncomingFile): Promise<void> {
    const sink = this.sinks.get(file.fileId);
    this.sinks.delete(file.fileId);
    if (file.announcedSize !== null && file.announcedSize !== file.bytes) {
      await sink?.abort();
      this.fail(`file "${file.name}" announced ${file.announcedSize} bytes, ${file.bytes} sent`);
    }
    await sink?.end();
  }

  /** After the last event: the outcome, or why there is none. */
  finish(): BackupOutcome {
    const left = this.reader.open[0];
    if (this.result === null && left !== undefined) this.fail(`ended in the middle of file "${left.name}"`);
    const result = this.result ?? this.fail('ended before the backup was complete');
    const files = this.reader.files;
    const sent = files.map((f) => f.name).sort();
    const listed = [...result.files].sort();
    if (sent.join('\n') !== listed.join('\n')) {
      this.fail(`result lists files ${listed.map((n) => `"${n}"`).join(', ') || 'none'}, received ${sent.map((n) => `"${n}"`).join(', ') || 'none'}`);
    }
    if (!sent.includes('backup_manifest')) this.fail('no "backup_manifest" received');
    if (!sent.some((n) => n.startsWith('base.tar'))) this.fail('no "base.tar" received');
    return {
      started: this.started as BackupStarted__Output,
      result,
      files: files.map((f) => ({ name: f.name, size: f.bytes, tablespaceOid: f.tablespaceOid, tablespaceLocation: f.tablespaceLocation })),
    };
  }

  /** The stream failed: every file still open is aborted. */
  async abort(): Promise<void> {
    const open = [...this.sinks.values()];
    this.sinks.clear();
    for (const sink of open) await sink.abort();
  }
}

export async function receiveBackupStream(events: AsyncIterable<BackupEvent__Output>, options: ReceiveBackupOptions): Promise<BackupOutcome> {
  const receiver = new BackupStreamReceiver(options);
  try {
    for await (const event of events) await receiver.accept(event);
  } catch (err) {
    await receiver.abort();
    throw err;
  }
  try {
    return receiver.finish();
  } finally {
    await receiver.abort();
  }
}

export interface DirectoryFilesOptions {
  /** fsync each file when it ends (default true). */
  sync?: boolean;
  /**
   * Write with O_DIRECT, past the page cache (core's direct-io.ts), for files fsynced at their
   * end and not read back soon (default false; ignored without `sync`).
   */
  directIo?: boolean;
  /** A streamer that also receives each file's bytes ('unknown' chunks), e.g. a verifier; finalized at the file's end, disposed when it is cut off. */
  observe?: (name: string) => Streamer;
}

/** Sinks that write each file into `dir`, created exclusively with mode 0600. */
export function directoryFiles(dir: string, options: DirectoryFilesOptions = {}): (file: IncomingFile) => Promise<ReceivingFile> {
  const sync = options.sync !== false;
  return async (file) => {
    const path = join(dir, file.name);
    const sink = sync && options.directIo === true ? await directSink(path) : await bufferedSink(path, sync);
    const observer = options.observe?.(file.name) ?? null;
    return {
      async write(chunk) {
        // Written and observed at the same time: the disk and the observer's work overlap.
        // Both settle before going on (the file may be closed right after a failure).
        const settled = await Promise.allSettled([sink.write(chunk), observer?.content(null, chunk, 'unknown')]);
        for (const s of settled) if (s.status === 'rejected') throw s.reason;
      },
      async end() {
        try {
          await sink.end();
          if (sync) {
            await sink.handle().sync().catch((err: unknown) => {
              throw fileError('could not fsync file', path, err);
            });
          }
        } finally {
          await sink.handle().close();
        }
        await observer?.finalize();
      },
      async abort() {
        await sink.settle();
        await sink.handle().close().catch(() => {});
        await observer?.dispose().catch(() => {});
      },
    };
  };
}

/** How directoryFiles writes one file; the caller fsyncs and closes handle() after end(). */
interface FileWriter {
  write(chunk: Buffer): Promise<void>;
  end(): Promise<void>;
  /** Waits for writes in progress; never throws. */
  settle(): Promise<void>;
  handle(): FileHandle;
}

async function bufferedSink(path: string, sync: boolean): Promise<FileWriter> {
  let handle: FileHandle;
  try {
    handle = await open(path, 'wx', 0o600);
  } catch (err) {
    throw fileError('could not create file', path, err);
  }
  // A file fsynced at its end is started on its way to disk while it arrives.
  const writeback = sync ? new Writeback() : null;
  const flushed = new WritebackFile(handle);
  return {
    async write(chunk) {
      await handle.write(chunk).catch((err: unknown) => {
        throw fileError('could not write to file', path, err);
      });
      writeback?.wrote(flushed, path, chunk.length);
      writeback?.check();
    },
    async end() {
      await flushed.quiesce();
      writeback?.check();
    },
    settle: () => flushed.quiesce(),
    handle: () => handle,
  };
}

async function directSink(path: string): Promise<FileWriter> {
  let file: DirectFile;
  try {
    file = await DirectFile.create(path, 0o600);
  } catch (err) {
    throw fileError('could not create file', path, err);
  }
  return { write: (chunk) => file.write(chunk), end: () => file.end(), settle: () => file.settle(), handle: () => file.handle };
}
