// WAL the server removed before the archive received it, against real servers.
//
// Detection, on every version under test (13–18), in-process with core: a physical slot made
// 'lost' by max_slot_wal_keep_size (1 MB segments, 2MB), then START_REPLICATION through it at
// its old position ends with WalRemovedError naming the segment (archiveSessionError: 58P01 on
// 13–17, 55000 "wal_removed" on 18); prepareArchiveSlot drops and creates the lost slot again;
// streaming at the old position through the new slot still ends with WalRemovedError, and at
// the server's position (serverStreamingStart) it streams.
//
// The fleet, on PostgreSQL 15 (or the first of PGFLEET_TEST_VERSIONS): cluster "main" archived
// through `pgfleet-agent serve`, cluster "direct" by the controller itself, both from one server
// with max_slot_wal_keep_size = 2MB. Backup B1, rows, then the controller is killed (kill -9: no
// archive streams), WAL is written and CHECKPOINT makes both slots 'lost'. The controller started
// again: for both clusters `pgfleet wal` (text and --json) and the log say that the server
// removed segment X (the archive's resume point) before the archive received it, with a HINT;
// the archive's gap starts at X, the slot is active again and new segments arrive after the gap;
// `pgfleet check` fails the archive check (the newest backup B1 cannot be recovered past X) and
// `pgfleet backups` ends B1's window at X. Backup B2 then passes the check, and a PITR from B2
// to a point after it (restore -> start -> query) holds exactly the rows before the point,
// while a restore from B1 to that point refuses, naming X.

import assert from 'node:assert/strict';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  DirectoryWalSink, ReplicationConnection, WalReceiver, WalRemovedError, archiveSessionError, prepareArchiveSlot, serverStreamingStart,
} from '@pgfleet/core';
import { chownOne, freePort, makeTempDir, startCluster, versionsUnderTest, type TestCluster } from '../harness/index.js';
import { parseLsn, waitFor, type RunningTool } from './support/index.js';
import { WAL_ARCHIVE_VERSION as FLEET_VERSION, agentAddress, fleetRestore, onPort, serveAgent, stopAgent, writeFleetAgentConfig } from './support/fleet.js';
import { runCli, startController, type ControllerProcess } from '../../packages/controller/test/support/fleet-processes.js';

const SETTINGS = ["max_slot_wal_keep_size = '2MB'", 'max_wal_senders = 10'];

/** Writes a few segments of WAL and checkpoints until `slots` are 'lost'. */
async function loseSlots(server: TestCluster, slots: string[]): Promise<void> {
  await server.query('CREATE TABLE IF NOT EXISTS filler (pad text)');
  await waitFor(`slots ${slots.join(', ')} to be lost`, async () => {
    for (let i = 0; i < 3; i++) {
      await server.query("INSERT INTO filler SELECT repeat('x', 1000) FROM generate_series(1, 800)");
      await server.query('SELECT pg_switch_wal()');
    }
    await server.query('CHECKPOINT');
    const r = await server.query<{ n: number }>("SELECT count(*)::int AS n FROM pg_replication_slots WHERE slot_name = ANY($1) AND wal_status = 'lost'", [slots]);
    return r.rows[0]?.n === slots.length;
  }, 30_000);
}

/** Streams through `slot` from `startLsn` (or the server's position) until the first segment ends; the session's error as archiveSessionError makes it. */
async function streamOnce(server: TestCluster, dir: string, slot: string, start: { lsn: bigint; timeline: number } | null): Promise<unknown> {
  const conn = await ReplicationConnection.connect({ connectionString: server.connectionString, passwordPrompt: 'never' });
  const segmentSize = await conn.walSegmentSize();
  const system = await conn.identifySystem();
  const at = start ?? await serverStreamingStart(conn, slot, system);
  try {
    const receiver = await WalReceiver.start({
      connect: async () => conn, sink: new DirectoryWalSink({ directory: path.join(dir, `${slot}-${at.lsn}`), segmentSize, markDone: false }),
      slot, temporarySlot: false, startLsn: at.lsn, timeline: at.timeline, endLsn: at.lsn + BigInt(segmentSize) / 2n,
    });
    await server.query("SELECT pg_logical_emit_message(false, 'x', repeat('x', 600000))");
    await receiver.done;
    return null;
  } catch (err) {
    return archiveSessionError(err);
  }
}

