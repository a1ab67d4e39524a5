// The fleet's continuous WAL archive on every PostgreSQL version under test (13-18), black box
// and all at once: one server per version (1 MB WAL segments), one `pgfleet-agent serve` per server,
// ONE `pgfleet serve` archiving every cluster (stream, lz4, wal.synchronous), mutual TLS.
// Per cluster, concurrently:
//
//   - backup B1, then rows written continuously in batches of ids; kill -9 of each agent (a
//     point P_out taken while it is down: rows keep being committed into the outage window),
//     restarted; kill -9 of the controller, restarted; kill -9 of each postmaster, restarted; a
//     point P_restart after that; then the repository's disk full (each cluster's archive
//     directory is a 40 MB tmpfs, root only, filled up): ENOSPC in `pgfleet wal` and the log,
//     the slot not past what was stored, streaming again once space is back. The archive then
//     holds everything: no gap in `pgfleet wal`, every complete archived segment equal to the
//     server's;
//   - `pgfleet restore --target-lsn P_out --start`: exactly the rows committed before P_out,
//     read-write, timeline 2; made the cluster's primary (conninfo, SIGHUP): the archive follows
//     (slot, 00000002.history, timeline-2 segments);
//   - RPO: the timeline-2 primary with synchronous_standby_names = 'pgfleet_<cluster>' commits
//     rows one by one and is killed with kill -9; `pgfleet restore --target latest --start` holds
//     every row whose COMMIT returned (counts printed) and timeline 1's rows before P_out;
//   - `pgfleet restore --target-timeline 1 --target-lsn P_restart --start`: exactly the rows
//     committed before P_restart on timeline 1, read-write.
//
// Points are pg_current_wal_insert_lsn() taken after a batch's COMMIT returned (the harness runs
// with synchronous_commit = off: the write position may lie before a returned commit). Which rows
// a restore must hold comes from the timeline-1 server's table at the end: kill -9 with
// synchronous_commit = off may lose commits that returned, and a batch cut off by the kill may
// or may not have committed; ids are never reused.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import {
  REPO_ROOT, chownOne, freePort, isRoot, makeTempDir, startCluster, versionsUnderTest, type PgVersion, type TestCluster,
} from '../harness/index.js';
import { stopStartedInstance } from './agent-support.js';
import { parseLsn, waitFor, type RunningTool } from './support/index.js';
import {
  checkArchiveWhole, fleetRestore, killPostmaster, onPort, restartKilled, serveAgent, stopAgent, waitArchived,
  walReport, writeFleetAgentConfig, type FleetRestore,
} from './support/fleet.js';
import { runCli, startController, type ControllerProcess } from '../../packages/controller/test/support/fleet-processes.js';

// The agent runs from its build: restore_command (wal-get) runs once per WAL file, and starting
// it through tsx from the sources costs seconds each time.
process.env['PGFLEET_AGENT_BIN'] ??= path.join(REPO_ROOT, 'packages', 'agent', 'dist', 'bin', 'pgfleet-agent.js');

// wal-archive.test.ts and wal-timeline.test.ts test 15 in depth; it runs here too, for the
// PITR into an outage window that only this file makes.
const VERSIONS = versionsUnderTest();
/** Rows per batch, and the pause between batches: enough to put points between batches, little load. */
const BATCH = 10;
const PAUSE_MS = 40;

/** A position between two batches: every batch up to lastId had returned, none after it had begun. */
interface Point { lsn: string; lastId: number }

/** Inserts batches of ids into table w until stopped, reconnecting after a failure (a killed server). */
class Writer {
  private nextId = 1;
  private stopped = false;
  readonly points: Point[] = [];
  failures = 0;
  private readonly done: Promise<void>;

  constructor(private readonly port: number) {
    this.done = this.run();
  }

