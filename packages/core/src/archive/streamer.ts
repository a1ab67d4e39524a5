/**
 * The streamer contract, after PostgreSQL's astreamer. An archive flows through a chain of
 * streamers; each receives chunks, does its work and passes (possibly different) chunks on.
 *
 * - Raw archive bytes (not yet parsed into members) travel as kind 'unknown' with member null.
 * - Parsed archives travel as members: every member gets exactly one 'header' chunk (data empty
 *   or the 512-byte+ header bytes as read), zero or more 'contents' chunks, and exactly one
 *   'trailer' chunk (the padding to a 512-byte boundary, possibly empty); the archive gets
 *   exactly one 'archive-trailer' chunk at the end (the end-of-archive blocks, possibly empty).
 * - `content()` returns a promise; a caller must await it before sending the next chunk. That
 *   await is the backpressure: a slow sink slows the whole chain down to the socket.
 * - `finalize()` is called once after the last chunk; it flushes, checks completeness (an
 *   archive must end on a member boundary) and finalizes the next streamer.
 * - `dispose()` releases resources after success or failure; it never throws.
 * - Buffers passed to content() may be reused by the caller after the promise resolves: a
 *   streamer that keeps data longer must copy it.
 * - A streamer owns the streamer it feeds: its dispose() also disposes that one (as astreamer's
 *   free does), and dispose() is idempotent, so disposing the head of a chain releases it all.
 */

export type ChunkKind = 'unknown' | 'header' | 'contents' | 'trailer' | 'archive-trailer';

export type MemberType = 'file' | 'directory' | 'symlink' | 'link' | 'other';

/** One tar member as parsed (names without leading "./" and without trailing "/"). */
export interface TarMember {
  name: string;
  size: number;
  mode: number;
  uid: number;
  gid: number;
  mtime: Date;
  type: MemberType;
  /** Target of a symlink or hard link; null otherwise. */
  linkname: string | null;
  /** Owner and group names from the header, when the parser saw them. An archiver writes
   * "postgres" when absent, as PostgreSQL's tar.c always does. */
  uname?: string;
  gname?: string;
  /** The name exactly as the header had it, when that differs from `name` (tar.c writes
   * "./pg_wal/archive_status/" and "pg_tblspc/16384/"). An archiver writes it back as long as
   * it still normalizes to `name`, so re-archived headers keep the server's spelling. */
  rawName?: string;
}

export interface Streamer {
  content(member: TarMember | null, data: Buffer, kind: ChunkKind): Promise<void>;
  finalize(): Promise<void>;
  dispose(): Promise<void>;
}
