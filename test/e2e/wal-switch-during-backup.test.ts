// Backups during which the server switches to a new WAL segment (pg_switch_wal(), an
// archive_timeout, another backup's checkpoint), black box, on every server version 13-18.
//
// The server zero-fills the rest of a segment after its XLOG_SWITCH record, page headers
// included; the backup's WAL range then runs through those zeroed pages into the next segment.
// Such a backup is valid: pgfleet-verifybackup must accept it (it used to report "invalid magic
// number 0000 in WAL segment ..., offset 8192") and `pgfleet-agent restore --mode promote
// --start` must restore it, start it and hold every row committed before the backup ended,
// on both sides of the switch.
//
// Each backup is rate-limited so that it is still streaming files when the test switches WAL
// (it waits for pg_stat_progress_basebackup to say so). Made by pgfleet-basebackup on every
// version, and by PostgreSQL's pg_basebackup 15 on the servers it supports (13, 14, 15; the
// harness's 16-18 servers come without a pg_basebackup of their own). One cluster per version.

import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { makeTempDir, startCluster, versionsUnderTest, type TestCluster } from '../harness/index.js';
import { agentRestore, connectStarted, stopStartedInstance } from './agent-support.js';
import {
  assertSucceeded, baseBackupBinary, describeRun, referenceBaseBackupBinary, runVerifyBackup, startTool, type ToolBinary,
} from './support/index.js';

/** About 3 s for a fresh cluster: long enough to switch WAL in the middle, short enough for six versions. */
const MAX_RATE = '8M';

async function waitForStreaming(cluster: TestCluster, what: string): Promise<void> {
  const until = Date.now() + 60_000;
  for (;;) {
    const r = await cluster.query<{ phase: string }>('SELECT phase FROM pg_stat_progress_basebackup');
    if (r.rows.some((row) => row.phase === 'streaming database files')) return;
    if (Date.now() > until) throw new Error(`${what}: the backup never reached "streaming database files"`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function lsnValue(text: string): bigint {
  const [hi, lo] = text.split('/');
  return (BigInt(`0x${hi}`) << 32n) | BigInt(`0x${lo}`);
}

for (const version of versionsUnderTest()) {
  describe(`PostgreSQL ${version}: pg_switch_wal() during a backup`, { timeout: 300_000 }, () => {
    let cluster: TestCluster;
    let work: string;

    before(async () => {
      cluster = await startCluster({ version, data: { rows: 2000 }, settings: ['autovacuum = off'] });
      work = await makeTempDir(`pgfleet-e2e-walswitch-${version}`);
    });
    after(async () => {
      await cluster?.destroy();
    });

    const tools: Array<[string, ToolBinary]> = [['pgfleet-basebackup', baseBackupBinary()]];
    if (version <= 15) tools.push(['pg_basebackup 15', referenceBaseBackupBinary()]);

    for (const [index, [label, binary]] of tools.entries()) {
      test(`${label}: the backup verifies, restores (promote), starts and holds the rows of both sides of the switch`, async () => {
        const tag = label.replace(/\W+/g, '-');
        const dir = path.join(work, `backup-${tag}`);
        const id = index + 1; // rows of its own, -id and -id - 100
        const running = startTool(binary, ['-D', dir, '-F', 't', '-X', 'stream', '-c', 'fast', '-r', MAX_RATE, '-d', cluster.connectionString]);
        await waitForStreaming(cluster, label);
        await cluster.query("INSERT INTO t_main VALUES ($1, 'before the switch', NULL)", [-id]);
        const switched = await cluster.query<{ lsn: string; file: string }>(
          'SELECT s::text AS lsn, pg_walfile_name(s) AS file FROM pg_switch_wal() s');
        await cluster.query("INSERT INTO t_main VALUES ($1, 'after the switch', NULL)", [-id - 100]);
        const result = await running.result;
        assertSucceeded(label, result);

        // The backup's WAL range runs from the switched segment into the next one: the zeroed
        // tail of the switched segment lies before its end.
        const manifest = JSON.parse(await readFile(path.join(dir, 'backup_manifest'), 'utf8')) as {
          'WAL-Ranges': Array<{ 'Start-LSN': string; 'End-LSN': string }>;
        };
        const range = manifest['WAL-Ranges'][0]!;
        const switchLsn = lsnValue(switched.rows[0]!.lsn);
        const segmentEnd = (switchLsn / 0x1000000n + 1n) * 0x1000000n;
        assert.ok(lsnValue(range['Start-LSN']) < switchLsn && lsnValue(range['End-LSN']) > segmentEnd,
          `${label}: WAL range ${range['Start-LSN']}..${range['End-LSN']} spans the switch at ${switched.rows[0]!.lsn}`);

        const verify = await runVerifyBackup([dir]);
        assert.equal(verify.code, 0, describeRun('pgfleet-verifybackup', verify));
        assert.equal(verify.stdout, 'backup successfully verified\n');

        const dataDir = path.join(work, `restored-${tag}`);
        const restored = await agentRestore({ from: dir, dataDir, version, mode: 'promote', start: true });
        assert.equal(restored.result.code, 0, describeRun('pgfleet-agent restore', restored.result));
        assert.ok((restored.report?.verify.walSegmentsChecked ?? 0) >= 2, 'the restore checked the WAL across the switch');
        const client = await connectStarted(restored.socketDir, restored.port);
        try {
          const rows = await client.query<{ id: number; label: string }>('SELECT id, label FROM t_main WHERE id < 0 ORDER BY id DESC');
          assert.deepEqual(rows.rows.filter((r) => r.id === -id || r.id === -id - 100).map((r) => r.label), ['before the switch', 'after the switch']);
          const count = await client.query<{ n: string }>('SELECT count(*)::text AS n FROM t_main WHERE id >= 0');
          assert.equal(count.rows[0]!.n, '2001');
        } finally {
          await client.end();
          await stopStartedInstance(dataDir);
        }
      });
    }
  });
}
