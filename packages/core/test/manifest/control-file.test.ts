import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { crc32c } from '@node-rs/crc32';
import {
  CONTROL_CRC_OFFSET, describeControlFileProblem, PG_CONTROL_FILE_SIZE, readControlFile,
} from '../../src/manifest/control-file.js';

const fixture = JSON.parse(readFileSync(new URL('./fixtures/pg-control-13-18.json', import.meta.url), 'utf8')) as {
  files: Record<string, string>;
};

function controlFile(version: string): Buffer {
  const data = Buffer.alloc(PG_CONTROL_FILE_SIZE);
  Buffer.from(fixture.files[version]!, 'hex').copy(data);
  return data;
}

const EXPECTED_VERSION: Record<string, number> = { 13: 1300, 14: 1300, 15: 1300, 16: 1300, 17: 1700, 18: 1800 };

test('reads pg_control written by initdb of 13 to 18', () => {
  for (const version of Object.keys(fixture.files)) {
    const data = controlFile(version);
    const reading = readControlFile(data);
    assert.ok(reading.ok, `version ${version}`);
    assert.equal(reading.info.controlVersion, EXPECTED_VERSION[version]);
    assert.equal(reading.info.systemIdentifier, data.readBigUInt64LE(0));
    assert.ok(reading.info.systemIdentifier > 7_000_000_000_000_000_000n);
    assert.equal(reading.info.walSegmentSize, 16 * 1024 * 1024);
    assert.equal(reading.info.walBlockSize, 8192);
  }
});

test('the CRC field moved from 288 to 292 in 18', () => {
  const v17 = controlFile('17');
  const v18 = controlFile('18');
  assert.equal(crc32c(v17.subarray(0, 288)), v17.readUInt32LE(288));
  assert.equal(crc32c(v18.subarray(0, 292)), v18.readUInt32LE(292));
  assert.notEqual(crc32c(v18.subarray(0, 288)), v18.readUInt32LE(288));
  assert.equal(CONTROL_CRC_OFFSET.get(1800), 292);
});

test('detects a damaged file, an unknown version and a wrong size', () => {
  for (const version of Object.keys(fixture.files)) {
    for (const offset of [0, 8, 100, CONTROL_CRC_OFFSET.get(EXPECTED_VERSION[version]!)!]) {
      const data = controlFile(version);
      data[offset]! ^= 0x01;
      assert.deepEqual(readControlFile(data), { ok: false, problem: { kind: 'crc' } }, `${version} byte ${offset}`);
    }
  }
  const data = controlFile('17');
  data.writeUInt32LE(1234, 8);
  data.writeUInt32LE(crc32c(data.subarray(0, 288)), 288);
  const unknown = readControlFile(data);
  assert.deepEqual(unknown, { ok: false, problem: { kind: 'version', controlVersion: 1234 } });
  assert.deepEqual(readControlFile(controlFile('15').subarray(0, 8191)), { ok: false, problem: { kind: 'size', size: 8191 } });
  assert.deepEqual(readControlFile(controlFile('15'), 16384), { ok: false, problem: { kind: 'size', size: 16384 } });
  assert.equal(describeControlFileProblem({ kind: 'size', size: 8191 }), 'unexpected control file size 8191, expected 8192');
  assert.equal(describeControlFileProblem({ kind: 'crc' }), 'CRC is incorrect');
  assert.equal(describeControlFileProblem({ kind: 'version', controlVersion: 1234 }), 'unexpected control file version 1234');
});
