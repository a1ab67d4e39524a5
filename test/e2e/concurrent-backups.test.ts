// Several backups of one server at once, black box, PostgreSQL 15: ten pgfleet-basebackup
// processes (-F t -X stream) started together while the server switches WAL in a loop (and the
// backups' own fast checkpoints, with 1 MB segments and max_wal_size and wal_keep_size small,
// recycle old segments).
//
// Each backup's temporary slot must hold the WAL from before its checkpoint: when the slot was
// made only after BASE_BACKUP had started, another backup's checkpoint could remove the
// segment a backup starts in before its streaming began, and that backup failed with
// "requested WAL segment ... has already been removed". All ten must succeed and verify, no
// slot may be left on the server, and one of them is restored, started and queried.

import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { makeTempDir, startCluster, type TestCluster } from '../harness/index.js';
import { agentRestore, connectStarted, stopStartedInstance } from './agent-support.js';
import { describeRun, runVerifyBackup, spawnBaseBackup } from './support/index.js';

const BACKUPS = 10;

describe('ten backups of one server started together, WAL switched in a loop', { timeout: 600_000 }, () => {
  let cluster: TestCluster;
  let work: string;

  before(async () => {
    cluster = await startCluster({
      version: 15,
      data: { rows: 5000 },
      // 1 MB segments: every switch makes each WAL stream carry a whole segment, and ten
      // streams of 16 MB segments at every switch would only make the test slow.
      initdbArgs: ['--wal-segsize=1'],
      settings: [
        // Two connections per backup (BASE_BACKUP and the WAL stream), and a slot each.
        'max_wal_senders = 25', 'max_replication_slots = 15',
        // Every checkpoint recycles what no slot holds.
        'max_wal_size = 4MB', 'min_wal_size = 2MB', 'wal_keep_size = 0', 'autovacuum = off',
      ],
    });
    work = await makeTempDir('pgfleet-e2e-concurrent');
  });
  after(async () => {
    await cluster?.destroy();
  });

  test('all succeed and verify; no slot is left; one restores, starts and holds the data', async () => {
    let switching = true;
    let switches = 0;
    const switcher = (async () => {
      for (let i = 1; switching; i++) {
        await cluster.query("INSERT INTO t_main VALUES ($1, 'during the backups', NULL)", [-i]);
        await cluster.query('SELECT pg_switch_wal()');
        switches++;
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    })();
    const dirs = Array.from({ length: BACKUPS }, (_, i) => path.join(work, `backup-${i}`));
    const runs = dirs.map((dir) => spawnBaseBackup(['-D', dir, '-F', 't', '-X', 'stream', '-c', 'fast', '-d', cluster.connectionString]));
    const results = await Promise.all(runs.map((r) => r.result));
    switching = false;
    await switcher;
    assert.ok(switches >= 10, `WAL was switched ${switches} times while the backups ran`);
    const failed = results.map((r, i) => (r.code === 0 ? null : describeRun(`backup ${i}`, r))).filter((x) => x !== null);
    assert.deepEqual(failed, [], `${failed.length} of ${BACKUPS} backups failed`);

    const slots = await cluster.query<{ n: string }>('SELECT count(*)::text AS n FROM pg_replication_slots');
    assert.equal(slots.rows[0]!.n, '0', 'the temporary slots went with their connections');

    for (const dir of dirs) {
      const verify = await runVerifyBackup([dir]);
      assert.equal(verify.code, 0, describeRun(`pgfleet-verifybackup ${dir}`, verify));
    }

    const dataDir = path.join(work, 'restored');
    const restored = await agentRestore({ from: dirs[BACKUPS - 1]!, dataDir, version: 15, mode: 'promote', start: true });
    assert.equal(restored.result.code, 0, describeRun('pgfleet-agent restore', restored.result));
    const client = await connectStarted(restored.socketDir, restored.port);
    try {
      const count = await client.query<{ n: string }>('SELECT count(*)::text AS n FROM t_main WHERE id >= 0');
      assert.equal(count.rows[0]!.n, '5001');
    } finally {
      await client.end();
      await stopStartedInstance(dataDir);
    }
  });
});
