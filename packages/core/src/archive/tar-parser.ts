/**
 * Tar parser: raw archive bytes (kind 'unknown') in, members out. Every member gets one 'header'
 * chunk (always with empty data: tar-stream does not hand out the raw header, so a downstream
 * archiver regenerates it from the TarMember), its 'contents' chunks, and one 'trailer' chunk
 * holding the zero padding to a block boundary; the archive gets one 'archive-trailer' chunk
 * (empty) at finalize. Names lose any leading "./" and trailing "/" (tar.c writes
 * "./pg_wal/archive_status" and "dir/"); "./" itself becomes "."; hard link targets, which
 * name other members, are normalized the same way.
 *
 * Parsing is tar-stream's extractor, which understands PostgreSQL's ustar, GNU tar (long names)
 * and pax. Every entry is drained. Backpressure: content() returns only once tar-stream's
 * buffer has drained, and tar-stream only moves on while this parser pulls entry data, which it
 * does one chunk at a time after awaiting the next streamer's content().
 *
 * finalize() fails with ArchiveFormatError when the input ended inside a header, a member's
 * data or its padding (PostgreSQL: "COPY stream ended before last file was finished"). An
 * archive may end without its end-of-archive blocks, as servers <= 14 send them. Unlike
 * PostgreSQL's parser, bytes after the end-of-archive blocks must be zero (GNU tar's record
 * padding is).
 */

import type TarStream from 'tar-stream';
import { ArchiveFormatError, InternalError, PgFleetError } from '../errors.js';
import { ChainedStreamer, EMPTY_BUFFER } from './chained-streamer.js';
import type { ChunkKind, MemberType, Streamer, TarMember } from './streamer.js';
import { TAR_BLOCK_SIZE, normalizeMemberName, tarPaddingFor } from './tar-header.js';
import { YoungGarbageCollector } from './young-garbage.js';
import { lazyRequire } from '../lazy-require.js';

const tarStream = lazyRequire<typeof TarStream>('tar-stream');

export { normalizeMemberName };

export interface TarParserOptions {
  /** Archive name for error messages, e.g. "base.tar". */
  archiveName?: string;
  /**
   * The caller hands its buffers over: once passed to content(), a buffer (and the memory it
   * shares) is never written again, by the caller or anyone else. tar-stream then keeps them
   * as they are, instead of a copy of each (by default the caller may reuse a buffer as soon
   * as content() returns, while tar-stream still holds it). Safe for gRPC messages and for
   * decompressors that return a fresh buffer per block; not for one output buffer refilled.
   */
  inputOwned?: boolean;
}

const ZERO_BLOCK = Buffer.alloc(TAR_BLOCK_SIZE);

function memberType(type: TarStream.Header['type'] | null | undefined): MemberType {
  switch (type) {
    case 'file':
    case 'contiguous-file':
      return 'file';
    case 'directory':
      return 'directory';
    case 'symlink':
      return 'symlink';
    case 'link':
      return 'link';
    default:
      return 'other';
  }
}

export class TarParser extends ChainedStreamer {
  private readonly extract: TarStream.Extract;
  private readonly archiveLabel: string;
  private readonly inputOwned: boolean;
  private failure: unknown = null;
  private entryWork: Promise<void> = Promise.resolve();
  /** Bytes written into the extractor so far. */
  private bytesIn = 0;
  /** The member being passed on, and the offset where its padding ends. */
  private current: { name: string; end: number } | null = null;
  private readonly wakers = new Set<() => void>();
  private extractDone = false;
  /** Every chunk (or its copy) is garbage soon after tar-stream has parsed it. */
  private readonly garbage = new YoungGarbageCollector();

  constructor(next: Streamer, options: TarParserOptions = {}) {
    super(next);
    this.archiveLabel = options.archiveName === undefined ? 'tar archive' : `tar archive "${options.archiveName}"`;
    this.inputOwned = options.inputOwned === true;
    this.extract = tarStream().extract();
    this.extract.on('entry', (header, stream, done) => {
      this.entryWork = this.passEntry(header, stream).then(
        () => done(),
        (err: unknown) => {
          this.fail(err);
          done(err instanceof Error ? err : new Error(String(err)));
        },
      );
    });
    this.extract.on('error', (err: unknown) => this.fail(this.mapTarError(err)));
    const finished = (): void => {
      this.extractDone = true;
      this.wake();
    };
    this.extract.on('finish', finished);
    this.extract.on('close', finished);
  }

