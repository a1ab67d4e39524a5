/**
 * File streams, the one framing of files on the wire (agent.proto "File streams"): the Backup
 * call's events and the Restore call's requests both carry files as
 *
 *     file_begin {name, size, file_id}   data {file_id, chunk}*   file_end {file_id}
 *
 * and several files may be open at once, their messages interleaved. The frames have the same
 * shape in both messages (oneof members fileBegin, data, fileEnd), so one writer and one reader
 * serve both.
 *
 * - FileStreamWriter hands out file ids and sends through the caller's `send`, which must wait
 *   while the transport is full (gRPC's 'drain'): every write awaits it, so a slow receiver
 *   slows the producer. Each OutgoingFile coalesces small writes into chunks of about
 *   CHUNK_BYTES and is a core Streamer, so a backup chain can write into it directly.
 * - FileStreamReader checks incoming frames: ids from 1 up, unique among open files, data and
 *   file_end only for an open file, at most `maxOpen` files at once, a name at most once; it
 *   counts each file's bytes. What a name may be and what a file's size must be are the
 *   caller's rules (Backup and Restore differ), and so are the error messages' prefix.
 */

import { open } from 'node:fs/promises';
import { fileError, type ChunkKind, type Streamer, type TarMember } from '@pgfleet/core';
import type { FileBegin } from './gen/pgfleet/v1/FileBegin.js';
import type { FileBegin__Output } from './gen/pgfleet/v1/FileBegin.js';
import type { FileData } from './gen/pgfleet/v1/FileData.js';
import type { FileData__Output } from './gen/pgfleet/v1/FileData.js';
import type { FileEnd } from './gen/pgfleet/v1/FileEnd.js';
import type { FileEnd__Output } from './gen/pgfleet/v1/FileEnd.js';

/** Data messages are coalesced to about this size (64 KiB - 1 MiB is what gRPC likes). */
export const CHUNK_BYTES = 256 * 1024;

/**
 * Reads of a file being sent (sendFile) that run ahead of the sending. With one read ahead (a
 * read stream's), the controller sending a stored backup to an agent on the bench VM waited
 * 1.6-2.3 s for reads of a 503 MB archive, each read queued on the disk behind the agent's
 * writes of the restore; with eight, 0.6-0.9 s. 2 MiB per file being sent.
 */
export const READ_AHEAD_CHUNKS = 8;

/**
 * The file at `path` in chunks of `chunkBytes` (each a fresh buffer), with up to `depth` reads
 * running at once at increasing positions. A read shorter than asked is the end of the file:
 * a file that still has bytes past it changed while it was read, which is an error. Errors name
 * the file; leaving the loop early waits for the reads on their way, then closes the file.
 */
async function* readAhead(path: string, chunkBytes: number, depth: number): AsyncGenerator<Buffer> {
  const handle = await open(path, 'r').catch((err: unknown) => { throw fileError('could not open file', path, err); });
  const reads: Array<Promise<Buffer>> = [];
  let position = 0;
  const readNext = (): void => {
    const buf = Buffer.allocUnsafe(chunkBytes);
    reads.push(handle.read(buf, 0, chunkBytes, position).then(({ bytesRead }) => buf.subarray(0, bytesRead)));
    position += chunkBytes;
  };
  try {
    for (let i = 0; i < depth; i++) readNext();
    let ended = false;
    while (reads.length > 0) {
      const chunk = await (reads.shift() as Promise<Buffer>).catch((err: unknown) => { throw fileError('could not read file', path, err); });
      if (ended && chunk.length > 0) throw fileError('could not read file', path, new Error('file changed size while it was being read'));
      if (chunk.length > 0) yield chunk;
      if (chunk.length < chunkBytes) ended = true;
      else if (!ended) readNext();
    }
  } finally {
    await Promise.allSettled(reads);
    await handle.close();
  }
}

/** One message of a file stream, as BackupEvent and RestoreRequest both spell it. */
export type FileFrame = { fileBegin: FileBegin } | { data: FileData } | { fileEnd: FileEnd };

/** What a FileBegin announces (file_id is the writer's). */
export interface FileAnnouncement {
  name: string;
  /** Bytes that will be sent; 0 or absent when unknown. */
  size?: number;
  tablespaceOid?: number;
  tablespaceLocation?: string;
}

export class FileStreamWriter {
  private nextId = 1;
  /** Names of the files begun, in order. */
  readonly begun: string[] = [];

  constructor(private readonly send: (frame: FileFrame) => Promise<void>, private readonly chunkBytes = CHUNK_BYTES) {}

  /** Sends a file_begin; the returned file takes the data and ends it. */
  async begin(file: FileAnnouncement): Promise<OutgoingFile> {
    const fileId = this.nextId;
    this.nextId += 1;
    this.begun.push(file.name);
    await this.send({
      fileBegin: {
        fileId, name: file.name, size: String(file.size ?? 0),
        tablespaceOid: file.tablespaceOid ?? 0, tablespaceLocation: file.tablespaceLocation ?? '',
      },
    });
    return new OutgoingFile(fileId, this.send, this.chunkBytes);
  }

  /**
   * Sends the file at `path` whole (file_begin, its bytes, file_end). `onChunk` sees the bytes
   * sent so far after each chunk; an aborted `signal` stops reading with CancelledError.
   */
  async sendFile(path: string, file: FileAnnouncement, options: { onChunk?: (sent: number) => void; signal?: AbortSignal } = {}): Promise<number> {
    const out = await this.begin(file);
    // Every chunk read is a new buffer: it can be sent as it is.
    for await (const chunk of readAhead(path, this.chunkBytes, READ_AHEAD_CHUNKS)) {
      if (options.signal?.aborted) throw options.signal.reason;
      await out.writeOwned(chunk);
      options.onChunk?.(out.bytes);
    }
    await out.finalize();
    return out.bytes;
  }
}

