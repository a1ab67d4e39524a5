// The harness itself, against every version under test (PGFLEET_TEST_VERSIONS): a cluster with
// two tablespaces and data, a reference backup made without pgfleet (pg_basebackup 15 for
// 13-15, the SQL low-level API + tar for 16+, which pg_basebackup 15 refuses), restored by hand
// onto NEW tablespace directories, started read-write and compared with the source.

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile, readlink, readdir } from 'node:fs/promises';
import path from 'node:path';
import { describe, test } from 'node:test';
import {
  escapeMapPath,
  makeTempDir,
  parseTablespaceMap,
  restoreTarByHand,
  startCluster,
  startRestored,
  takeReferenceBackup,
  versionsUnderTest,
  type Compression,
  type PgVersion,
  type TestCluster,
} from '../harness/index.js';

const versions = versionsUnderTest();

// Every decompression path of restoreTarByHand is exercised by some version.
const COMPRESSION: Record<PgVersion, Compression> = {
  13: 'gzip',
  14: 'lz4',
  15: 'zstd',
  16: 'lz4',
  17: 'none',
  18: 'zstd',
};

async function tablespaceLinks(dataDir: string): Promise<Record<string, string>> {
  const links: Record<string, string> = {};
  for (const name of await readdir(path.join(dataDir, 'pg_tblspc'))) {
    links[name] = await readlink(path.join(dataDir, 'pg_tblspc', name));
  }
  return links;
}

async function scalar(cluster: TestCluster, sql: string): Promise<unknown> {
  const result = await cluster.query(sql);
  const row = result.rows[0];
  assert.ok(row, `no row from ${sql}`);
  return Object.values(row)[0];
}

/** Source cluster + reference backup + hand restore onto new tablespace directories. */
async function backupAndRestore(version: PgVersion, compression: Compression) {
  const source = await startCluster({ version, tablespaces: 2, data: true, initdbArgs: ['--data-checksums'] });
  const work = await makeTempDir(`pgfleet-e2e-harness-pg${version}`);
  const backup = await takeReferenceBackup({ cluster: source, outDir: path.join(work, 'backup'), compression });
  const targets = new Map(source.tablespaces.map((ts, i) => [ts.oid, path.join(work, 'restore', `ts${i + 1}`)]));
  const restored = await restoreTarByHand({
    backupDir: backup.dir,
    targetDir: path.join(work, 'restore', 'data'),
    tablespaceTargets: targets,
  });
  return { source, work, backup, targets, restored };
}

