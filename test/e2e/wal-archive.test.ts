// The fleet's continuous WAL archive, black box: a PostgreSQL server (1 MB WAL segments, so
// segments complete quickly) behind `pgfleet-agent serve`, one `pgfleet serve` with the
// repository, mutual TLS with the certificates of `pgfleet certs init`, and `pgfleet` CLI calls.
//
//   - the agent streams over the slot pgfleet_main; completed segments appear in
//     <repo>/main/wal/00000001/ (lz4) and decompress to exactly the server's pg_wal files; the
//     slot's restart_lsn never passes what the repository holds; cluster "direct" (no agent)
//     is streamed by the controller itself (slot pgfleet_direct, gzip) with the same bytes;
//   - archive-push: the same content again succeeds, other content is refused (84), logged, and
//     the archived file is left as it was;
//   - `pgfleet wal --json`: streaming, flushed position at the server's (lag 0 once idle), the
//     slot's retained bytes, the range on timeline 1 without gaps, the restore window from the
//     backup taken here to the flushed end; `pgfleet backups --json` gives that backup a
//     recoverable window from its end to at least the archived position;
//   - wal-get: an archived segment is written byte for byte (0), a file the archive lacks is
//     exit 1, and with the controller stopped exit 255 (recovery aborts, never ends early);
//   - the slot taken by a pg_receivewal while the archive pauses before reconnecting: every
//     attempt is refused by the server, and `pgfleet wal` never says streaming meanwhile (the
//     stall time stays, no "streaming from" in the log); streaming again once the slot is free;
//   - kill -9 of the agent, of the controller and of the PostgreSQL server while WAL is being
//     written, each restarted: the archive resumes with no gap and no second, different copy of
//     a segment; every complete segment is whole and equal to the server's;
//   - expire (retention 2 of 3 backups) removes the oldest backup and exactly the WAL before
//     the oldest kept backup's start;
//   - disk full: the archive's directory is a 40 MB tmpfs, filled up: acknowledgements stop,
//     `pgfleet wal` and the log say why, no damaged segment is stored, and once space is back
//     streaming resumes without a gap;
//   - the oldest kept backup restored by hand, recovered through restore_command = wal-get
//     (as the PostgreSQL OS user): started with the controller stopped, recovery fails (FATAL
//     naming the restore_command failure), the copy is not running, not promoted, has no new
//     timeline; with the controller back it recovers and holds the rows written after the backup;
//   - RPO (synchronous_commit = on): rows committed one by one, the postmaster killed with
//     kill -9 right after a COMMIT returned, a fresh backup restored to the archive's end
//     (`latest`) through wal-get: without wal.synchronous the lost rows (measured and printed)
//     are exactly those committed past the archive's end, which is at or past the acknowledged
//     position; with wal.synchronous and synchronous_standby_names = 'pgfleet_main' none is lost.
//
// Versions: PostgreSQL 15 (or the first of PGFLEET_TEST_VERSIONS); wal-versions.test.ts runs the
// faults (agent, controller, server), the archive's content check and the RPO with
// wal.synchronous on every version, with a PITR into the agent's outage window.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { readWalFileContent } from '@pgfleet/core';
import {
  REPO_ROOT, binDir, chownOne, chownR, freePort, isRoot, makeTempDir, restoreTarByHand, runAs, startCluster, startRestored,
  type TestCluster,
} from '../harness/index.js';
import { runAgent } from './agent-support.js';
import { formatLsn as fmt, parseLsn as lsnOf, waitFor, type RunningTool } from './support/index.js';
import {
  SEGMENT, WAL_ARCHIVE_VERSION as VERSION, agentAddress as listeningAt, checkArchiveWhole as checkWhole, killPostmaster, restartKilled,
  segmentFiles as segmentFilesIn, serveAgent, stopAgent, takeSlot, walReport as walReportOf, type WalJson,
} from './support/fleet.js';
import { runCli, startController, type ControllerProcess } from '../../packages/controller/test/support/fleet-processes.js';

let server: TestCluster;
let work: string;
let certs: string;
let repository: string;
let controller: ControllerProcess;
let controllerConfig: string;
let agent: RunningTool;
let agentConfig: string;
let env: NodeJS.ProcessEnv;
let controllerPort: number;
let agentPort: number;
/** The archive's directory is a tmpfs of its own (root only), for the disk-full test. */
let tmpfs: string | null = null;
/** Segments completed in the first test, with the server's bytes of each. */
const serverSegments = new Map<string, Buffer>();

