// The fleet's continuous WAL archive across a timeline switch, black box: a PostgreSQL 15 server
// (1 MB WAL segments) behind `pgfleet-agent serve`, one `pgfleet serve` streaming its WAL into
// the repository, mutual TLS, and `pgfleet` CLI calls.
//
//   - backup B1, rows 1-100 on timeline 1, point T1 (a time), rows 101-200 on timeline 1; the
//     old primary stopped cleanly once the archive holds its WAL;
//   - `pgfleet restore main --target latest --start` on the agent's host: every timeline-1 row,
//     promoted to timeline 2; fleet.yaml's conninfo pointed at it, SIGHUP to the controller: the
//     archive follows (slot pgfleet_main created and active on the new primary, segments and
//     00000002.history in <repo>/main/wal/00000002/), the server keeps running as the primary;
//   - backup B2 of the new primary, rows 201-300 on timeline 2, point T2 (an LSN), rows 301-400;
//   - PITR to T2: from B2, rows 1-300, read-write; PITR to T1 along timeline 1
//     (`--target-timeline 1`): from B1, rows 1-100 only, read-write;
//   - backup B2 restored to its end and promoted (`--mode promote`, no target): timeline 3
//     forks behind the archive's position on timeline 2; made the primary, the archive streams
//     it from the fork's segment (slot, history file), and a PITR to a point T3 on timeline 3
//     holds B2's rows and timeline 3's up to T3, none of timeline 2 after B2.
//
// Points are pg_current_wal_insert_lsn(): the harness runs with synchronous_commit = off, so the
// write position may still lie before a commit that has returned.
//
// Versions: PostgreSQL 15 (or the first of PGFLEET_TEST_VERSIONS); wal-versions.test.ts runs the
// restore-and-promote to timeline 2 and the PITRs on both timelines on every version.

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { chownOne, freePort, makeTempDir, startCluster, type TestCluster } from '../harness/index.js';
import { stopStartedInstance } from './agent-support.js';
import { waitFor, type RunningTool } from './support/index.js';
import {
  WAL_ARCHIVE_VERSION as VERSION, agentAddress, fleetRestore, onPort, serveAgent, stopAgent, waitArchived, writeFleetAgentConfig,
  type FleetRestore,
} from './support/fleet.js';
import { runCli, startController, type ControllerProcess } from '../../packages/controller/test/support/fleet-processes.js';

let oldPrimary: TestCluster;
let work: string;
let root: string;
let certs: string;
let repository: string;
let controller: ControllerProcess;
let fleetYaml: string;
let agent: RunningTool;
let env: NodeJS.ProcessEnv;
let controllerPort: number;
/** The promoted server: the cluster's primary from the second test on. */
let newPrimary: { dataDir: string; port: number } | null = null;
let backup1 = '';
let backup2 = '';
let t1 = '';

const walTimelineDir = (tli: number): string => path.join(repository, 'main', 'wal', tli.toString(16).toUpperCase().padStart(8, '0'));

function fleetConfig(conninfo: string, agentAt: string): string {
  return [
    `listen: 127.0.0.1:${controllerPort}`, `repository: ${repository}`,
    `tls: { ca: ${certs}/ca.crt, cert: ${certs}/controller.crt, key: ${certs}/controller.key }`,
    'agents:', `  - { name: db1, address: "${agentAt}" }`,
    'clusters:',
    `  - { name: main, agent: db1, conninfo: "${conninfo}", retention: { full: 5 }, wal: { archive: stream } }`,
    '',
  ].join('\n');
}

async function backup(): Promise<string> {
  const b = await runCli(['backup', 'main', '--json'], env, 300_000);
  assert.equal(b.code, 0, b.stderr + controller.log());
  const id = (JSON.parse(b.stdout) as { backups: Array<{ id: string }> }).backups[0]?.id;
  assert.ok(id, b.stdout);
  return id;
}

/** `pgfleet restore main --agent db1 -D <root>/<name> ARGS --start --port P --json`; the instance is left running. */
async function restore(name: string, args: string[]): Promise<FleetRestore> {
  return fleetRestore({ cluster: 'main', agent: 'db1', dataDir: path.join(root, name), version: VERSION, env, args, agentLog: () => agent.stderrSoFar() });
}

/** Inserts rows `from`..`to` of table tl, one transaction each ten rows. */
async function insertRows(port: number, from: number, to: number, timeline: number): Promise<void> {
  for (let i = from; i <= to; i += 10) {
    await onPort(port, `INSERT INTO tl SELECT g, ${timeline} FROM generate_series(${i}, ${Math.min(i + 9, to)}) g`);
  }
}