describe('harness: reference backup, hand restore, promote', () => {
  for (const version of versions) {
    test(`PostgreSQL ${version}: restored copy has the same data, new tablespace paths, and is writable`, async () => {
      const compression = COMPRESSION[version];
      const { source, backup, targets, restored } = await backupAndRestore(version, compression);

      assert.equal(backup.method, version <= 15 ? 'pg_basebackup' : 'low-level');
      const suffix = { none: '', gzip: '.gz', lz4: '.lz4', zstd: '.zst' }[compression];
      assert.ok(backup.files.includes(`base.tar${suffix}`), `base.tar${suffix} in ${backup.files.join(', ')}`);
      for (const ts of source.tablespaces) assert.ok(backup.files.includes(`${ts.oid}.tar${suffix}`));

      // The data really is where the test means it to be.
      assert.equal(source.tablespaces.length, 2);
      assert.equal(
        await scalar(source, "SELECT pg_relation_size(reltoastrelid) > 0 FROM pg_class WHERE relname = 't_ts2'"),
        true,
      );
      const before = await source.snapshot();
      assert.deepEqual(Object.keys(before), ['t_main', 't_ts1', 't_ts2']);
      assert.equal(before['t_ts1']?.rows, 1001);

      // The backup's tablespace_map named the source's locations; the restore rewrote it.
      assert.deepEqual(
        restored.originalTablespaceMap,
        new Map(source.tablespaces.map((ts) => [ts.oid, ts.location])),
      );
      const rewritten = parseTablespaceMap(await readFile(path.join(restored.dataDir, 'tablespace_map'), 'utf8'));
      assert.deepEqual(rewritten, targets);

      const copy = await startRestored({ dataDir: restored.dataDir, version, mode: 'promote' });
      try {
        assert.equal(await scalar(copy, 'SELECT pg_is_in_recovery()'), false);
        // Crash recovery from backup_label, no archive recovery: no timeline switch.
        assert.equal(await scalar(copy, 'SELECT timeline_id FROM pg_control_checkpoint()'), 1);
        assert.equal(await scalar(copy, 'SHOW data_checksums'), 'on');
        assert.deepEqual(await copy.snapshot(), before);

        // Where PostgreSQL itself says the tablespaces are, and where the symlinks point.
        assert.deepEqual(
          copy.tablespaces.map((ts) => [ts.oid, ts.location]),
          source.tablespaces.map((ts) => [ts.oid, targets.get(ts.oid)]),
        );
        assert.deepEqual(
          await tablespaceLinks(restored.dataDir),
          Object.fromEntries([...targets].map(([oid, dir]) => [String(oid), dir])),
        );
        assert.ok(existsSync(path.join(restored.dataDir, 'tablespace_map.old')), 'the server consumed tablespace_map');

        // Read-write, and the indexes in the tablespaces are usable.
        await copy.query("INSERT INTO t_ts1 VALUES (5000, 'after restore', NULL)");
        await copy.query("INSERT INTO t_main VALUES (5000, 'after restore', NULL)");
        const client = await copy.connect();
        try {
          await client.query('SET enable_seqscan = off');
          const plan = await client.query<{ 'QUERY PLAN': string }>(
            "EXPLAIN SELECT id FROM t_ts2 WHERE label = 'row 77'",
          );
          assert.match(plan.rows.map((r) => r['QUERY PLAN']).join('\n'), /Index|Bitmap/);
          const viaIndex = await client.query<{ id: number }>("SELECT id FROM t_ts2 WHERE label = 'row 77'");
          assert.deepEqual(viaIndex.rows, [{ id: 77 }]);
        } finally {
          await client.end();
        }
        const toasted = await copy.query<{ len: number }>('SELECT length(big) AS len FROM t_ts2 WHERE id = 0');
        assert.deepEqual(toasted.rows, [{ len: 64000 }]);

        // The source did not see the copy's writes: nothing was shared.
        assert.deepEqual(await source.snapshot(), before);
        assert.equal((await copy.snapshot())['t_ts1']?.rows, 1002);
      } finally {
        await copy.destroy();
        await source.destroy();
      }
      assert.ok(!existsSync(restored.dataDir), 'destroy() removed the restored data directory');
      assert.ok(!existsSync(source.baseDir), 'destroy() removed the source directory');
    });
  }
});

describe('harness: restore modes and the tablespace_map trap', () => {
  const version = versions.includes(15) ? 15 : (versions[versions.length - 1] as PgVersion);

  test(`PostgreSQL ${version}: standby mode stays read-only, archive-recovery switches timeline`, async () => {
    const { source, work, backup, restored } = await backupAndRestore(version, 'none');
    const standby = await startRestored({ dataDir: restored.dataDir, version, mode: 'standby' });
    try {
      assert.equal(await scalar(standby, 'SELECT pg_is_in_recovery()'), true);
      await assert.rejects(standby.query("INSERT INTO t_main VALUES (6000, 'x', NULL)"), {
        message: 'cannot execute INSERT in a read-only transaction',
      });
      assert.deepEqual(await standby.snapshot(), await source.snapshot());
    } finally {
      await standby.destroy();
    }

    const again = await restoreTarByHand({
      backupDir: backup.dir,
      targetDir: path.join(work, 'again', 'data'),
      tablespaceTargets: new Map(source.tablespaces.map((ts) => [ts.oid, path.join(work, 'again', ts.name)])),
    });
    const promoted = await startRestored({ dataDir: again.dataDir, version, mode: 'archive-recovery' });
    try {
      assert.equal(await scalar(promoted, 'SELECT pg_is_in_recovery()'), false);
      assert.equal(await scalar(promoted, 'SELECT timeline_id FROM pg_control_checkpoint()'), 2);
      await promoted.query("INSERT INTO t_main VALUES (6000, 'x', NULL)");
    } finally {
      await promoted.destroy();
      await source.destroy();
    }
  });

  test(`PostgreSQL ${version}: without rewriting tablespace_map the server moves tablespaces back (SEED.md)`, async () => {
    const { source, work, backup } = await backupAndRestore(version, 'none');
    // As in the walkthrough, the original instance is stopped first: the restored copy is
    // about to use the original tablespace directories.
    await source.stop();
    const newDirs = new Map(source.tablespaces.map((ts) => [ts.oid, path.join(work, 'naive', ts.name)]));
    const naive = await restoreTarByHand({
      backupDir: backup.dir,
      targetDir: path.join(work, 'naive', 'data'),
      tablespaceTargets: newDirs,
      rewriteTablespaceMap: false,
    });
    const copy = await startRestored({ dataDir: naive.dataDir, version, mode: 'promote' });
    try {
      assert.deepEqual(
        copy.tablespaces.map((ts) => ts.location),
        source.tablespaces.map((ts) => ts.location),
      );
      assert.deepEqual(
        await tablespaceLinks(naive.dataDir),
        Object.fromEntries(source.tablespaces.map((ts) => [String(ts.oid), ts.location])),
      );
    } finally {
      await copy.destroy();
      await source.destroy();
    }
  });
});

