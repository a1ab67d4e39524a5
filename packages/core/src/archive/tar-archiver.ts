/**
 * Tar archiver: members in, raw tar bytes (kind 'unknown') out, after astreamer's tar archiver.
 * - A 'header' chunk with data is passed through byte for byte (with its padding trailer);
 *   an empty one is replaced by a fresh ustar header built from the TarMember (so an injector
 *   that changed a member's size or added a member only edits the TarMember), and then the
 *   member's padding is regenerated too. The archiver checks that a regenerated member
 *   receives exactly `size` content bytes.
 * - The 'archive-trailer' chunk becomes exactly two zero blocks, whatever it held.
 * - Names and link targets must fit in 99 bytes (PostgreSQL's tar reader ignores the ustar
 *   prefix field); longer ones raise ArchiveFormatError from encodeTarHeader.
 *
 * Fast path for callers: when no stage needs members (no -R, no manifest injection), do not
 * build parser + archiver at all; pass the server's bytes straight to the compressor or sink
 * (appending the 1024-byte end for servers <= 14 if the replication layer did not).
 */

import { InternalError } from '../errors.js';
import { ChainedStreamer } from './chained-streamer.js';
import type { ChunkKind, Streamer, TarMember } from './streamer.js';
import { TAR_BLOCK_SIZE, TAR_END_OF_ARCHIVE, encodeTarHeader, tarPaddingFor } from './tar-header.js';

const ZERO_BLOCK = Buffer.alloc(TAR_BLOCK_SIZE);

export class TarArchiver extends ChainedStreamer {
  /** Set while the current member's header was regenerated: its padding must be too. */
  private rearchived: { name: string; size: number; seen: number } | null = null;

  constructor(next: Streamer) {
    super(next);
  }

  async content(member: TarMember | null, data: Buffer, kind: ChunkKind): Promise<void> {
    switch (kind) {
      case 'header': {
        if (member === null) throw new InternalError('tar archiver received a header chunk without a member');
        if (data.length > 0) {
          this.rearchived = null;
          await this.next.content(null, data, 'unknown');
          return;
        }
        const header = encodeTarHeader(member);
        this.rearchived = { name: member.name, size: member.type === 'file' ? member.size : 0, seen: 0 };
        await this.next.content(null, header, 'unknown');
        return;
      }
      case 'contents':
        if (this.rearchived !== null) this.rearchived.seen += data.length;
        if (data.length > 0) await this.next.content(null, data, 'unknown');
        return;
      case 'trailer': {
        const regenerated = this.rearchived;
        this.rearchived = null;
        if (regenerated === null) {
          if (data.length > 0) await this.next.content(null, data, 'unknown');
          return;
        }
        if (regenerated.seen !== regenerated.size) {
          throw new InternalError(
            `tar member "${regenerated.name}" received ${regenerated.seen} bytes but its header says ${regenerated.size}`,
          );
        }
        const pad = tarPaddingFor(regenerated.size);
        if (pad > 0) await this.next.content(null, ZERO_BLOCK.subarray(0, pad), 'unknown');
        return;
      }
      case 'archive-trailer':
        await this.next.content(null, TAR_END_OF_ARCHIVE, 'unknown');
        return;
      case 'unknown':
        throw new InternalError('tar archiver received raw bytes; it expects parsed members');
    }
  }
}
