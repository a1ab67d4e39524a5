/**
 * Reading global/pg_control the way pg_verifybackup checks it for version 2 manifests: the file
 * is PG_CONTROL_FILE_SIZE (8192) bytes; its CRC32C covers the bytes before the `crc` field and
 * is stored in native (little-endian) order; the first 8 bytes are the system identifier and
 * the next 4 the pg_control version. Offsets were read from real pg_control files made by
 * initdb of 13 to 18 (see test/manifest/fixtures): the crc field is at 288 for control
 * versions 1300 (13-16) and 1700 (17), and at 292 for 1800 (18 added default_char_signedness).
 * xlog_blcksz and xlog_seg_size sit at 224 and 228 in all of them.
 */

import { crc32c } from '@node-rs/crc32';

export const PG_CONTROL_FILE_SIZE = 8192;

/** pg_control_version -> offsetof(ControlFileData, crc). */
export const CONTROL_CRC_OFFSET: ReadonlyMap<number, number> = new Map([
  [1300, 288],
  [1700, 288],
  [1800, 292],
]);

const XLOG_BLCKSZ_OFFSET = 224;
const XLOG_SEG_SIZE_OFFSET = 228;

export interface ControlFileInfo {
  systemIdentifier: bigint;
  controlVersion: number;
  /** WAL block size (XLOG_BLCKSZ) and segment size recorded by initdb. */
  walBlockSize: number;
  walSegmentSize: number;
}

export type ControlFileProblem =
  | { kind: 'size'; size: number }
  | { kind: 'crc' }
  | { kind: 'version'; controlVersion: number };

export type ControlFileReading =
  | { ok: true; info: ControlFileInfo }
  | { ok: false; problem: ControlFileProblem };

function crcMatches(data: Buffer, offset: number): boolean {
  return crc32c(data.subarray(0, offset)) === data.readUInt32LE(offset);
}

/**
 * Checks size, CRC and version; `size` is the file's size when `data` holds only its start. A version we do not know is reported as such only when the
 * CRC is valid at one of the known offsets; otherwise the bytes are simply damaged.
 */
export function readControlFile(data: Buffer, size: number = data.length): ControlFileReading {
  if (size !== PG_CONTROL_FILE_SIZE || data.length !== PG_CONTROL_FILE_SIZE) {
    return { ok: false, problem: { kind: 'size', size } };
  }
  const controlVersion = data.readUInt32LE(8);
  const offset = CONTROL_CRC_OFFSET.get(controlVersion);
  if (offset === undefined) {
    const anyValid = [...new Set(CONTROL_CRC_OFFSET.values())].some((o) => crcMatches(data, o));
    return { ok: false, problem: anyValid ? { kind: 'version', controlVersion } : { kind: 'crc' } };
  }
  if (!crcMatches(data, offset)) return { ok: false, problem: { kind: 'crc' } };
  return {
    ok: true,
    info: {
      systemIdentifier: data.readBigUInt64LE(0),
      controlVersion,
      walBlockSize: data.readUInt32LE(XLOG_BLCKSZ_OFFSET),
      walSegmentSize: data.readUInt32LE(XLOG_SEG_SIZE_OFFSET),
    },
  };
}

/** The text after "control file ...: " for a problem, in pg_verifybackup's words. */
export function describeControlFileProblem(problem: ControlFileProblem): string {
  switch (problem.kind) {
    case 'size': return `unexpected control file size ${problem.size}, expected ${PG_CONTROL_FILE_SIZE}`;
    case 'crc': return 'CRC is incorrect';
    case 'version': return `unexpected control file version ${problem.controlVersion}`;
  }
}
