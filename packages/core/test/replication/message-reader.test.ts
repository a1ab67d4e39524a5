import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { PassThrough } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { MessageReader } from '../../src/replication/message-reader.js';
import { ConnectError, ProtocolError } from '../../src/errors.js';
import {
  commandComplete, copyData, copyDone, copyOutResponse, cut, dataRow, errorResponse, frame, cstr,
  noticeResponse, plain, readAll, readyForQuery, resultSet, rowDescription,
} from './frames.js';

/** A response touching every message kind, including empty bodies and a NULL column. */
const sample = Buffer.concat([
  frame('S', Buffer.concat([cstr('server_version'), cstr('15.4')])),
  rowDescription(['systemid', 'timeline']),
  dataRow(['7351234567890123456', null]),
  commandComplete('IDENTIFY_SYSTEM'),
  noticeResponse('careful'),
  copyOutResponse(),
  copyData(Buffer.alloc(0)),
  copyData(Buffer.from('tar bytes')),
  copyData(Buffer.alloc(700, 7)),
  copyDone(),
  frame('I'),
  errorResponse('XX001', 'checksum verification failure during base backup', { H: 'A hint.' }),
  readyForQuery(),
]);

function feed(chunks: Buffer[]): MessageReader {
  const socket = new PassThrough();
  const reader = new MessageReader(socket, { peer: 'test' });
  for (const c of chunks) socket.write(c);
  socket.end();
  return reader;
}

test('decodes every message kind of a whole response', async () => {
  const { messages, error } = await readAll(feed([sample]));
  assert.deepEqual(messages.map((m) => m.kind), [
    'parameterStatus', 'rowDescription', 'dataRow', 'commandComplete', 'noticeResponse', 'copyOutResponse',
    'copyData', 'copyData', 'copyData', 'copyDone', 'emptyQueryResponse', 'errorResponse', 'readyForQuery',
  ]);
  const row = messages[2];
  assert.ok(row?.kind === 'dataRow');
  assert.equal(row.values[0]?.toString(), '7351234567890123456');
  assert.equal(row.values[1], null);
  const err = messages[11];
  assert.ok(err?.kind === 'errorResponse');
  assert.deepEqual(err.notice, {
    severity: 'ERROR', sqlState: 'XX001', message: 'checksum verification failure during base backup', hint: 'A hint.',
  });
  assert.ok(error instanceof ConnectError);
  assert.equal(error.message, 'lost connection to "test": server closed the connection unexpectedly');
});

test('the same messages whatever the chunking: every single split point', async () => {
  const whole = plain((await readAll(feed([sample]))).messages);
  for (let i = 0; i <= sample.length; i++) {
    const { messages } = await readAll(feed(cut(sample, [i])));
    assert.deepEqual(plain(messages), whole, `split at ${i}`);
  }
});

test('the same messages whatever the chunking: two split points and one byte per chunk', async () => {
  const whole = plain((await readAll(feed([sample]))).messages);
  for (let i = 0; i <= sample.length; i += 7) {
    for (let j = i; j <= sample.length; j += 13) {
      const { messages } = await readAll(feed(cut(sample, [i, j])));
      assert.deepEqual(plain(messages), whole, `split at ${i} and ${j}`);
    }
  }
  const bytes = [...Array(sample.length).keys()];
  const { messages } = await readAll(feed(cut(sample, bytes.slice(1))));
  assert.deepEqual(plain(messages), whole);
});

test('a message cut short by the end of the stream is an error after the complete ones', async () => {
  const frames = [commandComplete('A'), ...[rowDescription(['x']), dataRow(['y']), commandComplete('SELECT')]];
  const bytes = Buffer.concat(frames);
  const boundaries = new Set<number>();
  let at = 0;
  for (const f of frames) boundaries.add(at += f.length);
  for (let end = frames[0]!.length; end < bytes.length; end++) {
    const { messages, error } = await readAll(feed([bytes.subarray(0, end)]));
    assert.equal(messages[0]?.kind, 'commandComplete');
    assert.ok(error instanceof ConnectError);
    assert.equal(error.message, boundaries.has(end)
      ? 'lost connection to "test": server closed the connection unexpectedly'
      : 'lost connection to "test": server closed the connection unexpectedly in the middle of a message', `end ${end}`);
  }
});

test('an invalid length is a protocol error naming the message', async () => {
  const bad = Buffer.from([0x43, 0, 0, 0, 3]);
  const { messages, error } = await readAll(feed([commandComplete('X'), bad, commandComplete('never')]));
  assert.equal(messages.length, 1);
  assert.ok(error instanceof ProtocolError);
  assert.equal(error.message, 'invalid length 3 in CommandComplete message ("C") from "test"');

  const socket = new PassThrough();
  const reader = new MessageReader(socket, { peer: 'db:5432', maxMessageBytes: 100 });
  socket.write(frame('d', Buffer.alloc(101)));
  const { error: tooLong } = await readAll(reader);
  assert.equal(tooLong.message, 'invalid length 105 in CopyData message ("d") from "db:5432"');
  assert.ok(socket.destroyed, 'a corrupt stream destroys the socket');
});

