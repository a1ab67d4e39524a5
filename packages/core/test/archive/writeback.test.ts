import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FileIoError } from '../../src/errors.js';
import { WRITEBACK_BYTES, Writeback, WritebackFile } from '../../src/archive/writeback.js';
import { patternBytes, removeDir, tempDir } from './helpers.js';

describe('Writeback', () => {
  let dir: string;
  before(() => { dir = tempDir('writeback'); });
  after(() => removeDir(dir));

  it('starts an fdatasync once a file has WRITEBACK_BYTES written since the last one, one at a time', async () => {
    const path = join(dir, 'f');
    const handle = await open(path, 'wx', 0o600);
    const writeback = new Writeback();
    const file = new WritebackFile(handle);
    const piece = patternBytes(1024 * 1024, 3);
    for (let i = 1; i < WRITEBACK_BYTES / piece.length; i++) {
      await handle.write(piece);
      writeback.wrote(file, path, piece.length);
    }
    assert.equal(writeback.started, 0);
    await handle.write(piece);
    writeback.wrote(file, path, piece.length);
    assert.equal(writeback.started, 1);
    assert.notEqual(file.flushing, null);
    // While it runs, no second one starts; the bytes are counted for the next.
    writeback.wrote(file, path, WRITEBACK_BYTES);
    assert.equal(writeback.started, 1);
    await file.quiesce();
    assert.equal(file.flushing, null);
    // A file being closed gets none.
    writeback.wrote(file, path, WRITEBACK_BYTES);
    assert.equal(writeback.started, 1);
    writeback.check();
    await handle.close();
  });

  it('keeps a failed fdatasync and throws it, naming the file', async () => {
    // fdatasync of a FIFO fails (EINVAL): a real failure, for a file that cannot be synced.
    const path = join(dir, 'fifo');
    execFileSync('mkfifo', [path]);
    const handle = await open(path, 'r+');
    const writeback = new Writeback();
    const file = new WritebackFile(handle);
    writeback.wrote(file, path, WRITEBACK_BYTES);
    assert.equal(writeback.started, 1);
    await writeback.settle();
    assert.throws(() => writeback.check(), (err: unknown) => err instanceof FileIoError && err.message.startsWith(`could not fsync file "${path}": `));
    await file.quiesce();
    await handle.close();
  });
});
