import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
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

  it('names the path when the directory does not exist', async () => {
    const path = join(dir, 'missing', 'x.tar');
    await assert.rejects(FileSink.create(path), { message: `could not create file "${path}": no such file or directory` });
  });
});
