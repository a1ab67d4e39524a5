// pgfleet-agent restore, black box, on real clusters with two tablespaces and data, every
// restore ending with --start and queries. The source keeps running throughout, on the same
// host: the tablespaces must land in NEW directories and stay there after startup (SEED.md).
//
//  - Every version under test: pgfleet-basebackup -F t -X stream -R (uncompressed) restored
//    with --mode promote --start: the report says primary on a new timeline (2) with the new
//    tablespace locations; the copy has the source's data, accepts writes that do not reach
//    the source (assertRestoredCopy), and the promote settings are gone from
//    postgresql.auto.conf.
//  - One extra variant per version (VARIANTS): compressed archives (gzip, lz4, zstd, server
//    side), plain format, --waldir, --mode none, pg_basebackup 15's own tar.
//  - PostgreSQL 15, pg_basebackup -F t -R -X stream (the scenario of SEED.md): promote with the
//    source's tablespace directories hashed before and after (byte-for-byte unchanged), and
//    standby: in recovery, streaming from the source (a row written on the source arrives).

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { lstat, readdir, readFile, readlink } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  makeTempDir,
  parseTablespaceMap,
  startCluster,
  startRestored,
  versionsUnderTest,
  type PgVersion,
  type Snapshot,
  type TestCluster,
} from '../harness/index.js';
import {
  agentRestore,
  connectStarted,
  hashTree,
  stopStartedInstance,
  type AgentRestoreOutcome,
} from './agent-support.js';
import { assertRestoredCopy, assertSucceeded, describeRun, runBaseBackup, runReferenceBaseBackup } from './support/index.js';

interface Variant {
  label: string;
  /** pgfleet-basebackup flags besides -D, -c fast and -d; null: the system pg_basebackup 15 -F t -R -X stream. */
  flags: string[] | null;
  plain?: boolean;
  mode: 'promote' | 'standby' | 'none';
  waldir?: boolean;
}

const BASIC: Variant = { label: 'pgfleet tar -X stream -R', flags: ['-F', 't', '-X', 'stream', '-R'], mode: 'promote' };

// One more variant per version, so that every layout and compression is restored once.
const VARIANTS: Record<PgVersion, Variant> = {
  13: { label: 'pgfleet plain -X stream', flags: ['-F', 'p', '-X', 'stream'], plain: true, mode: 'promote' },
  14: { label: 'pgfleet tar -Z client-zstd -X fetch, --mode none of a -R backup', flags: ['-F', 't', '-X', 'fetch', '-Z', 'client-zstd', '-R'], mode: 'none' },
  15: { label: 'pgfleet tar -Z server-lz4 -X stream', flags: ['-F', 't', '-X', 'stream', '-Z', 'server-lz4'], mode: 'promote' },
  16: { label: 'pgfleet tar -z (gzip) -X stream, --waldir', flags: ['-F', 't', '-X', 'stream', '-z'], mode: 'promote', waldir: true },
  17: { label: 'pgfleet tar -Z client-lz4 -X stream', flags: ['-F', 't', '-X', 'stream', '-Z', 'client-lz4'], mode: 'promote' },
  // (the embedded PostgreSQL 18 build has no zstd)
  18: { label: 'pgfleet tar -Z server-gzip -X stream', flags: ['-F', 't', '-X', 'stream', '-Z', 'server-gzip'], mode: 'promote' },
};

async function takeBackup(source: TestCluster, variant: Variant, dir: string): Promise<void> {
  if (variant.flags === null) {
    const args = ['-D', dir, '-F', 't', '-R', '-X', 'stream', '-c', 'fast', '-d', source.connectionString];
    assertSucceeded(`pg_basebackup ${args.join(' ')}`, await runReferenceBaseBackup(args));
    return;
  }
  const args = ['-D', dir, '-c', 'fast', ...variant.flags, '-d', source.connectionString];
  if (variant.plain) {
    // A plain backup needs its own tablespace directories: beside the backup.
    for (const ts of source.tablespaces) args.push('-T', `${ts.location}=${dir}-${ts.name}`);
  }
  assertSucceeded(`pgfleet-basebackup ${args.join(' ')}`, await runBaseBackup(args));
}

/** Where the backup says each tablespace was: the source location, or (plain) the backup's copy. */
function backupLocation(source: TestCluster, variant: Variant, dir: string, name: string): string {
  const ts = source.tablespaces.find((t) => t.name === name);
  assert.ok(ts);
  return variant.plain ? `${dir}-${name}` : ts.location;
}

