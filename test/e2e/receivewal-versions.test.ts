// pgfleet-receivewal keeps a WAL archive that a restore can recover from, on every server
// version 13-18 (PGFLEET_TEST_VERSIONS narrows them). Per version, on a cluster with 1 MB WAL
// segments:
//   - a slot is made with --create-slot, and the receiver streams through it into a directory;
//   - a base backup without WAL (pgfleet-basebackup -X none) is taken, so that every WAL byte
//     recovery needs must come from that directory;
//   - a workload commits batches of rows, more than 5 segments of WAL; the receiver is killed
//     with SIGKILL twice while WAL is flowing, and started again each time (it resumes from its
//     .partial segment);
//   - pg_switch_wal() completes the segment holding the last commit, the receiver writes it
//     and is stopped with SIGINT (exit status 0);
//   - the backup is restored by hand (tar), started in archive recovery with
//     restore_command = 'cp <directory>/%f %p', recovers to the end of the archive and comes
//     up read-write on a new timeline holding every committed row (same table digest as the
//     source).

import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  chownR,
  makeTempDir,
  REPO_ROOT,
  restoreTarByHand,
  startCluster,
  startRestored,
  versionsUnderTest,
  type TestCluster,
} from '../harness/index.js';
import { assertSucceeded, binaryAt, describeRun, receiveWalBinary, startTool, waitFor, type RunningTool } from './support/index.js';

const receiver = receiveWalBinary();
const versions = versionsUnderTest().filter((v) => v <= receiver.maxServerVersion);
const basebackup = binaryAt(path.join(REPO_ROOT, 'packages', 'core', 'dist', 'bin', 'pgfleet-basebackup.js'));


/** Starts the receiver and waits until it streams (its -v line says so). */
async function startReceiver(cluster: TestCluster, dir: string): Promise<RunningTool> {
  const run = startTool(receiver, ['-D', dir, '-S', 'archive', '-v'], { env: cluster.env });
  await waitFor('the receiver to stream', () => run.stderrSoFar().includes('starting log streaming at '));
  return run;
}

async function killed(run: RunningTool): Promise<void> {
  run.killGroup();
  const result = await run.result;
  assert.equal(result.signal, 'SIGKILL', describeRun('receiver', result));
}

for (const version of versions) {
  describe(`pgfleet-receivewal archive, PostgreSQL ${version}`, () => {
    test('killed twice mid-stream, the archive still restores every committed row', async () => {
      const cluster = await startCluster({ version, initdbArgs: ['--wal-segsize=1'] });
      try {
        const base = await makeTempDir(`pgfleet-receivewal-pg${version}`);
        const archive = path.join(base, 'archive');
        const backupDir = path.join(base, 'backup');
        await cluster.query(`CREATE TABLE w (id bigint PRIMARY KEY, batch int NOT NULL, pad text)`);
        assertSucceeded('--create-slot', await startTool(receiver, ['--create-slot', '-S', 'archive'], { env: cluster.env }).result);
        await mkdir(archive);
        let run = await startReceiver(cluster, archive);
        assertSucceeded('pgfleet-basebackup', await startTool(basebackup, ['-D', backupDir, '-F', 't', '-X', 'none', '-c', 'fast'], { env: cluster.env }).result);

        let id = 0;
        const batch = (n: number) => {
          const from = id + 1;
          id += 8000;
          return cluster.query(`INSERT INTO w SELECT g, ${n}, repeat(md5(g::text), 3) FROM generate_series(${from}, ${id}) g`);
        };
        for (let n = 1; n <= 6; n++) {
          if (n === 3 || n === 5) {
            // SIGKILL while the batch's WAL is being streamed, then start again.
            const inserting = batch(n);
            await sleep(30);
            await killed(run);
            await inserting;
            run = await startReceiver(cluster, archive);
          } else {
            await batch(n);
          }
        }
        const last = (await cluster.query<{ lsn: string; file: string }>(
          'SELECT lsn::text, pg_walfile_name(lsn) AS file FROM pg_switch_wal() AS lsn')).rows[0]!;
        await waitFor(`segment ${last.file} in the archive`, () => readdirSync(archive).includes(last.file), 30_000,
          () => `the archive: ${readdirSync(archive).sort().join(' ')}\nthe receiver:\n${run.stderrSoFar()}`);
        run.child.kill('SIGINT');
        const stopped = await run.result;
        assert.equal(stopped.code, 0, describeRun('receiver after SIGINT', stopped));
        const files = readdirSync(archive).sort();
        const complete = files.filter((n) => /^[0-9A-F]{24}$/.test(n));
        assert.ok(complete.length >= 5, `at least 5 complete segments: ${files.join(' ')}`);
        // No gap: consecutive segment numbers from the first to the last.
        const numbers = complete.map((n) => parseInt(n.slice(8, 16), 16) * 4096 + parseInt(n.slice(16), 16));
        assert.deepEqual(numbers, numbers.map((_, i) => numbers[0]! + i), files.join(' '));

        const expected = await cluster.snapshot();
        assert.equal(expected['w']?.rows, id);
        await chownR(archive);
        const restored = await restoreTarByHand({ backupDir, targetDir: path.join(base, 'restored') });
        assert.deepEqual(readdirSync(path.join(restored.dataDir, 'pg_wal')).filter((n) => /^[0-9A-F]{24}/.test(n)), [], 'the backup holds no WAL segment');
        const label = readFileSync(path.join(restored.dataDir, 'backup_label'), 'utf8');
        const firstNeeded = /START WAL LOCATION: \S+ \(file ([0-9A-F]{24})\)/.exec(label)?.[1];
        assert.ok(firstNeeded !== undefined && complete.includes(firstNeeded), `the archive holds ${firstNeeded}, where the backup begins`);
        const copy = await startRestored({
          dataDir: restored.dataDir, version, mode: 'archive-recovery', restoreCommand: `cp ${archive}/%f %p`,
        });
        try {
          await waitFor('the copy to leave recovery', async () =>
            (await copy.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r')).rows[0]?.r === false);
          assert.deepEqual(await copy.snapshot(), expected);
          await copy.query('CREATE TABLE written_after_restore (x int)');
        } finally {
          await copy.destroy();
        }
      } finally {
        await cluster.destroy();
      }
    });
  });
}
