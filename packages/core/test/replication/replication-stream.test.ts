// START_REPLICATION sessions driven by prepared server frames through the real MessageReader.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { MessageReader } from '../../src/replication/message-reader.js';
import { ReplicationStream, type ReplicationStreamHandler } from '../../src/replication/replication-stream.js';
import { decodeStandbyStatusUpdate } from '../../src/replication/standby-status.js';
import type { XLogData } from '../../src/replication/xlog-stream-messages.js';
import type { BackendMessage } from '../../src/replication/backend-message.js';
import { ProtocolError, ServerError } from '../../src/errors.js';
import {
  commandComplete, copyBothResponse, copyData, copyDone, cut, errorResponse, fakeIo, int64, readyForQuery,
  readAll, resultSet, type FakeIo,
} from './frames.js';

function w(start: bigint, data: string): Buffer {
  return copyData(Buffer.concat([Buffer.from('w'), int64(start), int64(start + 1000n), int64(0n), Buffer.from(data)]));
}

function k(reply: boolean): Buffer {
  return copyData(Buffer.concat([Buffer.from('k'), int64(0x1000100n), int64(0n), Buffer.from([reply ? 1 : 0])]));
}

/** What the client sent: 'c' for CopyDone, 'r <write> <flush>' for status updates. */
function sent(io: FakeIo): string[] {
  return io.sent.map((f) => {
    if (f[0] === 0x63) return 'c';
    if (f[0] === 0x64 && f[5] === 0x72) {
      const u = decodeStandbyStatusUpdate(f.subarray(5));
      return `r ${u.write.toString(16)} ${u.flush.toString(16)}`;
    }
    return `? ${f.toString('hex')}`;
  });
}

async function begin(chunks: Buffer[], handler: ReplicationStreamHandler, options: { slot?: string; statusIntervalMs?: number } = {}) {
  const io = fakeIo(chunks);
  const first = await io.receive();
  const stream = new ReplicationStream(io, { startLsn: 0x1000000n, timeline: 1, statusIntervalMs: 0, ...options }, handler, first);
  return { io, stream };
}

function collector(onData?: (m: XLogData, s: ReplicationStream, i: number) => void | Promise<void>) {
  const got: string[] = [];
  const handler: ReplicationStreamHandler = {
    async onXLogData(m, s) {
      got.push(`${m.dataStart.toString(16)}:${m.data.toString()}`);
      await onData?.(m, s, got.length);
    },
  };
  return { got, handler };
}

const stopTail = Buffer.concat([copyDone(), commandComplete('COPY 0'), commandComplete('START_REPLICATION'), readyForQuery()]);

test('streams XLogData, answers a keepalive that asks, stops with CopyDone and ignores data in flight', async () => {
  const bytes = Buffer.concat([
    copyBothResponse(), w(0x1000000n, 'abc'), k(true), k(false), w(0x1000003n, 'de'), w(0x1000005n, 'late'), stopTail,
  ]);
  for (let i = 0; i <= bytes.length; i++) {
    const { got, handler } = collector((_m, s, n) => { if (n === 2) s.stop(); });
    const { io, stream } = await begin(cut(bytes, [i]), handler);
    const end = await stream.done;
    assert.deepEqual(got, ['1000000:abc', '1000003:de'], `split at ${i}`);
    assert.deepEqual(sent(io), ['r 1000003 0', 'c']);
    assert.deepEqual(end, { reason: 'stopped', position: 0x1000005n });
  }
});

test('with a slot the flush position is reported', async () => {
  const bytes = Buffer.concat([copyBothResponse(), w(0x1000000n, 'abc'), k(true), stopTail]);
  const { handler } = collector((_m, s) => { s.setFlushPosition(0x1000002n); });
  const { io, stream } = await begin([bytes], handler, { slot: 'pg_basebackup_1' });
  await stream.done;
  assert.deepEqual(sent(io), ['r 1000003 1000002', 'c']);
});

test('end of a historic timeline: CopyDone answered, next timeline reported', async () => {
  const bytes = Buffer.concat([
    copyBothResponse(), w(0x1000000n, 'abc'), copyDone(),
    resultSet(['next_tli', 'next_tli_startpos'], ['2', '0/1000002']), commandComplete('START_REPLICATION'), readyForQuery(),
  ]);
  const { got, handler } = collector();
  const { io, stream } = await begin([bytes], handler);
  assert.deepEqual(await stream.done, { reason: 'end-of-timeline', position: 0x1000003n, nextTimeline: 2, nextTimelineStart: 0x1000002n });
  assert.deepEqual(got, ['1000000:abc']);
  assert.deepEqual(sent(io), ['c']);
});