const walRoot = (): string => path.join(repository, 'main', 'wal', '00000001');

async function startAgent(): Promise<void> {
  agent = await serveAgent(agentConfig, 900_000);
}

const agentAddress = (): string => listeningAt(agent);

/** Completed segments in the archive (names without suffix). */
async function archivedSegments(): Promise<string[]> {
  const names = existsSync(walRoot()) ? await readdir(walRoot()) : [];
  return names.filter((n) => /^[0-9A-F]{24}\.lz4$/.test(n)).map((n) => n.slice(0, 24)).sort();
}

/** Switches to a new segment and returns the name of the one just completed. */
async function switchSegment(): Promise<string> {
  const r = await server.query<{ name: string }>('SELECT pg_walfile_name(pg_switch_wal()) AS name');
  return r.rows[0]?.name as string;
}

before(async () => {
  server = await startCluster({ version: VERSION, initdbArgs: ['--wal-segsize=1'], data: { rows: 100 } });
  work = await makeTempDir('wal-archive');
  certs = path.join(work, 'certs');
  const init = await runCli(['certs', 'init', certs, '--agent', 'db1']);
  assert.equal(init.code, 0, init.stderr);
  const root = path.join(work, 'db1-root');
  await mkdir(root);
  await chownOne(root);
  agentConfig = path.join(work, 'agent.yaml');
  controllerPort = await freePort();
  agentPort = await freePort();
  await writeFile(agentConfig, [
    `listen: 127.0.0.1:${agentPort}`,
    `tls: { ca: ${certs}/ca.crt, cert: ${certs}/agent-db1.crt, key: ${certs}/agent-db1.key }`,
    `allowedRoots: [${JSON.stringify(root)}]`,
    `pgBin: ${JSON.stringify(binDir(VERSION))}`,
    'osUser: postgres',
    'connectUser: postgres',
    `controller: { address: "127.0.0.1:${controllerPort}", cluster: main }`,
    '',
  ].join('\n'));
  await startAgent();
  repository = path.join(work, 'repo');
  if (isRoot()) {
    tmpfs = path.join(repository, 'main', 'wal');
    await mkdir(tmpfs, { recursive: true });
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=40m', 'tmpfs', tmpfs]);
  }
  controllerConfig = path.join(work, 'fleet.yaml');
  await writeFile(controllerConfig, [
    `listen: 127.0.0.1:${controllerPort}`, `repository: ${repository}`,
    `tls: { ca: ${certs}/ca.crt, cert: ${certs}/controller.crt, key: ${certs}/controller.key }`,
    'agents:', `  - { name: db1, address: "${agentAddress()}" }`,
    'clusters:',
    `  - { name: main, agent: db1, conninfo: "${server.connectionString}", retention: { full: 2 } }`,
    // No agent: the controller's own receiver, gzip.
    `  - { name: direct, conninfo: "${server.connectionString}", retention: { full: 1 }, wal: { compression: gzip } }`,
    '',
  ].join('\n'));
  controller = await startController(controllerConfig);
  env = { PGFLEET_CONTROLLER: controller.address, PGFLEET_CERTS: certs };
});