test('malformed bodies are protocol errors naming type, length and offset', async () => {
  const cases: Array<[Buffer, string]> = [
    [frame('C', Buffer.from('abc')), 'malformed CommandComplete message ("C") of 3 bytes: unterminated string at offset 0'],
    [frame('Z', Buffer.from('II')), 'malformed ReadyForQuery message ("Z") of 2 bytes: 1 unexpected trailing bytes at offset 1'],
    [frame('Z'), 'malformed ReadyForQuery message ("Z") of 0 bytes: needs 1 bytes at offset 0, only 0 left'],
    [frame('D', Buffer.from([0, 1, 0, 0, 0, 9, 1, 2])), 'malformed DataRow message ("D") of 8 bytes: needs 9 bytes at offset 6, only 2 left'],
    [frame('D', Buffer.from([0xff, 0xff])), 'malformed DataRow message ("D") of 2 bytes: negative column count -1'],
    [frame('H', Buffer.from([0, 0, 1])), 'malformed CopyOutResponse message ("H") of 3 bytes: needs 2 bytes at offset 3, only 0 left'],
    [frame('c', Buffer.from([1])), 'malformed CopyDone message ("c") of 1 bytes: 1 unexpected trailing bytes at offset 0'],
    [frame('X'), 'unexpected message type "X" of 0 bytes on a replication connection'],
    [frame('R', Buffer.from([0, 0, 0, 0])), 'unexpected message type "R" of 4 bytes on a replication connection'],
  ];
  for (const [bytes, expected] of cases) {
    const { messages, error } = await readAll(feed([readyForQuery(), bytes]));
    assert.equal(messages.length, 1);
    assert.ok(error instanceof ProtocolError, expected);
    assert.equal(error.message, expected);
  }
});

test('a FATAL error right before the server closes is delivered before the close', async () => {
  const { messages, error } = await readAll(feed([errorResponse('57P01', 'terminating connection due to administrator command')]));
  assert.equal(messages[0]?.kind, 'errorResponse');
  assert.ok(error instanceof ConnectError);
});

test('close() rejects a pending read and later reads', async () => {
  const socket = new PassThrough();
  const reader = new MessageReader(socket, { peer: 'test' });
  const pending = reader.next();
  reader.close();
  await assert.rejects(pending, { message: 'replication connection to "test" is closed' });
  await assert.rejects(reader.next(), { message: 'replication connection to "test" is closed' });
});

test('backpressure: a stalled consumer stops the socket; queue and memory stay bounded', async () => {
  const highWater = 256 * 1024;
  const payload = Buffer.alloc(32 * 1024, 0x61);
  const message = copyData(payload);
  const total = 64 * 1024 * 1024;
  let sent = 0;
  let drainWaits = 0;
  const server = net.createServer((sock) => {
    const pump = (): void => {
      while (sent < total) {
        sent += message.length;
        if (!sock.write(message)) {
          drainWaits++;
          sock.once('drain', pump);
          return;
        }
      }
      sock.end();
    };
    pump();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as net.AddressInfo).port;
  const client = net.connect(port, '127.0.0.1');
  await once(client, 'connect');
  const reader = new MessageReader(client, { peer: 'test', highWaterBytes: highWater });
  try {
    const rssBefore = process.memoryUsage().rss;
    await reader.next();
    // The consumer stalls. Without backpressure the whole 64 MB would arrive in this time.
    await sleep(400);
    const sentDuringStall = sent;
    const rssDuringStall = process.memoryUsage().rss;
    assert.ok(reader.pendingBytes <= highWater + 128 * 1024, `queued ${reader.pendingBytes}`);
    assert.ok(sentDuringStall < 24 * 1024 * 1024, `server got ${sentDuringStall} bytes out during the stall`);
    assert.ok(rssDuringStall - rssBefore < 48 * 1024 * 1024, `rss grew by ${rssDuringStall - rssBefore}`);
    // Then it drains everything, slowly at first.
    let received = message.length;
    let count = 1;
    for (;;) {
      let m;
      try {
        m = await reader.next();
      } catch {
        break;
      }
      assert.equal(m.kind, 'copyData');
      received += m.kind === 'copyData' ? m.data.length + 5 : 0;
      if (++count % 64 === 0 && count < 1024) await sleep(1);
    }
    assert.equal(received, sent);
    assert.ok(reader.stats.maxQueuedBytes <= highWater + 128 * 1024, `max queued ${reader.stats.maxQueuedBytes}`);
    assert.ok(reader.stats.pauses > 0);
    assert.ok(drainWaits > 0, 'the server had to wait for the client');
  } finally {
    client.destroy();
    server.close();
  }
});