test('a historic timeline asked for at its end: no COPY at all', async () => {
  const bytes = Buffer.concat([
    resultSet(['next_tli', 'next_tli_startpos'], ['3', '0/1000000']), commandComplete('START_REPLICATION'), readyForQuery(),
  ]);
  const { handler } = collector();
  const { io, stream } = await begin([bytes], handler);
  assert.deepEqual(await stream.done, { reason: 'end-of-timeline', position: 0x1000000n, nextTimeline: 3, nextTimelineStart: 0x1000000n });
  assert.deepEqual(sent(io), []);
});

test('the server ends the stream and closes (shutdown)', async () => {
  const { handler } = collector();
  const { io, stream } = await begin([Buffer.concat([copyBothResponse(), w(0x1000000n, 'x'), copyDone()])], handler);
  assert.deepEqual(await stream.done, { reason: 'server-ended', position: 0x1000001n });
  assert.deepEqual(sent(io), ['c']);
});

test('an ErrorResponse ends the stream with the server\'s message and SQLSTATE', async () => {
  const { handler } = collector();
  const { stream } = await begin([Buffer.concat([
    copyBothResponse(),
    errorResponse('XX000', 'requested starting point 0/5000000 is ahead of the WAL flush position of this server 0/3000148'),
    readyForQuery(),
  ])], handler);
  await assert.rejects(stream.done, (err: unknown) => {
    assert.ok(err instanceof ServerError);
    assert.equal(err.message, 'unexpected termination of replication stream: requested starting point 0/5000000 is ahead of the WAL flush position of this server 0/3000148');
    assert.equal(err.sqlState, 'XX000');
    return true;
  });
  // A FATAL error followed by the server closing the connection reports the server's error.
  const fatal = await begin([Buffer.concat([copyBothResponse(), errorResponse('57P01', 'terminating connection due to administrator command')])], handler);
  await assert.rejects(fatal.stream.done, { message: 'unexpected termination of replication stream: terminating connection due to administrator command' });
});

test('protocol violations and handler errors abort the connection', async () => {
  const bad: Array<[Buffer, string]> = [
    [copyData(Buffer.from('x')), 'unrecognized streaming header: "x" (1 bytes)'],
    [copyData(Buffer.from('w')), 'malformed XLogData message ("w") of 1 bytes: needs 8 bytes at offset 1, only 0 left'],
    [w(0xFFFFFFn, 'before the start'), 'received WAL at 0/FFFFFF, before the position already received 0/1000000'],
    [copyOutResponse(), 'unexpected CopyOutResponse message while streaming'],
  ];
  for (const [message, text] of bad) {
    const { handler } = collector();
    const { io, stream } = await begin([Buffer.concat([copyBothResponse(), message])], handler);
    await assert.rejects(stream.done, (err: unknown) => {
      assert.ok(err instanceof ProtocolError);
      assert.equal(err.message, text);
      return true;
    });
    void io;
  }
  const { handler } = collector(() => { throw new Error('disk full'); });
  const { stream } = await begin([Buffer.concat([copyBothResponse(), w(0x1000000n, 'x')])], handler);
  await assert.rejects(stream.done, { message: 'disk full' });
});

test('status updates go out on the interval even while the handler is slow', async () => {
  const bytes = Buffer.concat([copyBothResponse(), w(0x1000000n, 'abc'), w(0x1000003n, 'd'), stopTail]);
  const { handler } = collector(async (_m, s, n) => {
    await sleep(120);
    if (n === 2) s.stop();
  });
  const { io, stream } = await begin([bytes], handler, { statusIntervalMs: 25 });
  await stream.done;
  const updates = sent(io).filter((x) => x.startsWith('r '));
  assert.ok(updates.length >= 4, `only ${updates.length} updates`);
  assert.equal(updates[0], 'r 1000000 0');
  assert.ok(updates.includes('r 1000003 0'));
  assert.equal(sent(io).at(-1), 'c', 'nothing is sent after CopyDone');
});

