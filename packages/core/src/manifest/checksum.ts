/**
 * Per-file checksums as backup manifests use them (common/checksum_helper.c): NONE, CRC32C and
 * SHA-224/256/384/512. A checksum object is fed with update() and read once with digest().
 *
 * CRC32C is stored the way the server stores it: the uint32 copied in the server's native byte
 * order, which is little-endian on every platform PostgreSQL ships for, so CRC32C("123456789")
 * = 0xE3069283 is written as "839206e3".
 */

import { createHash, type Hash } from 'node:crypto';
import { crc32c } from '@node-rs/crc32';

export type ChecksumAlgorithm = 'NONE' | 'CRC32C' | 'SHA224' | 'SHA256' | 'SHA384' | 'SHA512';

export const CHECKSUM_ALGORITHMS: readonly ChecksumAlgorithm[] =
  ['NONE', 'CRC32C', 'SHA224', 'SHA256', 'SHA384', 'SHA512'];

const DIGEST_LENGTH: Record<ChecksumAlgorithm, number> = {
  NONE: 0, CRC32C: 4, SHA224: 28, SHA256: 32, SHA384: 48, SHA512: 64,
};

/** Parses an algorithm name case-insensitively (pg_checksum_parse_type); null if unknown. */
export function parseChecksumAlgorithm(name: string): ChecksumAlgorithm | null {
  const upper = name.toUpperCase();
  return (CHECKSUM_ALGORITHMS as readonly string[]).includes(upper) ? upper as ChecksumAlgorithm : null;
}

/** Digest length in bytes: 0 for NONE, 4 for CRC32C, 28..64 for the SHA family. */
export function checksumLength(algorithm: ChecksumAlgorithm): number {
  return DIGEST_LENGTH[algorithm];
}

export interface Checksum {
  readonly algorithm: ChecksumAlgorithm;
  update(data: Uint8Array): void;
  /** The digest bytes (empty for NONE). Call once, after the last update(). */
  digest(): Buffer;
}

class NoChecksum implements Checksum {
  readonly algorithm = 'NONE' as const;
  update(): void { /* nothing to compute */ }
  digest(): Buffer { return Buffer.alloc(0); }
}

class Crc32cChecksum implements Checksum {
  readonly algorithm = 'CRC32C' as const;
  private crc = 0;
  update(data: Uint8Array): void {
    if (data.length > 0) this.crc = crc32c(data, this.crc);
  }
  digest(): Buffer {
    const out = Buffer.alloc(4);
    out.writeUInt32LE(this.crc >>> 0);
    return out;
  }
}

class ShaChecksum implements Checksum {
  private readonly hash: Hash;
  constructor(readonly algorithm: 'SHA224' | 'SHA256' | 'SHA384' | 'SHA512') {
    this.hash = createHash(algorithm.toLowerCase());
  }
  update(data: Uint8Array): void { this.hash.update(data); }
  digest(): Buffer { return this.hash.digest(); }
}

export function createChecksum(algorithm: ChecksumAlgorithm): Checksum {
  switch (algorithm) {
    case 'NONE': return new NoChecksum();
    case 'CRC32C': return new Crc32cChecksum();
    default: return new ShaChecksum(algorithm);
  }
}

/** Checksum of a whole buffer, for small data and tests. */
export function computeChecksum(algorithm: ChecksumAlgorithm, data: Uint8Array): Buffer {
  const c = createChecksum(algorithm);
  c.update(data);
  return c.digest();
}
