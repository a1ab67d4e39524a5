import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { setImmediate as tick } from 'node:timers/promises';
import { describe, test } from 'node:test';
import { CancelledError, parseLsn } from '@pgfleet/core';
import type { WalStreamEvent } from '@pgfleet/proto';
import { EventSender, RemoteWalSink } from '../../src/grpc/stream-wal.js';

const SEGMENT = 16 * 1024 * 1024;

/** A sink whose events go into `events`, over a stream that stands in for the gRPC call. */
function sinkWithEvents(): { sink: RemoteWalSink; events: WalStreamEvent[] } {
  const call = Object.assign(new PassThrough({ objectMode: true }), { cancelled: false });
  const events: WalStreamEvent[] = [];
  call.on('data', (e: WalStreamEvent) => events.push(e));
  return { sink: new RemoteWalSink(SEGMENT, new EventSender(call as never, new AbortController().signal, 5000)), events };
}

describe('RemoteWalSink: durability is the caller\'s WalAck', () => {
  test('sync() asks for the written position and returns once the caller acknowledged it', async () => {
    const { sink, events } = sinkWithEvents();
    await sink.open('000000010000000000000001');
    await sink.write(0, Buffer.alloc(100));
    let synced = false;
    const waiting = sink.sync().then(() => { synced = true; });
    await tick();
    assert.deepEqual(events.at(-1), { syncRequest: { position: '0/1000064' } });
    sink.ack(parseLsn('0/1000032'));
    await tick();
    assert.equal(synced, false, 'an acknowledgement short of the position is not enough');
    sink.ack(parseLsn('0/1000064'));
    await waiting;
    assert.equal(synced, true);
  });

  test('once no acknowledgement can come (the caller is gone), a waiting sync() fails, and so does a later one', async () => {
    const { sink } = sinkWithEvents();
    await sink.open('000000010000000000000001');
    await sink.write(0, Buffer.alloc(100));
    const waiting = sink.sync();
    await tick();
    sink.endAcks(new CancelledError('the WAL stream ended'));
    await assert.rejects(waiting, CancelledError);
    await sink.write(100, Buffer.alloc(10));
    await assert.rejects(sink.sync(), CancelledError);
  });
});
