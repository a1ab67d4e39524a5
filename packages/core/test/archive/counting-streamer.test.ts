import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CountingStreamer } from '../../src/archive/counting-streamer.js';
import { Recorder, feed } from './helpers.js';

describe('CountingStreamer', () => {
  it('counts bytes and passes every chunk on unchanged', async () => {
    const rec = new Recorder();
    const totals: number[] = [];
    const counter = new CountingStreamer(rec, { onBytes: (total) => totals.push(total) });
    await feed(counter, Buffer.alloc(1000, 3), 300);
    assert.equal(counter.bytes, 1000);
    assert.deepEqual(totals, [300, 600, 900, 1000]);
    assert.deepEqual(rec.rawBytes(), Buffer.alloc(1000, 3));
    assert.equal(rec.finalized, true);
  });
});
