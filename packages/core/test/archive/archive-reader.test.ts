import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ArchiveFormatError, CancelledError, InvalidOptionError } from '../../src/errors.js';
import { readArchiveFile } from '../../src/archive/archive-reader.js';
import { DirectoryExtractor } from '../../src/archive/directory-extractor.js';
import { Recorder, haveCommand, makeTree, removeDir, run, sha256, tempDir } from './helpers.js';

describe('readArchiveFile', () => {
  let dir: string;
  let tree: string;
  let tar: Buffer;
  before(() => {
    dir = tempDir('reader');
    tree = join(dir, 'tree');
    mkdirSync(tree);
    makeTree(tree);
    tar = run('tar', ['-C', tree, '-cf', '-', '.']);
    writeFileSync(join(dir, 'base.tar'), tar);
    writeFileSync(join(dir, 'base.tar.gz'), run('gzip', ['-c'], { input: tar }));
    writeFileSync(join(dir, 'base.tgz'), run('gzip', ['-c', '-1'], { input: tar }));
    if (haveCommand('lz4')) writeFileSync(join(dir, 'base.tar.lz4'), run('lz4', ['-c', '-BD'], { input: tar }));
    if (haveCommand('zstd')) writeFileSync(join(dir, 'base.tar.zst'), run('zstd', ['-c'], { input: tar }));
  });
  after(() => removeDir(dir));

  function summary(rec: Recorder): string[] {
    return rec.members.map((m) => `${m.member.name} ${m.member.type} ${m.member.size} ${sha256(m.data).slice(0, 12)}`);
  }

  it('reads every compression by extension and finalizes and disposes next', async () => {
    const plain = new Recorder();
    await readArchiveFile(join(dir, 'base.tar'), plain);
    assert.equal(plain.finalized, true);
    assert.equal(plain.disposed, 1);
    assert.equal(plain.byName('base/1/16384').data.length, 70000);
    for (const name of ['base.tar.gz', 'base.tgz', 'base.tar.lz4', 'base.tar.zst']) {
      if (name.endsWith('lz4') && !haveCommand('lz4')) continue;
      if (name.endsWith('zst') && !haveCommand('zstd')) continue;
      const rec = new Recorder();
      let progress = 0;
      await readArchiveFile(join(dir, name), rec, { chunkSize: 4096, onProgress: (n) => { progress = n; } });
      assert.deepEqual(summary(rec), summary(plain), name);
      assert.ok(progress > 0, name);
    }
  });

  it('parses in place, with the same members and bytes, when next copies what it keeps', async () => {
    const plain = new Recorder();
    await readArchiveFile(join(dir, 'base.tar'), plain);
    for (const name of ['base.tar', 'base.tar.gz', 'base.tar.lz4', 'base.tar.zst']) {
      if (name.endsWith('lz4') && !haveCommand('lz4')) continue;
      if (name.endsWith('zst') && !haveCommand('zstd')) continue;
      // Odd chunk sizes split headers and contents at every kind of boundary.
      for (const chunkSize of [4096, 777]) {
        const rec = new Recorder();
        await readArchiveFile(join(dir, name), rec, { chunkSize, inPlace: true });
        assert.deepEqual(summary(rec), summary(plain), `${name} in ${chunkSize}-byte reads`);
        assert.equal(rec.archiveTrailers, 1);
      }
    }
    const root = join(dir, 'restored-in-place');
    await readArchiveFile(join(dir, 'base.tar.lz4'), new DirectoryExtractor({ root }), { chunkSize: 777, inPlace: true });
    run('diff', ['-r', '--no-dereference', tree, root]);
  });

  it('extracts into a directory', async () => {
    const root = join(dir, 'restored');
    await readArchiveFile(join(dir, 'base.tar.gz'), new DirectoryExtractor({ root }));
    run('diff', ['-r', '--no-dereference', tree, root]);
  });

  it('takes the compression from the options for other names', async () => {
    writeFileSync(join(dir, 'archive.bin'), run('gzip', ['-c'], { input: tar }));
    const rec = new Recorder();
    await readArchiveFile(join(dir, 'archive.bin'), rec, { compression: 'gzip' });
    assert.equal(rec.archiveTrailers, 1);
    const other = new Recorder();
    await assert.rejects(readArchiveFile(join(dir, 'archive.bin'), other), (err: unknown) => {
      assert.ok(err instanceof InvalidOptionError);
      assert.equal(err.message, `could not tell the compression of archive "${join(dir, 'archive.bin')}" from its name`);
      return true;
    });
    assert.equal(other.disposed, 1);
  });

  it('fails on a truncated compressed archive and disposes next', async () => {
    const gz = run('gzip', ['-c'], { input: tar });
    writeFileSync(join(dir, 'cut.tar.gz'), gz.subarray(0, gz.length - 100));
    const rec = new Recorder();
    await assert.rejects(readArchiveFile(join(dir, 'cut.tar.gz'), rec), (err: unknown) => {
      assert.ok(err instanceof ArchiveFormatError);
      assert.equal(err.message, 'could not decompress "cut.tar.gz": unexpected end of file');
      return true;
    });
    assert.equal(rec.disposed, 1);
    assert.equal(rec.finalized, false);
  });

  it('fails on a truncated tar, naming the file', async () => {
    writeFileSync(join(dir, 'cut.tar'), tar.subarray(0, 5000));
    await assert.rejects(readArchiveFile(join(dir, 'cut.tar'), new Recorder()), (err: unknown) => {
      assert.ok(err instanceof ArchiveFormatError);
      assert.match(err.message, /^tar archive "cut\.tar" ended before last file "[^"]+" was finished$/);
      return true;
    });
  });

  it('reports a missing file and a cancelled read', async () => {
    const missing = join(dir, 'nope.tar');
    await assert.rejects(readArchiveFile(missing, new Recorder()), { message: `could not open file "${missing}": no such file or directory` });
    const controller = new AbortController();
    controller.abort();
    await assert.rejects(readArchiveFile(join(dir, 'base.tar'), new Recorder(), { signal: controller.signal }), CancelledError);
  });
});
