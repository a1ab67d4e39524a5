/**
 * A Streamer feeding the WAL segments found in a parsed tar archive to a WalCheck: the members
 * of pg_wal.tar (flat names, prefix '') or the `pg_wal/<segment>` members that -X fetch puts in
 * base.tar (prefix 'pg_wal/'). Other members are ignored. Chunks are passed on unchanged to
 * `next` when there is one.
 */

import { InternalError } from '../errors.js';
import type { ChunkKind, Streamer, TarMember } from '../archive/streamer.js';
import { isWalSegmentName } from './segment.js';
import type { WalCheck, WalFileSink } from './wal-check.js';

export interface WalCheckStreamerOptions {
  check: WalCheck;
  /** '' for pg_wal.tar, 'pg_wal/' for base.tar. */
  prefix: string;
  /** Called once, just before the first segment member is handed to the check. */
  beforeFirstSegment?: () => void;
  next?: Streamer | null;
}

export class WalCheckStreamer implements Streamer {
  private readonly check: WalCheck;
  private readonly prefix: string;
  private readonly next: Streamer | null;
  private beforeFirstSegment: (() => void) | null;
  private sink: WalFileSink | null = null;

  constructor(options: WalCheckStreamerOptions) {
    this.check = options.check;
    this.prefix = options.prefix;
    this.next = options.next ?? null;
    this.beforeFirstSegment = options.beforeFirstSegment ?? null;
  }

  async content(member: TarMember | null, data: Buffer, kind: ChunkKind): Promise<void> {
    switch (kind) {
      case 'header': {
        if (member === null) throw new InternalError('tar member header without a member');
        this.sink = null;
        const name = member.name.startsWith('./') ? member.name.slice(2) : member.name;
        if (member.type === 'file' && name.startsWith(this.prefix)) {
          const rest = name.slice(this.prefix.length);
          if (isWalSegmentName(rest)) {
            this.beforeFirstSegment?.();
            this.beforeFirstSegment = null;
            this.sink = this.check.beginFile(rest, member.size);
          }
        }
        break;
      }
      case 'contents':
        if (this.sink?.wantsMore) this.sink.write(data);
        break;
      case 'trailer':
        if (this.sink !== null) {
          const sink = this.sink;
          this.sink = null;
          sink.end();
        }
        break;
      case 'archive-trailer':
        break;
      default:
        throw new InternalError(`the WAL checker needs a parsed archive, got a "${kind}" chunk`);
    }
    if (this.next !== null) await this.next.content(member, data, kind);
  }

  async finalize(): Promise<void> {
    if (this.sink !== null) throw new InternalError('archive ended inside a WAL segment member');
    if (this.next !== null) await this.next.finalize();
  }

  async dispose(): Promise<void> {
    if (this.next !== null) await this.next.dispose();
  }
}
