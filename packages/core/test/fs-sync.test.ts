import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fsyncDirectory, fsyncFile } from '../src/fs-sync.js';

test('fsyncFile and fsyncDirectory sync what exists and name what does not', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pgfleet-fsync-'));
  try {
    writeFileSync(join(dir, 'f'), 'x');
    await fsyncFile(join(dir, 'f'));
    await fsyncDirectory(dir);
    await assert.rejects(fsyncFile(join(dir, 'gone')), { message: `could not open file "${join(dir, 'gone')}": no such file or directory`, code: 71 });
    await assert.rejects(fsyncDirectory(join(dir, 'gone')), { message: `could not open directory "${join(dir, 'gone')}": no such file or directory` });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
