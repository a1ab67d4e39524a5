import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  decodeStandbyStatusUpdate, encodeStandbyStatusUpdate, pgTimestampNow, pgTimestampToDate,
} from '../../src/replication/standby-status.js';

test('encodes the 34-byte layout, big-endian', () => {
  const buf = encodeStandbyStatusUpdate({
    write: 0x1_0300_0028n, flush: 0x2n, apply: 0n, clientTime: -1n, replyRequested: true,
  });
  assert.equal(buf.toString('hex'),
    '72' + '0000000103000028' + '0000000000000002' + '0000000000000000' + 'ffffffffffffffff' + '01');
});

test('round trip, and strict decoding', () => {
  const update = { write: 123n, flush: 0n, apply: 0n, clientTime: 789n, replyRequested: false };
  assert.deepEqual(decodeStandbyStatusUpdate(encodeStandbyStatusUpdate(update)), update);
  const buf = encodeStandbyStatusUpdate(update);
  assert.throws(() => decodeStandbyStatusUpdate(buf.subarray(0, 33)), {
    message: 'malformed standby status update ("r") of 33 bytes: needs 1 bytes at offset 33, only 0 left',
  });
  assert.throws(() => decodeStandbyStatusUpdate(Buffer.concat([buf, Buffer.from([0])])), {
    message: 'malformed standby status update ("r") of 35 bytes: 1 unexpected trailing bytes at offset 34',
  });
});

test('PostgreSQL timestamps count microseconds from 2000-01-01 UTC', () => {
  assert.equal(pgTimestampNow(Date.UTC(2000, 0, 1)), 0n);
  assert.equal(pgTimestampNow(Date.UTC(2000, 0, 1, 0, 0, 1)), 1_000_000n);
  assert.equal(pgTimestampNow(0), -946_684_800_000_000n);
  assert.equal(pgTimestampToDate(1_500_000n).toISOString(), '2000-01-01T00:00:01.500Z');
  assert.equal(pgTimestampToDate(pgTimestampNow(Date.UTC(2026, 11, 6, 14, 1))).getTime(), Date.UTC(2026, 11, 6, 14, 1));
});