describe(`continuous WAL archive (PostgreSQL ${VERSION})`, () => {
  // Before the harness's own cleanup (a root-level hook): the tmpfs must be gone when it removes the directories.
  after(async () => {
    await controller?.stop();
    await stopAgent(agent);
    await server?.destroy();
    if (tmpfs !== null) execFileSync('umount', [tmpfs]);
  });

  test('the agent streams into the repository: completed segments are byte-identical to the server\'s', async () => {
    await waitFor('the archive to start', () => existsSync(walRoot()), 30_000);
    await server.query('CREATE TABLE t (id int, at timestamptz DEFAULT now(), pad text)');
    const switched: string[] = [];
    for (let i = 0; i < 3; i++) {
      await server.query("INSERT INTO t (id, pad) SELECT g, repeat('x', 200) FROM generate_series(1, 2000) g");
      switched.push(await switchSegment());
    }
    const last = switched[switched.length - 1] as string;
    await waitFor(`segment ${last} in the archive`, async () => (await archivedSegments()).includes(last), 30_000);
    let compared = 0;
    for (const name of switched) {
      const theirs = await readFile(path.join(server.dataDir, 'pg_wal', name));
      serverSegments.set(name, theirs);
      const ours = await readWalFileContent(path.join(walRoot(), `${name}.lz4`), SEGMENT);
      assert.equal(ours.length, SEGMENT, name);
      assert.ok(ours.equals(theirs), `${name} differs from the server's`);
      compared++;
    }
    assert.equal(compared, 3);
    // The cluster without an agent: the controller streams it itself, through its own slot.
    const direct = path.join(repository, 'direct', 'wal', '00000001', `${last}.gz`);
    await waitFor(`segment ${last} in the direct cluster's archive`, () => existsSync(direct), 30_000);
    assert.ok((await readWalFileContent(direct, SEGMENT)).equals(serverSegments.get(last) as Buffer), 'the direct archive\'s copy is the server\'s');
    // The slot never moves past what the archive holds: restart_lsn is at most the end of the
    // newest complete segment or of the .partial's durable part.
    const slot = await server.query<{ restart_lsn: string; active: boolean; active_pid: number }>(
      "SELECT restart_lsn::text, active, active_pid FROM pg_replication_slots WHERE slot_name = 'pgfleet_main'");
    assert.equal(slot.rows[0]?.active, true, controller.log());
    const app = await server.query<{ application_name: string }>('SELECT application_name FROM pg_stat_replication');
    assert.ok(app.rows.some((r) => r.application_name === 'pgfleet_main'), JSON.stringify(app.rows));
  });

  test('archive-push: the same content again succeeds; other content is refused, logged and never stored', async () => {
    const [name, content] = [...serverSegments.entries()][0] as [string, Buffer];
    const same = path.join(work, 'push-same', name);
    await mkdir(path.dirname(same));
    await writeFile(same, content);
    const pushed = await runAgent(['archive-push', '--config', agentConfig, same]);
    assert.equal(pushed.code, 0, pushed.stderr);
    const other = path.join(work, 'push-other', name);
    await mkdir(path.dirname(other));
    const changed = Buffer.from(content);
    changed[SEGMENT - 1] = (changed[SEGMENT - 1] ?? 0) ^ 0xff;
    await writeFile(other, changed);
    const refused = await runAgent(['archive-push', '--config', agentConfig, other]);
    assert.equal(refused.code, 84, refused.stderr);
    assert.match(refused.stderr, new RegExp(`WAL file "${walRoot()}/${name}\\.lz4" is already archived with different content`));
    assert.ok((await readWalFileContent(path.join(walRoot(), `${name}.lz4`), SEGMENT)).equals(content), 'the archived segment is unchanged');
    assert.match(controller.log(), new RegExp(`archive-push of "${name}" refused: WAL file .* is already archived with different content`));
    assert.deepEqual((await readdir(walRoot())).filter((n) => n.startsWith('.push-')), [], 'no temporary file is left');
  });

  test('wal-get: an archived segment is written as it was (0); one the archive lacks is 1; without the controller 255', async () => {
    const [name, content] = [...serverSegments.entries()][1] as [string, Buffer];
    const out = path.join(work, 'wal-get');
    await mkdir(out);
    const got = await runAgent(['wal-get', '--config', agentConfig, '--prefetch', '0', name, path.join(out, 'RECOVERYXLOG')]);
    assert.equal(got.code, 0, got.stderr);
    assert.ok((await readFile(path.join(out, 'RECOVERYXLOG'))).equals(content));
    const missing = await runAgent(['wal-get', '--config', agentConfig, '--prefetch', '0', '0000000100000000000000FF', path.join(out, 'missing')]);
    assert.equal(missing.code, 1, missing.stderr);
    assert.equal(existsSync(path.join(out, 'missing')), false);
    const history = await runAgent(['wal-get', '--config', agentConfig, '--prefetch', '0', '00000002.history', path.join(out, 'RECOVERYHISTORY')]);
    assert.equal(history.code, 1, history.stderr);
    await controller.stop();
    try {
      const unreachable = await runAgent(['wal-get', '--config', agentConfig, '--prefetch', '0', name, path.join(out, 'unreachable')]);
      assert.equal(unreachable.code, 255, unreachable.stderr);
      assert.match(unreachable.stderr, /aborting recovery \(exit status 255\)/);
      assert.equal(existsSync(path.join(out, 'unreachable')), false);
    } finally {
      controller = await startController(controllerConfig);
    }
  });

  test('pgfleet wal --json: streaming, positions, lag, slot, range per timeline, gaps, restore window', async () => {
    const backup = await runCli(['backup', 'main', '--json'], env, 120_000);
    assert.equal(backup.code, 0, backup.stderr);
    const backupId = (JSON.parse(backup.stdout) as { backups: Array<{ id: string }> }).backups[0]?.id;
    await server.query("INSERT INTO t (id, pad) SELECT g, 'after the backup' FROM generate_series(1, 100) g");
    const current = (await server.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn')).rows[0]?.lsn as string;
    let report: WalJson | undefined;
    await waitFor('the archive to catch up with the server', async () => {
      const r = await runCli(['wal', 'main', '--json'], env);
      assert.equal(r.code, 0, r.stderr);
      report = (JSON.parse(r.stdout) as WalJson[])[0];
      return report !== undefined && report.flushedLsn !== null && lsnOf(report.flushedLsn) >= lsnOf(current) && report.lagBytes === 0;
    }, 30_000);
    const w = report as WalJson;
    assert.equal(w.cluster, 'main');
    assert.equal(w.state, 'streaming');
    assert.equal(w.via, 'agent:db1');
    assert.equal(w.slot, 'pgfleet_main');
    assert.equal(w.applicationName, 'pgfleet_main');
    assert.equal(w.timeline, 1);
    assert.equal(w.reason, null);
    assert.ok(w.lagSeconds !== null && w.lagSeconds >= 0);
    assert.equal(typeof w.slotRetainedBytes, 'number');
    // Harness servers keep no limit: the preflight says so.
    assert.ok(w.warnings.some((x) => x.startsWith('max_slot_wal_keep_size is unset (-1)')), JSON.stringify(w.warnings));
    assert.equal(w.timelines.length, 1);
    assert.equal(w.timelines[0]?.timeline, 1);
    assert.deepEqual(w.timelines[0]?.gaps, []);
    assert.equal(w.gaps, 0);
    assert.equal(w.restoreWindow.earliest?.backupId, backupId);
    assert.equal(w.restoreWindow.latest?.lsn, w.flushedLsn);
    // pgfleet backups: the backup's recoverable window runs from its end to at least what the archive holds.
    const listed = JSON.parse((await runCli(['backups', 'main', '--json'], env)).stdout) as Array<{
      id: string; endLsn: string; recoverableWindow: { from: { lsn: string }; to: { lsn: string; timeline: number }; end: string } | null;
    }>;
    const windowOf = listed.find((b) => b.id === backupId)?.recoverableWindow;
    assert.ok(windowOf && windowOf.from.lsn === listed.find((b) => b.id === backupId)?.endLsn && lsnOf(windowOf.to.lsn) >= lsnOf(current),
      `the window ends at or after ${current}: ${JSON.stringify(windowOf)}`);
    // The slot never passes what the archive holds.
    const slot = (await server.query<{ restart_lsn: string }>("SELECT restart_lsn::text FROM pg_replication_slots WHERE slot_name = 'pgfleet_main'")).rows[0];
    assert.ok(lsnOf(slot?.restart_lsn as string) <= lsnOf(w.flushedLsn as string));
  });

  test('the slot held by another process: the agent\'s archive is never reported streaming while the server refuses it, and its retries back off', async () => {
    const holder = await takeSlot(server, 'pgfleet_main');
    try {
      const starts = (): number => controller.log().split('streaming from').length;
      const startsBefore = starts();
      const seen: Array<{ state: string; stalledSince: string | null; reason: string | null }> = [];
      for (const until = Date.now() + 6000; Date.now() < until; await sleep(250)) {
        const w = await walReport() as WalJson & { stalledSince: string | null };
        seen.push({ state: w.state, stalledSince: w.stalledSince, reason: w.reason });
      }
      // Each attempt reaches the agent, which starts the session, and the server refuses the slot:
      // a session counted as streaming would reset the stall and the retry pause every time.
      assert.ok(seen.every((x) => x.state !== 'streaming'), JSON.stringify(seen));
      assert.equal(new Set(seen.map((x) => x.stalledSince)).size, 1, JSON.stringify(seen));
      assert.ok(seen.some((x) => /"pgfleet_main" is active for PID \d+/.test(x.reason ?? '')), JSON.stringify(seen));
      assert.equal(starts(), startsBefore, 'no "streaming from" in the controller\'s log while the slot is held');
    } finally {
      holder.kill();
    }
    await waitForStreaming();
  });

  test('kill -9 of the agent and of the controller mid-stream: no gap, no second copy with other content', async () => {
    const write = (): Promise<unknown> => server.query("INSERT INTO t (id, pad) SELECT g, repeat('k', 300) FROM generate_series(1, 20000) g").catch(() => undefined);
    // The agent.
    let load = write();
    await sleep(300);
    agent.killGroup();
    await agent.result.catch(() => undefined);
    await load;
    await startAgent();
    await waitForStreaming();
    // The controller.
    load = write();
    await sleep(300);
    await controller.kill();
    await load;
    controller = await startController(controllerConfig);
    await waitForStreaming();
    await write();
    const last = await switchSegment();
    await waitForArchived(last);
    await checkArchiveWhole();
  });

  test('kill -9 of the server mid-stream: streaming resumes with no gap', async () => {
    const write = (): Promise<unknown> => server.query("INSERT INTO t (id, pad) SELECT g, repeat('k', 300) FROM generate_series(1, 20000) g").catch(() => undefined);
    // SIGKILL to the postmaster, then started again on the same port.
    let load: Promise<unknown>;
    load = write();
    await sleep(300);
    const pid = await killServer();
    await load;
    await restartServer(pid);
    await waitForStreaming();
    await write();
    const last = await switchSegment();
    await waitForArchived(last);
    await checkArchiveWhole();
  });

  test('expire (2 of 3 backups kept) removes the oldest backup and exactly the WAL before the oldest kept backup\'s start', async () => {
    for (let i = 0; i < 2; i++) {
      await server.query("INSERT INTO t (id, pad) SELECT g, 'between backups' FROM generate_series(1, 1000) g");
      await switchSegment();
      const b = await runCli(['backup', 'main', '--json'], env, 120_000);
      assert.equal(b.code, 0, b.stderr);
    }
    const listed = JSON.parse((await runCli(['backups', 'main', '--json'], env)).stdout) as Array<{ id: string; startLsn: string }>;
    assert.equal(listed.length, 3);
    const before = await segmentFiles();
    const expired = await runCli(['expire', 'main', '--json'], env);
    assert.equal(expired.code, 0, expired.stderr);
    const result = JSON.parse(expired.stdout) as { removed: Array<{ backupId: string }>; walRemoved: Array<{ files: string[] }> };
    assert.deepEqual(result.removed.map((r) => r.backupId), [listed[0]?.id]);
    const oldestKept = listed[1] as { id: string; startLsn: string };
    const bound = lsnOf(oldestKept.startLsn) / BigInt(SEGMENT);
    const segno = (name: string): bigint => BigInt(`0x${name.slice(8, 16)}`) * (0x1_0000_0000n / BigInt(SEGMENT)) + BigInt(`0x${name.slice(16, 24)}`);
    const expectedGone = before.filter((n) => segno(n) < bound).sort();
    assert.ok(expectedGone.length > 0, 'the test made WAL older than the oldest kept backup');
    assert.deepEqual((result.walRemoved[0]?.files ?? []).sort(), expectedGone);
    const after = await segmentFiles();
    assert.deepEqual(after.sort(), before.filter((n) => segno(n) >= bound).sort());
    assert.ok(after.some((n) => segno(n) === bound), 'the segment holding the oldest kept backup\'s start stays');
    const report = await walReport();
    assert.equal(report.gaps, 0);
    assert.equal(report.restoreWindow.earliest?.backupId, oldestKept.id);
    oldestKeptBackup = oldestKept.id;
  });

  test('disk full: acknowledgements stop with a clear error, no damaged segment, and streaming resumes without a gap', async (t) => {
    if (tmpfs === null) {
      t.skip('needs root to mount a tmpfs');
      return;
    }
    const filler = path.join(tmpfs, 'filler');
    try {
      execFileSync('dd', ['if=/dev/zero', `of=${filler}`, 'bs=1M'], { stdio: 'ignore' });
    } catch {
      // dd ends with "No space left on device": that is the point.
    }
    const before = (await walReport()).flushedLsn as string;
    for (let i = 0; i < 4; i++) {
      await server.query("INSERT INTO t (id, pad) SELECT g, md5(g::text) FROM generate_series(1, 5000) g");
      await switchSegment();
    }
    let report: WalJson | undefined;
    await waitFor('the archive to fail for want of space', async () => {
      report = await walReport();
      return report.state === 'failed' && /No space left on device|ENOSPC/i.test(report.reason ?? '');
    }, 60_000);
    assert.match(controller.log(), /WAL archive: .*(No space left on device|ENOSPC)/i);
    // Nothing beyond what was stored is acknowledged.
    const slot = (await server.query<{ restart_lsn: string }>("SELECT restart_lsn::text FROM pg_replication_slots WHERE slot_name = 'pgfleet_main'")).rows[0];
    assert.ok(lsnOf(slot?.restart_lsn as string) <= lsnOf((report as WalJson).flushedLsn ?? before));
    await checkArchiveWhole({ compareWithServer: false, allowGaps: false });
    await rm(filler);
    const last = await switchSegment();
    await waitForArchived(last, 90_000);
    await checkArchiveWhole();
    assert.equal((await walReport()).state, 'streaming');
  });

  test('the oldest kept backup through restore_command = wal-get: with the controller stopped recovery fails loudly and never promotes; with it back it recovers every row', async () => {
    assert.ok(oldestKeptBackup !== null, 'expire ran');
    await server.query("INSERT INTO t (id, pad) SELECT g, 'the last rows' FROM generate_series(1, 777) g");
    const current = (await server.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn')).rows[0]?.lsn as string;
    await waitFor('the last rows in the archive', async () => lsnOf((await walReport()).flushedLsn ?? '0/0') >= lsnOf(current), 30_000);
    const expected = (await server.query<{ n: string }>('SELECT count(*)::text AS n FROM t')).rows[0]?.n;
    // restore_command runs as the PostgreSQL OS user: its own copy of the agent's configuration and certificates.
    const own = path.join(work, 'wal-get-config');
    await mkdir(own);
    for (const f of ['ca.crt', 'agent-db1.crt', 'agent-db1.key']) await copyFile(path.join(certs, f), path.join(own, f));
    await writeFile(path.join(own, 'agent.yaml'), [
      'listen: 127.0.0.1:0', 'tls: { ca: ca.crt, cert: agent-db1.crt, key: agent-db1.key }', `allowedRoots: [${JSON.stringify(work)}]`,
      `controller: { address: "127.0.0.1:${controllerPort}", cluster: main }`, '',
    ].join('\n'));
    await chownR(own);
    const dataDir = path.join(work, 'recovered');
    await restoreTarByHand({ backupDir: path.join(repository, 'main', 'backups', oldestKeptBackup as string), targetDir: dataDir });
    walGetCommand = `${process.execPath} ${path.join(REPO_ROOT, 'packages/agent/bin/pgfleet-agent.js')} wal-get --config ${path.join(own, 'agent.yaml')} --prefetch 2 %f %p`;
    const restoreCommand = walGetCommand;
    // The controller stopped before the copy starts: wal-get cannot reach it, which must abort
    // recovery (an exit status above 125), never look like the end of the archive.
    await controller.stop();
    let refused: Error | null = null;
    try {
      const started = await startRestored({ dataDir, version: VERSION, mode: 'archive-recovery', restoreCommand, removeDataDir: false });
      await started.stop();
    } catch (err) {
      refused = err as Error;
    } finally {
      controller = await startController(controllerConfig);
    }
    assert.ok(refused !== null, 'the copy must not start while wal-get cannot reach the controller');
    assert.match(refused.message, /FATAL: {2}could not restore file "[0-9A-F]{8}(\.history|[0-9A-F]{16})" from archive: child process exited with exit code 255/);
    assert.equal(existsSync(path.join(dataDir, 'postmaster.pid')), false, 'the server is not running');
    assert.ok(existsSync(path.join(dataDir, 'recovery.signal')), 'still to be recovered: never promoted');
    assert.deepEqual((await readdir(path.join(dataDir, 'pg_wal'))).filter((n) => n.endsWith('.history')), [], 'no new timeline');
    const control = await runAs(path.join(binDir(VERSION), 'pg_controldata'), ['-D', dataDir]);
    assert.match(control.stdout, /Latest checkpoint's TimeLineID: +1\n/);
    const copy = await startRestored({ dataDir, version: VERSION, mode: 'archive-recovery', restoreCommand });
    try {
      await waitFor('the copy to finish recovery', async () => (await copy.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r')).rows[0]?.r === false, 120_000);
      const got = (await copy.query<{ n: string }>('SELECT count(*)::text AS n FROM t')).rows[0]?.n;
      assert.equal(got, expected, 'every row committed before the archive\'s end is there');
      const last = (await copy.query<{ n: string }>("SELECT count(*)::text AS n FROM t WHERE pad = 'the last rows'")).rows[0]?.n;
      assert.equal(last, '777');
    } finally {
      await copy.destroy();
    }
  });

  // RPO. Both runs need synchronous_commit = on (the harness runs with it off): a COMMIT then
  // returns only once its WAL is flushed on the server, and, with the archive as synchronous
  // standby, only once the archive has it durably.
  test('RPO without synchronous: after kill -9 only commits past what the archive held are lost (measured)', async () => {
    await server.query('ALTER SYSTEM SET synchronous_commit = on');
    await server.query('SELECT pg_reload_conf()');
    // A fresh backup keeps the recoveries short (one wal-get per segment since its start).
    const b = await runCli(['backup', 'main', '--json'], env, 120_000);
    assert.equal(b.code, 0, b.stderr);
    rpoBackup = (JSON.parse(b.stdout) as { backups: Array<{ id: string }> }).backups[0]?.id ?? null;
    const { rows, pid } = await commitsThenKill('rpo_async', 1500);
    let acked = 0n;
    try {
      const t = Date.now();
      await waitFor('the archive to lose the server', async () => (await walReport()).state !== 'streaming', 30_000);
      console.log(`# the archive noticed the server was gone after ${Date.now() - t} ms`);
      acked = lsnOf((await walReport()).flushedLsn ?? '0/0');
      const { present, end } = await restoreLatest('rpo-async', 'rpo_async');
      const lost = rows.filter((r) => !present.has(r.id));
      const pastAck = rows.filter((r) => r.commitAfter >= acked);
      console.log(`# RPO without synchronous: ${lost.length} of ${rows.length} committed rows lost; ${pastAck.length} committed past the acknowledged position ${fmt(acked)}, the archive held WAL up to ${fmt(end)}`);
      // Nothing the archive acknowledged is lost.
      assert.ok(end >= acked, `the archive's end ${fmt(end)} is at or past the acknowledged ${fmt(acked)}`);
      // The rows there are a prefix of the commits, and a row is lost exactly when its commit
      // record ended past the archive's end (commitAfter < commit end <= commitBy).
      assert.deepEqual(rows.filter((r) => present.has(r.id)).map((r) => r.id), rows.slice(0, rows.length - lost.length).map((r) => r.id));
      for (const r of rows) {
        if (r.commitBy <= acked || r.commitBy <= end) assert.ok(present.has(r.id), `row ${r.id}, committed before ${fmt(end)}, is there`);
        if (r.commitAfter >= end) assert.ok(!present.has(r.id), `row ${r.id}, committed after ${fmt(end)}, is not`);
      }
    } finally {
      const t = Date.now();
      await restartServer(pid);
      console.log(`# server restarted in ${Date.now() - t} ms`);
    }
  });

  test('RPO with wal.synchronous and the archive as synchronous standby: every row whose COMMIT returned before kill -9 is restored', async () => {
    await server.query("ALTER SYSTEM SET synchronous_standby_names = 'pgfleet_main'");
    await server.query('SELECT pg_reload_conf()');
    const config = await readFile(controllerConfig, 'utf8');
    assert.match(config, /retention: \{ full: 2 \} \}/);
    await writeFile(controllerConfig, config.replace('retention: { full: 2 } }', 'retention: { full: 2 }, wal: { synchronous: true } }'));
    const t = Date.now();
    await controller.stop();
    controller = await startController(controllerConfig);
    await waitForStreaming();
    console.log(`# controller restarted synchronous, streaming after ${Date.now() - t} ms`);
    // The walsender's application_name is the slot's name.
    await waitFor('the archive to be the synchronous standby', async () => (await server.query<{ s: string }>(
      "SELECT sync_state AS s FROM pg_stat_replication WHERE application_name = 'pgfleet_main'")).rows[0]?.s === 'sync', 30_000);
    const { rows, pid } = await commitsThenKill('rpo_sync', 1500);
    try {
      const { present, end } = await restoreLatest('rpo-sync', 'rpo_sync');
      const lost = rows.filter((r) => !present.has(r.id));
      console.log(`# RPO with synchronous: ${lost.length} of ${rows.length} committed rows lost (${Math.round(rows.length / 1.5)} commits/s); the archive held WAL up to ${fmt(end)}`);
      assert.deepEqual(lost.map((r) => r.id), [], 'no committed row is lost');
      // Each COMMIT waits for the archive's acknowledgement, which must come with the flush, not
      // with the next status update (1 s): a few commits in 1.5 s would mean it waited for that.
      assert.ok(rows.length >= 30, `${rows.length} commits in 1.5 s`);
    } finally {
      const t = Date.now();
      await restartServer(pid);
      console.log(`# server restarted in ${Date.now() - t} ms`);
    }
  });
});

let oldestKeptBackup: string | null = null;
/** The backup the RPO tests restore. */
let rpoBackup: string | null = null;
/** restore_command = wal-get as the PostgreSQL OS user, with its own configuration (set by the recovery test). */
let walGetCommand: string | null = null;

/** SIGKILL to the postmaster; returns its pid. */
async function killServer(): Promise<number> {
  return killPostmaster(server.dataDir);
}

/** Starts the killed server again on the same port. */
async function restartServer(pid: number): Promise<void> {
  await restartKilled(server, pid, path.join(work, 'restarted.log'));
}

/** One committed row: its COMMIT record ended after commitAfter and at or before commitBy. */
interface CommittedRow { id: number; commitAfter: bigint; commitBy: bigint }

/**
 * Commits one row at a time into a new table for `ms`, then kills the server right after the
 * last COMMIT returned. Each INSERT returns the WAL insert position after its row, before its
 * commit record; the next row's is after that commit record.
 */
async function commitsThenKill(table: string, ms: number): Promise<{ rows: CommittedRow[]; pid: number }> {
  await server.query(`CREATE TABLE ${table} (id int PRIMARY KEY)`);
  const rows: CommittedRow[] = [];
  const t0 = Date.now();
  for (let id = 1; Date.now() - t0 < ms; id++) {
    const r = await server.query<{ lsn: string }>(`INSERT INTO ${table} VALUES ($1) RETURNING pg_current_wal_insert_lsn()::text AS lsn`, [id]);
    const at = lsnOf(r.rows[0]?.lsn as string);
    const previous = rows.at(-1);
    if (previous !== undefined) previous.commitBy = at;
    rows.push({ id, commitAfter: at, commitBy: 1n << 64n });
  }
  return { rows, pid: await killServer() };
}

/**
 * The newest backup restored by hand and recovered to the end of the archive through wal-get
 * (no target: `latest`), then promoted. Returns the ids in `table` and where recovery ended
 * (the new timeline's switch point).
 */
async function restoreLatest(name: string, table: string): Promise<{ present: Set<number>; end: bigint }> {
  assert.ok(walGetCommand !== null, 'the recovery test set up wal-get');
  assert.ok(rpoBackup !== null, 'the RPO backup was taken');
  const t0 = Date.now();
  const dataDir = path.join(work, name);
  await restoreTarByHand({ backupDir: path.join(repository, 'main', 'backups', rpoBackup), targetDir: dataDir });
  const copy = await startRestored({ dataDir, version: VERSION, mode: 'archive-recovery', restoreCommand: walGetCommand });
  try {
    await waitFor('the copy to finish recovery', async () => (await copy.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r')).rows[0]?.r === false, 120_000);
    console.log(`# ${name}: restored and recovered in ${Date.now() - t0} ms`);
    const ids = (await copy.query<{ id: number }>(`SELECT id FROM ${table}`).catch(async (err: Error & { code?: string }) => {
      // The archive may end before the table was created (then every row is lost; the caller
      // checks that against the acknowledged position).
      if (err.code === '42P01') return { rows: [] };
      const archive = (await readdir(walRoot())).sort().slice(-4).join(' ');
      throw new Error(`${err.message}; archive ends with ${archive}; ${JSON.stringify(await walReport())}\n--- copy log ---\n${(await copy.readLog()).slice(-3000)}`);
    })).rows.map((r) => r.id);
    const history = (await readFile(path.join(dataDir, 'pg_wal', '00000002.history'), 'utf8')).trim().split('\n').at(-1) as string;
    return { present: new Set(ids), end: lsnOf(history.split('\t')[1] as string) };
  } finally {
    await copy.destroy();
  }
}

async function sleep(ms: number): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
}

async function walReport(): Promise<WalJson> {
  return walReportOf('main', env);
}

async function waitForStreaming(): Promise<void> {
  await waitFor('the archive to stream again', async () => (await walReport()).state === 'streaming', 60_000);
}

async function waitForArchived(segment: string, timeoutMs = 60_000): Promise<void> {
  await waitFor(`segment ${segment} in the archive`, async () => (await archivedSegments()).includes(segment), timeoutMs);
}

/** Every WAL file of the archive's timeline 1 (no history, no temporary files). */
async function segmentFiles(): Promise<string[]> {
  return segmentFilesIn(walRoot());
}

/** See checkArchiveWhole in support/fleet.ts; compared with the server's pg_wal unless told not to. */
async function checkArchiveWhole(options: { compareWithServer?: boolean; allowGaps?: boolean } = {}): Promise<void> {
  await checkWhole({
    walDir: walRoot(), report: walReport, allowGaps: options.allowGaps === true,
    ...(options.compareWithServer !== false ? { serverDataDir: server.dataDir } : {}),
  });
}
