// Shared by the end-to-end tests of the fleet's WAL archive (wal-archive, wal-timeline,
// wal-versions, wal-slot-lost, controller-check): which version gets the full set,
// `pgfleet-agent serve` for a cluster, SQL on a port, kill -9 and restart of a postmaster, a
// pg_receivewal taking the archive's slot, `pgfleet wal --json`, the check that the archive is
// whole and equal to the server's bytes, and `pgfleet restore ... --start` whose instances are
// stopped by agent-support's root-level hook.
//
// Not re-exported from ./index.js: it builds on ../agent-support.js, which imports that index.

import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { checkSegmentContent, parseWalFileName, readWalFileContent } from '@pgfleet/core';
import {
  binDir, chownR, freePort, makeTempDir, runAs, systemBin, versionsUnderTest, type PgVersion, type TestCluster,
} from '../../harness/index.js';
import { isAlive, spawnAgent, trackStartedInstance } from '../agent-support.js';
import { runCli } from '../../../packages/controller/test/support/fleet-processes.js';
import type { RunningTool } from './tools.js';
import { waitFor } from './wait.js';
import { parseLsn } from './wal-records.js';

/**
 * Has a pg_receivewal take the archive's slot from it: the archive's walsender is ended, and
 * pg_receivewal gets the slot while the archive pauses before reconnecting (tried again until it
 * holds it). The archive's attempts then fail: the slot is active for another PID. Kill the
 * returned process to give the slot back.
 */
export async function takeSlot(server: Pick<TestCluster, 'query' | 'connectionString'>, slot: string): Promise<ChildProcess> {
  const dir = await makeTempDir('slot-holder');
  let holder: ChildProcess | null = null;
  try {
    await waitFor('pg_receivewal to hold the slot', async () => {
      await server.query('SELECT pg_terminate_backend(pid) FROM pg_stat_replication WHERE application_name = $1', [slot]);
      if (holder === null || holder.exitCode !== null) {
        holder = spawn(systemBin('pg_receivewal'), ['-D', dir, '-S', slot, '-d', server.connectionString, '--no-loop'], { stdio: 'ignore' });
      }
      const r = await server.query<{ application_name: string }>(
        'SELECT s.application_name FROM pg_replication_slots r JOIN pg_stat_replication s ON s.pid = r.active_pid WHERE r.slot_name = $1', [slot]);
      return r.rows[0]?.application_name === 'pg_receivewal';
    }, 20_000);
  } catch (err) {
    (holder as ChildProcess | null)?.kill();
    throw err;
  }
  return holder as unknown as ChildProcess;
}

/** The version wal-archive and wal-timeline run on (15, or the first selected); wal-versions runs the others. */
export const WAL_ARCHIVE_VERSION: PgVersion = versionsUnderTest().includes(15) ? 15 : versionsUnderTest()[0] ?? 15;

/** WAL segment size of the servers these tests start (initdb --wal-segsize=1). */
export const SEGMENT = 1024 * 1024;

/** One statement on 127.0.0.1:`port` as postgres, on a connection of its own. */
export async function onPort<R extends pg.QueryResultRow>(port: number, sql: string, params: unknown[] = []): Promise<R[]> {
  const client = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres' });
  client.on('error', () => undefined);
  await client.connect();
  try {
    return (await client.query<R>(sql, params)).rows;
  } finally {
    await client.end();
  }
}

/** The address `pgfleet-agent serve` printed it listens on. */
export function agentAddress(agent: RunningTool): string {
  const m = /listening on (127\.0\.0\.1:[0-9]+)/.exec(agent.stderrSoFar());
  assert.ok(m, agent.stderrSoFar());
  return m[1] as string;
}

/** `pgfleet-agent serve --config FILE`, once it listens. */
export async function serveAgent(config: string, timeoutMs = 1_800_000): Promise<RunningTool> {
  const agent = spawnAgent(['serve', '--config', config], { timeoutMs });
  await waitFor('the agent to listen', () => /listening on 127\.0\.0\.1:[0-9]+/.test(agent.stderrSoFar()), 30_000);
  return agent;
}

/** SIGTERM to a still running agent, and its end. */
export async function stopAgent(agent: RunningTool | undefined): Promise<void> {
  if (agent?.child.pid && agent.child.exitCode === null && agent.child.signalCode === null) process.kill(agent.child.pid, 'SIGTERM');
  await agent?.result.catch(() => undefined);
}