describe('WAL removed under a lost slot: detection on every version', () => {
  for (const version of versionsUnderTest()) {
    test(`PostgreSQL ${version}: a lost slot is recognised, created again, and the removed segment named`, async () => {
      const server = await startCluster({ version, initdbArgs: ['--wal-segsize=1'], settings: SETTINGS });
      try {
        const dir = await makeTempDir('slot-lost');
        const conn = await ReplicationConnection.connect({ connectionString: server.connectionString, passwordPrompt: 'never' });
        await conn.createReplicationSlot('arch', { temporary: false, reserveWal: true });
        await conn.close();
        const [old] = (await server.query<{ lsn: string; seg: string }>(
          "SELECT restart_lsn::text AS lsn, pg_walfile_name(restart_lsn) AS seg FROM pg_replication_slots WHERE slot_name = 'arch'")).rows;
        const start = { lsn: parseLsn(old?.lsn as string), timeline: 1 };
        await loseSlots(server, ['arch']);

        const onLost = await streamOnce(server, dir, 'arch', start);
        assert.ok(onLost instanceof WalRemovedError, `through the lost slot: ${String(onLost)}`);
        if (version < 18) assert.match(onLost.message, new RegExp(`^the server removed WAL segment ${old?.seg} before the archive received it: `));
        else assert.match(onLost.message, /^the server removed WAL before the archive received it: .*can no longer access replication slot "arch"/);

        const probeConn = await ReplicationConnection.connect({ connectionString: server.connectionString, passwordPrompt: 'never' });
        const slot = await prepareArchiveSlot(probeConn, 'arch', { connectionString: server.connectionString });
        await probeConn.close();
        assert.equal(slot.recreatedLost, true);
        assert.notEqual(slot.probe.slotWalStatus, 'lost');
        assert.match(slot.warnings[0] ?? '', /replication slot "arch" had been invalidated by the server \(wal_status "lost"/);

        const fromOld = await streamOnce(server, dir, 'arch', start);
        assert.ok(fromOld instanceof WalRemovedError, `through the new slot at the old position: ${String(fromOld)}`);
        assert.match(fromOld.message, new RegExp(`^the server removed WAL segment ${old?.seg} before the archive received it: .*requested WAL segment ${old?.seg} has already been removed`));
        assert.equal(await streamOnce(server, dir, 'arch', null), null, 'at the server\'s position it streams');
      } finally {
        await server.destroy();
      }
    });
  }
});

let server: TestCluster;
let work: string;
let root: string;
let certs: string;
let repository: string;
let fleetYaml: string;
let controller: ControllerProcess;
let agent: RunningTool;
let env: NodeJS.ProcessEnv;
/** Per cluster: the first segment the archive lacked when the server removed WAL. */
const firstMissing = new Map<string, string>();
let backup1 = '';
let backup2 = '';
let point = '';

interface RemovedWalJson { timeline: number; firstMissing: string; resumedAt: string | null; message: string; hint: string; serverError: string }
interface WalJson {
  cluster: string; state: string; flushedLsn: string | null; gaps: number; removedWal: RemovedWalJson[];
  timelines: Array<{ timeline: number; lastSegment: string; gaps: Array<{ from: string; to: string }> }>;
}

async function walJson(cluster: string): Promise<WalJson> {
  const r = await runCli(['wal', cluster, '--json'], env);
  assert.equal(r.code, 0, r.stderr);
  return (JSON.parse(r.stdout) as WalJson[])[0] as WalJson;
}

async function backup(cluster: string): Promise<string> {
  const b = await runCli(['backup', cluster, '--json'], env, 300_000);
  assert.equal(b.code, 0, b.stderr + controller.log());
  return (JSON.parse(b.stdout) as { backups: Array<{ id: string }> }).backups[0]?.id as string;
}

/** Where the archive of `cluster` resumes: its newest .partial's segment, else the one after its newest segment. */
async function resumeSegment(cluster: string): Promise<string> {
  const names = (await readdir(path.join(repository, cluster, 'wal', '00000001'))).filter((n) => /^[0-9A-F]{24}/.test(n)).sort();
  const newest = names[names.length - 1] as string;
  if (newest.includes('.partial')) return newest.slice(0, 24);
  const next = BigInt(`0x${newest.slice(16, 24)}`) + 1n;
  return `${newest.slice(0, 16)}${next.toString(16).toUpperCase().padStart(8, '0')}`;
}

function fleetConfig(agentAddress: string, controllerPort: number): string {
  return [
    `listen: 127.0.0.1:${controllerPort}`, `repository: ${repository}`,
    `tls: { ca: ${certs}/ca.crt, cert: ${certs}/controller.crt, key: ${certs}/controller.key }`,
    'agents:', `  - { name: db1, address: "${agentAddress}" }`,
    'clusters:',
    `  - { name: main, agent: db1, conninfo: "${server.connectionString}", retention: { full: 5 } }`,
    `  - { name: direct, conninfo: "${server.connectionString}", retention: { full: 5 } }`,
    '',
  ].join('\n');
}

describe(`the fleet's archive after the server removed WAL it needed (PostgreSQL ${FLEET_VERSION})`, () => {
  before(async () => {
    server = await startCluster({ version: FLEET_VERSION, initdbArgs: ['--wal-segsize=1'], settings: SETTINGS });
    work = await makeTempDir('wal-slot-lost');
    certs = path.join(work, 'certs');
    assert.equal((await runCli(['certs', 'init', certs, '--agent', 'db1'])).code, 0);
    root = path.join(work, 'db1-root');
    await mkdir(root);
    await chownOne(root);
    const controllerPort = await freePort();
    agent = await serveAgent(await writeFleetAgentConfig({ work, certs, agent: 'db1', cluster: 'main', root, version: FLEET_VERSION, controllerPort }), 600_000);
    repository = path.join(work, 'repo');
    fleetYaml = path.join(work, 'fleet.yaml');
    await writeFile(fleetYaml, fleetConfig(agentAddress(agent), controllerPort));
    controller = await startController(fleetYaml);
    env = { PGFLEET_CONTROLLER: controller.address, PGFLEET_CERTS: certs };
  });

  after(async () => {
    await controller?.stop();
    await stopAgent(agent);
    await server?.destroy();
  });

  test('slots lost while the controller is down: reported loudly, the gap shown, streaming resumes after it', async (t) => {
    await server.query('CREATE TABLE t (id int)');
    backup1 = await backup('main');
    await server.query('INSERT INTO t SELECT generate_series(1, 10)');
    const lsn = (await server.query<{ l: string }>('SELECT pg_current_wal_insert_lsn()::text AS l')).rows[0]?.l as string;
    for (const cluster of ['main', 'direct']) {
      await waitFor(`${cluster} archived to ${lsn}`, async () => {
        const w = await walJson(cluster);
        return w.state === 'streaming' && w.flushedLsn !== null && parseLsn(w.flushedLsn) >= parseLsn(lsn);
      }, 60_000);
    }
    await controller.kill();
    await waitFor('both slots inactive', async () => (await server.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM pg_replication_slots WHERE slot_name IN ('pgfleet_main', 'pgfleet_direct') AND NOT active")).rows[0]?.n === 2, 30_000);
    for (const cluster of ['main', 'direct']) firstMissing.set(cluster, await resumeSegment(cluster));
    await loseSlots(server, ['pgfleet_main', 'pgfleet_direct']);

    controller = await startController(fleetYaml);
    env = { ...env, PGFLEET_CONTROLLER: controller.address };
    for (const cluster of ['main', 'direct']) {
      const x = firstMissing.get(cluster) as string;
      const message = `the server of cluster "${cluster}" removed WAL segment ${x} before the archive received it: point-in-time recovery across it is impossible`;
      await waitFor(`${cluster}: the removal reported and streaming again`, async () => {
        const w = await walJson(cluster);
        return w.state === 'streaming' && w.removedWal.length === 1 && w.removedWal[0]?.resumedAt !== null;
      }, 60_000);
      const w = await walJson(cluster);
      const [n] = w.removedWal;
      assert.equal(n?.message, message);
      assert.equal(n?.firstMissing, x);
      assert.match(n?.hint ?? '', new RegExp(`^Take a new backup \\("pgfleet backup ${cluster}"\\): the archive streams again from ${n?.resumedAt}`));
      assert.match(n?.serverError ?? '', new RegExp(`^(?!the server removed).*: requested WAL segment ${x} has already been removed$`));
      // The gap runs from X to the segment before where streaming resumed.
      // (+ 1: at a segment's first byte pg_walfile_name names the segment before.)
      const resumed = (await server.query<{ s: string }>('SELECT pg_walfile_name($1::pg_lsn + 1) AS s', [n?.resumedAt])).rows[0]?.s as string;
      assert.equal(w.gaps, 1, JSON.stringify(w.timelines));
      assert.equal(w.timelines[0]?.gaps[0]?.from, x);
      assert.ok((w.timelines[0]?.gaps[0]?.to ?? '') < resumed, `${JSON.stringify(w.timelines[0]?.gaps)} before ${resumed}`);
      const text = await runCli(['wal', cluster], env);
      t.diagnostic(text.stdout);
      assert.ok(text.stdout.includes(`  ERROR:      ${message}\n  HINT:       Take a new backup`), text.stdout);
      assert.match(controller.log(), new RegExp(`ERROR.*cluster "${cluster}": WAL archive: ${message.replace(/[()]/g, '\\$&')}`));
    }
    assert.match(controller.log(), /WARN.*replication slot "pgfleet_direct" had been invalidated by the server \(wal_status "lost"/);
    assert.match(controller.log(), /WARN.*replication slot "pgfleet_main" had been invalidated by the server \(wal_status "lost"/);
    const slots = await server.query<{ slot_name: string; active: boolean; wal_status: string }>(
      "SELECT slot_name, active, wal_status FROM pg_replication_slots WHERE slot_name LIKE 'pgfleet_%' ORDER BY 1");
    assert.deepEqual(slots.rows.map((r) => [r.slot_name, r.active, r.wal_status !== 'lost']), [['pgfleet_direct', true, true], ['pgfleet_main', true, true]]);
    // New segments arrive after the gap.
    const switched = (await server.query<{ s: string }>('SELECT pg_walfile_name(pg_switch_wal()) AS s')).rows[0]?.s as string;
    await waitFor(`${switched} archived for main`, async () => (await readdir(path.join(repository, 'main', 'wal', '00000001'))).some((f) => f.startsWith(switched) && !f.includes('partial')), 30_000);
  });

  test('check fails while the newest backup is before the gap; a backup after it recovers to a later point, one before it refuses', async () => {
    const x = firstMissing.get('main') as string;
    const check = await runCli(['check', 'main', '--json'], env);
    assert.equal(check.code, 1, check.stdout);
    const archive = (JSON.parse(check.stdout) as Array<{ checks: Array<{ name: string; status: string; message: string; hint: string | null }> }>)[0]?.checks.find((c) => c.name === 'archive');
    assert.equal(archive?.status, 'failed', check.stdout);
    assert.equal(archive?.message, `the newest backup ${backup1} cannot be recovered past WAL segment ${x}: the server removed it before the archive received it`);
    const listed = JSON.parse((await runCli(['backups', 'main', '--json'], env)).stdout) as Array<{ id: string; recoverableWindow: { end: string; firstMissing: string | null } }>;
    const w1 = listed.find((b) => b.id === backup1)?.recoverableWindow;
    assert.deepEqual({ end: w1?.end, firstMissing: w1?.firstMissing }, { end: 'gap', firstMissing: x }, 'B1\'s window ends at the gap');

    backup2 = await backup('main');
    await server.query('INSERT INTO t SELECT generate_series(11, 20)');
    point = (await server.query<{ l: string }>('SELECT pg_current_wal_insert_lsn()::text AS l')).rows[0]?.l as string;
    await server.query('INSERT INTO t SELECT generate_series(21, 30)');
    await server.query('SELECT pg_switch_wal()');
    const end = (await server.query<{ l: string }>('SELECT pg_current_wal_insert_lsn()::text AS l')).rows[0]?.l as string;
    await waitFor('main archived past the point', async () => {
      const w = await walJson('main');
      return w.flushedLsn !== null && parseLsn(w.flushedLsn) >= parseLsn(end);
    }, 60_000);
    const after2 = await runCli(['check', 'main', '--json'], env);
    const archive2 = (JSON.parse(after2.stdout) as Array<{ checks: Array<{ name: string; status: string; message: string }> }>)[0]?.checks.find((c) => c.name === 'archive');
    assert.equal(archive2?.status, 'ok', after2.stdout);

    const refused = await runCli(['restore', 'main', '--agent', 'db1', '--backup', backup1, '-D', path.join(root, 'across'), '--target-lsn', point], env, 300_000);
    assert.notEqual(refused.code, 0, refused.stdout);
    assert.match(refused.stderr, new RegExp(`WAL segment "${x}" is missing from the WAL archive`));

    const copy = await fleetRestore({
      cluster: 'main', agent: 'db1', dataDir: path.join(root, 'after'), version: FLEET_VERSION, env, args: ['--target-lsn', point], agentLog: () => agent.stderrSoFar(),
    });
    assert.match(copy.plan, new RegExp(backup2));
    assert.equal(copy.instance.inRecovery, false, 'promoted');
    assert.deepEqual((await onPort<{ n: number; max: number }>(copy.port, 'SELECT count(*)::int AS n, max(id) AS max FROM t'))[0], { n: 20, max: 20 });
  });
});