async function assertNoPromoteLeftovers(dataDir: string, label: string): Promise<void> {
  const autoConf = await readFile(path.join(dataDir, 'postgresql.auto.conf'), 'utf8');
  assert.ok(!autoConf.includes('pgfleet-agent'), `${label}: promote settings removed after promotion:\n${autoConf}`);
  assert.ok(!/primary_conninfo/.test(autoConf), `${label}: primary_conninfo of -R stripped`);
  assert.ok(!existsSync(path.join(dataDir, 'standby.signal')), `${label}: no standby.signal`);
  assert.ok(!existsSync(path.join(dataDir, 'recovery.signal')), `${label}: recovery.signal consumed`);
}

/**
 * Restore `dir` as the variant says with --start, check the report and the files, stop the
 * instance, restart it under the harness and check the copy's data and writes.
 */
async function restoreAndCheck(source: TestCluster, expected: Snapshot, variant: Variant, dir: string, work: string): Promise<void> {
  const label = `PG ${source.version} ${variant.label}`;
  const dataDir = path.join(work, 'restored', 'data');
  const targets = new Map(source.tablespaces.map((ts) => [ts.oid, path.join(work, 'restored', `new-${ts.name}`)]));
  const mappings = source.tablespaces.map((ts) => [backupLocation(source, variant, dir, ts.name), targets.get(ts.oid) as string] as [string, string]);
  const waldir = variant.waldir ? path.join(work, 'restored', 'wal') : null;
  const outcome: AgentRestoreOutcome = await agentRestore({
    from: dir, dataDir, version: source.version, mode: variant.mode, mappings, start: true,
    ...(waldir ? { extra: ['--waldir', waldir] } : {}),
  });
  assert.equal(outcome.result.code, 0, describeRun(label, outcome.result));
  const report = outcome.report;
  assert.ok(report?.instance, label);
  assert.match(outcome.result.stderr, new RegExp(`restoring into "${dataDir}" (as|with) .*\\(--mode ${variant.mode}\\)`), `${label}: mode announced`);
  assert.equal(report.dataDir, dataDir);
  assert.equal(report.major, source.version);
  assert.equal(report.layout, variant.plain ? 'plain' : 'tar');
  assert.equal(report.verify.verified, true, `${label}: checked against backup_manifest`);
  assert.ok(report.verify.filesChecked > 900, `${label}: ${report.verify.filesChecked} files checked`);
  assert.ok(report.verify.walSegmentsChecked >= 1, `${label}: WAL checked`);
  assert.deepEqual(
    report.tablespaces.map((t) => [t.oid, t.location]),
    [...targets].sort(([a], [b]) => a - b),
    `${label}: report names the new tablespace directories`,
  );
  // What PostgreSQL itself says, as the agent reported it.
  assert.deepEqual(
    report.instance.tablespaces.map((t) => [t.name, t.location]),
    source.tablespaces.map((ts) => [ts.name, targets.get(ts.oid)]),
    `${label}: pg_tablespace_location() in the report`,
  );
  const map = parseTablespaceMap(await readFile(path.join(dataDir, 'tablespace_map.old'), 'utf8').catch(() => ''));
  if (!variant.plain && variant.mode !== 'none') {
    // tar: the server consumed the rewritten map at startup (renamed .old); it named the new paths.
    assert.deepEqual([...map].sort(([a], [b]) => a - b), [...targets].sort(([a], [b]) => a - b), `${label}: tablespace_map rewritten`);
  }
  if (waldir) {
    assert.equal(await readlink(path.join(dataDir, 'pg_wal')), waldir, `${label}: pg_wal links to --waldir`);
    assert.ok((await readdir(waldir)).some((n) => /^[0-9A-F]{24}$/.test(n)), `${label}: WAL in --waldir`);
  }
  const st = await lstat(dataDir);
  assert.equal(st.mode & 0o777, 0o700, `${label}: data directory 0700`);

  if (variant.mode === 'promote') {
    assert.equal(report.instance.recoveryState, 'primary', `${label}: read-write`);
    assert.equal(report.instance.inRecovery, false);
    assert.equal(report.instance.timeline, 2, `${label}: promoted onto a new timeline`);
    await assertNoPromoteLeftovers(dataDir, label);
  } else {
    // --mode none of a -R backup: exactly the backup's configuration, i.e. a standby of the source.
    assert.equal(report.instance.recoveryState, 'standby', `${label}: the backup's own standby configuration`);
    assert.ok(existsSync(path.join(dataDir, 'standby.signal')), `${label}: standby.signal as in the backup`);
  }

  // A write through the agent-started instance (primary only), then a restart under the harness.
  if (variant.mode === 'promote') {
    const client = await connectStarted(outcome.socketDir, outcome.port);
    try {
      await client.query("INSERT INTO t_main VALUES (800001, 'written via the agent-started instance', NULL)");
      await client.query("DELETE FROM t_main WHERE id = 800001");
    } finally {
      await client.end();
    }
  }
  await stopStartedInstance(dataDir);
  const copy = await startRestored({ dataDir, version: source.version, mode: 'promote', removeDataDir: true });
  try {
    await assertRestoredCopy({ copy, source, expected, tablespaceTargets: targets, label });
    if (variant.mode === 'promote') {
      assert.equal(await copy.query('SELECT 1').then(() => true), true);
    }
  } finally {
    await copy.destroy();
  }
}

