import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, test } from 'node:test';
import { ArchiveFormatError, CancelledError, InvalidOptionError, type Streamer } from '@pgfleet/core';
import { openBackupDirectory } from '../../src/restore/layout.js';
import { TarDirectorySource } from '../../src/restore/tar-directory-source.js';
import { craftTarBackup, makeDir, RecordingStreamer } from '../helpers/fixtures.js';

/** A sink that writes what happens to it, and to which archive, into a shared log. */
function loggingSinks(log: string[]): (info: { name: string }) => Promise<RecordingStreamer> {
  return async (info) => {
    log.push(`begin ${info.name}`);
    const s = new RecordingStreamer();
    const finalize = s.finalize.bind(s);
    s.finalize = async () => {
      log.push(`finalize ${info.name}`);
      await finalize();
    };
    const dispose = s.dispose.bind(s);
    s.dispose = async () => {
      log.push(`dispose ${info.name}`);
      await dispose();
    };
    return s;
  };
}

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

  test('the tablespace archives stream beside the base archive, WAL after them', async () => {
    const dir = await makeDir();
    await craftTarBackup(dir, { tablespaces: new Map([[16384, '/a'], [16390, '/b']]) });
    const source = await TarDirectorySource.open(dir);
    assert.ok(source);
    const log: string[] = [];
    await source.stream(loggingSinks(log), () => undefined);
    // The second lane begins its first archive before the base archive's first read returned.
    assert.deepEqual(log.slice(0, 2), ['begin base.tar', 'begin 16384.tar']);
    assert.ok(log.indexOf('begin 16390.tar') > log.indexOf('finalize 16384.tar'));
    assert.ok(log.indexOf('begin pg_wal.tar') > log.indexOf('finalize 16390.tar'));
    for (const name of ['base.tar', '16384.tar', '16390.tar', 'pg_wal.tar']) {
      assert.equal(log.filter((l) => l === `finalize ${name}`).length, 1, name);
      assert.ok(log.includes(`dispose ${name}`), name);
    }
  });

  test('a damaged tablespace archive stops the base archive too; its error is the one thrown', async () => {
    const dir = await makeDir();
    await craftTarBackup(dir, { tablespaces: new Map([[16384, '/a']]), gzip: true });
    await writeFile(path.join(dir, '16384.tar.gz'), 'not gzip at all');
    const source = await TarDirectorySource.open(dir);
    assert.ok(source);
    const log: string[] = [];
    await assert.rejects(source.stream(loggingSinks(log), () => undefined), (err: unknown) => err instanceof ArchiveFormatError);
    assert.ok(log.includes('dispose 16384.tar.gz') && log.includes('dispose base.tar.gz'), log.join(', '));
    assert.ok(!log.includes('begin pg_wal.tar.gz'));
    assert.ok(!log.includes('finalize 16384.tar.gz'));
  });

  test('a damaged tablespace archive while a large base archive still streams: base is stopped, the tablespace\'s error is thrown', async () => {
    const dir = await makeDir();
    await craftTarBackup(dir, { tablespaces: new Map([[16384, '/a']]), extra: [{ name: 'big', body: Buffer.alloc(48 * 1024 * 1024, 3) }] });
    await writeFile(path.join(dir, '16384.tar'), Buffer.alloc(1024, 0x41));
    const source = await TarDirectorySource.open(dir);
    assert.ok(source);
    const log: string[] = [];
    // Sinks that keep nothing: base.tar is large.
    const begin = async (info: { name: string }): Promise<Streamer> => {
      log.push(`begin ${info.name}`);
      return {
        content: async () => undefined,
        finalize: async () => { log.push(`finalize ${info.name}`); },
        dispose: async () => { log.push(`dispose ${info.name}`); },
      };
    };
    await assert.rejects(source.stream(begin, () => undefined), (err: unknown) => err instanceof ArchiveFormatError && err.message.includes('"16384.tar"'));
    assert.ok(!log.includes('finalize base.tar'), log.join(', '));
    assert.ok(log.includes('dispose base.tar') && log.includes('dispose 16384.tar'), log.join(', '));
    assert.ok(!log.includes('begin pg_wal.tar'));
  });

  test('a failing begin of the base archive starts nothing; a cancelled stream throws CancelledError', async () => {
    const dir = await makeDir();
    await craftTarBackup(dir, { tablespaces: new Map([[16384, '/a']]) });
    const source = await TarDirectorySource.open(dir);
    assert.ok(source);
    let begun = 0;
    await assert.rejects(source.stream(async () => {
      begun++;
      throw new ArchiveFormatError('refused');
    }, () => undefined), /refused/);
    assert.equal(begun, 1);
    const log: string[] = [];
    await assert.rejects(source.stream(loggingSinks(log), () => undefined, AbortSignal.abort()), (err: unknown) => err instanceof CancelledError);
    assert.ok(!log.includes('finalize base.tar'));
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
