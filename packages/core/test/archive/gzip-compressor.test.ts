import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import zlib from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import { GzipCompressor } from '../../src/archive/gzip-compressor.js';
import { Recorder, feed, makeTree, mixedData, removeDir, run, tempDir } from './helpers.js';

async function gzip(data: Buffer, options: ConstructorParameters<typeof GzipCompressor>[1] = {}, slice = 100_000): Promise<Buffer> {
  const out = new Recorder();
  await feed(new GzipCompressor(out, options), data, slice);
  return out.rawBytes();
}

describe('GzipCompressor', () => {
  let dir: string;
  const data = mixedData();
  before(() => { dir = tempDir('gzip'); });
  after(() => removeDir(dir));

  it('writes ONE gzip member that gzip -t and gzip -d accept', async () => {
    const gz = await gzip(data);
    const file = join(dir, 'a.gz');
    writeFileSync(file, gz);
    run('gzip', ['-t', file]);
    assert.deepEqual(run('gzip', ['-dc', file]), data);
    // One header, one continuous deflate stream, one trailer holding CRC-32 and length.
    assert.deepEqual(gz.subarray(0, 4), Buffer.from([0x1f, 0x8b, 8, 0]));
    assert.deepEqual(zlib.inflateRawSync(gz.subarray(10, -8)), data);
    assert.equal(gz.readUInt32LE(gz.length - 8), zlib.crc32(data));
    assert.equal(gz.readUInt32LE(gz.length - 4), data.length);
  });

  it('compresses about as well as single-stream zlib at the same level', async () => {
    for (const level of [1, 6, 9]) {
      const ours = (await gzip(data, { level })).length;
      const zlibSize = zlib.gzipSync(data, { level }).length;
      assert.ok(ours <= zlibSize * 1.01, `level ${level}: ${ours} vs zlib ${zlibSize}`);
    }
  });

  it('handles empty input, exact block multiples and tiny blocks', async () => {
    assert.deepEqual(zlib.gunzipSync(await gzip(Buffer.alloc(0))), Buffer.alloc(0));
    const twoBlocks = data.subarray(0, 2 * 65536);
    assert.deepEqual(zlib.gunzipSync(await gzip(twoBlocks, { blockSize: 65536 })), twoBlocks);
    assert.deepEqual(zlib.gunzipSync(await gzip(data, { blockSize: 4096, maxBlocksInFlight: 3 }, 999)), data);
  });

  it('makes .tar.gz files that tar -xzf extracts', async () => {
    const tree = join(dir, 'tree');
    run('mkdir', [tree]);
    makeTree(tree);
    const tar = run('tar', ['-C', tree, '-cf', '-', '.']);
    writeFileSync(join(dir, 't.tar.gz'), await gzip(tar, { blockSize: 8192 }));
    run('mkdir', [join(dir, 'x')]);
    run('tar', ['-C', join(dir, 'x'), '-xzf', join(dir, 't.tar.gz')]);
    run('diff', ['-r', '--no-dereference', tree, join(dir, 'x')]);
  });

  it('keeps at most maxBlocksInFlight blocks pending while the next streamer is slow', async () => {
    let running = 0;
    let peak = 0;
    class Counting extends GzipCompressor {
      protected override compressBlock(block: Buffer, last: boolean): Promise<Buffer> {
        running++;
        peak = Math.max(peak, running);
        return super.compressBlock(block, last).finally(() => { running--; });
      }
    }
    let pendingWrites = 0;
    const slow = new Recorder({ delay: async () => { pendingWrites++; await new Promise((r) => setTimeout(r, 2)); } });
    await feed(new Counting(slow, { blockSize: 16384, maxBlocksInFlight: 3 }), data.subarray(0, 400_000), 50_000);
    assert.ok(peak <= 3, `peak ${peak}`);
    assert.ok(pendingWrites > 20);
    assert.deepEqual(zlib.gunzipSync(slow.rawBytes()), data.subarray(0, 400_000));
  });

  it('rejects an invalid level', () => {
    assert.throws(() => new GzipCompressor(new Recorder(), { level: 0 }), { message: 'invalid gzip compression level 0' });
  });
});