describe('pgfleet-agent restore: backup -> restore -> start -> query', () => {
  for (const version of versionsUnderTest()) {
    describe(`PostgreSQL ${version}`, () => {
      let source: TestCluster;
      let expected: Snapshot;

      before(async () => {
        // No autovacuum: nothing but our own statements may touch the source's files.
        source = await startCluster({ version, tablespaces: 2, data: true, settings: ['autovacuum = off'] });
        expected = await source.snapshot();
      });
      after(async () => {
        await source?.destroy();
      });

      for (const variant of [BASIC, VARIANTS[version]]) {
        test(`${variant.label}: --mode ${variant.mode} --start onto new tablespace directories`, async () => {
          const work = await makeTempDir(`pgfleet-e2e-agent-pg${version}`);
          const dir = path.join(work, 'backup');
          await takeBackup(source, variant, dir);
          await restoreAndCheck(source, expected, variant, dir, work);
        });
      }

      if (version !== 15) return;

      test('pg_basebackup -F t -R -X stream (SEED.md): promote leaves the source\'s tablespaces byte-for-byte unchanged; standby streams from the source', async () => {
        const variant: Variant = { label: 'pg_basebackup 15 -F t -R -X stream', flags: null, mode: 'promote' };
        const work = await makeTempDir('pgfleet-e2e-agent-seed');
        const dir = path.join(work, 'backup');
        await takeBackup(source, variant, dir);
        await source.query('CHECKPOINT');
        const before = await Promise.all(source.tablespaces.map((ts) => hashTree(ts.location)));

        await restoreAndCheck(source, expected, variant, dir, work);

        // standby, into other directories, from the same backup
        const standbyDir = path.join(work, 'standby', 'data');
        const mappings = source.tablespaces.map((ts) => [ts.location, path.join(work, 'standby', ts.name)] as [string, string]);
        const outcome = await agentRestore({ from: dir, dataDir: standbyDir, version, mode: 'standby', mappings, start: true });
        assert.equal(outcome.result.code, 0, describeRun('standby restore', outcome.result));
        assert.match(outcome.result.stderr, /as a standby \(--mode standby\): it will stay in recovery, read-only by design/);
        const instance = outcome.report?.instance;
        assert.ok(instance);
        assert.equal(instance.recoveryState, 'standby');
        assert.equal(instance.inRecovery, true);
        assert.deepEqual(instance.tablespaces.map((t) => t.location), mappings.map(([, n]) => n));
        const client = await connectStarted(outcome.socketDir, outcome.port);
        try {
          await source.query("INSERT INTO t_main VALUES (700001, 'streamed to the standby', NULL)");
          const deadline = Date.now() + 60_000;
          let rows = 0;
          let receiver = '';
          while (Date.now() < deadline) {
            const r = await client.query<{ n: number }>('SELECT count(*)::int AS n FROM t_main WHERE id = 700001');
            rows = r.rows[0]?.n ?? 0;
            const w = await client.query<{ status: string }>('SELECT status FROM pg_stat_wal_receiver');
            receiver = w.rows[0]?.status ?? '';
            if (rows === 1 && receiver === 'streaming') break;
            await new Promise((r) => setTimeout(r, 200));
          }
          assert.equal(receiver, 'streaming', 'the standby streams from the source');
          assert.equal(rows, 1, 'a row written on the source arrives on the standby');
          await assert.rejects(client.query("INSERT INTO t_main VALUES (700002, 'x', NULL)"), /read-only transaction/);
        } finally {
          await client.end();
          await source.query('DELETE FROM t_main WHERE id = 700001');
        }
        await stopStartedInstance(standbyDir);

        await source.query('CHECKPOINT');
        const afterHashes = await Promise.all(source.tablespaces.map((ts) => hashTree(ts.location)));
        // Two restores and two started copies later (and a row streamed through the main
        // directory), not one byte, name, mode or mtime changed in the source's tablespaces.
        assert.deepEqual(afterHashes, before, 'the source\'s tablespace directories are byte-for-byte unchanged');
      });
    });
  }
});
