// Point-in-time recovery from a local WAL archive: `pgfleet-agent restore --from BACKUP
// --wal-archive DIR --target-...`, black box, on real servers.
//
// A workload commits rows one transaction at a time while a WAL receiver (pg_receivewal 15 for
// the full set, pgfleet-receivewal with lz4 for the other versions) archives into a flat
// directory; for each row the test records its xid, its exact commit time
// (track_commit_timestamp), the WAL insert position just before its COMMIT and the time just
// after it, and a restore point is made half-way. Each restore (1 MB segments, a tar backup
// taken before the rows) must come up read-write holding exactly the rows committed before
// the target: time (inclusive and exclusive of a commit's own timestamp, and between two
// commits), LSN (the position of a COMMIT record: inclusive has it, exclusive not), xid
// (inclusive and exclusive), restore point, immediate. A segment deleted from the archive makes
// the restore refuse before writing anything, naming the segment; a damaged segment makes the
// started server stop in recovery instead of promoting. Timelines: a restore to latest is
// promoted (timeline 2) and written to while the same archive follows it, then a PITR to a
// point on timeline 2 and one on timeline 1 before the switch.
// The full set runs on PostgreSQL 15 (or the first version under test); every other version
// under test gets three restores from an lz4 archive of pgfleet-receivewal: to an xid
// (exclusive), to a commit's time (inclusive) and to a restore point. LSN targets on those
// versions are wal-versions.test.ts's, through the fleet.

import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { cp, mkdir, readdir, rm, stat, truncate } from 'node:fs/promises';
import type pg from 'pg';
import path from 'node:path';
import { describe, test } from 'node:test';
import {
  REPO_ROOT, chownR, makeTempDir, systemBin, startCluster, versionsUnderTest, type PgVersion, type TestCluster,
} from '../harness/index.js';
import { agentRestore, connectStarted, stopStartedInstance, type AgentRestoreReport } from './agent-support.js';
import {
  binaryAt, describeRun, receiveWalBinary, runBaseBackup, startTool, waitFor, type RunningTool, type ToolBinary,
} from './support/index.js';

interface Row {
  id: number;
  xid: string;
  /** pg_xact_commit_timestamp, full precision. */
  commitTime: string;
  /** pg_current_wal_insert_lsn() just before COMMIT: where the commit record goes. */
  lsnBeforeCommit: string;
  /** clock_timestamp() after the commit, before the next row's. */
  timeAfter: string;
}

interface PitrReport extends AgentRestoreReport {
  pointInTime: {
    target: string; targetTimeline: number | null; reached: boolean | null; serverMessage: string | null;
    stoppedAt: { lsn: string | null; lastTransactionTime: string | null; timeline: number | null } | null;
  } | null;
}

// The agent runs from its build: its restore_command (wal-get) runs once per WAL file, and
// starting it through tsx from the sources costs seconds each time.
process.env['PGFLEET_AGENT_BIN'] ??= path.join(REPO_ROOT, 'packages', 'agent', 'dist', 'bin', 'pgfleet-agent.js');

const versions = versionsUnderTest();
const full: PgVersion = versions.includes(15) ? 15 : versions[0]!;

async function scalar<T>(cluster: TestCluster, sql: string, params: unknown[] = []): Promise<T> {
  return (await cluster.query<{ v: T }>(sql, params)).rows[0]!.v;
}

/** Commits rows `ids` one transaction each, recording what the targets need. */
async function commitRows(connect: () => Promise<pg.Client>, ids: number[], restorePoint?: { after: number; name: string },
  switchAfter: number[] = []): Promise<Row[]> {
  const client = await connect();
  const rows: Row[] = [];
  try {
    for (const id of ids) {
      await client.query('BEGIN');
      await client.query('INSERT INTO pitr (id) VALUES ($1)', [id]);
      const before = (await client.query<{ xid: string; lsn: string }>(
        'SELECT txid_current()::text AS xid, pg_current_wal_insert_lsn()::text AS lsn')).rows[0]!;
      await client.query('COMMIT');
      const after = (await client.query<{ ts: string; t: string }>(
        `SELECT pg_xact_commit_timestamp($1::text::xid)::text AS ts, clock_timestamp()::text AS t`, [before.xid])).rows[0]!;
      rows.push({ id, xid: before.xid, commitTime: after.ts, lsnBeforeCommit: before.lsn, timeAfter: after.t });
      if (restorePoint?.after === id) await client.query('SELECT pg_create_restore_point($1)', [restorePoint.name]);
      // Rows in several segments: one deleted from the middle of the archive is a gap.
      if (switchAfter.includes(id)) await client.query('SELECT pg_switch_wal()');
      await new Promise((r) => setTimeout(r, 15));
    }
  } finally {
    await client.end();
  }
  return rows;
}

