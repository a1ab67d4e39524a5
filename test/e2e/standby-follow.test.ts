// pgfleet-agent restore --mode standby --start reports a standby only when it follows its
// primary, black box, PostgreSQL 15 (1 MB WAL segments, wal_keep_size = 0, no slot):
//  - a standby whose primary still has the WAL it needs: exit 0, the report says its WAL
//    receiver is "streaming", and a row written on the primary arrives;
//  - a standby whose primary recycled that WAL before the copy started (WAL switched and
//    checkpoints made after the backup): the server comes up (hot standby, consistent from the
//    backup's own WAL) but its WAL receiver dies at once with "requested WAL segment ... has
//    already been removed", again and again. This used to be reported as a healthy standby
//    (exit 0). Now: InstanceError (exit 73) saying it does not stream, with the log's last lines;
//    the restored files stay and the server is left running, as after other failed starts.

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { binDir, makeTempDir, runAs, startCluster, type TestCluster } from '../harness/index.js';
import { agentRestore, connectStarted, stopStartedInstance, trackStartedInstance } from './agent-support.js';
import { assertSucceeded, describeRun, runBaseBackup } from './support/index.js';

describe('pgfleet-agent restore --mode standby --start: the standby must stream from its primary', { timeout: 300_000 }, () => {
  let primary: TestCluster;
  let work: string;
  let backup: string;
  let conninfo: string;

  before(async () => {
    primary = await startCluster({
      version: 15,
      data: { rows: 500 },
      initdbArgs: ['--wal-segsize=1'],
      settings: ['wal_keep_size = 0', 'max_wal_size = 4MB', 'min_wal_size = 2MB', 'autovacuum = off'],
    });
    work = await makeTempDir('pgfleet-e2e-standby-follow');
    backup = path.join(work, 'backup');
    assertSucceeded('pgfleet-basebackup', await runBaseBackup(['-D', backup, '-F', 't', '-X', 'stream', '-c', 'fast', '-d', primary.connectionString]));
    conninfo = `host=${primary.tcpHost} port=${primary.port} user=postgres application_name=follow-test`;
  });
  after(async () => {
    await primary?.destroy();
  });

  test('a primary that has the WAL: streaming, reported, and a new row arrives', async () => {
    const dataDir = path.join(work, 'healthy');
    const restored = await agentRestore({
      from: backup, dataDir, version: 15, mode: 'standby', start: true, extra: ['--primary-conninfo', conninfo, '--follow-timeout', '60'],
    });
    assert.equal(restored.result.code, 0, describeRun('restore', restored.result));
    assert.equal(restored.report?.instance?.walReceiver?.status, 'streaming');
    assert.equal(restored.report?.instance?.inRecovery, true);
    await primary.query("INSERT INTO t_main VALUES (-1, 'after the restore', NULL)");
    const client = await connectStarted(restored.socketDir, restored.port);
    try {
      const until = Date.now() + 30_000;
      for (;;) {
        const r = await client.query<{ label: string }>('SELECT label FROM t_main WHERE id = -1');
        if (r.rows[0]?.label === 'after the restore') break;
        assert.ok(Date.now() < until, 'the row written on the primary did not arrive');
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    } finally {
      await client.end();
      await stopStartedInstance(dataDir);
    }
  });

  test('a primary that recycled the WAL: exit 73, "does not stream from its primary", files kept, server left running', async () => {
    // The standby will ask for the segment holding the backup's end: make the primary drop it.
    for (let i = 0; i < 6; i++) {
      await primary.query("INSERT INTO t_main SELECT -1000 * ($1 + 1) - g, 'filler', NULL FROM generate_series(1, 200) g", [i]);
      await primary.query('SELECT pg_switch_wal()');
      await primary.query('CHECKPOINT');
    }
    const dataDir = path.join(work, 'orphan');
    const restored = await agentRestore({
      from: backup, dataDir, version: 15, mode: 'standby', start: true, extra: ['--primary-conninfo', conninfo, '--follow-timeout', '12'],
    });
    try {
      assert.equal(restored.result.code, 73, describeRun('restore', restored.result));
      assert.match(restored.result.stderr, new RegExp(
        `pgfleet-agent: error: the restored standby in "${dataDir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}" does not stream from its primary: ` +
        'after 12 seconds, (no WAL receiver is running|its WAL receiver is "[a-z]+")\n' +
        'HINT: It was left running, in recovery\\. The primary may no longer have the WAL the standby needs \\(restore a newer backup\\), ' +
        'or not accept its primary_conninfo\\. Its log ".*" ends with:\n'));
      assert.match(restored.result.stderr, /requested WAL segment [0-9A-F]{24} has already been removed/);
      assert.ok(existsSync(path.join(dataDir, 'PG_VERSION')), 'the restored files stay');
    } finally {
      // Left running by design: stop it.
      const pid = Number((await readFile(path.join(dataDir, 'postmaster.pid'), 'utf8').catch(() => '0')).split('\n')[0]);
      if (pid > 0) trackStartedInstance(dataDir, 15, pid);
      await stopStartedInstance(dataDir);
      await runAs(path.join(binDir(15), 'pg_ctl'), ['stop', '-D', dataDir, '-m', 'immediate'], { allowFailure: true });
    }
  });
});
