import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ArchiveFormatError } from '../../src/errors.js';
import { GzipDecompressor } from '../../src/archive/gzip-decompressor.js';
import { Recorder, feed, mixedData, run } from './helpers.js';

describe('GzipDecompressor', () => {
  const data = mixedData();
  const gz = run('gzip', ['-c', '-6'], { input: data });

  it('reads gzip output whole and in 321-byte slices', async () => {
    for (const slice of [undefined, 321]) {
      const out = new Recorder();
      await feed(new GzipDecompressor(out), gz, slice);
      assert.deepEqual(out.rawBytes(), data);
    }
  });

  it('reads concatenated gzip members as gzip -d does', async () => {
    const out = new Recorder();
    const second = run('gzip', ['-c', '-1'], { input: Buffer.from('tail\n') });
    await feed(new GzipDecompressor(out), Buffer.concat([gz, second]), 65536);
    assert.deepEqual(out.rawBytes(), Buffer.concat([data, Buffer.from('tail\n')]));
  });

  it('waits for a slow next streamer', async () => {
    const out = new Recorder({ delay: () => new Promise((r) => setImmediate(r)) });
    await feed(new GzipDecompressor(out), gz, 200_000);
    assert.deepEqual(out.rawBytes(), data);
  });

  it('fails on truncated input', async () => {
    await assert.rejects(feed(new GzipDecompressor(new Recorder(), { archiveName: 'base.tar.gz' }), gz.subarray(0, 5000)), (err: unknown) => {
      assert.ok(err instanceof ArchiveFormatError);
      assert.equal(err.message, 'could not decompress "base.tar.gz": unexpected end of file');
      return true;
    });
  });

  it('fails on corrupt input', async () => {
    const bad = Buffer.from(gz);
    bad.writeUInt8(bad.readUInt8(bad.length - 8) ^ 1, bad.length - 8); // CRC
    await assert.rejects(feed(new GzipDecompressor(new Recorder()), bad), (err: unknown) => {
      assert.ok(err instanceof ArchiveFormatError);
      assert.equal(err.message, 'could not decompress gzip data: incorrect data check');
      return true;
    });
  });

  it('propagates an error of the next streamer', async () => {
    const out = new Recorder({ delay: async () => { throw new Error('no space left'); } });
    await assert.rejects(feed(new GzipDecompressor(out), gz, 10_000), { message: 'no space left' });
  });
});
