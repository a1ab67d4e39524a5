// What pgfleet-basebackup leaves on disk when a backup fails and pg_basebackup keeps its output,
// run next to pg_basebackup 15 on the same source (PostgreSQL 15, --data-checksums, one
// tablespace, one block of a table damaged on disk while the server was down).
//
// A data checksum failure: the server reports the damage only after everything was sent
// (a WARNING per block, then ERROR XX001 after the end position). pg_basebackup then exits 1
// with "checksum error occurred" and, unlike after any other error, removes nothing
// (cleanup_directories_atexit skips a checksum failure): the archives, pg_wal as far as its WAL
// streamer had got before it was killed, backup_manifest.tmp (never renamed) and the tablespace
// directories stay for inspection. -n (--no-clean) keeps whatever was written when any error
// ends the backup. pgfleet-basebackup used to delete pg_wal.tar in both cases, and the partial
// archives after -n (its file sinks removed unfinished files when disposed).

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { open, readdir, readFile, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  makeTempDir, run, startCluster, systemBin, type RunResult, type TestCluster,
} from '../../../../test/harness/index.js';

const CLI = fileURLToPath(new URL('../../src/bin/pgfleet-basebackup.ts', import.meta.url));
const WAL_SEGMENT = /^[0-9A-F]{24}$/;

/** A PG* variable from the developer's shell must not redirect the runs. */
function cleanEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).map(([k, v]) => [k, k.startsWith('PG') ? undefined : v]));
}

function pgfleet(args: string[]): Promise<RunResult> {
  return run(process.execPath, ['--import', 'tsx', CLI, ...args], { env: cleanEnv(), allowFailure: true, timeoutMs: 120_000 });
}

function pgBasebackup(args: string[]): Promise<RunResult> {
  return run(systemBin('pg_basebackup'), args, { env: cleanEnv(), allowFailure: true, timeoutMs: 120_000 });
}

function describeRun(what: string, r: RunResult): string {
  return `${what}: exit ${String(r.code)}${r.signal ? ` (${r.signal})` : ''}\n--- stderr ---\n${r.stderr}`;
}

/**
 * Every path below `root`, directories ending with "/", sorted; without the files in pg_wal and
 * pg_wal/archive_status: how far a killed WAL streamer got is a race (see walSegments).
 */
async function tree(root: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      const name = relative(root, path);
      if (entry.isDirectory()) {
        out.push(`${name}/`);
        await walk(path);
      } else if (!/^pg_wal\/(archive_status\/)?[^/]+$/.test(name)) {
        out.push(name);
      }
    }
  };
  await walk(root);
  return out.sort();
}

/** The WAL segment files in a plain backup's pg_wal. */
async function walSegments(dataDir: string): Promise<string[]> {
  return (await readdir(join(dataDir, 'pg_wal'))).filter((name) => WAL_SEGMENT.test(name));
}

/** The name in the first tar header of `file`. */
async function firstTarMember(file: string): Promise<string> {
  const handle = await open(file, 'r');
  try {
    const header = Buffer.alloc(512);
    const { bytesRead } = await handle.read(header, 0, 512, 0);
    assert.equal(bytesRead, 512, `"${file}" holds at least one tar header`);
    return header.subarray(0, 100).toString('latin1').replace(/\0.*$/s, '');
  } finally {
    await handle.close();
  }
}

/** The server's WARNING lines (as libpq's notice processor prints them), in order. */
function warnings(stderr: string): string[] {
  return stderr.split('\n').filter((line) => line.startsWith('WARNING:'));
}