export interface FleetAgentConfig {
  /** Where the configuration and wal-get's copy of the certificates go. */
  work: string;
  /** Output of `pgfleet certs init`, with a certificate for `agent`. */
  certs: string;
  agent: string;
  cluster: string;
  /** The agent's allowed root (owned by the PostgreSQL OS user). */
  root: string;
  version: PgVersion;
  controllerPort: number;
  /** A fixed port, for an agent killed and started again under the same address (default: any). */
  listenPort?: number;
}

/**
 * An agent configuration for `cluster`, usable by restore_command = wal-get too: that runs as
 * the PostgreSQL OS user, so it gets its own copy of the agent's certificate, below `root`.
 * Returns the file's path.
 */
export async function writeFleetAgentConfig(c: FleetAgentConfig): Promise<string> {
  const walGetTls = path.join(c.root, 'wal-get-tls');
  await mkdir(walGetTls);
  for (const f of ['ca.crt', `agent-${c.agent}.crt`, `agent-${c.agent}.key`]) await copyFile(path.join(c.certs, f), path.join(walGetTls, f));
  await chownR(walGetTls);
  const file = path.join(c.work, `agent-${c.agent}.yaml`);
  await writeFile(file, [
    `listen: 127.0.0.1:${c.listenPort ?? 0}`,
    `tls: { ca: ${c.certs}/ca.crt, cert: ${c.certs}/agent-${c.agent}.crt, key: ${c.certs}/agent-${c.agent}.key }`,
    `allowedRoots: [${JSON.stringify(c.root)}]`,
    `pgBin: ${JSON.stringify(binDir(c.version))}`,
    'osUser: postgres',
    'connectUser: postgres',
    `controller: { address: "127.0.0.1:${c.controllerPort}", cluster: ${c.cluster}, prefetchDir: ${JSON.stringify(path.join(c.root, 'wal-prefetch'))},`,
    `  tls: { ca: ${walGetTls}/ca.crt, cert: ${walGetTls}/agent-${c.agent}.crt, key: ${walGetTls}/agent-${c.agent}.key } }`,
    '',
  ].join('\n'));
  return file;
}

/** SIGKILL to the postmaster of `dataDir`; returns its pid. */
export async function killPostmaster(dataDir: string): Promise<number> {
  const pid = Number((await readFile(path.join(dataDir, 'postmaster.pid'), 'utf8')).split('\n')[0]);
  process.kill(pid, 'SIGKILL');
  return pid;
}

/** Starts a harness server killed by killPostmaster again, on the same port; `log` is the new server log. */
export async function restartKilled(server: TestCluster, pid: number, log: string): Promise<void> {
  await waitFor('the postmaster and its children to end', () => !existsSync(path.join(server.dataDir, 'postmaster.pid')) || !isAlive(pid), 30_000);
  await sleep(1000);
  await runAs(path.join(binDir(server.version), 'pg_ctl'), ['start', '-w', '-t', '120', '-D', server.dataDir, '-l', log,
    '-o', `-p ${server.port} -k ${server.host} -c listen_addresses=127.0.0.1`]);
  await waitFor('the server to answer', async () => (await server.query('SELECT 1').then(() => true, () => false)), 30_000);
}

/** What `pgfleet wal --json` says of one cluster (the fields the tests look at). */
export interface WalJson {
  cluster: string; state: string; via: string; slot: string; applicationName: string; timeline: number | null; reason: string | null;
  receivedLsn: string | null; flushedLsn: string | null; serverLsn: string | null; lagBytes: number | null; lagSeconds: number | null;
  slotRetainedBytes: number | null; warnings: string[]; gaps: number;
  timelines: Array<{ timeline: number; firstSegment: string; lastSegment: string; gaps: unknown[]; partial: string | null }>;
  restoreWindow: { earliest: { lsn: string; backupId: string | null } | null; latest: { lsn: string } | null };
}

/** `pgfleet wal CLUSTER --json`. */
export async function walReport(cluster: string, env: NodeJS.ProcessEnv): Promise<WalJson> {
  const r = await runCli(['wal', cluster, '--json'], env);
  assert.equal(r.code, 0, r.stderr);
  return (JSON.parse(r.stdout) as WalJson[])[0] as WalJson;
}

