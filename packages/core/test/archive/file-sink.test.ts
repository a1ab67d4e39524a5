import assert from 'node:assert/strict';
import { closeSync, existsSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FileIoError } from '../../src/errors.js';
import { FileSink } from '../../src/archive/file-sink.js';
import { patternBytes, removeDir, tempDir } from './helpers.js';

describe('FileSink', () => {
  let dir: string;
  before(() => { dir = tempDir('file-sink'); });
  after(() => removeDir(dir));

  it('regression: a 10-byte gzip header buffered before a 1 MiB block stays first', async () => {
    // base.tar.gz lost its header: a large chunk was written while a small one sat buffered.
    const path = join(dir, 'header-first.gz');
    const sink = await FileSink.create(path);
    const header = Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]);
    const block = patternBytes(400_000, 3);
    await sink.content(null, header, 'unknown');
    await sink.content(null, block, 'unknown');
    await sink.finalize();
    assert.deepEqual(readFileSync(path), Buffer.concat([header, block]));
  });

  it('writes small and large chunks in order, with mode 0600, and fsyncs', async () => {
    const path = join(dir, 'base.tar');
    const sink = await FileSink.create(path, { sync: true });
    const parts = [Buffer.from('head'), patternBytes(3_000_000, 1), Buffer.alloc(512, 1), patternBytes(300_000, 2), Buffer.from('end')];
    const reused = Buffer.alloc(10);
    for (const p of parts) {
      await sink.content(null, p, 'unknown');
    }
    // The caller may reuse a buffer once content() has resolved.
    reused.fill(7);
    await sink.content(null, reused, 'unknown');
    reused.fill(9);
    await sink.finalize();
    await sink.dispose();
    assert.deepEqual(readFileSync(path), Buffer.concat([...parts, Buffer.alloc(10, 7)]));
    assert.equal(statSync(path).mode & 0o777, 0o600);
    assert.equal(sink.bytes, readFileSync(path).length);
  });

  it('with sync (or writeback), a big file is fdatasynced as it is written and comes out whole; without, never', async () => {
    const data = patternBytes(40 * 1024 * 1024, 5);
    for (const [expected, options] of [[true, { sync: true }], [true, { writeback: true, blocking: true }], [false, {}], [false, { sync: true, blocking: true }]] as const) {
      const path = join(dir, `sink-${JSON.stringify(options).replace(/\W/g, '')}`);
      const sink = await FileSink.create(path, options);
      for (let off = 0; off < data.length; off += 256 * 1024) await sink.content(null, data.subarray(off, off + 256 * 1024), 'unknown');
      await sink.finalize();
      await sink.dispose();
      assert.ok(readFileSync(path).equals(data));
      if (expected) assert.equal(sink.writebacks, 1);
      else assert.equal(sink.writebacks, 0);
    }
  });

  it('never overwrites: an existing file or symlink at the path is an error', async () => {
    const path = join(dir, 'exists.tar');
    writeFileSync(path, 'keep');
    await assert.rejects(FileSink.create(path), (err: unknown) => {
      assert.ok(err instanceof FileIoError);
      assert.equal(err.message, `could not create file "${path}": file exists`);
      assert.equal(err.hint, 'pgfleet never overwrites an existing file; remove it or choose another directory.');
      return true;
    });
    assert.equal(readFileSync(path, 'utf8'), 'keep');
    const link = join(dir, 'link.tar');
    symlinkSync(join(dir, 'target-that-does-not-exist'), link);
    await assert.rejects(FileSink.create(link), FileIoError);
    assert.equal(existsSync(join(dir, 'target-that-does-not-exist')), false);
  });

  it('removes what it created when disposed after a failure', async () => {
    const path = join(dir, 'failed.tar');
    const sink = await FileSink.create(path);
    await sink.content(null, Buffer.alloc(100), 'unknown');
    await sink.dispose();
    assert.equal(existsSync(path), false);
    const kept = join(dir, 'kept.tar');
    const keep = await FileSink.create(kept, { removeOnFailure: false });
    await keep.dispose();
    assert.equal(existsSync(kept), true);
  });

  it('keeps order across buffer boundaries, whatever the buffer count, and reports bytes', async () => {
    for (const [buffers, blocking] of [[1, false], [2, false], [3, false], [2, true]] as const) {
      const path = join(dir, `order-${buffers}-${blocking}.bin`);
      const sink = await FileSink.create(path, { bufferBytes: 1000, buffers, blocking });
      const parts: Buffer[] = [];
      const scratch = Buffer.alloc(2500);
      for (let i = 0; i < 200; i++) {
        // Sizes around, below and above the buffer size; one scratch buffer reused for all.
        const n = (i * 137) % 2500;
        scratch.fill(i % 251, 0, n);
        await sink.content(null, scratch.subarray(0, n), 'unknown');
        parts.push(Buffer.alloc(n, i % 251));
      }
      const expected = Buffer.concat(parts);
      assert.equal(sink.bytes, expected.length);
      await sink.finalize();
      assert.deepEqual(readFileSync(path), expected, `${buffers} buffers, blocking ${blocking}`);
    }
  });

  it('a failed write fails the next call, names the file, and the file is removed on dispose', async () => {
    const path = join(dir, 'enospc.tar');
    const sink = await FileSink.create(path, { bufferBytes: 1024 });
    // Stand-in for a full disk: the handle's write fails as the kernel would.
    const handle = (sink as unknown as { handle: { write: (...args: unknown[]) => Promise<unknown> } }).handle;
    handle.write = async () => { throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', errno: -28, syscall: 'write' }); };
    await sink.content(null, Buffer.alloc(1024), 'unknown');
    const failure = await sink.content(null, Buffer.alloc(4096), 'unknown').then(() => sink.finalize()).then(() => null, (err: unknown) => err);
    assert.ok(failure instanceof FileIoError);
    assert.equal(failure.message, `could not write to file "${path}": no space left on device`);
    await assert.rejects(sink.finalize(), { message: failure.message });
    await sink.dispose();
    assert.equal(existsSync(path), false);
  });

  it('blocking: a failed write fails that call, names the file, and the file is removed on dispose', async () => {
    const path = join(dir, 'blocking-ebadf.tar');
    const sink = await FileSink.create(path, { bufferBytes: 1024, blocking: true });
    // Stand-in for an I/O error: the descriptor is gone under the sink.
    closeSync((sink as unknown as { handle: { fd: number } }).handle.fd);
    await sink.content(null, Buffer.alloc(1000), 'unknown');
    await assert.rejects(sink.content(null, Buffer.alloc(100), 'unknown'), {
      message: `could not write to file "${path}": bad file descriptor`,
    });
    await assert.rejects(sink.finalize(), { message: `could not write to file "${path}": bad file descriptor` });
    await sink.dispose();
    assert.equal(existsSync(path), false);
  });

  it('dispose waits for the write in progress before closing and removing', async () => {
    const path = join(dir, 'dispose-busy.tar');
    const sink = await FileSink.create(path, { bufferBytes: 4096 });
    const handle = (sink as unknown as { handle: { write: (...args: unknown[]) => Promise<{ bytesWritten: number }>; fd: number } }).handle;
    const realWrite = handle.write.bind(handle);
    let inWrite = false;
    let closedDuringWrite = false;
    handle.write = async (...args: unknown[]) => {
      inWrite = true;
      await new Promise((resolve) => setTimeout(resolve, 30));
      const result = await realWrite(...args);
      inWrite = false;
      return result;
    };
    const realClose = (handle as unknown as { close: () => Promise<void> }).close.bind(handle);
    (handle as unknown as { close: () => Promise<void> }).close = async () => {
      if (inWrite) closedDuringWrite = true;
      await realClose();
    };
    await sink.content(null, Buffer.alloc(4096, 1), 'unknown');
    assert.ok(inWrite, 'the first buffer is being written');
    await sink.dispose();
    assert.equal(closedDuringWrite, false);
    assert.equal(existsSync(path), false);
  });

  it('names the path when the directory does not exist', async () => {
    const path = join(dir, 'missing', 'x.tar');
    await assert.rejects(FileSink.create(path), { message: `could not create file "${path}": no such file or directory` });
  });
});