describe('pgfleet-basebackup keeps what pg_basebackup 15 keeps after a failure', () => {
  let cluster: TestCluster;
  let work: string;
  let relation: string;
  let tablespace: { oid: number; location: string };

  before(async () => {
    cluster = await startCluster({ version: 15, tablespaces: 1, data: { rows: 200 }, initdbArgs: ['--data-checksums'] });
    await cluster.query("CREATE TABLE t_bad AS SELECT i, 'row ' || i AS label FROM generate_series(1, 500) i; CHECKPOINT");
    const result = await cluster.query<{ path: string }>("SELECT pg_relation_filepath('t_bad') AS path");
    relation = result.rows[0]?.path ?? '';
    assert.match(relation, /^base\/\d+\/\d+$/);
    const ts = cluster.tablespaces[0];
    assert.ok(ts, 'the cluster has a tablespace');
    tablespace = ts;
    // Damage block 0 on disk while the server is down, so that no clean copy sits in shared buffers.
    await cluster.stop();
    const handle = await open(join(cluster.dataDir, relation), 'r+');
    try {
      const byte = Buffer.alloc(1);
      await handle.read(byte, 0, 1, 4000);
      byte[0] = (byte[0] ?? 0) ^ 0xff;
      await handle.write(byte, 0, 1, 4000);
    } finally {
      await handle.close();
    }
    await cluster.start();
    work = await makeTempDir('pgfleet-kept-files-');
  });
  after(async () => {
    await cluster?.destroy();
  });

  /** Runs pg_basebackup, then pgfleet-basebackup, each with `args(tool)` (its own output paths). */
  async function both(args: (tool: 'pgfleet' | 'pg') => string[]): Promise<{ pgfleet: RunResult; pg: RunResult }> {
    const pg = await pgBasebackup(args('pg'));
    const ours = await pgfleet(args('pgfleet'));
    return { pgfleet: ours, pg };
  }

  function assertFailedLikePgBasebackup(runs: { pgfleet: RunResult; pg: RunResult }): void {
    assert.equal(runs.pg.code, 1, describeRun('pg_basebackup', runs.pg));
    assert.equal(runs.pgfleet.code, 1, describeRun('pgfleet-basebackup', runs.pgfleet));
    assert.ok(runs.pg.stderr.includes('pg_basebackup: error: checksum error occurred\n'), describeRun('pg_basebackup', runs.pg));
    // The same words: the WARNINGs named the blocks, the error only says that it happened.
    assert.ok(runs.pgfleet.stderr.includes('pgfleet-basebackup: error: checksum error occurred\n'), describeRun('pgfleet-basebackup', runs.pgfleet));
    // The server's WARNINGs name the damaged block; both relay them the same way.
    const pgWarnings = warnings(runs.pg.stderr);
    assert.ok(pgWarnings.some((w) => w.startsWith(`WARNING:  checksum verification failed in file "./${relation}", block 0: calculated `)),
      describeRun('pg_basebackup', runs.pg));
    assert.deepEqual(warnings(runs.pgfleet.stderr), pgWarnings);
    // Neither says it removes anything.
    assert.doesNotMatch(runs.pgfleet.stderr, /removing/);
    assert.doesNotMatch(runs.pg.stderr, /removing/);
  }

  test('checksum failure, tar format, -X stream: exit 1, and base.tar, the tablespace archive, pg_wal.tar and backup_manifest.tmp are kept', async () => {
    const runs = await both((tool) => ['-D', join(work, `tar-${tool}`), '-F', 't', '-X', 'stream', '-c', 'fast', '-d', cluster.connectionString]);
    assertFailedLikePgBasebackup(runs);
    const expected = ['backup_manifest.tmp', 'base.tar', 'pg_wal.tar', `${tablespace.oid}.tar`].sort();
    assert.deepEqual((await readdir(join(work, 'tar-pg'))).sort(), expected, 'pg_basebackup keeps these');
    assert.deepEqual((await readdir(join(work, 'tar-pgfleet'))).sort(), expected, `pgfleet-basebackup keeps the same\n${runs.pgfleet.stderr}`);
    // What was received is on disk: WAL from the start segment on, the whole manifest.
    for (const tool of ['pg', 'pgfleet']) {
      const dir = join(work, `tar-${tool}`);
      assert.match(await firstTarMember(join(dir, 'pg_wal.tar')), WAL_SEGMENT, `${tool}: pg_wal.tar starts with a WAL segment`);
      assert.ok((await stat(join(dir, 'pg_wal.tar'))).size > 512, `${tool}: pg_wal.tar holds WAL data`);
      const manifest = JSON.parse(await readFile(join(dir, 'backup_manifest.tmp'), 'utf8')) as { Files: Array<{ Path: string }> };
      assert.ok(manifest.Files.some((f) => f.Path === relation), `${tool}: the manifest is complete and lists the damaged file`);
    }
  });

  test('checksum failure, plain format, -X stream, relocated tablespace: exit 1, the data directory, pg_wal and the tablespace are kept', async () => {
    const runs = await both((tool) => [
      '-D', join(work, `plain-${tool}`), '-F', 'p', '-X', 'stream', '-c', 'fast',
      '-T', `${tablespace.location}=${join(work, `plain-${tool}-ts`)}`, '-d', cluster.connectionString,
    ]);
    assertFailedLikePgBasebackup(runs);
    const pgTree = await tree(join(work, 'plain-pg'));
    for (const kept of ['backup_manifest.tmp', 'backup_label', relation, 'pg_wal/', 'pg_wal/archive_status/', `pg_tblspc/${tablespace.oid}`]) {
      assert.ok(pgTree.includes(kept), `pg_basebackup keeps "${kept}"`);
    }
    assert.deepEqual(await tree(join(work, 'plain-pgfleet')), pgTree, 'pgfleet-basebackup keeps the same files');
    assert.notDeepEqual(await walSegments(join(work, 'plain-pg')), [], 'pg_basebackup keeps the WAL streamed');
    assert.notDeepEqual(await walSegments(join(work, 'plain-pgfleet')), [], 'pgfleet-basebackup keeps the WAL streamed');
    const pgTablespace = await tree(join(work, 'plain-pg-ts'));
    assert.ok(pgTablespace.length > 0, 'pg_basebackup keeps the tablespace');
    assert.deepEqual(await tree(join(work, 'plain-pgfleet-ts')), pgTablespace, 'pgfleet-basebackup keeps the same tablespace files');
  });
  test('-n, backup connection terminated mid-stream: the partial base.tar and pg_wal.tar are kept, as pg_basebackup keeps them', async () => {
    const interrupted = async (tool: 'pg' | 'pgfleet'): Promise<RunResult> => {
      const dir = join(work, `noclean-${tool}`);
      const args = ['-D', dir, '-F', 't', '-X', 'stream', '-c', 'fast', '-n', '--max-rate=1M', '-d', cluster.connectionString];
      const running = tool === 'pg' ? pgBasebackup(args) : pgfleet(args);
      let exited = false;
      void running.then(() => { exited = true; });
      // Midway through base.tar (about 30 MB at 1 MB/s; the tablespace's archive comes first),
      // end the backup's walsender.
      const deadline = Date.now() + 60_000;
      for (;;) {
        if (exited) assert.fail(describeRun(`${tool} ended before it could be interrupted`, await running));
        assert.ok(Date.now() < deadline, `${tool}: base.tar did not appear within 60 s`);
        if (existsSync(join(dir, 'base.tar'))) {
          const ended = await cluster.query("SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_replication WHERE state = 'backup'");
          if (ended.rows.length > 0) break;
        }
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      const result = await running;
      assert.equal(result.code, 1, describeRun(tool, result));
      return result;
    };
    const pg = await interrupted('pg');
    const ours = await interrupted('pgfleet');
    assert.match(pg.stderr, /^pg_basebackup: error: .*terminating connection due to administrator command$/m);
    assert.match(pg.stderr, /^pg_basebackup: data directory ".*" not removed at user's request$/m);
    assert.match(ours.stderr, /^pgfleet-basebackup: error: .*terminating connection due to administrator command/m);
    assert.match(ours.stderr, /^pgfleet-basebackup: data directory ".*" not removed at user's request$/m);
    assert.doesNotMatch(ours.stderr, /removing/);
    const expected = ['base.tar', 'pg_wal.tar', `${tablespace.oid}.tar`].sort();
    assert.deepEqual((await readdir(join(work, 'noclean-pg'))).sort(), expected, 'pg_basebackup keeps these');
    assert.deepEqual((await readdir(join(work, 'noclean-pgfleet'))).sort(), expected, `pgfleet-basebackup keeps the same\n${ours.stderr}`);
    for (const tool of ['pg', 'pgfleet']) {
      const size = (await stat(join(work, `noclean-${tool}`, 'base.tar'))).size;
      assert.ok(size > 0, `${tool}: what base.tar received was written (${size} bytes)`);
      assert.match(await firstTarMember(join(work, `noclean-${tool}`, 'pg_wal.tar')), WAL_SEGMENT, `${tool}: pg_wal.tar starts with a WAL segment`);
    }
  });
});
