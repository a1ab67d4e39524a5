import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ArchiveFormatError } from '../../src/errors.js';
import { Lz4Compressor } from '../../src/archive/lz4-compressor.js';
import { Lz4Decompressor } from '../../src/archive/lz4-decompressor.js';
import { lz4FrameHeader } from '../../src/archive/lz4-frame.js';
import { Recorder, feed, haveCommand, mixedData, removeDir, run, tempDir } from './helpers.js';

async function unlz4(data: Buffer, slice = 65_536 + 17): Promise<Buffer> {
  const out = new Recorder();
  await feed(new Lz4Decompressor(out, { archiveName: 'base.tar.lz4' }), data, slice);
  return out.rawBytes();
}

describe('Lz4Decompressor', () => {
  let dir: string;
  let input: string;
  const data = mixedData();
  before(() => {
    dir = tempDir('lz4d');
    input = join(dir, 'data');
    writeFileSync(input, data);
  });
  after(() => removeDir(dir));

  // PostgreSQL writes linked 256 kB blocks without checksums (LZ4F defaults + blockSizeID 5);
  // the lz4 tool writes independent 4 MB blocks with a content checksum.
  const variants: string[][] = [[], ['-BD'], ['-B4', '-BD'], ['-B5', '-BD', '--no-frame-crc'], ['-BX', '--content-size'], ['-9', '-B6']];
  for (const args of variants) {
    it(`reads lz4 ${args.join(' ') || '(defaults)'} output, also in 321-byte slices`, { skip: !haveCommand('lz4') }, async () => {
      const frame = run('lz4', ['-c', ...args, input]);
      assert.deepEqual(await unlz4(frame), data);
      if (args.length === 2) assert.deepEqual(await unlz4(frame, 321), data);
    });
  }

  it('copies input it was not handed, and takes over input it was', { skip: !haveCommand('lz4') }, async () => {
    const frame = run('lz4', ['-c', '-B4', '-BD', input]);
    // A caller that reuses one buffer (a file read loop) must get the same output...
    for (const inputOwned of [false, true]) {
      const out = new Recorder();
      const lz4 = new Lz4Decompressor(out, { archiveName: 'base.tar.lz4', inputOwned });
      const reused = Buffer.alloc(50_000);
      for (let off = 0; off < frame.length; off += reused.length) {
        const n = frame.copy(reused, 0, off, off + reused.length);
        // ...a caller handing its buffers over sends fresh ones, never written again.
        await lz4.content(null, inputOwned ? Buffer.from(reused.subarray(0, n)) : reused.subarray(0, n), 'unknown');
        if (!inputOwned) reused.fill(0xee);
      }
      await lz4.finalize();
      assert.deepEqual(out.rawBytes(), data, `inputOwned ${inputOwned}`);
    }
  });

  it('never writes again what it handed on: the next streamer may keep it', { skip: !haveCommand('lz4') }, async () => {
    // Random bytes become stored blocks; the rest linked blocks whose dictionary is the
    // previous output. A stage that reused either buffer would change what was kept.
    const withStored = Buffer.concat([data, randomBytes(600_000), data.subarray(0, 400_000)]);
    const file = join(dir, 'with-stored');
    writeFileSync(file, withStored);
    for (const args of [['-B5', '-BD'], ['-B4']]) {
      const kept: Buffer[] = [];
      const keeper = {
        content: async (_m: unknown, chunk: Buffer) => { kept.push(chunk); },
        finalize: async () => {},
        dispose: async () => {},
      };
      await feed(new Lz4Decompressor(keeper, { archiveName: 'base.tar.lz4' }), run('lz4', ['-c', ...args, file]), 100_000);
      assert.ok(kept.length > 4, 'several blocks');
      assert.deepEqual(Buffer.concat(kept), withStored, args.join(' '));
    }
  });

  it('reads concatenated frames and skips skippable frames', async () => {
    const out = new Recorder();
    const ours = new Lz4Compressor(out);
    await ours.content(null, data, 'unknown');
    await ours.finalize();
    const frame = out.rawBytes();
    const skippable = Buffer.alloc(8 + 5);
    skippable.writeUInt32LE(0x184d2a5a, 0);
    skippable.writeUInt32LE(5, 4);
    const twice = Buffer.concat([frame, skippable, frame]);
    assert.deepEqual(await unlz4(twice, 1000), Buffer.concat([data, data]));
  });

  it('fails when the input ends inside a frame', async () => {
    const frame = run('lz4', ['-c', '-BD', input]);
    for (const cut of [3, 6, 11, 5000, frame.length - 2]) {
      await assert.rejects(unlz4(frame.subarray(0, cut)), (err: unknown) => {
        assert.ok(err instanceof ArchiveFormatError, `cut ${cut}`);
        assert.equal(err.message, 'could not decompress "base.tar.lz4": the data ends in the middle of a frame', `cut ${cut}`);
        return true;
      });
    }
  });

  it('fails on a bad magic number, header checksum or content checksum', async () => {
    const frame = run('lz4', ['-c', input]);
    const badMagic = Buffer.from(frame);
    badMagic[0] = 0x05;
    await assert.rejects(unlz4(badMagic), { message: 'could not decompress "base.tar.lz4": bad frame magic number 0x184d2205' });
    const badHeader = Buffer.from(frame);
    badHeader[6] = badHeader[6]! ^ 0xff;
    await assert.rejects(unlz4(badHeader), { message: 'could not decompress "base.tar.lz4": frame header checksum mismatch' });
    const badContent = Buffer.from(frame);
    badContent[badContent.length - 1] = badContent[badContent.length - 1]! ^ 0xff;
    await assert.rejects(unlz4(badContent), { message: 'could not decompress "base.tar.lz4": content checksum mismatch' });
  });

  it('fails on a block that is not valid LZ4, without reading or writing outside it', async () => {
    const frameOf = (block: Buffer, independent: boolean): Buffer => {
      const size = Buffer.alloc(4);
      size.writeUInt32LE(block.length, 0);
      return Buffer.concat([lz4FrameHeader({ blockSizeId: 4, independent, contentChecksum: false }), size, block, Buffer.alloc(4)]);
    };
    // Literal lengths that run past the block's end.
    const overrun = Buffer.alloc(300, 0xff);
    await assert.rejects(unlz4(frameOf(overrun, true)), (err: unknown) => {
      assert.ok(err instanceof ArchiveFormatError);
      assert.match(err.message, /^could not decompress "base\.tar\.lz4": invalid compressed block \(liblz4 stopped at byte \d+ of 300\)$/);
      return true;
    });
    // One literal, then a match 16 bytes back: before the block's start, with no dictionary
    // (the first block of a linked frame has none either).
    const behind = Buffer.from([0x10, 0x61, 0x10, 0x00, 0x00]);
    for (const independent of [true, false]) {
      await assert.rejects(unlz4(frameOf(behind, independent)), /invalid compressed block/);
    }
    // A stored block of no bytes, the last of the input but for the end mark: nothing comes out.
    const emptyStored = Buffer.concat([lz4FrameHeader({ blockSizeId: 4, independent: true, contentChecksum: false }), Buffer.from([0, 0, 0, 0x80])]);
    assert.deepEqual(await unlz4(Buffer.concat([emptyStored, Buffer.alloc(4)]), 1), Buffer.alloc(0));
  });
});
