/**
 * Against the real thing: PostgreSQL 15's pg_basebackup -Ft with and without -R on a throw-away
 * cluster. Parsing its plain base.tar and re-archiving it with our -R injector must give the
 * same member list, modes, owners and sizes as pg_basebackup -R, the same postgresql.auto.conf,
 * and byte-identical headers for every member that was not edited. The server comes from the
 * shared harness (test/harness); skipped without the PostgreSQL 15 binaries. Takes a few seconds.
 */

import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildPrimaryConninfo, recoveryConfigContents } from '../../src/archive/recovery-config.js';
import { RecoveryConfigInjector } from '../../src/archive/recovery-injector.js';
import { TarArchiver } from '../../src/archive/tar-archiver.js';
import { TarParser } from '../../src/archive/tar-parser.js';
import { Recorder, feed, removeDir, run, tempDir } from './helpers.js';
import { SYSTEM_PG15_BIN, startCluster, type TestCluster } from '../../../../test/harness/index.js';

const usable = existsSync(join(SYSTEM_PG15_BIN, 'pg_basebackup'));

/** name -> 512-byte header, for the members of a tar (stops at the end-of-archive block). */
function headers(tar: Buffer): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (let off = 0; off + 512 <= tar.length;) {
    const h = tar.subarray(off, off + 512);
    if (h.every((b) => b === 0)) break;
    const name = h.subarray(0, 100).toString('utf8').replace(/\0.*$/s, '');
    const size = parseInt(h.subarray(124, 136).toString('latin1').trim() || '0', 8);
    out.set(name, Buffer.from(h));
    off += 512 + Math.ceil(size / 512) * 512;
  }
  return out;
}

describe('-R on a real PostgreSQL 15 base.tar', { skip: !usable && 'needs PostgreSQL 15 binaries' }, () => {
  let dir: string;
  let cluster: TestCluster | undefined;

  /** pg_basebackup with a clean environment: no PG* variables from the test runner reach libpq,
   * and HOME is the test directory, so the passfile default is known. */
  const pgBaseBackup = (args: string[]): Buffer => {
    if (cluster === undefined) throw new Error('no cluster');
    return run(join(SYSTEM_PG15_BIN, 'pg_basebackup'),
      ['-h', '127.0.0.1', '-p', String(cluster.port), '-U', 'postgres', ...args],
      { env: { PATH: '/usr/bin:/bin', HOME: dir } });
  };

  before(async () => {
    dir = tempDir('pg15-recovery');
    cluster = await startCluster({ version: 15 });
    pgBaseBackup(['-D', join(dir, 'plain'), '-Ft', '-X', 'none', '-c', 'fast', '--no-sync']);
    pgBaseBackup(['-D', join(dir, 'withR'), '-Ft', '-X', 'none', '-c', 'fast', '--no-sync', '-R']);
  });

  after(async () => {
    await cluster?.destroy();
    if (dir !== undefined) removeDir(dir);
  });

  it('gives what pg_basebackup -R gives', async () => {
    const conninfo = buildPrimaryConninfo({ host: '127.0.0.1', port: cluster!.port, user: 'postgres' }, { env: {}, osUser: userInfo().username, homeDir: dir });
    const text = recoveryConfigContents({ serverVersionNum: 150000, primaryConninfo: conninfo });
    const out = new Recorder();
    const plain = readFileSync(join(dir, 'plain', 'base.tar'));
    await feed(new TarParser(new RecoveryConfigInjector(new TarArchiver(out), { serverVersionNum: 150000, contents: text })), plain, 32768);
    const ours = join(dir, 'ours.tar');
    writeFileSync(ours, out.rawBytes());
    const reference = join(dir, 'withR', 'base.tar');

    const listing = (f: string): string[] => run('tar', ['--numeric-owner', '-tvf', f]).toString().trim().split('\n')
      .map((l) => { const p = l.split(/\s+/); return `${p[0]} ${p[1]} ${p[2]} ${p.slice(5).join(' ')}`; });
    assert.deepEqual(listing(ours), listing(reference));
    assert.deepEqual(run('tar', ['-xOf', ours, 'postgresql.auto.conf']), run('tar', ['-xOf', reference, 'postgresql.auto.conf']));

    const before = headers(plain);
    const after = headers(out.rawBytes());
    let identical = 0;
    for (const [name, header] of before) {
      if (name === 'postgresql.auto.conf') continue;
      assert.deepEqual(after.get(name), header, `header of ${name}`);
      identical++;
    }
    assert.ok(identical > 900, `${identical} headers compared`);
  });
});