/** Waits until `pgfleet wal CLUSTER` reports streaming on `timeline`, flushed at or past `lsn`. */
export async function waitArchived(cluster: string, env: NodeJS.ProcessEnv, lsn: string, timeline: number, what: string): Promise<void> {
  await waitFor(`the archive of ${cluster} to hold ${what} (${lsn}, timeline ${timeline})`, async () => {
    const r = await runCli(['wal', cluster, '--json'], env);
    if (r.code !== 0) return false;
    const [w] = JSON.parse(r.stdout) as WalJson[];
    return w?.timeline === timeline && w.flushedLsn != null && parseLsn(w.flushedLsn) >= parseLsn(lsn);
  }, 120_000);
}

/** Every WAL file of an archive's timeline directory (no history, no temporary files). */
export async function segmentFiles(walDir: string): Promise<string[]> {
  return (await readdir(walDir)).filter((n) => parseWalFileName(n) !== null);
}

export interface ArchiveWholeOptions {
  /** <repo>/<cluster>/wal/<timeline>. */
  walDir: string;
  /** The server whose pg_wal the complete segments are compared with (none: no comparison). */
  serverDataDir?: string;
  /** `pgfleet wal --json` of the cluster; its gap count must be 0 unless allowGaps. */
  report: () => Promise<WalJson>;
  allowGaps?: boolean;
}

/**
 * The archive is whole: one file per segment (a .partial only for the newest), every complete
 * one a whole, valid segment (equal to the server's copy when it still has one), no gap.
 * Returns how many segments were compared with the server's.
 */
export async function checkArchiveWhole(o: ArchiveWholeOptions): Promise<number> {
  const bySegment = new Map<string, string[]>();
  for (const f of await segmentFiles(o.walDir)) bySegment.set(f.slice(0, 24), [...(bySegment.get(f.slice(0, 24)) ?? []), f]);
  const newest = [...bySegment.keys()].sort().at(-1);
  let compared = 0;
  for (const [segment, names] of bySegment) {
    assert.equal(names.length, 1, `one file for ${segment}: ${names.join(', ')}`);
    const name = names[0] as string;
    if (name.endsWith('.partial')) {
      assert.equal(segment, newest, `only the newest segment is partial: ${name}`);
      continue;
    }
    const content = await readWalFileContent(path.join(o.walDir, name), SEGMENT);
    checkSegmentContent(content, segment, SEGMENT);
    const theirsAt = o.serverDataDir === undefined ? null : path.join(o.serverDataDir, 'pg_wal', segment);
    if (theirsAt !== null && existsSync(theirsAt)) {
      const theirs = await readFile(theirsAt);
      // A recycled server file carries another segment's header: only same-named live copies compare.
      if (theirs.readBigUInt64LE(8) === content.readBigUInt64LE(8)) {
        assert.ok(content.equals(theirs), `${segment} equals the server's`);
        compared++;
      }
    }
  }
  if (o.allowGaps !== true) assert.equal((await o.report()).gaps, 0, `no gap in ${o.walDir}`);
  if (o.serverDataDir !== undefined) assert.ok(compared > 0, `some segments of ${o.walDir} were compared with the server's`);
  return compared;
}

export interface FleetRestore {
  dataDir: string;
  port: number;
  plan: string;
  instance: { inRecovery: boolean; timeline: number };
}

/**
 * `pgfleet restore CLUSTER --agent AGENT -D DATADIR ARGS --start --port P --json`; the started
 * instance is left running, and stopped by agent-support's hook at the end at the latest.
 */
export async function fleetRestore(o: {
  cluster: string; agent: string; dataDir: string; version: PgVersion; env: NodeJS.ProcessEnv; args: string[]; agentLog: () => string;
}): Promise<FleetRestore> {
  const port = await freePort();
  const r = await runCli(['restore', o.cluster, '--agent', o.agent, '-D', o.dataDir, ...o.args, '--start', '--port', String(port), '--json'], o.env, 600_000);
  const pidFile = path.join(o.dataDir, 'postmaster.pid');
  if (existsSync(pidFile)) trackStartedInstance(o.dataDir, o.version, Number((await readFile(pidFile, 'utf8')).split('\n')[0]));
  assert.equal(r.code, 0, `${r.stderr}\n${r.stdout}\n${o.agentLog().slice(-4000)}`);
  const out = JSON.parse(r.stdout) as { instance: FleetRestore['instance'] | null; pointInTime: { plan: string } | null };
  assert.ok(out.instance, r.stdout);
  return { dataDir: o.dataDir, port, plan: out.pointInTime?.plan ?? '', instance: out.instance };
}