/**
 * One file being sent: data coalesced into chunks, file_end at finalize(). Writes below the
 * chunk size are copied into a staging buffer; once the pending bytes reach the chunk size they
 * go out as one message in a buffer of their own (the transport may still hold a message after
 * `send` resolved, so a sent buffer is never reused): every byte is copied once.
 */
export class OutgoingFile implements Streamer {
  private stage: Buffer | null = null;
  private pendingBytes = 0;
  /** Bytes given so far. */
  bytes = 0;

  constructor(readonly fileId: number, private readonly send: (frame: FileFrame) => Promise<void>, private readonly chunkBytes: number) {}

  async write(data: Buffer): Promise<void> {
    if (data.length === 0) return;
    this.bytes += data.length;
    const total = this.pendingBytes + data.length;
    if (total < this.chunkBytes) {
      // Copied: a chain may reuse its buffer once content() has resolved.
      this.stage ??= Buffer.allocUnsafe(this.chunkBytes);
      data.copy(this.stage, this.pendingBytes);
      this.pendingBytes = total;
      return;
    }
    const chunk = Buffer.allocUnsafe(total);
    if (this.stage !== null && this.pendingBytes > 0) this.stage.copy(chunk, 0, 0, this.pendingBytes);
    data.copy(chunk, this.pendingBytes);
    this.pendingBytes = 0;
    await this.send({ data: { fileId: this.fileId, chunk } });
  }

  /** write() for a buffer nobody else refers to or changes (a fresh read): sent without a copy when nothing is pending. */
  async writeOwned(data: Buffer): Promise<void> {
    if (this.pendingBytes > 0 || data.length < this.chunkBytes) return this.write(data);
    this.bytes += data.length;
    await this.send({ data: { fileId: this.fileId, chunk: data } });
  }

  content(_member: TarMember | null, data: Buffer, _kind: ChunkKind): Promise<void> {
    return this.write(data);
  }

  private async flush(): Promise<void> {
    if (this.pendingBytes === 0 || this.stage === null) return;
    const chunk = Buffer.from(this.stage.subarray(0, this.pendingBytes));
    this.pendingBytes = 0;
    await this.send({ data: { fileId: this.fileId, chunk } });
  }

  async finalize(): Promise<void> {
    await this.flush();
    this.stage = null;
    await this.send({ fileEnd: { fileId: this.fileId } });
  }

  async dispose(): Promise<void> {
    this.stage = null;
    this.pendingBytes = 0;
  }
}

/** A file of an incoming stream. */
export interface IncomingFile {
  fileId: number;
  name: string;
  /** The FileBegin's size; null when it said 0 (unknown). */
  announcedSize: number | null;
  tablespaceOid: number | null;
  tablespaceLocation: string | null;
  /** Bytes received so far. */
  bytes: number;
}

export interface FileStreamReaderOptions {
  /** Throws the caller's error for a problem ("data" outside a file), e.g. a ProtocolError naming the peer. */
  fail: (problem: string) => never;
  /** How many files may be open at once (default: no limit). */
  maxOpen?: number;
}

export class FileStreamReader {
  private readonly openFiles = new Map<number, IncomingFile>();
  /** Every file begun, in order. */
  readonly files: IncomingFile[] = [];

  constructor(private readonly options: FileStreamReaderOptions) {}

  /** The files begun and not ended yet, oldest first. */
  get open(): IncomingFile[] {
    return [...this.openFiles.values()];
  }

  begin(begin: FileBegin__Output): IncomingFile {
    const { fail } = this.options;
    const name = begin.name;
    if (begin.fileId === 0) fail(`"file_begin" of "${name}" has no file id`);
    const holder = this.openFiles.get(begin.fileId);
    if (holder !== undefined) fail(`"file_begin" of "${name}" uses file id ${begin.fileId} of "${holder.name}", which is still open`);
    const first = this.open[0];
    if (this.options.maxOpen !== undefined && first !== undefined && this.openFiles.size >= this.options.maxOpen) {
      fail(`"file_begin" while "${first.name}" is still open`);
    }
    if (this.files.some((f) => f.name === name)) fail(`file "${name}" sent twice`);
    const file: IncomingFile = {
      fileId: begin.fileId, name, announcedSize: Number(begin.size) > 0 ? Number(begin.size) : null,
      tablespaceOid: begin.tablespaceOid > 0 ? begin.tablespaceOid : null,
      tablespaceLocation: begin.tablespaceLocation !== '' ? begin.tablespaceLocation : null, bytes: 0,
    };
    this.openFiles.set(file.fileId, file);
    this.files.push(file);
    return file;
  }

  /** The open file a data message belongs to, its bytes counted. */
  data(data: FileData__Output): { file: IncomingFile; chunk: Buffer } {
    const file = this.openFiles.get(data.fileId) ?? this.options.fail('"data" outside a file');
    const chunk = data.chunk ?? Buffer.alloc(0);
    file.bytes += chunk.length;
    return { file, chunk };
  }

  /** The file a file_end closes. */
  end(end: FileEnd__Output): IncomingFile {
    const file = this.openFiles.get(end.fileId) ?? this.options.fail('"file_end" outside a file');
    this.openFiles.delete(end.fileId);
    return file;
  }
}
