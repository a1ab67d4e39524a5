import assert from 'node:assert/strict';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { renameDurably, writeFileAtomic } from '../../src/repository/atomic-write.js';
import { tempDir } from './fixtures.js';

test('writeFileAtomic replaces the file and leaves no temporary file', async () => {
  const dir = await tempDir();
  const file = join(dir, 'backup.json');
  await writeFile(file, 'old');
  await writeFileAtomic(file, 'new contents');
  assert.equal(await readFile(file, 'utf8'), 'new contents');
  assert.deepEqual(await readdir(dir), ['backup.json']);
  assert.equal((await stat(file)).mode & 0o777, 0o600);
});

test('writeFileAtomic into a missing directory fails naming the temporary file, and leaves nothing', async () => {
  const dir = await tempDir();
  await assert.rejects(writeFileAtomic(join(dir, 'nope', 'x.json'), 'x'), (err: Error) => {
    assert.match(err.message, new RegExp(`^could not create file "${dir}/nope/\\.x\\.json\\.tmp-\\d+-[0-9a-f]{8}": no such file or directory$`));
    return true;
  });
  assert.deepEqual(await readdir(dir), []);
});

test('renameDurably moves a directory and reports a failure with the path', async () => {
  const dir = await tempDir();
  await mkdir(join(dir, '.tmp-a'));
  await renameDurably(join(dir, '.tmp-a'), join(dir, 'a'));
  assert.deepEqual(await readdir(dir), ['a']);
  await assert.rejects(renameDurably(join(dir, 'missing'), join(dir, 'b')),
    { message: `could not rename directory "${join(dir, 'missing')}": no such file or directory` });
});