test('with a slot, the first status update reports the start position as flushed at once, as receivelog does', async () => {
  const bytes = Buffer.concat([copyBothResponse(), w(0x1000000n, 'abc'), stopTail]);
  const { handler } = collector((_m, s) => s.stop());
  // An interval far longer than the stream lasts: only the immediate update can be seen.
  const { io, stream } = await begin([bytes], handler, { slot: 's', statusIntervalMs: 60_000 });
  await stream.done;
  assert.deepEqual(sent(io).filter((x) => x.startsWith('r ')), ['r 1000000 1000000']);
});

function copyOutResponse(): Buffer {
  return Buffer.from([0x48, 0, 0, 0, 7, 0, 0, 0]);
}

test('a quiet stream asks the server for a reply (probeIdleMs), so that a no-progress deadline only fails a server that stopped answering', async () => {
  const socket = new PassThrough();
  const reader = new MessageReader(socket, { peer: 'test', noProgressTimeoutMs: 600 });
  const requested: boolean[] = [];
  const io = {
    peer: 'test',
    send(f: Buffer) {
      if (f[0] === 0x64 && f[5] === 0x72) {
        requested.push(decodeStandbyStatusUpdate(f.subarray(5)).replyRequested);
        // The server answers a status update that asks with a keepalive, at once.
        if (requested.at(-1)) socket.write(k(false));
      } else if (f[0] === 0x63) {
        socket.write(stopTail);
      }
    },
    receive: () => reader.next(),
    abort: () => reader.close(),
  };
  socket.write(copyBothResponse());
  const first = await reader.next();
  const { handler } = collector();
  const stream = new ReplicationStream(io, { startLsn: 0x1000000n, timeline: 1, statusIntervalMs: 0, probeIdleMs: 200 }, handler, first);
  // Quiet for three deadlines: the probes keep it alive.
  await sleep(1800);
  assert.ok(requested.length >= 3, `${requested.length} probes`);
  assert.ok(requested.every((r) => r));
  stream.stop();
  assert.deepEqual(await stream.done, { reason: 'stopped', position: 0x1000000n });
});

test('without probes the same quiet stream fails on the no-progress deadline', async () => {
  const socket = new PassThrough();
  const reader = new MessageReader(socket, { peer: 'db', noProgressTimeoutMs: 300 });
  const io = { peer: 'db', send: () => undefined, receive: () => reader.next(), abort: () => reader.close() };
  socket.write(copyBothResponse());
  const first = await reader.next();
  const stream = new ReplicationStream(io, { startLsn: 0x1000000n, timeline: 1, statusIntervalMs: 0 }, collector().handler, first);
  await assert.rejects(stream.done, /^ConnectError: no data from "db" for 0\.3 s: the server stopped answering$/);
});

/**
 * An io whose messages arrive in `batches`, as socket reads bring them: receiveNow() hands out
 * the rest of the current batch, receive() waits for the next one (none left: the connection
 * closed).
 */
async function batchedIo(batches: Buffer[][]): Promise<FakeIo> {
  const parsed: BackendMessage[][] = [];
  for (const b of batches) parsed.push((await readAll(fakeIo(b).reader)).messages);
  const io = fakeIo([]);
  let current: BackendMessage[] = [];
  io.receive = async () => {
    const next = parsed.shift();
    if (next === undefined) throw new Error('connection closed');
    current = next;
    return current.shift()!;
  };
  io.receiveNow = () => current.shift() ?? null;
  return io;
}

test('statusAfterData: once the XLogData of one read are handled, a status update reports them, before waiting for more', async () => {
  const batches = [[copyBothResponse()], [w(0x1000000n, 'abc'), w(0x1000003n, 'de')], [w(0x1000005n, 'fghi')], [copyDone()]];
  for (const statusAfterData of [true, false]) {
    const io = await batchedIo(batches);
    const { handler } = collector((m, s) => { s.setFlushPosition(m.dataStart + BigInt(m.data.length)); });
    const first = await io.receive();
    const stream = new ReplicationStream(io, { startLsn: 0x1000000n, timeline: 1, statusIntervalMs: 0, reportFlush: true, statusAfterData }, handler, first);
    assert.deepEqual(await stream.done, { reason: 'server-ended', position: 0x1000009n });
    // One update per read, not per message; without the option none between intervals.
    assert.deepEqual(sent(io), statusAfterData ? ['r 1000005 1000005', 'r 1000009 1000009', 'c'] : ['c'], `statusAfterData ${statusAfterData}`);
  }
});
