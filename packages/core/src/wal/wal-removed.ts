/**
 * When a continuous archive's server no longer has WAL the archive still needs. Its slot kept
 * that WAL until the server gave up on it: max_slot_wal_keep_size invalidated the slot
 * (pg_replication_slots.wal_status = 'lost', 13+), or someone dropped the slot. Retrying the
 * same start point can never succeed; the archive must say so and resume where the server is.
 *
 * The server says it in one of these ways (13–18), and only these count:
 *   - START_REPLICATION reads a segment that is gone: "requested WAL segment %s has already
 *     been removed" (walsender.c). Opening the file failed with ENOENT, so the SQLSTATE is
 *     58P01 (undefined_file); the segment name is in the message whatever lc_messages is. The
 *     same text from CheckXLogRemoved() carries whatever errno was set (often 58030): that one
 *     is recognised by its English text only, because 58030 with a segment name is also a read
 *     error of a segment that exists;
 *   - 18 refuses an invalidated slot before streaming: 55000 "can no longer access replication
 *     slot", DETAIL 'This replication slot has been invalidated due to "wal_removed".' (the
 *     cause's name is never translated).
 * Anything else (a connection lost, a server shut down, a read error) is not WAL removal.
 */

import { ServerError, WalRemovedError } from '../errors.js';

export interface RemovedWalEvidence {
  /** The segment the server named, or null (an invalidated slot names none). */
  segment: string | null;
  /** The server's own words, for the log. */
  serverText: string;
}

const SEGMENT_NAME = /\b([0-9A-F]{24})\b/;
const REMOVED_TEXT = /requested WAL segment ([0-9A-F]{24}) has already been removed/;

/** What the server said about WAL it removed, or null when `err` says something else. */
export function removedWalEvidence(err: unknown): RemovedWalEvidence | null {
  if (!(err instanceof ServerError) || err.sqlState === undefined) return null;
  const serverText = err.libpqText ?? err.message;
  if (err.sqlState === '58P01') {
    const m = SEGMENT_NAME.exec(err.message);
    if (m !== null) return { segment: m[1] as string, serverText };
  }
  if (err.sqlState.startsWith('58')) {
    const m = REMOVED_TEXT.exec(err.message);
    if (m !== null) return { segment: m[1] as string, serverText };
  }
  if (err.sqlState === '55000' && /"wal_removed"/.test(serverText)) return { segment: null, serverText };
  return null;
}

/**
 * The error a continuous archive's session ends with: WalRemovedError when the server removed
 * WAL the archive needs (see the module comment), else `err` itself.
 */
export function archiveSessionError(err: unknown): unknown {
  const evidence = removedWalEvidence(err);
  if (evidence === null) return err;
  const what = evidence.segment !== null ? `WAL segment ${evidence.segment}` : 'WAL';
  return new WalRemovedError(`the server removed ${what} before the archive received it: ${(err as ServerError).message}`, {
    cause: err,
    hint: 'The archive resumes where the server is now; point-in-time recovery across the missing WAL is impossible. Take a new backup.',
  });
}