  private async run(): Promise<void> {
    let client: pg.Client | null = null;
    while (!this.stopped) {
      try {
        if (client === null) {
          client = new pg.Client({ host: '127.0.0.1', port: this.port, user: 'postgres', database: 'postgres' });
          client.on('error', () => undefined);
          await client.connect();
        }
        const from = this.nextId;
        this.nextId += BATCH;
        await client.query('INSERT INTO w SELECT generate_series($1::int, $2::int)', [from, from + BATCH - 1]);
        const [r] = (await client.query<{ l: string }>('SELECT pg_current_wal_insert_lsn()::text AS l')).rows;
        this.points.push({ lsn: r?.l as string, lastId: from + BATCH - 1 });
      } catch {
        this.failures++;
        await client?.end().catch(() => undefined);
        client = null;
        await sleep(200);
      }
      await sleep(PAUSE_MS);
    }
    await client?.end().catch(() => undefined);
  }

  /** The point after `batches` more batches have returned. */
  async pointAfter(batches: number): Promise<Point> {
    const want = this.points.length + batches;
    await waitFor(`${batches} more batches`, () => this.points.length >= want, 60_000);
    return this.points.at(-1) as Point;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.done;
  }
}

/** One version's cluster and what the steps learn about it. */
interface Node {
  version: PgVersion;
  cluster: string;
  agentName: string;
  server: TestCluster;
  root: string;
  agentConfig: string;
  agent: RunningTool;
  writer: Writer | null;
  backup: string;
  /** Taken while the agent was dead. */
  pOut: Point | null;
  /** Taken after the postmaster's restart. */
  pRestart: Point | null;
  /** The ids of the timeline-1 server at the end, ascending. */
  truth: number[];
  /** The PITR to P_out, the cluster's primary on timeline 2. */
  primary2: FleetRestore | null;
}

let work: string;
let certs: string;
let repository: string;
let fleetYaml: string;
let controllerPort: number;
let controller: ControllerProcess;
let env: NodeJS.ProcessEnv;
const nodes: Node[] = [];

const walDir = (n: Node, tli: number): string => path.join(repository, n.cluster, 'wal', tli.toString(16).toUpperCase().padStart(8, '0'));

function fleetConfig(conninfo: (n: Node) => string): string {
  return [
    `listen: 127.0.0.1:${controllerPort}`, `repository: ${repository}`,
    `tls: { ca: ${certs}/ca.crt, cert: ${certs}/controller.crt, key: ${certs}/controller.key }`,
    'agents:', ...nodes.map((n) => `  - { name: ${n.agentName}, address: "127.0.0.1:${agentPorts.get(n.agentName)}" }`),
    'clusters:',
    ...nodes.map((n) => `  - { name: ${n.cluster}, agent: ${n.agentName}, conninfo: "${conninfo(n)}", wal: { archive: stream, synchronous: true } }`),
    '',
  ].join('\n');
}
const agentPorts = new Map<string, number>();

/** Ids in table w, ascending, up to `lastId` (all when omitted). */
async function ids(port: number, lastId = 2 ** 31 - 1): Promise<number[]> {
  return (await onPort<{ id: number }>(port, 'SELECT id FROM w WHERE id <= $1 ORDER BY id', [lastId])).map((r) => r.id);
}

const expectedUpTo = (n: Node, p: Point): number[] => n.truth.filter((id) => id <= p.lastId);

async function restore(n: Node, name: string, args: string[]): Promise<FleetRestore> {
  return fleetRestore({
    cluster: n.cluster, agent: n.agentName, dataDir: path.join(n.root, name), version: n.version, env, args, agentLog: () => n.agent.stderrSoFar(),
  });
}

