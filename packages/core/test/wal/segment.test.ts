import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  isPartialWalSegmentName, isTimelineHistoryFileName, isValidWalSegmentSize, isWalSegmentName,
  parseWalSegmentName, parseWalSegmentSize, segmentNumber, segmentOffset, segmentsPerXLogId,
  segmentStartLsn, timelineHistoryFileName, walSegmentName,
} from '../../src/wal/segment.js';
import { parseLsn } from '../../src/wal/lsn.js';
import { InvalidOptionError } from '../../src/errors.js';

const MB = 1024 * 1024;

test('segment numbers and names for 16MB segments', () => {
  const lsn = parseLsn('0/2000028');
  assert.equal(segmentNumber(lsn, 16 * MB), 2n);
  assert.equal(walSegmentName(1, 2n, 16 * MB), '000000010000000000000002');
  assert.equal(segmentOffset(lsn, 16 * MB), 0x28);
  // 16MB: TLI, LSN>>32, (LSN & 0xFFFFFFFF) >> 24
  const high = parseLsn('1A/FF123456');
  const segno = segmentNumber(high, 16 * MB);
  assert.equal(segno, 0x1An * 256n + 0xFFn);
  assert.equal(walSegmentName(0x2B, segno, 16 * MB), '0000002B0000001A000000FF');
  assert.equal(segmentStartLsn(segno, 16 * MB), parseLsn('1A/FF000000'));
  assert.equal(segmentOffset(high, 16 * MB), 0x123456);
});

test('segment names for 1MB, 64MB and 1GB segments', () => {
  const lsn = parseLsn('3/45678901');
  assert.equal(segmentsPerXLogId(MB), 4096n);
  assert.equal(walSegmentName(1, segmentNumber(lsn, MB), MB), '000000010000000300000456');
  assert.equal(segmentsPerXLogId(64 * MB), 64n);
  assert.equal(walSegmentName(1, segmentNumber(lsn, 64 * MB), 64 * MB), '000000010000000300000011');
  assert.equal(segmentsPerXLogId(1024 * MB), 4n);
  assert.equal(walSegmentName(1, segmentNumber(lsn, 1024 * MB), 1024 * MB), '000000010000000300000001');
  assert.equal(segmentOffset(lsn, 1024 * MB), 0x05678901);
});

test('parseWalSegmentName inverts walSegmentName and rejects out-of-range names', () => {
  for (const size of [MB, 16 * MB, 1024 * MB]) {
    for (const segno of [0n, 1n, 255n, 256n, 4095n, 4096n, 123456n]) {
      const name = walSegmentName(7, segno, size);
      assert.deepEqual(parseWalSegmentName(name, size), { timeline: 7, segno });
    }
  }
  assert.equal(parseWalSegmentName('000000010000000000000100', 16 * MB), null); // low part >= 256
  assert.equal(parseWalSegmentName('000000010000000000000004', 1024 * MB), null);
  assert.equal(parseWalSegmentName('00000001000000000000000a', 16 * MB), null); // lower case
  assert.equal(parseWalSegmentName('00000001000000000000000', 16 * MB), null);
  assert.equal(parseWalSegmentName('000000010000000000000002.partial', 16 * MB), null);
});

test('file name classifiers', () => {
  assert.equal(isWalSegmentName('000000010000000000000002'), true);
  assert.equal(isWalSegmentName('000000010000000000000002.partial'), false);
  assert.equal(isPartialWalSegmentName('000000010000000000000002.partial'), true);
  assert.equal(isTimelineHistoryFileName('00000002.history'), true);
  assert.equal(isTimelineHistoryFileName('2.history'), false);
  assert.equal(timelineHistoryFileName(0x1A), '0000001A.history');
});

test('parseWalSegmentSize accepts SHOW output and byte counts', () => {
  assert.equal(parseWalSegmentSize('16MB'), 16 * MB);
  assert.equal(parseWalSegmentSize('1GB'), 1024 * MB);
  assert.equal(parseWalSegmentSize('1MB'), MB);
  assert.equal(parseWalSegmentSize('1024kB'), MB);
  assert.equal(parseWalSegmentSize('16777216'), 16 * MB);
  assert.equal(parseWalSegmentSize('64 MB'), 64 * MB);
});

test('parseWalSegmentSize rejects sizes the server would reject', () => {
  for (const bad of ['512kB', '2GB', '3MB', '24MB', '16mb', '16 XB', '', 'MB', '1.5MB', '0']) {
    assert.throws(() => parseWalSegmentSize(bad), (err: unknown) => {
      assert.ok(err instanceof InvalidOptionError);
      assert.equal(err.message, `invalid WAL segment size "${bad}"`);
      assert.equal(err.hint, 'The WAL segment size must be a power of two between 1 MB and 1 GB.');
      return true;
    }, bad);
  }
  assert.equal(isValidWalSegmentSize(2 * MB), true);
  assert.equal(isValidWalSegmentSize(MB / 2), false);
  assert.equal(isValidWalSegmentSize(2048 * MB), false);
  assert.throws(() => segmentNumber(0n, 3 * MB), /invalid WAL segment size 3145728/);
});