describe('harness: building blocks', () => {
  test('tablespace_map paths round-trip through escaping', () => {
    const odd = '/tmp/a b\\c\nd\re';
    const text = `16384 ${escapeMapPath(odd)}\n16385 /plain/path\n`;
    assert.equal(text, '16384 /tmp/a b\\\\c\\\nd\\\re\n16385 /plain/path\n');
    assert.deepEqual(
      parseTablespaceMap(text),
      new Map([
        [16384, odd],
        [16385, '/plain/path'],
      ]),
    );
    assert.throws(() => parseTablespaceMap('16384\n'), { message: 'malformed tablespace_map line "16384\n"' });
  });

  test('PGFLEET_TEST_VERSIONS selects, sorts and validates versions', () => {
    assert.deepEqual(versionsUnderTest({}), [13, 14, 15, 16, 17, 18]);
    assert.deepEqual(versionsUnderTest({ PGFLEET_TEST_VERSIONS: '18, 13,13' }), [13, 18]);
    assert.throws(() => versionsUnderTest({ PGFLEET_TEST_VERSIONS: '15,12' }), {
      message: 'invalid PGFLEET_TEST_VERSIONS entry "12": supported versions are 13, 14, 15, 16, 17, 18',
    });
  });

  test('restoreTarByHand refuses a missing tablespace target and a non-empty data directory', async () => {
    const version = versions[0] as PgVersion;
    const { source, work, backup } = await backupAndRestore(version, 'none');
    try {
      const oid = source.tablespaces[0]?.oid as number;
      await assert.rejects(
        restoreTarByHand({
          backupDir: backup.dir,
          targetDir: path.join(work, 'x', 'data'),
          tablespaceTargets: new Map([[oid, path.join(work, 'x', 'ts')]]),
        }),
        { message: `no target directory given for tablespace "${source.tablespaces[1]?.oid}" (${source.tablespaces[1]?.oid}.tar)` },
      );
      await assert.rejects(
        restoreTarByHand({ backupDir: backup.dir, targetDir: path.join(work, 'restore', 'data') }),
        { message: /no target directory given/ },
      );
      const all = new Map(source.tablespaces.map((ts) => [ts.oid, path.join(work, 'y', ts.name)]));
      await assert.rejects(restoreTarByHand({ backupDir: backup.dir, targetDir: path.join(work, 'restore'), tablespaceTargets: all }), {
        message: `directory "${path.join(work, 'restore')}" exists but is not empty`,
      });
    } finally {
      await source.destroy();
    }
  });

  test('password and pg_hba options: md5 over TCP needs the password', async () => {
    const version = versions.includes(15) ? 15 : (versions[0] as PgVersion);
    const cluster = await startCluster({
      version,
      password: 's3cret pass',
      hba: ['local all all trust', 'host all all 127.0.0.1/32 md5'],
    });
    try {
      assert.equal(await scalar(cluster, 'SELECT current_user'), 'postgres');
      assert.match(cluster.connectionString, /^postgresql:\/\/postgres:s3cret%20pass@127\.0\.0\.1:\d+\/postgres$/);
      assert.equal(cluster.env['PGPASSWORD'], 's3cret pass');
      const { default: pg } = await import('pg');
      const intruder = new pg.Client({ host: '127.0.0.1', port: cluster.port, user: 'postgres', password: 'wrong' });
      await assert.rejects(intruder.connect(), { message: 'password authentication failed for user "postgres"' });
      await intruder.end().catch(() => undefined);
    } finally {
      await cluster.destroy();
    }
  });
});
