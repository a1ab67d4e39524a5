import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CHECKSUM_ALGORITHMS, checksumLength, computeChecksum, createChecksum, parseChecksumAlgorithm,
} from '../../src/manifest/checksum.js';

const hex = (b: Buffer): string => b.toString('hex');

test('CRC32C is written as the little-endian bytes of the CRC', () => {
  assert.equal(hex(computeChecksum('CRC32C', Buffer.from('123456789'))), '839206e3');
  assert.equal(hex(computeChecksum('CRC32C', Buffer.alloc(0))), '00000000');
  // RFC 3720 appendix B.4 vectors, listed there as the CRC's bytes in transmission order.
  assert.equal(hex(computeChecksum('CRC32C', Buffer.alloc(32, 0x00))), 'aa36918a');
  assert.equal(hex(computeChecksum('CRC32C', Buffer.alloc(32, 0xff))), '43aba862');
  assert.equal(hex(computeChecksum('CRC32C', Buffer.from(Array.from({ length: 32 }, (_, i) => i)))), '4e79dd46');
});

test('SHA family digests', () => {
  const abc = Buffer.from('abc');
  assert.equal(hex(computeChecksum('SHA224', abc)), '23097d223405d8228642a477bda255b32aadbce4bda0b3f7e36c9da7');
  assert.equal(hex(computeChecksum('SHA256', abc)), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  assert.equal(hex(computeChecksum('SHA384', abc)),
    'cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7');
  assert.equal(hex(computeChecksum('SHA512', abc)),
    'ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f');
  assert.equal(hex(computeChecksum('NONE', abc)), '');
});

test('streaming updates split at every byte boundary give the whole-buffer digest', () => {
  const data = Buffer.from('The quick brown fox jumps over the lazy dog, 0123456789.');
  for (const algorithm of CHECKSUM_ALGORITHMS) {
    const whole = computeChecksum(algorithm, data);
    assert.equal(whole.length, checksumLength(algorithm));
    for (let i = 0; i <= data.length; i++) {
      for (const j of [i, Math.min(data.length, i + 7)]) {
        const c = createChecksum(algorithm);
        c.update(data.subarray(0, i));
        c.update(data.subarray(i, j));
        c.update(data.subarray(j));
        assert.deepEqual(c.digest(), whole, `${algorithm} split at ${i}/${j}`);
      }
    }
  }
});

test('algorithm names parse case-insensitively', () => {
  assert.equal(parseChecksumAlgorithm('crc32c'), 'CRC32C');
  assert.equal(parseChecksumAlgorithm('Sha512'), 'SHA512');
  assert.equal(parseChecksumAlgorithm('none'), 'NONE');
  assert.equal(parseChecksumAlgorithm('md5'), null);
  assert.equal(parseChecksumAlgorithm('SHA-256'), null);
});
