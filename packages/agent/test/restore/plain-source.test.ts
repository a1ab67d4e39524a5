import assert from 'node:assert/strict';
import { chmod, mkdir, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, test } from 'node:test';
import { PlainDirectorySource } from '../../src/restore/plain-source.js';
import { makeDir, RecordingStreamer } from '../helpers/fixtures.js';

describe('PlainDirectorySource', () => {
  test('the directory is the base archive, pg_tblspc links are tablespaces, pg_wal link is walked', async () => {
    const root = await makeDir();
    const dir = path.join(root, 'backup');
    const ts = path.join(root, 'backup-ts1');
    const wal = path.join(root, 'backup-wal');
    for (const d of [dir, ts, wal, path.join(dir, 'global'), path.join(dir, 'pg_tblspc'), path.join(ts, 'PG_15_x')]) await mkdir(d, { recursive: true });
    await chmod(dir, 0o750);
    await writeFile(path.join(dir, 'PG_VERSION'), '15\n');
    await writeFile(path.join(dir, 'backup_label'), 'x');
    await writeFile(path.join(dir, 'backup_manifest'), '{}');
    await writeFile(path.join(dir, 'global', 'pg_control'), Buffer.alloc(300 * 1024, 3));
    await writeFile(path.join(ts, 'PG_15_x', 'f'), 'ts data');
    await writeFile(path.join(wal, '000000010000000000000001'), 'wal');
    await symlink(ts, path.join(dir, 'pg_tblspc', '16384'));
    await symlink(wal, path.join(dir, 'pg_wal'));
    const source = await PlainDirectorySource.open(dir);
    assert.ok(source);
    assert.equal(source.dataDirectoryMode, 0o750);
    assert.deepEqual([...source.tablespaceLocations], [[16384, ts]]);
    assert.deepEqual(source.archives.map((a) => [a.kind, a.oid]), [['base', null], ['tablespace', 16384]]);
    assert.deepEqual(await source.readManifest(), Buffer.from('{}'));
    const sinks: RecordingStreamer[] = [];
    let progressed = 0;
    await source.stream(async () => {
      const s = new RecordingStreamer();
      sinks.push(s);
      return s;
    }, (_info, bytes) => {
      progressed = bytes;
    });
    const [base, tablespace] = sinks;
    assert.deepEqual(base?.names, ['PG_VERSION', 'backup_label', 'global', 'global/pg_control', 'pg_tblspc', 'pg_tblspc/16384', 'pg_wal', 'pg_wal/000000010000000000000001']);
    assert.equal(base?.chunks.find((c) => c.name === 'pg_tblspc/16384')?.linkname, ts);
    assert.equal(base?.chunks.find((c) => c.name === 'pg_wal' && c.kind === 'header')?.type, 'directory');
    assert.equal(base?.contents('global/pg_control').length, 300 * 1024);
    assert.equal(base?.chunks.at(-1)?.kind, 'archive-trailer');
    assert.deepEqual(tablespace?.names, ['PG_15_x', 'PG_15_x/f']);
    assert.equal(tablespace?.contents('PG_15_x/f'), 'ts data');
    assert.ok(progressed > 0);
    assert.ok(sinks.every((s) => s.finalized === 1 && s.disposed === 1));
  });

  test('a directory without PG_VERSION is not a plain backup', async () => {
    assert.equal(await PlainDirectorySource.open(await makeDir()), null);
  });
});
