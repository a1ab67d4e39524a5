/**
 * The BackupSource of a Restore call: the files the client announced in RestoreSpec.files,
 * read from the call as a file stream (@pgfleet/proto's FileStreamReader: FileBegin, data
 * chunks, FileEnd, with their file id), one file at a time. backup_manifest (optional) must come
 * first, then base.tar[...], the <oid>.tar[...] archives, pg_wal.tar[...]; each file must come
 * in the announced order, with the announced size (when not 0). Data is decompressed and
 * parsed as it arrives; the call is read one message at a time (grpc-js reads the next message
 * only when asked), so a slow disk slows the sender down rather than filling memory. Waiting
 * for the client's next message ends at once when the signal given to the constructor aborts
 * (a stalled client must not hold a cancelled restore or the agent's shutdown).
 */

import { ArchiveFormatError, CancelledError, InvalidOptionError, ProtocolError, SyncTarParser, createDecompressor, type Streamer } from '@pgfleet/core';
import { FileStreamReader, type BackupFile__Output, type IncomingFile, type RestoreRequest__Output } from '@pgfleet/proto';
import { archiveOrder, classifyArchiveName, type ArchiveBegin, type ArchiveInfo, type BackupSource } from '../restore/source.js';
import { untilAborted, type Stall } from './abortable.js';
import { checkRestoreMessage } from './request-limits.js';

const MAX_MANIFEST = 1024 * 1024 * 1024;

/** The deadline of a Restore call's client: nothing sent for `ms`. */
export function clientSilent(ms: number): Stall {
  return {
    ms,
    error: () => new CancelledError(`the client sent nothing of the restore stream for ${ms / 1000} s: it is gone or stuck`, {
      hint: 'The agent undid the restore; run it again.',
    }),
  };
}

export class StreamBackupSource implements BackupSource {
  readonly layout = 'tar' as const;
  readonly tablespaceLocations = null;
  readonly dataDirectoryMode = null;
  readonly archives: readonly ArchiveInfo[];
  private readonly hasManifest: boolean;
  private readonly files: FileStreamReader;

  constructor(
    files: readonly BackupFile__Output[],
    private readonly messages: AsyncIterator<RestoreRequest__Output>,
    readonly location: string,
    private readonly signal?: AbortSignal,
    private readonly noProgressMs?: number,
  ) {
    const archives: ArchiveInfo[] = [];
    let manifest = false;
    files.forEach((f, i) => {
      if (f.name === 'backup_manifest') {
        if (i !== 0) throw new InvalidOptionError('"backup_manifest" must be the first file of a restore stream');
        manifest = true;
        return;
      }
      const info = classifyArchiveName(f.name);
      if (info === null) {
        throw new InvalidOptionError(`file "${f.name}" does not belong in a restore stream`, {
          hint: 'Send backup_manifest, base.tar[.gz|.lz4|.zst], <oid>.tar[...] and pg_wal.tar[...] only.',
        });
      }
      if (archives.some((a) => a.kind === info.kind && a.oid === info.oid)) throw new InvalidOptionError(`file "${f.name}" is announced twice`);
      archives.push({ ...info, size: Number(f.size) || null });
    });
    const sorted = [...archives].sort(archiveOrder);
    if (sorted.some((a, i) => a !== archives[i])) {
      throw new InvalidOptionError('the files of a restore stream must come in the order backup_manifest, base.tar, <oid>.tar by OID, pg_wal.tar');
    }
    if (!archives.some((a) => a.kind === 'base')) throw new InvalidOptionError('a restore stream needs a base.tar');
    this.archives = archives;
    this.hasManifest = manifest;
    this.files = new FileStreamReader({
      maxOpen: 1,
      fail: (problem) => { throw new ProtocolError(`the restore stream from ${location}: ${problem}`); },
    });
  }

  private receive(): Promise<IteratorResult<RestoreRequest__Output>> {
    return untilAborted(this.messages.next(), this.signal, () => new CancelledError('the restore was cancelled'),
      this.noProgressMs === undefined ? undefined : clientSilent(this.noProgressMs));
  }

  private async next(what: string): Promise<RestoreRequest__Output> {
    const step = await this.receive();
    if (step.done) throw new ProtocolError(`the restore stream from ${this.location} ended while ${what}`);
    checkRestoreMessage(step.value);
    return step.value;
  }

  private async expectBegin(name: string): Promise<IncomingFile> {
    const m = await this.next(`"${name}" was expected`);
    if (m.item !== 'fileBegin' || !m.fileBegin) throw new ProtocolError(`the restore stream sent "${m.item ?? 'nothing'}" where the start of "${name}" was expected`);
    if (m.fileBegin.name !== name) throw new ProtocolError(`the restore stream sent file "${m.fileBegin.name}" where "${name}" was announced`);
    return this.files.begin(m.fileBegin);
  }

  /** Data chunks of the file until its FileEnd; returns the byte count. */
  private async readData(file: IncomingFile, expected: number | null, each: (data: Buffer) => Promise<void>): Promise<number> {
    for (;;) {
      const m = await this.next(`"${file.name}" was being received`);
      if (m.item === 'data' && m.data) {
        const { chunk } = this.files.data(m.data);
        if (expected !== null && file.bytes > expected) break;
        if (chunk.length > 0) await each(chunk);
      } else if (m.item === 'fileEnd' && m.fileEnd) {
        this.files.end(m.fileEnd);
        break;
      } else {
        throw new ProtocolError(`the restore stream sent "${m.item ?? 'nothing'}" inside file "${file.name}"`);
      }
    }
    if (expected !== null && file.bytes !== expected) {
      throw new ArchiveFormatError(`file "${file.name}" of the restore stream has ${file.bytes} bytes, but ${expected} were announced`);
    }
    return file.bytes;
  }

  async readManifest(): Promise<Buffer | null> {
    if (!this.hasManifest) return null;
    const file = await this.expectBegin('backup_manifest');
    const chunks: Buffer[] = [];
    let size = 0;
    await this.readData(file, null, async (data) => {
      size += data.length;
      if (size > MAX_MANIFEST) throw new InvalidOptionError('backup_manifest of the restore stream is larger than 1 GiB');
      chunks.push(Buffer.from(data));
    });
    return Buffer.concat(chunks);
  }

  async stream(begin: ArchiveBegin, progress: (info: ArchiveInfo, bytesDone: number) => void, signal?: AbortSignal): Promise<void> {
    for (const info of this.archives) {
      const file = await this.expectBegin(info.name);
      const next = await begin(info);
      // Disposed at the end whatever part of the chain could be made, `next` included.
      let chain: Streamer = next;
      try {
        // Each message's chunk is a fresh buffer nobody writes again, and the restore's streamers
        // (manifest check, inspector, extractor) copy what they keep: parsed in place, no copies.
        const parser = new SyncTarParser(next, { archiveName: info.name });
        chain = parser;
        chain = createDecompressor(info.compression, parser, { archiveName: info.name, inputOwned: true });
        let done = 0;
        await this.readData(file, info.size, async (data) => {
          if (signal?.aborted) throw new CancelledError('the restore was cancelled');
          await chain.content(null, data, 'unknown');
          done += data.length;
          progress(info, done);
        });
        await chain.finalize();
      } finally {
        await chain.dispose();
      }
    }
    const extra = await this.receive();
    if (!extra.done) throw new ProtocolError(`the restore stream sent "${extra.value.item ?? 'something'}" after its last announced file`);
  }
}
