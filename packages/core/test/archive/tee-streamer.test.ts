import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TeeStreamer } from '../../src/archive/tee-streamer.js';
import { Recorder, feed } from './helpers.js';

describe('TeeStreamer', () => {
  it('gives every chunk to every target, then finalizes and disposes them all', async () => {
    const a = new Recorder();
    const b = new Recorder();
    const tee = new TeeStreamer([a, b]);
    await feed(tee, Buffer.from('hello world'), 4);
    await tee.dispose();
    await tee.dispose();
    for (const r of [a, b]) {
      assert.equal(r.rawBytes().toString(), 'hello world');
      assert.equal(r.finalized, true);
      assert.equal(r.disposed, 1);
    }
  });
});
