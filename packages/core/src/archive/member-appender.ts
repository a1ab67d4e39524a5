/**
 * Adding files to a parsed archive, as astreamer_inject_file does. injectMember() sends one
 * member (empty header chunk, its contents, zero padding) to a streamer; a downstream archiver
 * builds the header from the TarMember. Injected members get pg_basebackup's values: mode 0600
 * (0640 when the data directory allows group access), uid 2048 (04000), gid 1024 (02000),
 * mtime now, owner names "postgres" (the archiver's default).
 *
 * MemberAppender passes an archive through unchanged and, when the 'archive-trailer' chunk
 * arrives, first injects every member given to its constructor or to append(). pg_basebackup
 * uses this to put backup_manifest at the end of base.tar when writing to stdout (-D -). The
 * manifest arrives after the archive data, so the caller must hold back finalize() of the chain
 * (which is what sends the archive trailer) until append() has been called, e.g. in
 * onManifestEnd rather than onArchiveEnd.
 */

import { InternalError } from '../errors.js';
import { ChainedStreamer, EMPTY_BUFFER } from './chained-streamer.js';
import type { ChunkKind, Streamer, TarMember } from './streamer.js';
import { TAR_BLOCK_SIZE, tarPaddingFor } from './tar-header.js';

/** uid and gid pg_basebackup gives injected members ("what PostgreSQL has historically used"). */
export const INJECTED_MEMBER_UID = 0o4000;
export const INJECTED_MEMBER_GID = 0o2000;

export interface InjectedMemberOptions {
  /** File mode; 0o600 by default. Use 0o640 when the data directory allows group access. */
  mode?: number;
  uid?: number;
  gid?: number;
  /** Modification time; now by default. */
  mtime?: Date;
}

const ZERO_BLOCK = Buffer.alloc(TAR_BLOCK_SIZE);

/** The TarMember of an injected regular file. */
export function injectedMember(name: string, size: number, options: InjectedMemberOptions = {}): TarMember {
  return {
    name,
    size,
    mode: options.mode ?? 0o600,
    uid: options.uid ?? INJECTED_MEMBER_UID,
    gid: options.gid ?? INJECTED_MEMBER_GID,
    mtime: options.mtime ?? new Date(),
    type: 'file',
    linkname: null,
  };
}

/** Sends a whole regular-file member to `next`: header (empty data), contents, padding. */
export async function injectMember(next: Streamer, name: string, data: Buffer, options: InjectedMemberOptions = {}): Promise<void> {
  const member = injectedMember(name, data.length, options);
  await next.content(member, EMPTY_BUFFER, 'header');
  if (data.length > 0) await next.content(member, data, 'contents');
  await next.content(member, ZERO_BLOCK.subarray(0, tarPaddingFor(data.length)), 'trailer');
}

export interface AppendedFile extends InjectedMemberOptions {
  name: string;
  data: Buffer;
}

export class MemberAppender extends ChainedStreamer {
  private readonly pending: AppendedFile[];
  private trailerSeen = false;

  constructor(next: Streamer, options: { files?: AppendedFile[] } = {}) {
    super(next);
    this.pending = [...(options.files ?? [])];
  }

  /** Queues a file to go in just before the end of the archive. */
  async append(name: string, data: Buffer, options: InjectedMemberOptions = {}): Promise<void> {
    if (this.trailerSeen) {
      throw new InternalError(`cannot append "${name}": the archive has already ended`);
    }
    this.pending.push({ name, data, ...options });
  }

  async content(member: TarMember | null, data: Buffer, kind: ChunkKind): Promise<void> {
    if (kind === 'archive-trailer') {
      this.trailerSeen = true;
      for (const file of this.pending.splice(0)) {
        await injectMember(this.next, file.name, file.data, file);
      }
    }
    await this.next.content(member, data, kind);
  }
}