/** Promoted, read-write (a write succeeds: table `written`, which a later restore of this copy's timeline would hold), on a timeline above `above`. */
async function assertReadWrite(copy: FleetRestore, above: number, written: string, label: string): Promise<void> {
  assert.equal(copy.instance.inRecovery, false, `${label}: promoted`);
  const [s] = await onPort<{ rec: boolean; tli: number }>(copy.port, 'SELECT pg_is_in_recovery() AS rec, (SELECT timeline_id FROM pg_control_checkpoint())::int AS tli');
  assert.equal(s?.rec, false, `${label}: read-write`);
  assert.ok((s?.tli ?? 0) > above, `${label}: timeline ${s?.tli} above ${above}`);
  await onPort(copy.port, `CREATE TABLE ${written} (id int)`);
}

/** Each cluster's WAL archive directory is a tmpfs of its own (root only), for the disk-full step. */
const tmpfsMounts: string[] = [];
const TMPFS_SIZE = '40m';

/**
 * The repository's disk full under a streaming archive: acknowledgements stop with ENOSPC in
 * `pgfleet wal` and the controller's log, the slot does not pass what was stored, and once space
 * is back the archive streams again (the caller then checks it whole, without a gap).
 */
async function diskFull(n: Node, writer: Writer): Promise<void> {
  const filler = path.join(repository, n.cluster, 'wal', 'filler');
  try {
    execFileSync('dd', ['if=/dev/zero', `of=${filler}`, 'bs=1M'], { stdio: 'ignore' });
  } catch {
    // dd ends with "No space left on device": that is the point.
  }
  let report: Awaited<ReturnType<typeof walReport>> | undefined;
  await waitFor(`the archive of ${n.cluster} to fail for want of space`, async () => {
    await writer.pointAfter(1);
    report = await walReport(n.cluster, env);
    return report.state === 'failed' && /No space left on device|ENOSPC/i.test(report.reason ?? '');
  }, 60_000);
  assert.match(controller.log(), new RegExp(`cluster "${n.cluster}": WAL archive: .*(No space left on device|ENOSPC)`, 'i'));
  const [slot] = await n.server.query<{ restart_lsn: string }>(
    'SELECT restart_lsn::text FROM pg_replication_slots WHERE slot_name = $1', [`pgfleet_${n.cluster}`]).then((r) => r.rows);
  const flushed = report?.flushedLsn;
  assert.ok(flushed && parseLsn(slot?.restart_lsn as string) <= parseLsn(flushed), `${n.cluster}: the slot ${slot?.restart_lsn} within what was stored, ${flushed}`);
  await rm(filler);
  await waitStreaming(n);
}

async function waitStreaming(n: Node): Promise<void> {
  await waitFor(`the archive of ${n.cluster} to stream`, async () => (await walReport(n.cluster, env)).state === 'streaming', 60_000);
}