async function rowIds(port: number): Promise<{ min: number; max: number; count: number }> {
  const [r] = await onPort<{ min: number; max: number; count: number }>(port, 'SELECT min(id)::int AS min, max(id)::int AS max, count(*)::int AS count FROM tl');
  return r as { min: number; max: number; count: number };
}

/** The copy is read-write, its new timeline is none of the archive's, and a write succeeds. */
async function assertReadWrite(copy: FleetRestore, label: string): Promise<void> {
  assert.equal(copy.instance.inRecovery, false, `${label}: promoted`);
  const [s] = await onPort<{ rec: boolean; tli: number }>(copy.port, 'SELECT pg_is_in_recovery() AS rec, (SELECT timeline_id FROM pg_control_checkpoint())::int AS tli');
  assert.equal(s?.rec, false, `${label}: read-write`);
  assert.ok((s?.tli ?? 0) > 2, `${label}: a new timeline past the archive's (${s?.tli})`);
  await onPort(copy.port, 'INSERT INTO tl VALUES (-1, 0)');
}

before(async () => {
  oldPrimary = await startCluster({ version: VERSION, initdbArgs: ['--wal-segsize=1'] });
  work = await makeTempDir('wal-timeline');
  certs = path.join(work, 'certs');
  const init = await runCli(['certs', 'init', certs, '--agent', 'db1']);
  assert.equal(init.code, 0, init.stderr);
  root = path.join(work, 'db1-root');
  await mkdir(root);
  await chownOne(root);
  controllerPort = await freePort();
  const agentConfig = await writeFleetAgentConfig({ work, certs, agent: 'db1', cluster: 'main', root, version: VERSION, controllerPort });
  agent = await serveAgent(agentConfig);
  repository = path.join(work, 'repo');
  fleetYaml = path.join(work, 'fleet.yaml');
  await writeFile(fleetYaml, fleetConfig(oldPrimary.connectionString, agentAddress(agent)));
  controller = await startController(fleetYaml);
  env = { PGFLEET_CONTROLLER: controller.address, PGFLEET_CERTS: certs };
});