/** Switches WAL and waits until the archive holds the switched segment whole. */
async function archiveUpToNow(cluster: TestCluster, archive: string): Promise<string> {
  const segment = await scalar<string>(cluster, 'SELECT pg_walfile_name(pg_switch_wal()) AS v');
  await waitFor(`${segment} in the archive`, async () => (await readdir(archive)).some((n) => n === segment || n === `${segment}.lz4`));
  return segment;
}

function startReceiver(tool: ToolBinary, cluster: { env: Record<string, string> }, archive: string, extra: string[] = []): RunningTool {
  return startTool(tool, ['-D', archive, '-v', '--no-loop', ...extra], { env: cluster.env, timeoutMs: 600_000 });
}

async function stopReceiver(r: RunningTool): Promise<void> {
  r.child.kill('SIGINT');
  const result = await r.result;
  assert.equal(result.code, 0, describeRun('WAL receiver', result));
}

interface Restored {
  report: PitrReport;
  ids: number[];
  dataDir: string;
  socketDir: string;
  port: number;
}

/** Restores with a target, starts, reads the ids, checks it accepts writes; stops unless `keep`. */
async function restoreTo(version: PgVersion, backup: string, archive: string, target: string[], opts: { keep?: boolean } = {}): Promise<Restored> {
  await chownR(archive);
  const dataDir = path.join(await makeTempDir('pitr-target'), 'data');
  const out = await agentRestore({
    from: backup, dataDir, version, mode: 'promote', start: true,
    extra: ['--no-sync', '--wal-archive', archive, ...target],
  });
  assert.equal(out.result.code, 0, describeRun(`pgfleet-agent restore ${target.join(' ')}`, out.result));
  const report = out.report as PitrReport;
  const client = await connectStarted(out.socketDir, out.port);
  try {
    const ids = (await client.query<{ id: number }>('SELECT id FROM pitr ORDER BY id')).rows.map((r) => r.id);
    await client.query('INSERT INTO pitr (id) VALUES (-1)');
    await client.query('DELETE FROM pitr WHERE id = -1');
    return { report, ids, dataDir, socketDir: out.socketDir, port: out.port };
  } finally {
    await client.end();
    if (!opts.keep) await stopStartedInstance(dataDir);
  }
}

/** Milliseconds of a timestamptz as PostgreSQL prints it ("2026-12-06 09:10:11.123456+00"). */
function pgTimeMs(text: string): number {
  const m = /^(\S+) (\d\d:\d\d:\d\d)(\.\d{1,3})?\d*([+-]\d\d)(?::?(\d\d))?$/.exec(text);
  assert.ok(m, `a timestamp: ${text}`);
  return Date.parse(`${m[1]}T${m[2]}${m[3] ?? ''}${m[4]}:${m[5] ?? '00'}`);
}

const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);

interface Source {
  cluster: TestCluster;
  backup: string;
  archive: string;
  receiver: RunningTool;
}

/** A cluster with 1 MB segments, its WAL streaming into an archive, and a backup taken before any row. */
async function setUp(version: PgVersion, receiver: ToolBinary, receiverArgs: string[] = []): Promise<Source> {
  const cluster = await startCluster({ version, initdbArgs: ['--wal-segsize=1'], settings: ['track_commit_timestamp = on'] });
  await cluster.query('CREATE TABLE pitr (id int PRIMARY KEY, committed_at timestamptz DEFAULT clock_timestamp())');
  const work = await makeTempDir('pitr-source');
  const archive = path.join(work, 'archive');
  await mkdir(archive);
  const running = startReceiver(receiver, cluster, archive, receiverArgs);
  await waitFor('the receiver to stream', () => running.stderrSoFar().includes('starting log streaming at '));
  const backup = path.join(work, 'backup');
  const made = await runBaseBackup(['-D', backup, '-F', 't', '-X', 'stream', '-c', 'fast'], { env: cluster.env });
  assert.equal(made.code, 0, describeRun('pgfleet-basebackup', made));
  return { cluster, backup, archive, receiver: running };
}