describe(`fleet WAL archive on PostgreSQL ${VERSIONS.join(', ')} under one controller`, () => {
  before(async () => {
    const t0 = Date.now();
    work = await makeTempDir('wal-versions');
    certs = path.join(work, 'certs');
    const init = await runCli(['certs', 'init', certs, ...VERSIONS.flatMap((v) => ['--agent', `db${v}`])]);
    assert.equal(init.code, 0, init.stderr);
    controllerPort = await freePort();
    repository = path.join(work, 'repo');
    await Promise.all(VERSIONS.map(async (version) => {
      const server = await startCluster({ version, initdbArgs: ['--wal-segsize=1'] });
      const root = path.join(work, `db${version}-root`);
      await mkdir(root);
      await chownOne(root);
      if (isRoot()) {
        const walRoot = path.join(repository, `pg${version}`, 'wal');
        await mkdir(walRoot, { recursive: true });
        execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${TMPFS_SIZE}`, 'tmpfs', walRoot]);
        tmpfsMounts.push(walRoot);
      }
      const listenPort = await freePort();
      agentPorts.set(`db${version}`, listenPort);
      const agentConfig = await writeFleetAgentConfig({
        work, certs, agent: `db${version}`, cluster: `pg${version}`, root, version, controllerPort, listenPort,
      });
      nodes.push({
        version, cluster: `pg${version}`, agentName: `db${version}`, server, root, agentConfig, agent: await serveAgent(agentConfig),
        writer: null, backup: '', pOut: null, pRestart: null, truth: [], primary2: null,
      });
    }));
    nodes.sort((a, b) => a.version - b.version);
    fleetYaml = path.join(work, 'fleet.yaml');
    await writeFile(fleetYaml, fleetConfig((n) => n.server.connectionString));
    controller = await startController(fleetYaml);
    env = { PGFLEET_CONTROLLER: controller.address, PGFLEET_CERTS: certs };
    console.log(`# ${nodes.length} servers, agents and the controller started in ${Date.now() - t0} ms`);
  });

  after(async () => {
    const t0 = Date.now();
    const took: string[] = [];
    const slow: string[] = [];
    const step = async (what: string, f: () => Promise<unknown>): Promise<void> => {
      const t = Date.now();
      await f();
      took.push(`${what} ${Date.now() - t} ms`);
    };
    await step('writers', () => Promise.all(nodes.map((n) => n.writer?.stop())));
    await step('controller', async () => controller?.stop());
    await step('agents', () => Promise.all(nodes.map(async (n) => {
      const t = Date.now();
      await stopAgent(n.agent);
      // SIGTERM cancels the agent's calls, which end at once; one that waits out the 30 s grace
      // period is stuck (a StreamWal waiting for the acknowledgement of a controller long gone).
      const ms = Date.now() - t;
      if (ms >= 10_000) slow.push(`agent ${n.agentName} took ${ms} ms to stop:\n${n.agent.stderrSoFar().split('\n').slice(-12).join('\n')}`);
    })));
    await step('instances', () => Promise.all(nodes.map(async (n) => n.primary2 && stopStartedInstance(n.primary2.dataDir))));
    // Before the harness's own cleanup (a root-level hook) removes the directories.
    await step('tmpfs', async () => { for (const m of tmpfsMounts) execFileSync('umount', [m]); });
    await step('servers', () => Promise.all(nodes.map((n) => n.server.destroy())));
    console.log(`# stopped in ${Date.now() - t0} ms: ${took.join(', ')}`);
    assert.deepEqual(slow, [], 'every agent ends its calls at once on SIGTERM');
  });

  test('kill -9 of each agent, of the controller and of each postmaster, and the repository\'s disk full, while rows are written: no gap, every archived segment is the server\'s', async () => {
    await Promise.all(nodes.map(async (n) => {
      await waitFor(`the archive of ${n.cluster} to start`, () => existsSync(walDir(n, 1)), 60_000);
      await n.server.query('CREATE TABLE w (id int PRIMARY KEY)');
    }));
    const b = await runCli(['backup', '--all', '--parallel', String(nodes.length), '--json'], env, 300_000);
    assert.equal(b.code, 0, b.stderr + controller.log());
    const made = (JSON.parse(b.stdout) as { backups: Array<{ id: string; cluster: string }> }).backups;
    for (const n of nodes) {
      n.backup = made.find((x) => x.cluster === n.cluster)?.id ?? assert.fail(`no backup of ${n.cluster}: ${b.stdout}`);
      n.writer = new Writer(n.server.port);
    }
    const writer = (n: Node): Writer => n.writer as Writer;

    // Each agent: its outage window gets rows, and the point P_out.
    await Promise.all(nodes.map(async (n) => {
      await writer(n).pointAfter(3);
      n.agent.killGroup();
      await n.agent.result.catch(() => undefined);
      await writer(n).pointAfter(3);
      n.pOut = writer(n).points.at(-1) as Point;
      await writer(n).pointAfter(3);
      n.agent = await serveAgent(n.agentConfig);
    }));
    await Promise.all(nodes.map(waitStreaming));

    // The controller, for every cluster at once.
    await Promise.all(nodes.map((n) => writer(n).pointAfter(2)));
    await controller.kill();
    await Promise.all(nodes.map((n) => writer(n).pointAfter(3)));
    controller = await startController(fleetYaml);
    await Promise.all(nodes.map(waitStreaming));

    // Each postmaster; then the point P_restart, and the rows after it.
    await Promise.all(nodes.map(async (n) => {
      await writer(n).pointAfter(2);
      const pid = await killPostmaster(n.server.dataDir);
      await restartKilled(n.server, pid, path.join(work, `restarted-${n.version}.log`));
      await waitStreaming(n);
      n.pRestart = await writer(n).pointAfter(3);
      await writer(n).pointAfter(3);
      if (tmpfsMounts.length > 0) await diskFull(n, writer(n));
      await writer(n).stop();
      n.truth = await ids(n.server.port);
      const [s] = await n.server.query<{ name: string }>('SELECT pg_walfile_name(pg_switch_wal()) AS name').then((r) => r.rows);
      const [end] = (await n.server.query<{ l: string }>('SELECT pg_current_wal_lsn()::text AS l')).rows;
      await waitArchived(n.cluster, env, end?.l as string, 1, 'every row');
      await waitFor(`${s?.name} in the archive of ${n.cluster}`, () => existsSync(path.join(walDir(n, 1), `${s?.name}.lz4`)), 60_000);
      const compared = await checkArchiveWhole({ walDir: walDir(n, 1), serverDataDir: n.server.dataDir, report: () => walReport(n.cluster, env) });
      const inOutage = n.truth.filter((id) => id <= (n.pOut as Point).lastId).length;
      console.log(`# PostgreSQL ${n.version}: ${n.truth.length} rows (${inOutage} up to P_out ${n.pOut?.lsn}), ${writer(n).failures} failed batches, ${compared} segments equal to the server's`);
    }));
    // The timeline-1 servers are done: their archive is what the restores below read.
    for (const n of nodes) await n.server.stop();
  });

  test('PITR into the agent\'s outage window: exactly the rows before P_out, read-write; made the primary, its timeline 2 is archived', async () => {
    await Promise.all(nodes.map(async (n) => {
      assert.ok(n.pOut, 'the first test took P_out');
      const copy = await restore(n, 'primary2', ['--target-lsn', n.pOut.lsn]);
      n.primary2 = copy;
      assert.match(copy.plan, new RegExp(`backup ${n.backup} \\(timeline 1,`), copy.plan);
      assert.equal(copy.instance.timeline, 2, copy.plan);
      assert.deepEqual(await ids(copy.port), expectedUpTo(n, n.pOut), `PostgreSQL ${n.version}: the rows committed before P_out`);
      await assertReadWrite(copy, 1, 'written_at_p_out', `PostgreSQL ${n.version}: PITR to P_out`);
    }));
    const reloads = controller.log().split('configuration reloaded').length;
    await writeFile(fleetYaml, fleetConfig((n) => `postgresql://postgres@127.0.0.1:${n.primary2?.port}/postgres`));
    controller.child.kill('SIGHUP');
    await waitFor('the controller to reload', () => controller.log().split('configuration reloaded').length > reloads, 30_000);
    await Promise.all(nodes.map(async (n) => {
      const port = (n.primary2 as FleetRestore).port;
      await waitFor(`slot pgfleet_${n.cluster} active on the new primary`, async () => (await onPort<{ active: boolean }>(port,
        `SELECT active FROM pg_replication_slots WHERE slot_name = 'pgfleet_${n.cluster}'`))[0]?.active === true, 120_000);
      await waitFor(`00000002.history in the archive of ${n.cluster}`, () => existsSync(path.join(walDir(n, 2), '00000002.history')), 60_000);
      assert.match(await readFile(path.join(walDir(n, 2), '00000002.history'), 'utf8'), /^1\t[0-9A-F]+\/[0-9A-F]+\t/m);
      const [seg] = await onPort<{ name: string }>(port, 'SELECT pg_walfile_name(pg_switch_wal()) AS name');
      assert.match(seg?.name ?? '', /^00000002/);
      await waitFor(`${seg?.name} in the archive of ${n.cluster}`, async () => (await readdir(walDir(n, 2))).includes(`${seg?.name}.lz4`), 60_000);
    }));
  });

  test('RPO on timeline 2 with wal.synchronous: after kill -9, a restore to latest holds every row whose COMMIT returned', async () => {
    await Promise.all(nodes.map(async (n) => {
      const primary = n.primary2 as FleetRestore;
      await onPort(primary.port, `ALTER SYSTEM SET synchronous_standby_names = 'pgfleet_${n.cluster}'`);
      await onPort(primary.port, 'ALTER SYSTEM SET synchronous_commit = on');
      await onPort(primary.port, 'SELECT pg_reload_conf()');
      await waitFor(`the archive of ${n.cluster} to be the synchronous standby`, async () => (await onPort<{ s: string }>(primary.port,
        `SELECT sync_state AS s FROM pg_stat_replication WHERE application_name = 'pgfleet_${n.cluster}'`))[0]?.s === 'sync', 30_000);
      await onPort(primary.port, 'CREATE TABLE rpo (id int PRIMARY KEY)');
      const client = new pg.Client({ host: '127.0.0.1', port: primary.port, user: 'postgres', database: 'postgres' });
      client.on('error', () => undefined);
      await client.connect();
      const returned: number[] = [];
      const t0 = Date.now();
      for (let id = 1; Date.now() - t0 < 1000; id++) {
        await client.query('INSERT INTO rpo VALUES ($1)', [id]);
        returned.push(id);
      }
      await killPostmaster(primary.dataDir);
      await client.end().catch(() => undefined);

      const latest = await restore(n, 'rpo-latest', ['--target', 'latest']);
      try {
        const present = new Set((await onPort<{ id: number }>(latest.port, 'SELECT id FROM rpo')).map((r) => r.id));
        const lost = returned.filter((id) => !present.has(id));
        console.log(`# PostgreSQL ${n.version}: RPO with wal.synchronous: ${lost.length} of ${returned.length} returned commits lost, ${present.size} rows restored`);
        assert.deepEqual(lost, [], `PostgreSQL ${n.version}: no row whose COMMIT returned is lost`);
        assert.ok(returned.length >= 10, `PostgreSQL ${n.version}: ${returned.length} commits in 1 s`);
        assert.deepEqual(await ids(latest.port), expectedUpTo(n, n.pOut as Point), `PostgreSQL ${n.version}: timeline 1's rows before P_out`);
        await assertReadWrite(latest, 2, 'written_at_latest', `PostgreSQL ${n.version}: restore to latest`);
      } finally {
        await stopStartedInstance(latest.dataDir);
      }
    }));
  });

  test('PITR to a point on timeline 1 after the server\'s restart (--target-timeline 1): exactly the rows before it, read-write', async () => {
    await Promise.all(nodes.map(async (n) => {
      assert.ok(n.pRestart, 'the first test took P_restart');
      assert.ok(parseLsn(n.pRestart.lsn) > parseLsn((n.pOut as Point).lsn));
      const copy = await restore(n, 'pitr-tl1', ['--target-timeline', '1', '--target-lsn', n.pRestart.lsn]);
      try {
        assert.match(copy.plan, new RegExp(`backup ${n.backup} \\(timeline 1,.*\\(timeline 1\\)`), copy.plan);
        assert.deepEqual(await ids(copy.port), expectedUpTo(n, n.pRestart), `PostgreSQL ${n.version}: the rows committed before P_restart`);
        await assertReadWrite(copy, 2, 'written_at_p_restart', `PostgreSQL ${n.version}: PITR on timeline 1`);
      } finally {
        await stopStartedInstance(copy.dataDir);
      }
    }));
  });
});
