import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, test } from 'node:test';
import { InvalidOptionError } from '@pgfleet/core';
import { openBackupDirectory } from '../../src/restore/layout.js';
import { TarDirectorySource } from '../../src/restore/tar-directory-source.js';
import { craftTarBackup, makeDir, RecordingStreamer } from '../helpers/fixtures.js';

describe('TarDirectorySource', () => {
  test('lists the archives in restore order, ignores other files, streams members', async () => {
    const dir = await makeDir();
    await craftTarBackup(dir, { tablespaces: new Map([[16390, '/b'], [16384, '/a']]), gzip: true });
    await writeFile(path.join(dir, 'backup.json'), '{}');
    const source = await TarDirectorySource.open(dir);
    assert.ok(source);
    assert.deepEqual(source.archives.map((a) => [a.name, a.kind, a.oid, a.compression]), [
      ['base.tar.gz', 'base', null, 'gzip'], ['16384.tar.gz', 'tablespace', 16384, 'gzip'],
      ['16390.tar.gz', 'tablespace', 16390, 'gzip'], ['pg_wal.tar.gz', 'wal', null, 'gzip'],
    ]);
    assert.equal(await source.readManifest(), null);
    const sinks: RecordingStreamer[] = [];
    await source.stream(async () => {
      const s = new RecordingStreamer();
      sinks.push(s);
      return s;
    }, () => undefined);
    assert.equal(sinks.length, 4);
    assert.deepEqual(sinks[1]?.names, ['PG_15_202209061', 'PG_15_202209061/1', 'PG_15_202209061/1/1234']);
    assert.ok(sinks.every((s) => s.finalized === 1 && s.disposed >= 1));
  });

  test('two archives of one kind are ambiguous; no base archive is another layout', async () => {
    const dir = await makeDir();
    await craftTarBackup(dir);
    await writeFile(path.join(dir, 'base.tar.gz'), '');
    await assert.rejects(TarDirectorySource.open(dir), (err: unknown) =>
      err instanceof InvalidOptionError && err.message === `backup directory "${dir}" holds both "base.tar" and "base.tar.gz"`);
    const empty = await makeDir();
    await mkdir(path.join(empty, 'x'));
    assert.equal(await TarDirectorySource.open(empty), null);
    await assert.rejects(openBackupDirectory(empty), (err: unknown) =>
      err instanceof InvalidOptionError && err.format() === `directory "${empty}" does not hold a backup\nHINT: A backup directory holds base.tar (or base.tar.gz, .lz4, .zst) in tar format, or PG_VERSION in plain format.`);
  });
});
