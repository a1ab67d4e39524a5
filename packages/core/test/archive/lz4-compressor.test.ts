import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Lz4Compressor } from '../../src/archive/lz4-compressor.js';
import { Lz4Decompressor } from '../../src/archive/lz4-decompressor.js';
import { Recorder, feed, haveCommand, mixedData, patternBytes, removeDir, run, tempDir } from './helpers.js';

async function lz4(data: Buffer, options: ConstructorParameters<typeof Lz4Compressor>[1] = {}): Promise<Buffer> {
  const out = new Recorder();
  await feed(new Lz4Compressor(out, options), data, 77_777);
  return out.rawBytes();
}

async function unlz4(data: Buffer): Promise<Buffer> {
  const out = new Recorder();
  await feed(new Lz4Decompressor(out), data, 50_000);
  return out.rawBytes();
}

describe('Lz4Compressor', () => {
  let dir: string;
  const data = mixedData();
  before(() => { dir = tempDir('lz4c'); });
  after(() => removeDir(dir));

  it('writes one LZ4 frame that lz4 -d (or our decompressor) reads', async () => {
    const frame = await lz4(data, { contentChecksum: true });
    assert.ok(frame.length < data.length * 0.6, `${frame.length}`);
    assert.deepEqual(await unlz4(frame), data);
    if (!haveCommand('lz4')) return;
    const file = join(dir, 'a.lz4');
    writeFileSync(file, frame);
    run('lz4', ['-t', file]);
    assert.deepEqual(run('lz4', ['-dc', file]), data);
  });

  it('stores incompressible blocks raw and handles empty input', async () => {
    const random = patternBytes(3 * 1024 * 1024 + 5, 99);
    const frame = await lz4(random);
    assert.ok(frame.length < random.length + 64);
    assert.deepEqual(await unlz4(frame), random);
    const empty = await lz4(Buffer.alloc(0));
    assert.deepEqual(await unlz4(empty), Buffer.alloc(0));
    if (haveCommand('lz4')) assert.deepEqual(run('lz4', ['-dc'], { input: empty }), Buffer.alloc(0));
  });
});
