import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeStreamingMessage } from '../../src/replication/xlog-stream-messages.js';
import { ProtocolError } from '../../src/errors.js';
import { int64 } from './frames.js';

function w(start: bigint, end: bigint, time: bigint, data: Buffer): Buffer {
  const t = Buffer.alloc(8);
  t.writeBigInt64BE(time);
  return Buffer.concat([Buffer.from('w'), int64(start), int64(end), t, data]);
}

function k(end: bigint, time: bigint, reply: number): Buffer {
  const t = Buffer.alloc(8);
  t.writeBigInt64BE(time);
  return Buffer.concat([Buffer.from('k'), int64(end), t, Buffer.from([reply])]);
}

test('XLogData: positions as unsigned 64-bit, time signed, data as a view', () => {
  const msg = decodeStreamingMessage(w(0xFFFF_FFFF_0000_0000n, 0x1_0300_0000n, -5n, Buffer.from('wal')));
  assert.ok(msg.type === 'xlog-data');
  assert.equal(msg.dataStart, 0xFFFF_FFFF_0000_0000n);
  assert.equal(msg.walEnd, 0x1_0300_0000n);
  assert.equal(msg.sendTime, -5n);
  assert.equal(msg.data.toString(), 'wal');
  const empty = decodeStreamingMessage(w(1n, 2n, 3n, Buffer.alloc(0)));
  assert.ok(empty.type === 'xlog-data' && empty.data.length === 0);
});

test('keepalive: reply flag', () => {
  assert.deepEqual(decodeStreamingMessage(k(0x300_0060n, 77n, 1)),
    { type: 'keepalive', walEnd: 0x300_0060n, sendTime: 77n, replyRequested: true });
  assert.equal((decodeStreamingMessage(k(1n, 1n, 0)) as { replyRequested: boolean }).replyRequested, false);
});

test('every truncation is rejected naming the message and its length', () => {
  const full = [w(1n, 2n, 3n, Buffer.alloc(0)), k(1n, 2n, 0)];
  for (const msg of full) {
    for (let len = 1; len < msg.length; len++) {
      assert.throws(() => decodeStreamingMessage(msg.subarray(0, len)), (err: unknown) => {
        assert.ok(err instanceof ProtocolError);
        assert.match(err.message, new RegExp(`^malformed (XLogData|primary keepalive) message \\("[wk]"\\) of ${len} bytes: needs 8 bytes at offset \\d+, only \\d+ left$|^malformed primary keepalive message \\("k"\\) of ${len} bytes: needs 1 bytes at offset 17, only 0 left$`));
        return true;
      }, `${String.fromCharCode(msg[0]!)} cut to ${len}`);
    }
  }
});

test('corrupt messages: exact texts', () => {
  assert.throws(() => decodeStreamingMessage(w(1n, 2n, 3n, Buffer.alloc(0)).subarray(0, 20)), {
    message: 'malformed XLogData message ("w") of 20 bytes: needs 8 bytes at offset 17, only 3 left',
  });
  assert.throws(() => decodeStreamingMessage(Buffer.concat([k(1n, 2n, 1), Buffer.from([0])])), {
    message: 'malformed primary keepalive message ("k") of 19 bytes: 1 unexpected trailing bytes at offset 18',
  });
  assert.throws(() => decodeStreamingMessage(Buffer.from('s')), { message: 'unrecognized streaming header: "s" (1 bytes)' });
  assert.throws(() => decodeStreamingMessage(Buffer.alloc(0)), {
    message: 'malformed streaming CopyData message of 0 bytes: no message type',
  });
});
