/**
 * Reading what a real PostgreSQL 15 server compresses (pg_basebackup -Ft -Z server-gzip,
 * server-lz4, server-zstd: the server's zlib, LZ4F with linked 256 kB blocks, zstd): our
 * decompressors must give the same bytes as the gzip/lz4/zstd tools, and readArchiveFile must
 * parse every archive into the same members as the uncompressed backup. Skipped without the
 * PostgreSQL 15 binaries or root.
 */

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { readArchiveFile } from '../../src/archive/archive-reader.js';
import { createDecompressor } from '../../src/archive/compression.js';
import type { CompressionMethod } from '../../src/archive/compression-spec.js';
import { Recorder, feed, haveCommand, removeDir, run, tempDir } from './helpers.js';

const BIN = '/usr/lib/postgresql/15/bin';
const usable = existsSync(join(BIN, 'pg_basebackup')) && process.getuid?.() === 0;

function asPostgres(cmd: string, args: string[]): Buffer {
  return execFileSync('runuser', ['-u', 'postgres', '--', 'env', '-i', 'HOME=/var/lib/postgresql', 'PATH=/usr/bin:/bin', join(BIN, cmd), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
}

const methods: Array<[CompressionMethod, string, string]> = [['gzip', 'base.tar.gz', 'gzip'], ['lz4', 'base.tar.lz4', 'lz4'], ['zstd', 'base.tar.zst', 'zstd']];

describe('server-compressed PostgreSQL 15 archives', { skip: !usable && 'needs PostgreSQL 15 binaries and root' }, () => {
  let dir: string;
  const port = 20000 + Math.floor(Math.random() * 20000);

  before(() => {
    dir = tempDir('pg15-compressed');
    run('chown', ['postgres:', dir]);
    asPostgres('initdb', ['-D', join(dir, 'data'), '-A', 'trust', '-U', 'postgres', '--no-sync']);
    asPostgres('pg_ctl', ['-D', join(dir, 'data'), '-l', join(dir, 'log'), '-w', '-o', `-k ${dir} -c listen_addresses='' -p ${port} -c fsync=off`, 'start']);
    const backup = (to: string, extra: string[]): Buffer =>
      asPostgres('pg_basebackup', ['-h', dir, '-p', String(port), '-D', join(dir, to), '-Ft', '-X', 'none', '-c', 'fast', '--no-sync', '--no-manifest', ...extra]);
    backup('plain', []);
    for (const [method] of methods) backup(method, ['-Z', `server-${method}`]);
  });

  after(() => {
    if (dir === undefined) return;
    try {
      asPostgres('pg_ctl', ['-D', join(dir, 'data'), '-w', '-m', 'immediate', 'stop']);
    } finally {
      removeDir(dir);
    }
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
