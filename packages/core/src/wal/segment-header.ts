/**
 * The check every WAL segment gets when it enters or leaves the fleet's archive (archive-push,
 * wal-get): its size is the segment size, and its first page carries a long page header
 * (XLogLongPageHeaderData: xlp_info has XLP_LONG_HEADER, xlp_pageaddr is the segment's start,
 * xlp_seg_size the segment size) whose xlp_sysid is the server's system identifier. A file that
 * fails is a WalFormatError naming it: a truncated copy, another file under the segment's name,
 * or a segment of another server.
 */

import { WalFormatError } from '../errors.js';
import { parseWalSegmentName, segmentStartLsn } from './segment.js';
import { formatLsn } from './lsn.js';

const XLP_LONG_HEADER = 0x0002;
const LONG_HEADER_BYTES = 40;

export interface SegmentHeaderInfo {
  /** xlp_sysid, decimal. */
  systemIdentifier: string;
}

/** Checks a whole segment's bytes (see the module comment); returns what its header says. */
export function checkSegmentContent(content: Buffer, name: string, segmentSize: number): SegmentHeaderInfo {
  const id = parseWalSegmentName(name, segmentSize);
  if (id === null) throw new WalFormatError(`"${name}" is not a WAL segment name for ${segmentSize}-byte segments`);
  if (content.length !== segmentSize) {
    throw new WalFormatError(`WAL segment "${name}" has ${content.length} bytes, should be ${segmentSize}`);
  }
  const info = content.readUInt16LE(2);
  const pageAddress = content.readBigUInt64LE(8);
  const expected = segmentStartLsn(id.segno, segmentSize);
  if ((info & XLP_LONG_HEADER) === 0 || content.length < LONG_HEADER_BYTES) {
    throw new WalFormatError(`WAL segment "${name}" does not start with a long page header`);
  }
  if (pageAddress !== expected) {
    throw new WalFormatError(`WAL segment "${name}" starts at ${formatLsn(pageAddress)}, should start at ${formatLsn(expected)}`);
  }
  const size = content.readUInt32LE(32);
  if (size !== segmentSize) throw new WalFormatError(`WAL segment "${name}" says its segment size is ${size}, should be ${segmentSize}`);
  return { systemIdentifier: content.readBigUInt64LE(24).toString() };
}