describe(`WAL archive across a timeline switch (PostgreSQL ${VERSION})`, () => {
  after(async () => {
    await controller?.stop();
    await stopAgent(agent);
    await oldPrimary?.destroy();
  });

  test('restored and promoted to timeline 2, the new primary is archived: slot, segments and 00000002.history', async () => {
    await waitFor('the archive to start', () => existsSync(walTimelineDir(1)), 60_000);
    await oldPrimary.query('CREATE TABLE tl (id int PRIMARY KEY, timeline int)');
    backup1 = await backup();
    await insertRows(oldPrimary.port, 1, 100, 1);
    t1 = (await oldPrimary.query<{ t: string }>('SELECT clock_timestamp()::text AS t')).rows[0]?.t as string;
    await insertRows(oldPrimary.port, 101, 200, 1);
    const end1 = (await oldPrimary.query<{ l: string }>('SELECT pg_current_wal_insert_lsn()::text AS l')).rows[0]?.l as string;
    await waitArchived('main', env, end1, 1, 'the old primary\'s WAL');
    await oldPrimary.stop();

    const promoted = await restore('new-primary', ['--target', 'latest']);
    newPrimary = { dataDir: promoted.dataDir, port: promoted.port };
    assert.equal(promoted.instance.inRecovery, false, 'promoted');
    assert.equal(promoted.instance.timeline, 2, promoted.plan);
    assert.deepEqual(await rowIds(promoted.port), { min: 1, max: 200, count: 200 }, 'every row of timeline 1');

    await writeFile(fleetYaml, fleetConfig(`postgresql://postgres@127.0.0.1:${promoted.port}/postgres`, agentAddress(agent)));
    controller.child.kill('SIGHUP');
    await waitFor('the controller to reload', () => /configuration reloaded/.test(controller.log()), 30_000);
    await waitFor('slot pgfleet_main active on the new primary', async () => {
      const rows = await onPort<{ active: boolean }>(promoted.port, "SELECT active FROM pg_replication_slots WHERE slot_name = 'pgfleet_main'");
      return rows[0]?.active === true;
    }, 120_000);
    await waitFor('00000002.history in the archive', () => existsSync(path.join(walTimelineDir(2), '00000002.history')), 60_000);
    const history = await readFile(path.join(walTimelineDir(2), '00000002.history'), 'utf8');
    assert.match(history, /^1\t[0-9A-F]+\/[0-9A-F]+\t/m, history);
    const [seg] = await onPort<{ name: string }>(promoted.port, 'SELECT pg_walfile_name(pg_switch_wal()) AS name');
    assert.match(seg?.name ?? '', /^00000002/);
    await waitFor(`segment ${seg?.name} in ${walTimelineDir(2)}`,
      async () => (await readdir(walTimelineDir(2))).some((n) => n.startsWith(`${seg?.name}.`) || n === seg?.name), 120_000);
  });

  test('a later PITR to a point on timeline 2 and one to a point on timeline 1 before the switch', async () => {
    assert.ok(newPrimary, 'the first test promoted a new primary');
    const port = newPrimary.port;
    backup2 = await backup();
    await insertRows(port, 201, 300, 2);
    const [t2] = await onPort<{ l: string }>(port, 'SELECT pg_current_wal_insert_lsn()::text AS l');
    await insertRows(port, 301, 400, 2);
    const [end2] = await onPort<{ l: string }>(port, 'SELECT pg_current_wal_insert_lsn()::text AS l');
    await waitArchived('main', env, end2?.l as string, 2, 'timeline 2 up to the last row');

    const onTwo = await restore('pitr-t2', ['--target-lsn', t2?.l as string]);
    assert.match(onTwo.plan, new RegExp(`backup ${backup2} \\(timeline 2,.*\\(timeline 2\\)`), onTwo.plan);
    assert.deepEqual(await rowIds(onTwo.port), { min: 1, max: 300, count: 300 }, 'timeline 1 and timeline 2 up to T2');
    await assertReadWrite(onTwo, 'PITR to T2');
    await stopStartedInstance(onTwo.dataDir);

    const onOne = await restore('pitr-t1', ['--target-time', t1, '--target-timeline', '1']);
    assert.match(onOne.plan, new RegExp(`backup ${backup1} \\(timeline 1,.*\\(timeline 1\\)`), onOne.plan);
    assert.deepEqual(await rowIds(onOne.port), { min: 1, max: 100, count: 100 }, 'timeline 1 up to T1 only');
    await assertReadWrite(onOne, 'PITR to T1');
    await stopStartedInstance(onOne.dataDir);

    // The new primary kept running and streaming all along.
    assert.deepEqual(await rowIds(port), { min: 1, max: 400, count: 400 });
  });

  test('a restore to the end of a backup, promoted where the archive already went further on timeline 2, is archived on its own timeline', async () => {
    assert.ok(newPrimary, 'the first test promoted a new primary');
    await stopStartedInstance(newPrimary.dataDir);
    // No target: the copy stops at the end of backup B2 and forks timeline 3 there, behind the
    // archive's position on timeline 2 (rows 201-400 came after B2).
    const third = await restore('third-primary', ['--backup', backup2, '--mode', 'promote']);
    assert.equal(third.instance.inRecovery, false, 'promoted');
    const tli = third.instance.timeline;
    assert.ok(tli > 2, `a new timeline (${tli})`);
    assert.deepEqual(await rowIds(third.port), { min: 1, max: 200, count: 200 }, 'the rows of backup B2');
    await writeFile(fleetYaml, fleetConfig(`postgresql://postgres@127.0.0.1:${third.port}/postgres`, agentAddress(agent)));
    const reloads = controller.log().split('configuration reloaded').length;
    controller.child.kill('SIGHUP');
    await waitFor('the controller to reload', () => controller.log().split('configuration reloaded').length > reloads, 30_000);
    await waitFor('slot pgfleet_main active on the third primary', async () => {
      const rows = await onPort<{ active: boolean }>(third.port, "SELECT active FROM pg_replication_slots WHERE slot_name = 'pgfleet_main'");
      return rows[0]?.active === true;
    }, 120_000);
    const historyName = `${tli.toString(16).toUpperCase().padStart(8, '0')}.history`;
    await waitFor(`${historyName} in the archive`, () => existsSync(path.join(walTimelineDir(tli), historyName)), 60_000);
    await insertRows(third.port, 1001, 1100, tli);
    const [t3] = await onPort<{ l: string }>(third.port, 'SELECT pg_current_wal_insert_lsn()::text AS l');
    await insertRows(third.port, 1101, 1200, tli);
    const [end3] = await onPort<{ l: string }>(third.port, 'SELECT pg_current_wal_insert_lsn()::text AS l');
    await waitArchived('main', env, end3?.l as string, tli, `timeline ${tli} up to the last row`);

    const onThree = await restore('pitr-t3', ['--target-lsn', t3?.l as string]);
    assert.match(onThree.plan, new RegExp(`backup ${backup2} \\(timeline 2,.*\\(timeline ${tli}\\)`), onThree.plan);
    const ids = await onPort<{ id: number }>(onThree.port, 'SELECT id FROM tl WHERE id > 200 ORDER BY id');
    assert.deepEqual(ids.map((r) => r.id), Array.from({ length: 100 }, (_, i) => 1001 + i), `timeline ${tli} up to T3, no row of timeline 2 after B2`);
    assert.equal((await rowIds(onThree.port)).count, 300);
    await assertReadWrite(onThree, 'PITR to T3');
    await stopStartedInstance(onThree.dataDir);
  });
});
