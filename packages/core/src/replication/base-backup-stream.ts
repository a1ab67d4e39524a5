/**
 * The CopyData sub-protocol of BASE_BACKUP on servers 15 and later (basebackup_copy.c). Every
 * CopyData payload starts with a type byte:
 *
 *   'n' new archive:  String archive_name, String tablespace_path   (path "" = main directory)
 *   'd' data:         Byte[n], for the current archive, or for the manifest once 'm' was seen
 *   'p' progress:     Int64 bytes done so far (cumulative over the whole backup)
 *   'm' manifest:     nothing; every later 'd' is manifest
 *
 * `decodeBaseBackupMessage` decodes one payload strictly (a short or long payload, or an
 * unknown type, is a ProtocolError naming the type and length). `BaseBackupStreamState` checks
 * the order the way pg_basebackup does: data only inside an archive or after 'm', archives
 * only before the manifest, at most one manifest, archive names that are plain file names.
 */

import { ProtocolError } from '../errors.js';
import { ByteReader } from './byte-reader.js';

export const enum BaseBackupCode {
  NewArchive = 0x6e, // n
  Data = 0x64, // d
  Progress = 0x70, // p
  Manifest = 0x6d, // m
}

export type BaseBackupStreamMessage =
  | { type: 'new-archive'; name: string; tablespacePath: string }
  | { type: 'data'; data: Buffer }
  | { type: 'progress'; bytesDone: bigint }
  | { type: 'manifest' };

const DESCRIPTIONS: Record<number, string> = {
  [BaseBackupCode.NewArchive]: 'new archive message ("n")',
  [BaseBackupCode.Data]: 'archive data message ("d")',
  [BaseBackupCode.Progress]: 'progress message ("p")',
  [BaseBackupCode.Manifest]: 'manifest message ("m")',
};

/** Decodes one CopyData payload of the BASE_BACKUP stream. */
export function decodeBaseBackupMessage(payload: Buffer): BaseBackupStreamMessage {
  if (payload.length === 0) {
    throw new ProtocolError('malformed base backup CopyData message of 0 bytes: no message type');
  }
  const code = payload[0] as number;
  // Data is the bulk of the stream: no cursor, no copy.
  if (code === BaseBackupCode.Data) return { type: 'data', data: payload.subarray(1) };
  const description = DESCRIPTIONS[code];
  if (description === undefined) {
    const shown = code >= 0x20 && code < 0x7f ? `"${String.fromCharCode(code)}"` : `0x${code.toString(16).padStart(2, '0')}`;
    throw new ProtocolError(`unexpected base backup CopyData message type ${shown} (${payload.length} bytes)`);
  }
  const r = new ByteReader(payload, description);
  r.uint8();
  let message: BaseBackupStreamMessage;
  switch (code) {
    case BaseBackupCode.NewArchive:
      message = { type: 'new-archive', name: r.cstring(), tablespacePath: r.cstring() };
      break;
    case BaseBackupCode.Progress: {
      const bytesDone = r.int64();
      if (bytesDone < 0n) r.fail(`negative byte count ${bytesDone}`);
      message = { type: 'progress', bytesDone };
      break;
    }
    default:
      message = { type: 'manifest' };
  }
  r.end();
  return message;
}

/** What the caller must do for one message, once its order has been checked. */
export type BaseBackupStreamAction =
  | { action: 'archive-start'; name: string; tablespacePath: string; endPrevious: boolean }
  | { action: 'archive-data'; data: Buffer }
  | { action: 'manifest-start'; endPrevious: boolean }
  | { action: 'manifest-data'; data: Buffer }
  | { action: 'progress'; bytesDone: bigint };

/** Order checks for the stream; `finish()` at CopyDone says what is still open. */
export class BaseBackupStreamState {
  private inArchive = false;
  private inManifest = false;
  private archives = 0;

  apply(message: BaseBackupStreamMessage): BaseBackupStreamAction {
    switch (message.type) {
      case 'new-archive': {
        if (this.inManifest) throw new ProtocolError('archives should precede manifest');
        const name = message.name;
        if (name === '' || name.startsWith('.') || name.includes('/') || name.includes('\\')) {
          throw new ProtocolError(`invalid archive name: "${name}"`);
        }
        const endPrevious = this.inArchive;
        this.inArchive = true;
        this.archives++;
        return { action: 'archive-start', name, tablespacePath: message.tablespacePath, endPrevious };
      }
      case 'data':
        if (this.inManifest) return { action: 'manifest-data', data: message.data };
        if (this.inArchive) return { action: 'archive-data', data: message.data };
        throw new ProtocolError('unexpected payload data before the first archive');
      case 'manifest': {
        if (this.inManifest) throw new ProtocolError('duplicate manifest in base backup stream');
        const endPrevious = this.inArchive;
        this.inArchive = false;
        this.inManifest = true;
        return { action: 'manifest-start', endPrevious };
      }
      case 'progress':
        return { action: 'progress', bytesDone: message.bytesDone };
    }
  }

  /** At CopyDone: which of archive or manifest is still open (at most one), and the count. */
  finish(): { open: 'archive' | 'manifest' | null; archives: number } {
    const open = this.inManifest ? 'manifest' : this.inArchive ? 'archive' : null;
    this.inArchive = false;
    return { open, archives: this.archives };
  }
}