  async content(member: TarMember | null, data: Buffer, kind: ChunkKind): Promise<void> {
    if (kind !== 'unknown' || member !== null) {
      throw new InternalError(`tar parser received a "${kind}" chunk; it expects raw archive bytes`);
    }
    this.throwIfFailed();
    if (data.length === 0) return;
    this.bytesIn += data.length;
    // tar-stream keeps the buffer until it has parsed it; unless it was handed over, the caller
    // may reuse it after we return.
    const accepted = this.extract.write(this.inputOwned ? data : Buffer.from(data));
    this.garbage.add(data.length);
    if (!accepted) await this.until('drain');
    this.throwIfFailed();
  }

  protected override async finalizeSelf(): Promise<void> {
    this.throwIfFailed();
    this.extract.end(undefined);
    await this.until('finish');
    await this.entryWork;
    this.throwIfFailed();
    await this.next.content(null, EMPTY_BUFFER, 'archive-trailer');
  }

  protected override async disposeSelf(): Promise<void> {
    if (!this.extract.destroyed) this.extract.destroy(undefined);
    this.wake();
    // The member being passed on may still be inside the next streamer's content(): let it
    // return before the next streamer is disposed (its errors were reported or do not matter).
    await this.entryWork.catch(() => undefined);
  }

  private async passEntry(header: TarStream.Header, stream: AsyncIterable<unknown>): Promise<void> {
    if (header.name === '') throw new ArchiveFormatError('tar member has empty name');
    const type = memberType(header.type);
    const size = header.size ?? 0;
    const member: TarMember = {
      name: normalizeMemberName(header.name),
      size,
      mode: (header.mode ?? 0) & 0o7777,
      uid: header.uid ?? 0,
      gid: header.gid ?? 0,
      mtime: header.mtime ?? new Date(0),
      type,
      // A hard link names another member, so its target gets the same normalization.
      linkname: type === 'symlink' ? header.linkname ?? '' : type === 'link' ? normalizeMemberName(header.linkname ?? '') : null,
      ...(header.uname ? { uname: header.uname } : {}),
      ...(header.gname ? { gname: header.gname } : {}),
    };
    // Kept so that an archiver can write the name back as the server spelled it.
    if (header.name !== member.name) member.rawName = header.name;
    // tar-stream records where the member's data starts (after any pax/long-name headers).
    const dataStart = (header as { byteOffset?: number }).byteOffset ?? this.bytesIn;
    const hasData = size > 0 && type !== 'directory';
    this.current = { name: member.name, end: dataStart + (hasData ? size + tarPaddingFor(size) : 0) };

    await this.next.content(member, EMPTY_BUFFER, 'header');
    const chunks = stream[Symbol.asyncIterator]();
    for (;;) {
      let step: IteratorResult<unknown>;
      try {
        step = await chunks.next();
      } catch (err) {
        throw this.mapTarError(err);
      }
      if (step.done) break;
      const chunk = step.value;
      if (!Buffer.isBuffer(chunk)) throw new InternalError('tar entry stream produced something other than a Buffer');
      if (chunk.length > 0) await this.next.content(member, chunk, 'contents');
    }
    await this.next.content(member, hasData ? ZERO_BLOCK.subarray(0, tarPaddingFor(size)) : EMPTY_BUFFER, 'trailer');
  }

  private mapTarError(err: unknown): unknown {
    if (err instanceof PgFleetError) return err;
    const message = err instanceof Error ? err.message : String(err);
    if (message === 'Unexpected end of data' || message === 'Premature close') {
      const inMember = this.current !== null && this.bytesIn < this.current.end;
      const which = inMember ? `last file "${this.current!.name}"` : 'last file';
      return new ArchiveFormatError(`${this.archiveLabel} ended before ${which} was finished`, { cause: err });
    }
    if (message.startsWith('Invalid tar header')) {
      // The bad header starts where the last member passed on ended (with long-name or pax
      // records before it, where they start): not where the input read so far ends.
      const offset = this.current === null ? 0 : this.current.end;
      return new ArchiveFormatError(`${this.archiveLabel} has an invalid header at offset ${offset}`, {
        cause: err,
        hint: 'The file may be damaged, or compressed with a method its name does not say.',
      });
    }
    return new ArchiveFormatError(`could not parse ${this.archiveLabel}: ${message}`, { cause: err });
  }

  private fail(err: unknown): void {
    if (this.failure === null) this.failure = err;
    this.wake();
  }

  private throwIfFailed(): void {
    if (this.failure !== null) throw this.failure;
  }

  private wake(): void {
    for (const waker of this.wakers) waker();
    this.wakers.clear();
  }

  /** Waits for an extractor event, or until the parse fails or the extractor is done. */
  private until(event: 'drain' | 'finish'): Promise<void> {
    if (this.failure !== null || (event === 'finish' && this.extractDone) || this.extract.destroyed) {
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const waker = (): void => {
        this.extract.off(event, waker);
        this.wakers.delete(waker);
        resolve();
      };
      this.wakers.add(waker);
      this.extract.on(event, waker);
    });
  }
}
