/**
 * Sinks that write to a Node Writable: StdoutSink for `-D -` (the archive on standard output),
 * WritableSink for any other stream. Each chunk is copied (the caller may reuse its buffer) and
 * written; when the stream's buffer is full, content() waits for 'drain', so a slow reader of
 * the pipe slows the backup down instead of filling memory. finalize() waits until everything
 * written has been flushed to the stream's destination and, with `end`, ends the stream
 * (stdout is never ended). A stream error (EPIPE when the reader went away) fails the next call
 * with FileIoError.
 */

import type { Writable } from 'node:stream';
import { fileError } from '../errors.js';
import type { ChunkKind, Streamer, TarMember } from './streamer.js';

export interface WritableSinkOptions {
  /** End the stream in finalize() (default false). */
  end?: boolean;
  /** Name for error messages; "standard output" for StdoutSink. */
  name?: string;
}

export class WritableSink implements Streamer {
  /** The stream's 'error' event: the real cause (EPIPE...), preferred in messages. */
  private failure: unknown = null;
  /** A write callback's error, often just "stream destroyed" after the real one. */
  private writeFailure: unknown = null;
  private lastWrite: Promise<void> = Promise.resolve();
  private readonly onError = (err: unknown): void => { this.failure ??= err; };

  constructor(private readonly stream: Writable, private readonly options: WritableSinkOptions = {}) {
    stream.on('error', this.onError);
  }

  async content(_member: TarMember | null, data: Buffer, _kind: ChunkKind): Promise<void> {
    this.throwIfFailed();
    if (data.length === 0) return;
    this.lastWrite = new Promise((resolve) => {
      this.stream.write(Buffer.from(data), (err) => {
        if (err) this.writeFailure ??= err;
        resolve();
      });
    });
    if (this.stream.writableNeedDrain) await this.drained();
    this.throwIfFailed();
  }

  /** Resolves on 'drain', or as soon as the stream fails or closes. */
  private drained(): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = (): void => {
        this.stream.off('drain', done);
        this.stream.off('error', done);
        this.stream.off('close', done);
        resolve();
      };
      this.stream.on('drain', done);
      this.stream.on('error', done);
      this.stream.on('close', done);
      if (this.stream.destroyed || this.failure !== null || this.writeFailure !== null) done();
    });
  }

  async finalize(): Promise<void> {
    this.throwIfFailed();
    if (this.options.end) {
      await new Promise<void>((resolve) => this.stream.end(() => resolve()));
    } else {
      await this.lastWrite;
    }
    this.throwIfFailed();
  }

  async dispose(): Promise<void> {
    this.stream.off('error', this.onError);
    // Keep swallowing late errors (EPIPE) so they do not become uncaught exceptions.
    this.stream.on('error', () => {});
  }

  private throwIfFailed(): void {
    const cause = this.failure ?? this.writeFailure;
    if (cause !== null) throw fileError('could not write to', this.options.name ?? 'output stream', cause);
  }
}

/** The sink for `-D -`: the archive goes to standard output, which stays open. */
export class StdoutSink extends WritableSink {
  constructor() {
    super(process.stdout, { end: false, name: 'standard output' });
  }
}