describe('point-in-time recovery from a local WAL archive (pgfleet-agent restore --wal-archive)', () => {
  test(`PostgreSQL ${full}: time, LSN, xid, restore point, immediate; a gap and a damaged segment; timelines`, async () => {
    const tool = full === 15 ? binaryAt(systemBin('pg_receivewal')) : receiveWalBinary();
    const src = await setUp(full, tool);
    const { cluster, backup, archive } = src;
    try {
      const rows = await commitRows(() => cluster.connect(), range(1, 8), { after: 4, name: 'before-5' }, [1, 5]);
      const row = (id: number): Row => rows[id - 1]!;
      await archiveUpToNow(cluster, archive);
      await stopReceiver(src.receiver);

      const cases: Array<{ target: string[]; want: number[] }> = [
        { target: ['--target-time', row(3).commitTime], want: range(1, 3) },
        { target: ['--target-time', row(3).commitTime, '--target-exclusive'], want: range(1, 2) },
        { target: ['--target-time', row(7).timeAfter], want: range(1, 7) },
        { target: ['--target-lsn', row(6).lsnBeforeCommit], want: range(1, 6) },
        { target: ['--target-lsn', row(6).lsnBeforeCommit, '--target-exclusive'], want: range(1, 5) },
        { target: ['--target-xid', row(5).xid], want: range(1, 5) },
        { target: ['--target-xid', row(5).xid, '--target-exclusive'], want: range(1, 4) },
        { target: ['--target-name', 'before-5'], want: range(1, 4) },
        { target: ['--target', 'immediate'], want: [] },
      ];
      for (const c of cases) {
        const began = Date.now();
        const r = await restoreTo(full, backup, archive, c.target);
        assert.deepEqual(r.ids, c.want, `rows after ${c.target.join(' ')}`);
        const p = r.report.pointInTime!;
        assert.equal(p.reached, true, JSON.stringify(p));
        assert.equal(r.report.instance?.recoveryState, 'primary');
        assert.equal(p.stoppedAt?.timeline, 2);
        assert.match(p.stoppedAt?.lsn ?? '', /^[0-9A-F]+\/[0-9A-F]+$/);
        if (c.want.length > 0) {
          // The last replayed transaction is the last row's commit; stopping after an LSN, the
          // server does not count the commit it stops after (recoveryStopsAfter returns first).
          const last = Date.parse(p.stoppedAt?.lastTransactionTime ?? '');
          const commit = pgTimeMs(row(c.want.at(-1)!).commitTime);
          if (c.target[0] === '--target-lsn') assert.ok(last <= commit, JSON.stringify(p));
          else assert.equal(last, commit, JSON.stringify(p));
        }
        console.log(`# ${c.target.join(' ')}: rows ${c.want.length}, ${Date.now() - began} ms; ${p.serverMessage}`);
      }

      // A gap: a copy of the archive without the segment holding row 2's commit.
      const gapped = path.join(await makeTempDir('pitr-gap'), 'archive');
      await cp(archive, gapped, { recursive: true });
      const missing = (await scalar<string>(cluster, `SELECT pg_walfile_name($1::pg_lsn) AS v`, [row(2).lsnBeforeCommit]));
      await rm(path.join(gapped, missing));
      const gapTarget = path.join(await makeTempDir('pitr-gap-target'), 'data');
      const refused = await agentRestore({
        from: backup, dataDir: gapTarget, version: full, mode: 'promote', extra: ['--wal-archive', gapped, '--target-time', row(7).timeAfter],
      });
      assert.equal(refused.result.code, 82, describeRun('restore across a gap', refused.result));
      assert.match(refused.result.stderr, new RegExp(`error: WAL segment "${missing}" is missing from the WAL archive "${gapped}"\\nHINT: Recovery from backup `));
      await assert.rejects(stat(gapTarget), /ENOENT/, 'nothing written');

      // A damaged segment (cut in half): recovery must stop, never promote without it.
      const damaged = path.join(await makeTempDir('pitr-damaged'), 'archive');
      await cp(archive, damaged, { recursive: true });
      await truncate(path.join(damaged, missing), 512 * 1024);
      await chownR(damaged);
      const damagedTarget = path.join(await makeTempDir('pitr-damaged-target'), 'data');
      const failed = await agentRestore({
        from: backup, dataDir: damagedTarget, version: full, mode: 'promote', start: true,
        extra: ['--no-sync', '--wal-archive', damaged, '--target', 'latest', '--start-timeout', '60'],
      });
      // Either pg_ctl start already sees the server die, or the wait for the promotion does.
      assert.equal(failed.result.code, 73, describeRun('restore with a damaged segment', failed.result));
      assert.match(failed.result.stderr, /error: (could not start the restored instance|the restored instance in ".*" stopped during recovery)/);
      assert.match(failed.result.stderr, /FATAL: {2}could not restore file ".*" from archive: child process exited with exit code 255/);
      assert.match(failed.result.stderr, new RegExp(`archived WAL segment ".*${missing}" is damaged: it holds 524288 bytes instead of 1048576`));

      // Timelines. Row 9 is archived into a .partial segment (no switch after it): the copy
      // restored to latest is promoted inside that segment, so a receiver restarted on the same
      // archive resumes on timeline 1 before the switch point, and follows it to timeline 2.
      // (Resuming exactly at a switch point that ends a segment, pg_receivewal 15 fails.)
      const resumed = startReceiver(tool, cluster, archive);
      await waitFor('the receiver to stream again', () => resumed.stderrSoFar().includes('starting log streaming at '));
      await commitRows(() => cluster.connect(), [9]);
      const written = await scalar<string>(cluster, 'SELECT pg_current_wal_insert_lsn()::text AS v');
      await waitFor('row 9 in the archive', async () =>
        (await scalar<boolean>(cluster, 'SELECT bool_and(write_lsn >= $1::pg_lsn) AS v FROM pg_stat_replication', [written])) === true);
      await stopReceiver(resumed);
      const promoted = await restoreTo(full, backup, archive, ['--target', 'latest'], { keep: true });
      assert.deepEqual(promoted.ids, range(1, 9));
      assert.equal(promoted.report.instance?.timeline, 2);
      const env = { PGHOST: promoted.socketDir, PGPORT: String(promoted.port), PGUSER: 'postgres', PGDATABASE: 'postgres' };
      const follower = startReceiver(tool, { env }, archive);
      await waitFor('the receiver to stream from the promoted copy', () => follower.stderrSoFar().includes('starting log streaming at '));
      const onTl2 = await commitRows(() => connectStarted(promoted.socketDir, promoted.port), range(101, 104));
      const client = await connectStarted(promoted.socketDir, promoted.port);
      const switched = (await client.query<{ v: string }>('SELECT pg_walfile_name(pg_switch_wal()) AS v')).rows[0]!.v;
      await client.end();
      assert.match(switched, /^00000002/);
      await waitFor(`${switched} in the archive`, async () => (await readdir(archive)).includes(switched))
        .catch((err: unknown) => assert.fail(`${String(err)}\n${follower.stderrSoFar()}\narchive: ${readdirSync(archive).join(' ')}`));
      await stopReceiver(follower);
      await stopStartedInstance(promoted.dataDir);
      assert.ok((await readdir(archive)).includes('00000002.history'));

      const onTimeline2 = await restoreTo(full, backup, archive, ['--target-time', onTl2[1]!.timeAfter]);
      assert.deepEqual(onTimeline2.ids, [...range(1, 9), 101, 102]);
      assert.equal(onTimeline2.report.pointInTime?.targetTimeline, 2);
      assert.equal(onTimeline2.report.pointInTime?.stoppedAt?.timeline, 3);
      const onTimeline1 = await restoreTo(full, backup, archive, ['--target-xid', row(6).xid, '--target-timeline', '1']);
      assert.deepEqual(onTimeline1.ids, range(1, 6));
      assert.equal(onTimeline1.report.pointInTime?.targetTimeline, 1);
    } finally {
      if (src.receiver.child.exitCode === null) src.receiver.killGroup();
      await cluster.destroy();
    }
  });

  for (const version of versions.filter((v) => v !== full)) {
    test(`PostgreSQL ${version}: to an xid (exclusive), a time (inclusive) and a restore point, from a pgfleet-receivewal lz4 archive`, async () => {
      const src = await setUp(version, receiveWalBinary(), ['--compress=lz4']);
      try {
        const rows = await commitRows(() => src.cluster.connect(), range(1, 5), { after: 3, name: 'before-4' }, [2]);
        await archiveUpToNow(src.cluster, src.archive);
        await stopReceiver(src.receiver);
        const cases = [
          { target: ['--target-xid', rows[3]!.xid, '--target-exclusive'], want: [1, 2, 3] },
          { target: ['--target-time', rows[1]!.commitTime], want: [1, 2] },
          { target: ['--target-name', 'before-4'], want: [1, 2, 3] },
        ];
        for (const c of cases) {
          const r = await restoreTo(version, src.backup, src.archive, c.target);
          assert.deepEqual(r.ids, c.want, `rows after ${c.target.join(' ')}`);
          assert.equal(r.report.pointInTime?.reached, true, JSON.stringify(r.report.pointInTime));
          assert.equal(r.report.instance?.recoveryState, 'primary');
        }
      } finally {
        if (src.receiver.child.exitCode === null) src.receiver.killGroup();
        await src.cluster.destroy();
      }
    });
  }
});
