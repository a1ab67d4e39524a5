// pgfleet-basebackup fails cleanly: every error below ends the run with exit status 1, an
// "<program>: error: <message>" line naming the problem (the server's own words for server
// refusals) and, for pgfleet, a "<program>: hint: ..." line on the next line where there is
// advice (none after -F x and -X bogus, as pg_basebackup gives none), and leaves NO output
// directory behind (the target is removed if the run created it, emptied if it existed empty,
// untouched if it was not empty):
//   - pg_hba.conf has no replication line for the role,
//   - wrong password (md5 line, role with a password, PGPASSWORD wrong),
//   - role without the REPLICATION attribute,
//   - nothing listens on the port,
//   - max_wal_senders exhausted mid-backup (max_wal_senders=2, one WAL sender held open, so the
//     -X stream WAL connection is refused after the backup started), into a new directory and
//     into an existing empty one (emptied, kept; pgfleet also removes a -T directory it made,
//     which pg_basebackup leaves),
//   - the output directory is not empty (left exactly as it was),
//   - invalid flags (-F x, -X bogus),
//   - tar to stdout (-D -) from a server with a user tablespace (nothing on stdout),
//   - SIGINT to the process group (Ctrl-C) in the middle of a rate-limited plain backup with a
//     relocated tablespace: the data directory and the new tablespace directory are removed and
//     the server's WAL senders go away.
// Run on 15 and on the newest selected version the tool supports (18 by default; server
// messages changed in 16), one server per version shared by all cases.
// A second one, with data checksums and one damaged block: the backup fails with exit 1,
// stderr names the damaged file, the output is kept (pg_basebackup keeps it after a checksum
// failure), -v prints the same lines as pg_basebackup 15 (the end point included, before the
// error; server 15 only), and --no-verify-checksums succeeds.
//
// With PGFLEET_BASEBACKUP_BIN=/usr/lib/postgresql/15/bin/pg_basebackup every case runs except
// the pgfleet texts (HINT lines) and SIGINT: pg_basebackup dies of SIGINT without cleaning up
// (checked on 15.18: the directory stays, and its forked WAL streamer keeps running).

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import {
  freePort,
  makeTempDir,
  startCluster,
  versionsUnderTest,
  type PgVersion,
  type RunResult,
  type TestCluster,
} from '../harness/index.js';
import { baseBackupBinary, describeRun, flipByte, runBaseBackup, runReferenceBaseBackup, spawnBaseBackup } from './support/index.js';

const binary = baseBackupBinary();
const candidates = versionsUnderTest().filter((v) => v <= binary.maxServerVersion);
/** 15 (or the oldest selected) and the newest selected: server messages changed in 16. */
const versions = [...new Set([candidates.includes(15) ? 15 : candidates[0], candidates[candidates.length - 1]])].filter(
  (v): v is PgVersion => v !== undefined,
);
const PASSWORD = 'right horse battery';

interface Expectation {
  /** Text the error line must contain, whichever tool (usually the server's message). */
  contains: string;
  /** pgfleet only: the exact error line after "pgfleet-basebackup: error: " and the exact hint (none: no hint line). */
  pgfleet?: { message: string; hint?: string };
}

/** Exit 1, an error line with the expected text, and for pgfleet the exact message + HINT. */
function assertFailure(what: string, result: RunResult, expected: Expectation): void {
  const context = describeRun(what, result);
  assert.equal(result.signal, null, context);
  assert.equal(result.code, 1, context);
  const lines = result.stderr.split('\n');
  const prefix = `${binary.name}: error: `;
  const index = lines.findIndex((l) => l.startsWith(prefix) && l.includes(expected.contains));
  assert.ok(index >= 0, `an error line containing ${JSON.stringify(expected.contains)}\n${context}`);
  if (binary.isPgfleet && expected.pgfleet) {
    assert.equal(lines[index], `${prefix}${expected.pgfleet.message}`, context);
    if (expected.pgfleet.hint === undefined) assert.ok(!lines[index + 1]?.startsWith(`${binary.name}: hint: `), context);
    else assert.equal(lines[index + 1], `${binary.name}: hint: ${expected.pgfleet.hint}`, context);
  }
}

