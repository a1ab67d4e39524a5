import assert from 'node:assert/strict';
import { PassThrough, Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { FileIoError } from '../../src/errors.js';
import { WritableSink } from '../../src/archive/stdout-sink.js';
import { patternBytes } from './helpers.js';

describe('WritableSink', () => {
  it('copies chunks, waits for drain and ends the stream when asked', async () => {
    const received: Buffer[] = [];
    let drains = 0;
    const slow = new Writable({
      highWaterMark: 1024,
      write(chunk: Buffer, _enc, cb) { received.push(chunk); setImmediate(cb); },
    });
    slow.on('drain', () => { drains++; });
    const sink = new WritableSink(slow, { end: true });
    const reused = Buffer.alloc(4096);
    for (let i = 0; i < 20; i++) {
      reused.fill(i);
      await sink.content(null, reused, 'unknown');
    }
    await sink.finalize();
    assert.ok(drains > 0);
    assert.equal(slow.writableFinished, true);
    assert.deepEqual(Buffer.concat(received), Buffer.concat(Array.from({ length: 20 }, (_, i) => Buffer.alloc(4096, i))));
  });

  it('reports a reader that went away (EPIPE) as FileIoError', async () => {
    let writes = 0;
    const broken = new Writable({
      highWaterMark: 1024,
      write(_chunk, _enc, cb) {
        writes++;
        if (writes < 3) setImmediate(cb);
        else cb(Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }));
      },
    });
    const sink = new WritableSink(broken, { name: 'standard output' });
    const data = patternBytes(4096, 3);
    await assert.rejects(async () => {
      for (let i = 0; i < 50; i++) await sink.content(null, data, 'unknown');
      await sink.finalize();
    }, (err: unknown) => {
      assert.ok(err instanceof FileIoError);
      assert.equal(err.message, 'could not write to "standard output": write EPIPE');
      return true;
    });
    await sink.dispose();
  });

  it('does not end a stream it was not asked to end', async () => {
    const stream = new PassThrough();
    const sink = new WritableSink(stream);
    await sink.content(null, Buffer.from('abc'), 'unknown');
    await sink.finalize();
    assert.equal(stream.writableEnded, false);
    assert.equal(stream.read().toString(), 'abc');
  });
});
