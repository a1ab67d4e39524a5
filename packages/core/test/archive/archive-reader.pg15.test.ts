/**
 * Reading what a real PostgreSQL 15 server compresses (pg_basebackup -Ft -Z server-gzip,
 * server-lz4, server-zstd: the server's zlib, LZ4F with linked 256 kB blocks, zstd): our
 * decompressors must give the same bytes as the gzip/lz4/zstd tools, and readArchiveFile must
 * parse every archive into the same members as the uncompressed backup. The server comes from
 * the shared harness (test/harness); skipped without the PostgreSQL 15 binaries.
 */

import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { readArchiveFile } from '../../src/archive/archive-reader.js';
import { createDecompressor } from '../../src/archive/compression.js';
import type { CompressionMethod } from '../../src/archive/compression-spec.js';
import { Recorder, feed, haveCommand, removeDir, run, tempDir } from './helpers.js';
import { SYSTEM_PG15_BIN, startCluster, type TestCluster } from '../../../../test/harness/index.js';

const usable = existsSync(join(SYSTEM_PG15_BIN, 'pg_basebackup'));

const methods: Array<[CompressionMethod, string, string]> = [['gzip', 'base.tar.gz', 'gzip'], ['lz4', 'base.tar.lz4', 'lz4'], ['zstd', 'base.tar.zst', 'zstd']];

describe('server-compressed PostgreSQL 15 archives', { skip: !usable && 'needs PostgreSQL 15 binaries' }, () => {
  let dir: string;
  let cluster: TestCluster | undefined;

  before(async () => {
    dir = tempDir('pg15-compressed');
    cluster = await startCluster({ version: 15 });
    const env = { ...process.env, ...cluster.env };
    const backup = (to: string, extra: string[]): Buffer =>
      run(join(SYSTEM_PG15_BIN, 'pg_basebackup'), ['-D', join(dir, to), '-Ft', '-X', 'none', '-c', 'fast', '--no-sync', '--no-manifest', ...extra], { env });
    backup('plain', []);
    for (const [method] of methods) backup(method, ['-Z', `server-${method}`]);
  });

  after(async () => {
    await cluster?.destroy();
    if (dir !== undefined) removeDir(dir);
  });

  for (const [method, file, tool] of methods) {
    it(`reads base.tar from server-${method}`, { skip: !haveCommand(tool) && `${tool} not installed` }, async () => {
      const path = join(dir, method, file);
      const raw = new Recorder();
      await feed(createDecompressor(method, raw), readFileSync(path), 32768);
      assert.deepEqual(raw.rawBytes(), run(tool, ['-dc', path]));

      const members = new Recorder();
      await readArchiveFile(path, members);
      const plain = new Recorder();
      await readArchiveFile(join(dir, 'plain', 'base.tar'), plain);
      const names = (r: Recorder): string[] => r.members.map((m) => m.member.name).sort();
      assert.deepEqual(names(members), names(plain));
      assert.equal(members.byName('PG_VERSION').data.toString(), '15\n');
    });
  }
});