async function walSenderCount(cluster: TestCluster): Promise<number> {
  const result = await cluster.query<{ n: number }>(
    "SELECT count(*)::int AS n FROM pg_stat_activity WHERE backend_type = 'walsender'",
  );
  return result.rows[0]?.n ?? -1;
}

/** Wait until exactly `count` WAL senders run (a finished client's sender exits asynchronously). */
async function waitForWalSenders(cluster: TestCluster, count: number, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let current = await walSenderCount(cluster);
  while (current !== count) {
    if (Date.now() > deadline) throw new Error(`expected ${count} WAL senders, still ${current} after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
    current = await walSenderCount(cluster);
  }
}

for (const v of versions) {
  describe(`${binary.name}, PostgreSQL ${v}: failures exit 1, say why, and leave nothing behind`, () => {
    let cluster: TestCluster;
    let work: string;
    let target: string;

    before(async () => {
      cluster = await startCluster({
        version: v,
        tablespaces: 1,
        password: PASSWORD,
        settings: ['max_wal_senders = 2'],
        hba: [
          'local all         all                   trust',
          'host  replication nrep     127.0.0.1/32 trust',
          'host  replication postgres 127.0.0.1/32 md5',
          'host  all         all      127.0.0.1/32 trust',
        ],
      });
      await cluster.query('CREATE ROLE nrep LOGIN; CREATE ROLE nohba LOGIN REPLICATION');
      work = await makeTempDir(`pgfleet-e2e-errors-pg${v}`);
      target = `127.0.0.1:${cluster.port}`;
    });
    after(async () => {
      await cluster?.destroy();
    });

    const connectArgs = (user: string): string[] => ['-h', '127.0.0.1', '-p', String(cluster.port), '-U', user];

    test('pg_hba.conf without a replication line for the role', async () => {
      const dir = path.join(work, 'hba');
      const result = await runBaseBackup(['-D', dir, '-X', 'stream', ...connectArgs('nohba')]);
      const serverMessage = `no pg_hba.conf entry for replication connection from host "127.0.0.1", user "nohba", ${v >= 14 ? 'no encryption' : 'SSL off'}`;
      assertFailure('hba', result, {
        contains: serverMessage,
        pgfleet: {
          message: `could not connect for replication to "${target}": ${serverMessage}`,
          hint: 'Add a line such as "host replication nohba 127.0.0.1/32 scram-sha-256" to pg_hba.conf and reload the server.',
        },
      });
      assert.ok(!existsSync(dir), 'no output directory');
    });

    test('wrong password', async () => {
      const dir = path.join(work, 'password');
      const result = await runBaseBackup(['-D', dir, '-X', 'stream', ...connectArgs('postgres')], { env: { PGPASSWORD: 'wrong' } });
      const serverMessage = 'password authentication failed for user "postgres"';
      assertFailure('password', result, {
        contains: serverMessage,
        pgfleet: {
          message: `could not connect for replication to "${target}": ${serverMessage}`,
          hint: 'Check the password given in the connection string, with PGPASSWORD or in the password file.',
        },
      });
      assert.ok(!existsSync(dir), 'no output directory');
    });

    test('role without the REPLICATION attribute', async () => {
      const dir = path.join(work, 'nrep');
      const result = await runBaseBackup(['-D', dir, '-X', 'stream', ...connectArgs('nrep')]);
      const serverMessage = v >= 16 ? 'permission denied to start WAL sender' : 'must be superuser or replication role to start walsender';
      assertFailure('no REPLICATION', result, {
        contains: serverMessage,
        pgfleet: {
          message: `could not connect for replication to "${target}": ${serverMessage}`,
          hint: 'Give the role the REPLICATION attribute with ALTER ROLE nrep REPLICATION, or connect as a role that has it.',
        },
      });
      assert.ok(!existsSync(dir), 'no output directory');
    });

    test('nothing listens on the port', async () => {
      const dir = path.join(work, 'closed');
      const port = await freePort();
      const result = await runBaseBackup(['-D', dir, '-h', '127.0.0.1', '-p', String(port), '-U', 'postgres']);
      // libpq: 'connection to server at "127.0.0.1", port N failed: Connection refused'.
      const lines = result.stderr.split('\n');
      assert.ok(lines.some((l) => /connection refused/i.test(l) && l.includes(String(port))), describeRun('closed port', result));
      assertFailure('closed port', result, {
        contains: String(port),
        pgfleet: {
          message: `could not connect for replication to "127.0.0.1:${port}": connection refused`,
          hint: `Check that the server is running on host "127.0.0.1" and accepts TCP/IP connections on port ${port}.`,
        },
      });
      assert.ok(!existsSync(dir), 'no output directory');
    });

    test('invalid flags: -F x and -X bogus', async () => {
      const dir = path.join(work, 'flags');
      const format = await runBaseBackup(['-D', dir, '-F', 'x', ...connectArgs('postgres')]);
      assertFailure('-F x', format, {
        contains: 'invalid output format "x", must be "plain" or "tar"',
        pgfleet: { message: 'invalid output format "x", must be "plain" or "tar"' },
      });
      const walMethod = await runBaseBackup(['-D', dir, '-X', 'bogus', ...connectArgs('postgres')]);
      assertFailure('-X bogus', walMethod, {
        contains: 'invalid wal-method option "bogus", must be "fetch", "stream", or "none"',
        pgfleet: { message: 'invalid wal-method option "bogus", must be "fetch", "stream", or "none"' },
      });
      assert.ok(!existsSync(dir), 'no output directory');
    });

    test('tar to stdout (-D -) with a user tablespace: refused, nothing written', async () => {
      const result = await runBaseBackup(['-D', '-', '-F', 't', '-X', 'fetch', '-c', 'fast', ...connectArgs('postgres')], {
        env: { PGPASSWORD: PASSWORD },
      });
      assertFailure('-D - with tablespaces', result, {
        contains: 'can only write single tablespace to stdout, database has 2',
        pgfleet: {
          message: 'can only write single tablespace to stdout, database has 2',
          hint: 'Write the backup to a directory with -D DIR instead of -D -.',
        },
      });
      assert.equal(result.stdout, '', 'nothing on stdout');
    });

    test('output directory not empty: refused, left untouched', async () => {
      const dir = path.join(work, 'nonempty');
      await mkdir(dir);
      await writeFile(path.join(dir, 'keep.txt'), 'precious\n');
      const before = await stat(path.join(dir, 'keep.txt'));
      const result = await runBaseBackup(['-D', dir, '-X', 'stream', '-c', 'fast', ...connectArgs('postgres')], {
        env: { PGPASSWORD: PASSWORD },
      });
      assertFailure('non-empty directory', result, {
        contains: `directory "${dir}" exists but is not empty`,
        pgfleet: {
          message: `directory "${dir}" exists but is not empty`,
          hint: 'Remove its contents or choose an empty or non-existent directory with -D.',
        },
      });
      assert.deepEqual(await readdir(dir), ['keep.txt']);
      assert.equal(await readFile(path.join(dir, 'keep.txt'), 'utf8'), 'precious\n');
      assert.equal((await stat(path.join(dir, 'keep.txt'))).mtimeMs, before.mtimeMs);
    });

    describe('max_wal_senders exhausted once the backup has started (the -X stream connection is refused)', () => {
      let holder: pg.Client;
      before(async () => {
        await waitForWalSenders(cluster, 0);
        // A physical replication connection is a WAL sender: one of the two is taken.
        holder = new pg.Client({
          host: '127.0.0.1',
          port: cluster.port,
          user: 'postgres',
          password: PASSWORD,
          replication: 'true',
        } as pg.ClientConfig);
        holder.on('error', () => undefined);
        await holder.connect();
        await holder.query('IDENTIFY_SYSTEM');
      });
      after(async () => {
        await holder?.end().catch(() => undefined);
      });

      // PostgreSQL 17 started quoting parameter names in messages.
      const setting = v >= 17 ? '"max_wal_senders"' : 'max_wal_senders';
      const serverMessage = `number of requested standby connections exceeds ${setting} (currently 2)`;
      const expectation = (): Expectation => ({
        contains: serverMessage,
        pgfleet: {
          message: `could not connect for replication to "${target}": ${serverMessage}`,
          hint: 'Raise max_wal_senders on the server (a backup that streams WAL uses two WAL senders), or wait until other replication connections end.',
        },
      });

      test('new output directory: removed', async () => {
        await waitForWalSenders(cluster, 1);
        const dir = path.join(work, 'senders-new');
        const result = await runBaseBackup(['-D', dir, '-F', 't', '-X', 'stream', '-c', 'fast', ...connectArgs('postgres')], {
          env: { PGPASSWORD: PASSWORD },
        });
        assertFailure('max_wal_senders, new directory', result, expectation());
        assert.ok(!existsSync(dir), 'no output directory');
      });

      test('existing empty output directory: emptied and kept', async () => {
        await waitForWalSenders(cluster, 1);
        const dir = path.join(work, 'senders-empty');
        await mkdir(dir, { mode: 0o700 });
        const result = await runBaseBackup(['-D', dir, '-F', 'p', '-X', 'stream', '-c', 'fast', '-T', `${cluster.tablespaces[0]?.location}=${path.join(work, 'senders-ts')}`, ...connectArgs('postgres')], {
          env: { PGPASSWORD: PASSWORD },
        });
        assertFailure('max_wal_senders, existing empty directory', result, expectation());
        assert.ok(existsSync(dir), 'the directory that existed is kept');
        assert.deepEqual(await readdir(dir), [], 'and emptied');
        // pg_basebackup leaves tablespace directories alone ("changes to tablespace directories
        // will not be undone"); pgfleet removes the ones it created.
        if (binary.isPgfleet) assert.ok(!existsSync(path.join(work, 'senders-ts')), 'the tablespace directory it created is removed');
      });
    });

    test('SIGINT in the middle of the backup removes what was written', { skip: !binary.isPgfleet && `${binary.name} is not pgfleet: pg_basebackup dies of SIGINT without cleaning up` }, async () => {
      await waitForWalSenders(cluster, 0);
      const dir = path.join(work, 'sigint');
      const tablespaceDir = path.join(work, 'sigint-ts');
      // About 20 MB at 32 kB/s: minutes, unless interrupted.
      const running = spawnBaseBackup(
        ['-D', dir, '-F', 'p', '-X', 'stream', '-c', 'fast', '--max-rate=32k', '-T', `${cluster.tablespaces[0]?.location}=${tablespaceDir}`, ...connectArgs('postgres')],
        { env: { PGPASSWORD: PASSWORD }, timeoutMs: 60_000 },
      );
      let exited = false;
      void running.result.then(() => {
        exited = true;
      });
      try {
        // Midway: files are being written and both connections (backup + WAL) are open.
        const deadline = Date.now() + 30_000;
        while (!exited && ((existsSync(dir) ? await readdir(dir) : []).length < 3 || (await walSenderCount(cluster)) < 2)) {
          assert.ok(Date.now() < deadline, `backup did not get going within 30 s:\n${running.stderrSoFar()}`);
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
        if (exited) assert.fail(describeRun('the backup ended before it could be interrupted', await running.result));
        assert.ok(existsSync(tablespaceDir), 'the relocated tablespace directory exists while the backup runs');
        process.kill(-(running.child.pid as number), 'SIGINT');
        const result = await running.result;
        assert.notEqual(result.signal, 'SIGKILL', describeRun('still running 60 s after SIGINT', result));
        assert.notEqual(result.code, 0, describeRun('interrupted backup must not report success', result));
        assert.ok(!existsSync(dir), `no output directory left (${existsSync(dir) ? (await readdir(dir)).join(', ') : ''})\n${result.stderr}`);
        assert.ok(!existsSync(tablespaceDir), 'no tablespace directory left');
        await waitForWalSenders(cluster, 0);
      } finally {
        running.killGroup();
      }
    });
  });

  describe(`${binary.name}, PostgreSQL ${v}: a data checksum failure in the source`, () => {
    let cluster: TestCluster;
    let work: string;
    let relation: string;

    before(async () => {
      cluster = await startCluster({ version: v, initdbArgs: ['--data-checksums'] });
      await cluster.query("CREATE TABLE t_bad AS SELECT i, 'row ' || i AS label FROM generate_series(1, 2000) i; CHECKPOINT");
      const result = await cluster.query<{ path: string }>("SELECT pg_relation_filepath('t_bad') AS path");
      relation = result.rows[0]?.path ?? '';
      // Damage block 0 on disk while the server is down, so that no clean copy sits in shared buffers.
      await cluster.stop();
      await flipByte(path.join(cluster.dataDir, relation), 4000);
      await cluster.start();
      work = await makeTempDir(`pgfleet-e2e-checksum-pg${v}`);
    });
    after(async () => {
      await cluster?.destroy();
    });

    test('exit 1, the corrupt file is named, and the backup is kept for inspection (as pg_basebackup does)', async () => {
      const dir = path.join(work, 'verify');
      const result = await runBaseBackup(['-D', dir, '-F', 't', '-X', 'stream', '-c', 'fast', '-d', cluster.connectionString]);
      assertFailure('checksum failure', result, { contains: 'checksum error occurred' });
      // pg_basebackup relays the server's WARNING: checksum verification failed in file "./base/5/16384", block 0: ...
      assert.ok(result.stderr.includes(relation), `stderr names the damaged file "${relation}"\n${describeRun('checksum failure', result)}`);
      assert.ok(existsSync(dir), 'the output directory is kept');
      assert.ok((await readdir(dir)).includes('base.tar'), 'with the data received');
    });

    test('-v: the same lines as pg_basebackup 15, the end point included, then "checksum error occurred"', { skip: (v !== 15 || !binary.isPgfleet) && 'compared with pg_basebackup 15 on server 15' }, async () => {
      const lines: Record<string, string[]> = {};
      for (const [who, runTool] of [['pg', runReferenceBaseBackup], ['ours', runBaseBackup]] as const) {
        const dir = path.join(work, `verbose-${who}`);
        const result = await runTool(['-D', dir, '-F', 't', '-X', 'stream', '-c', 'fast', '-v', '-d', cluster.connectionString]);
        assert.equal(result.code, 1, describeRun(who, result));
        lines[who] = result.stderr.split('\n').filter((l) => l !== '').map((l) => l
          .replace(/^(pgfleet-basebackup|pg_basebackup): /, '')
          .replace(/\b[0-9A-F]+\/[0-9A-F]+\b/g, '<lsn>')
          .replace(/pg_basebackup_\d+/, 'pg_basebackup_<pid>'));
      }
      assert.ok(lines.pg!.includes('write-ahead log end point: <lsn>'), lines.pg!.join('\n'));
      assert.equal(lines.pg!.at(-1), 'error: checksum error occurred');
      assert.deepEqual(lines.ours, lines.pg);
    });

    test('--no-verify-checksums: the backup succeeds', async () => {
      const dir = path.join(work, 'no-verify');
      const result = await runBaseBackup(['-D', dir, '-F', 't', '-X', 'stream', '-c', 'fast', '--no-verify-checksums', '-d', cluster.connectionString]);
      assert.equal(result.code, 0, describeRun('--no-verify-checksums', result));
      assert.ok(!result.stderr.includes('checksum'), result.stderr);
      assert.deepEqual(await readdir(dir), ['backup_manifest', 'base.tar', 'pg_wal.tar']);
    });
  });
}
