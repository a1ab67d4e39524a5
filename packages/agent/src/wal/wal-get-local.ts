/**
 * `pgfleet-agent wal-get --archive DIR %f %p`: restore_command for a WAL archive on this host, a
 * directory written by pg_receivewal or pgfleet-receivewal (flat) or a copy of the fleet
 * repository's `<cluster>/wal` (one directory per timeline). The file the server asks for is
 * decompressed (.gz, .lz4, .zst), checked (a segment must be one whole segment, its first page
 * naming it) and written to %p atomically.
 *
 * Exit status, as the server reads it:
 *  - 0: the file is at %p;
 *  - 1 (WAL_GET_NOT_FOUND): the archive does not have it. Recovery takes that as the end of the
 *    archive (or, for a history file, as "no such timeline"), which is exactly what it is;
 *  - 255 (WAL_GET_ABORT): the file is there but damaged or unreadable, or the archive directory
 *    itself cannot be read. Any status above 125 makes the server abort recovery: stopping
 *    here as if the archive ended would promote a copy that silently misses data.
 * A segment that exists only as `.partial` (where the receiver was writing) is served, padded
 * with zeros to a whole segment, so that recovery to `latest` replays everything received.
 */

// The archive module alone: this runs once per WAL file, and all of @pgfleet/core takes long to load.
import { locateWalArchiveFile, restoreWalArchiveFile } from '@pgfleet/core/wal-archive';

export const WAL_GET_NOT_FOUND = 1;
export const WAL_GET_ABORT = 255;

export interface WalGetResult {
  status: number;
  message: string;
}

/** Fetches `fileName` from the archive directory into `destination`; never throws. */
export async function walGetLocal(archive: string, fileName: string, destination: string): Promise<WalGetResult> {
  try {
    const file = await locateWalArchiveFile(archive, fileName);
    if (file === null) {
      return { status: WAL_GET_NOT_FOUND, message: `file "${fileName}" is not in the WAL archive "${archive}"` };
    }
    const segment = /^[0-9A-F]{24}$/.test(fileName);
    const bytes = await restoreWalArchiveFile(file, destination, segment ? { segment: fileName, partial: file.partial } : {});
    return { status: 0, message: `restored "${file.path}" (${bytes} bytes${file.partial ? ', partial segment padded' : ''}) to "${destination}"` };
  } catch (err) {
    return { status: WAL_GET_ABORT, message: `${err instanceof Error ? err.message : String(err)}; recovery must not go on without this file` };
  }
}
