import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { PassThrough } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { MessageReader } from '../../src/replication/message-reader.js';
import { OwnedReadSocket, type ReadTarget, type ReadTargetHost } from '../../src/replication/owned-read-socket.js';
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

// ---- slab mode (OwnedReadSocket's reads go into the reader's recycled slabs) ----

/**
 * Stands in for an OwnedReadSocket: delivers bytes as node does with `onread`, into the buffer
 * the target offers (several reads when a chunk is larger than the room), and stops while the
 * target has paused the socket.
 */
class FakeReadHost implements ReadTargetHost {
  readonly socket = new PassThrough();
  target: ReadTarget | null = null;
  reads = 0;
  private pending: Buffer[] = [];
  private stopped = false;

  constructor() {
    this.socket.on('resume', () => {
      this.stopped = false;
      setImmediate(() => this.pump());
    });
  }

  setTarget(target: ReadTarget | null): void {
    this.target = target;
  }

  write(chunk: Buffer): void {
    this.pending.push(chunk);
    this.pump();
  }

  end(): void {
    this.pending.push(Buffer.alloc(0));
    this.pump();
  }

  private pump(): void {
    while (!this.stopped && this.pending.length > 0 && this.target !== null) {
      const chunk = this.pending[0]!;
      if (chunk.length === 0) {
        this.pending.shift();
        this.socket.end();
        this.socket.resume();
        return;
      }
      const room = this.target.readBuffer();
      const n = Math.min(room.length, chunk.length);
      chunk.copy(room, 0, 0, n);
      this.pending[0] = chunk.subarray(n);
      if (n === chunk.length) this.pending.shift();
      this.reads++;
      if (!this.target.onRead(n, room)) this.stopped = true;
    }
  }
}

function feedSlabs(chunks: Buffer[], options: { slabBytes?: number; minReadBytes?: number; highWaterBytes?: number; firstReadForeign?: boolean } = {}): { reader: MessageReader; host: FakeReadHost } {
  const host = new FakeReadHost();
  const reader = new MessageReader(host.socket, { peer: 'test', ownedReads: host, ...options });
  const rest = [...chunks];
  if (options.firstReadForeign && rest.length > 0) {
    // The first read after the handover lands in a buffer the reader did not offer.
    const first = rest.shift()!;
    host.target!.onRead(first.length, Buffer.concat([first, Buffer.alloc(3, 0xee)]));
  }
  for (const c of rest) host.write(c);
  host.end();
  return { reader, host };
}

/** Reads to the end, snapshotting each message at once (a slab body is valid until next()). */
async function readAllNow(reader: MessageReader): Promise<{ messages: unknown[]; error: Error }> {
  const messages: unknown[] = [];
  for (;;) {
    try {
      messages.push((plain([await reader.next()]) as unknown[])[0]);
    } catch (error) {
      return { messages, error: error as Error };
    }
  }
}

const tinySlabs = { slabBytes: 64, minReadBytes: 16 };

test('slab mode: the same messages as data mode whatever the chunking, slab size and first read', async () => {
  const whole = plain((await readAll(feed([sample]))).messages);
  for (const options of [{}, tinySlabs, { slabBytes: 2048, minReadBytes: 100 }]) {
    for (let i = 0; i <= sample.length; i++) {
      const { messages, error } = await readAllNow(feedSlabs(cut(sample, [i]), options).reader);
      assert.deepEqual(messages, whole, `split at ${i} with ${JSON.stringify(options)}`);
      assert.equal(error.message, 'lost connection to "test": server closed the connection unexpectedly');
      const foreign = await readAllNow(feedSlabs(cut(sample, [i]), { ...options, firstReadForeign: true }).reader);
      assert.deepEqual(foreign.messages, whole, `split at ${i}, first read foreign`);
    }
  }
  const bytes = [...Array(sample.length).keys()];
  const { messages } = await readAllNow(feedSlabs(cut(sample, bytes.slice(1)), tinySlabs).reader);
  assert.deepEqual(messages, whole);
});

test('slab mode: slabs are recycled, and a body stays intact until the next call', async () => {
  const count = 2000;
  const chunks: Buffer[] = [];
  for (let i = 0; i < count; i++) chunks.push(copyData(Buffer.alloc(1000 + (i % 300), i % 251)));
  const stream = Buffer.concat(chunks);
  // Delivered in odd-sized pieces so that frames straddle reads and slab ends.
  const points: number[] = [];
  for (let p = 777; p < stream.length; p += 777 + (p % 1500)) points.push(p);
  const { reader } = feedSlabs(cut(stream, points), { slabBytes: 8192, minReadBytes: 1024, highWaterBytes: 16 * 1024 });
  for (let i = 0; i < count; i++) {
    const m = await reader.next();
    assert.ok(m.kind === 'copyData');
    assert.equal(m.data.length, 1000 + (i % 300));
    // Let more reads land (and slabs turn over) while this body is held.
    if (i % 97 === 0) await new Promise((resolve) => setImmediate(resolve));
    assert.ok(m.data.every((b) => b === i % 251), `message ${i} intact`);
  }
  await assert.rejects(reader.next(), ConnectError);
  assert.ok(reader.stats.slabsAllocated <= 8, `${reader.stats.slabsAllocated} slabs for ${stream.length} bytes`);
});

test('slab mode: DataRow columns outlive later messages', async () => {
  const filler = Array.from({ length: 50 }, (_, i) => copyData(Buffer.alloc(500, i)));
  const { reader } = feedSlabs([Buffer.concat([rowDescription(['a']), dataRow(['keep me']), ...filler, commandComplete('X')])], tinySlabs);
  await reader.next();
  const row = await reader.next();
  assert.ok(row.kind === 'dataRow');
  for (let i = 0; i < 51; i++) await reader.next();
  assert.equal(row.values[0]?.toString(), 'keep me');
});

test('slab mode: truncated stream and invalid length', async () => {
  const frames = [commandComplete('A'), copyData(Buffer.alloc(300, 1))];
  const bytes = Buffer.concat(frames);
  for (let end = frames[0]!.length + 1; end < bytes.length; end++) {
    const { messages, error } = await readAllNow(feedSlabs([bytes.subarray(0, end)], tinySlabs).reader);
    assert.equal(messages.length, 1);
    assert.equal(error.message, 'lost connection to "test": server closed the connection unexpectedly in the middle of a message', `end ${end}`);
  }
  const { reader, host } = feedSlabs([commandComplete('X'), Buffer.from([0x64, 0, 0, 0, 3])], tinySlabs);
  const { messages, error } = await readAllNow(reader);
  assert.equal(messages.length, 1);
  assert.ok(error instanceof ProtocolError);
  assert.equal(error.message, 'invalid length 3 in CopyData message ("d") from "test"');
  assert.ok(host.socket.destroyed, 'a corrupt stream destroys the socket');
});

test('slab mode over a real socket: handover after startup, backpressure, bounded memory', async () => {
  const highWater = 256 * 1024;
  const payload = Buffer.alloc(32 * 1024 - 7, 0x61);
  const message = copyData(payload);
  const total = 64 * 1024 * 1024;
  let sent = 0;
  const server = net.createServer((sock) => {
    // A startup answer first; the bulk data only once the client asks for it, as a server
    // sends a COPY only after the command.
    sock.write(readyForQuery());
    sock.once('data', () => {
      const pump = (): void => {
        while (sent < total) {
          sent += message.length;
          if (!sock.write(message)) {
            sock.once('drain', pump);
            return;
          }
        }
        sock.end();
      };
      pump();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const owned = new OwnedReadSocket();
  owned.socket.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  // Before the handover, reads arrive as 'data' events (what pg's startup parser needs).
  const [startup] = await once(owned.socket, 'data') as [Buffer];
  assert.deepEqual(startup, readyForQuery());
  owned.socket.removeAllListeners('data');
  const reader = new MessageReader(owned.socket, { peer: 'test', highWaterBytes: highWater, ownedReads: owned });
  try {
    owned.socket.write('go');
    let received = 0;
    const first = await reader.next();
    assert.equal(first.kind, 'copyData');
    received += message.length;
    await sleep(300);
    assert.ok(reader.pendingBytes <= highWater + 256 * 1024, `queued ${reader.pendingBytes}`);
    assert.ok(sent < 24 * 1024 * 1024, `server got ${sent} bytes out during the stall`);
    for (;;) {
      let m;
      try {
        m = await reader.next();
      } catch {
        break;
      }
      assert.ok(m.kind === 'copyData');
      assert.equal(m.data.length, payload.length);
      assert.equal(m.data[0], 0x61);
      assert.equal(m.data[payload.length - 1], 0x61);
      received += m.data.length + 5;
    }
    assert.equal(received, sent);
    assert.ok(reader.stats.pauses > 0);
    assert.ok(reader.stats.slabsAllocated <= 8, `${reader.stats.slabsAllocated} slabs`);
  } finally {
    owned.socket.destroy();
    server.close();
  }
});

test('no-progress deadline: a waiting read fails when the server sends nothing; trickling bytes and the consumer\'s own time do not count', async () => {
  const socket = new PassThrough();
  const reader = new MessageReader(socket, { peer: 'db:5432', noProgressTimeoutMs: 150 });
  // The consumer works for longer than the deadline before it asks: that is not the server's fault.
  socket.write(readyForQuery());
  await sleep(300);
  assert.equal((await reader.next()).kind, 'readyForQuery');
  // A frame arriving a few bytes at a time, each within the deadline, is progress.
  const waiting = reader.next();
  const slow = commandComplete('SELECT 1');
  for (let i = 0; i < slow.length; i += 3) {
    await sleep(60);
    socket.write(slow.subarray(i, i + 3));
  }
  assert.equal((await waiting).kind, 'commandComplete');
  // Nothing at all: the read fails after the deadline, and the socket is destroyed.
  const started = Date.now();
  await assert.rejects(reader.next(), (err: unknown) => {
    assert.ok(err instanceof ConnectError);
    assert.equal(err.message, 'no data from "db:5432" for 0.15 s: the server stopped answering');
    assert.equal(err.hint, 'Check that the server is running and reachable and not stuck; a spread checkpoint at the start of a backup must also end within this time.');
    return true;
  });
  assert.ok(Date.now() - started >= 140);
  assert.ok(socket.destroyed);
  await assert.rejects(reader.next(), ConnectError);
});

test('tryNext takes the messages already queued without waiting, then says null; next() waits for more', async () => {
  const socket = new PassThrough();
  const reader = new MessageReader(socket, { peer: 'test' });
  assert.equal(reader.tryNext(), null);
  socket.write(Buffer.concat([copyData(Buffer.from('a')), copyData(Buffer.from('b'))]));
  await sleep(10);
  const first = reader.tryNext();
  const second = reader.tryNext();
  assert.ok(first?.kind === 'copyData' && second?.kind === 'copyData');
  assert.deepEqual([first.data.toString(), second.data.toString()], ['a', 'b']);
  assert.equal(reader.tryNext(), null);
  const pending = reader.next();
  // A pending next() gets the next message, never tryNext.
  socket.write(copyDone());
  await sleep(10);
  assert.equal(reader.tryNext(), null);
  assert.equal((await pending).kind, 'copyDone');
});
