// The fleet part of `npm run bench`: the jobs a fleet operator waits for, against the tool they
// would pick instead, on the same cached cluster (dataset.ts) in one run:
//   - backup into the repository: `pgfleet backup CLUSTER` through an agent (`pgfleet-agent
//     serve` backs up its local server and streams to the controller) and through the
//     controller directly (a cluster without agent), against `pgbackrest backup --type=full`
//     with process-max=1 and =2;
//   - restore from the repository, files only, tablespace moved: `pgfleet restore CLUSTER
//     --agent bench --mode none -T OLD=NEW` (the controller streams the stored backup to the
//     agent) and `pgfleet-agent restore --from BACKUPDIR --mode none -T OLD=NEW` (in-process,
//     reading the repository directly), against `pgbackrest restore --type=none
//     --tablespace-map=ts1=NEW` with process-max=1 and =2;
// each with compression none, lz4 and zstd (pgfleet: server-lz4/server-zstd, compressed by the
// walsender on the database host, as pgBackRest compresses there too; pgBackRest: compress-type
// lz4/zst, default levels both).
//
// One agent and one controller run for the whole part, with mutual TLS from `pgfleet certs
// init`, as in a fleet. Every job: the page cache is dropped, then the job runs as one command
// (the CLI, pgfleet-agent restore, or pgbackrest), timed from spawn to exit; the CPU time and
// peak RSS of each process involved are taken around it (measure.ts for the command,
// fleet-daemons.ts for the daemons and the server). Backups: the previous backup of the same
// cluster (or pgBackRest repository) is removed first, so each run is a full backup and its
// stored size is that backup's; restores restore the last backup taken. The order of the tools
// changes between runs so that each tool follows each other tool about equally often
// (order.ts). Failures are recorded and the bench goes on.
//
// Differences that remain: pgBackRest reads the data directory itself (archive-check off: its
// backups hold no WAL); pgfleet streams through a walsender (whose CPU is the "server" column),
// adds pg_wal.tar, and verifies each backup against its manifest before it is listed, and each
// restore before it ends.

import { existsSync } from 'node:fs';
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { binDir, chownOne, chownR, mkdirOwned, pgOsUser, run, runAs, type TestCluster } from '../harness/index.js';
import type { DatasetInfo } from './dataset.js';
import { AGENT_JS, PGFLEET_JS, beginUsage, cleanEnv, endUsage, postmasterPid, profileArgs, startDaemon, type Daemon, type UsageProbe } from './fleet-daemons.js';
import { type FleetBenchReport } from './fleet-report.js';
import {
  FLEET_COMPRESSIONS, FLEET_JOBS, FLEET_TOOLS, evaluateFleetTargets, isPgfleet, summariseFleet, toolLabel,
  type FleetCompression, type FleetJob, type FleetSample, type FleetTool, type ProcessUsage,
} from './fleet-summary.js';
import { measure, type Measurement } from './measure.js';
import { outputSize } from './output-size.js';
import { balancedRounds } from './order.js';
import { dropPageCache } from './page-cache.js';
import { ensurePgbackrest, pgbackrestConfig, STANZA, type InstalledPgbackrest } from './pgbackrest.js';
import { errorSummary, formatSeconds } from './report.js';

const AGENT_NAME = 'bench';
/**
 * The fleet's compression settings for the dataset's server (15): compressed by the walsender,
 * so every hop after it (agent, gRPC, controller) carries and handles the compressed bytes only.
 * With client-lz4, the agent compressed what the server sent uncompressed: a backup through the
 * agent took 2.8-3.9 s instead of 1.9-2.4 s on the quick dataset, the agent's CPU twice as much.
 */
const PGFLEET_SPEC: Record<FleetCompression, string> = { none: 'none', lz4: 'server-lz4', zstd: 'server-zstd' };
const PGBACKREST_TYPE: Record<FleetCompression, string> = { none: 'none', lz4: 'lz4', zstd: 'zst' };

export interface FleetBenchOptions {
  cluster: TestCluster;
  dataset: DatasetInfo;
  runs: number;
  /** Everything the part writes (certificates, repositories, restores); removed at the end. */
  workDir: string;
  timeoutMs: number;
  dropCaches: boolean;
  pageCache: string;
  pgbackrest: boolean;
  compressions?: readonly FleetCompression[];
  /** The tools each job runs (selectFleetTools); default every tool of every job. */
  tools?: Record<FleetJob, readonly FleetTool[]>;
  /** Run every pgfleet process under node --cpu-prof, profiles written here. */
  profileDir?: string;
  commit: string | null;
  log: (line: string) => void;
}

interface Fleet {
  opts: FleetBenchOptions;
  repository: string;
  agentRoot: string;
  localRoot: string;
  certs: string;
  agent: Daemon;
  controller: Daemon;
  /** OLD=NEW for -T: the dataset's tablespace location. */
  tablespace: { name: string; location: string };
  pgbackrest: InstalledPgbackrest | null;
  pgbackrestConfig: string;
  /** "pgfleet lz4", "pgbackrest zstd": there is a backup to restore (restores need one). */
  backedUp: Set<string>;
}

const clusterName = (via: 'agent' | 'direct', c: FleetCompression): string => `${via}-${c}`;

async function setUp(opts: FleetBenchOptions): Promise<Fleet> {
  const work = opts.workDir;
  await rm(work, { recursive: true, force: true });
  await mkdir(work, { recursive: true });
  const ts = opts.cluster.tablespaces.find((t) => t.name === 'ts1');
  if (ts === undefined) throw new Error('the dataset has no tablespace "ts1"');
  const certs = path.join(work, 'certs');
  await run(process.execPath, [PGFLEET_JS, 'certs', 'init', certs, '--agent', AGENT_NAME], { env: cleanEnv() });
  const tls = (leaf: string): string =>
    `tls: { ca: ${JSON.stringify(path.join(certs, 'ca.crt'))}, cert: ${JSON.stringify(path.join(certs, `${leaf}.crt`))}, key: ${JSON.stringify(path.join(certs, `${leaf}.key`))} }`;

  // The agent may write only below its allowed root: restores through it go there.
  const agentRoot = path.join(work, 'agent-root');
  const localRoot = path.join(work, 'local-root');
  await mkdir(agentRoot);
  await mkdir(localRoot);
  await chownOne(agentRoot);
  await chownOne(localRoot);
  const agentYaml = path.join(work, 'agent.yaml');
  await writeFile(agentYaml, [
    'listen: 127.0.0.1:0',
    tls(`agent-${AGENT_NAME}`),
    `allowedRoots: [${JSON.stringify(agentRoot)}]`,
    `pgBin: ${JSON.stringify(binDir(15))}`,
    `osUser: ${pgOsUser().name}`,
    `connectUser: ${opts.cluster.user}`,
    '',
  ].join('\n'));
  const agent = await startDaemon('the agent', AGENT_JS, ['serve', '--config', agentYaml], /listening on (127\.0\.0\.1:[0-9]+)/,
    profileArgs(opts.profileDir, 'agent'));

  const repository = path.join(work, 'repository');
  const compressions = opts.compressions ?? FLEET_COMPRESSIONS;
  const conninfo = JSON.stringify(opts.cluster.connectionString);
  const fleetYaml = path.join(work, 'fleet.yaml');
  await writeFile(fleetYaml, [
    'listen: 127.0.0.1:0',
    `repository: ${JSON.stringify(repository)}`,
    tls('controller'),
    'parallel: 1',
    'agents:',
    `  - { name: ${AGENT_NAME}, address: ${JSON.stringify(agent.address)} }`,
    'clusters:',
    ...compressions.flatMap((c) => [
      `  - { name: ${clusterName('agent', c)}, agent: ${AGENT_NAME}, conninfo: ${conninfo}, retention: { full: 100 }, compression: ${PGFLEET_SPEC[c]} }`,
      `  - { name: ${clusterName('direct', c)}, conninfo: ${conninfo}, retention: { full: 100 }, compression: ${PGFLEET_SPEC[c]} }`,
    ]),
    '',
  ].join('\n'));
  let controller: Daemon;
  try {
    controller = await startDaemon('the controller', PGFLEET_JS, ['serve', '--config', fleetYaml], /controller listening on (\S+)/,
      profileArgs(opts.profileDir, 'controller'));
  } catch (error) {
    await agent.stop();
    throw error;
  }

  const tools = opts.tools ?? FLEET_TOOLS;
  const wantsPgbackrest = FLEET_JOBS.some((job) => tools[job].some((t) => !isPgfleet(t)));
  const pgbackrest = opts.pgbackrest && wantsPgbackrest ? ensurePgbackrest(opts.log) : null;
  const pgbackrestDir = path.join(work, 'pgbackrest');
  await mkdirOwned(pgbackrestDir, 0o700);
  const config = path.join(pgbackrestDir, 'pgbackrest.conf');
  await writeFile(config, pgbackrestConfig(opts.cluster, pgbackrestDir));
  await chownR(pgbackrestDir);
  return {
    opts, repository, agentRoot, localRoot, certs, agent, controller, tablespace: { name: ts.name, location: ts.location },
    pgbackrest, pgbackrestConfig: config, backedUp: new Set(),
  };
}

function cliEnv(fleet: Fleet): NodeJS.ProcessEnv {
  return cleanEnv({ PGFLEET_CONTROLLER: fleet.controller.address, PGFLEET_CERTS: fleet.certs });
}

/** The processes whose usage a job is charged with, besides the command itself. */
function probes(fleet: Fleet, job: FleetJob, tool: FleetTool): UsageProbe[] {
  const list: UsageProbe[] = [];
  if (tool === 'pgfleet-agent') list.push({ role: 'agent', pid: fleet.agent.pid, count: 'self' });
  if (tool === 'pgfleet-agent' || tool === 'pgfleet-direct') list.push({ role: 'controller', pid: fleet.controller.pid, count: 'self' });
  const postmaster = postmasterPid(fleet.opts.cluster.dataDir);
  // A restore does not touch the server.
  if (job === 'backup' && postmaster !== null) list.push({ role: 'server', pid: postmaster, count: 'children' });
  return list;
}

function pgbackrestDir(fleet: Fleet, c: FleetCompression): string {
  return path.join(path.dirname(fleet.pgbackrestConfig), c);
}

function pgbackrestArgs(fleet: Fleet, c: FleetCompression): string[] {
  return [`--config=${fleet.pgbackrestConfig}`, `--stanza=${STANZA}`, `--repo1-path=${path.join(pgbackrestDir(fleet, c), 'repo')}`];
}

/** The newest backup directory of a pgfleet cluster in the repository, or null. */
async function latestBackup(fleet: Fleet, cluster: string): Promise<string | null> {
  const dir = path.join(fleet.repository, cluster, 'backups');
  const names = existsSync(dir) ? (await readdir(dir)).filter((n) => !n.startsWith('.')).sort() : [];
  const last = names.at(-1);
  return last === undefined ? null : path.join(dir, last);
}

interface JobCommand {
  command: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  uid?: number;
  gid?: number;
  /** The command's own role in the usage list. */
  role: 'cli' | 'agent' | 'pgbackrest';
  /** Where a backup's stored bytes are measured after the job. */
  stored?: string;
}

/** Removes what the previous run of the same job left and says what to run, or why it cannot. */
async function prepareJob(fleet: Fleet, job: FleetJob, tool: FleetTool, c: FleetCompression, run: number): Promise<JobCommand | string> {
  const ts = fleet.tablespace;
  if (tool.startsWith('pgbackrest')) {
    if (fleet.pgbackrest === null) return 'pgbackrest is not available';
    const user = pgOsUser();
    const args = pgbackrestArgs(fleet, c);
    const processMax = `--process-max=${tool === 'pgbackrest-pm2' ? 2 : 1}`;
    if (job === 'backup') {
      // A fresh repository each time: every run is a full backup of the same size.
      const dir = pgbackrestDir(fleet, c);
      await rm(dir, { recursive: true, force: true });
      await mkdirOwned(dir, 0o700);
      const created = await runAs(fleet.pgbackrest.command, [...args, 'stanza-create'], { allowFailure: true });
      if (created.code !== 0) return `stanza-create: ${(created.stderr || created.stdout).trim()}`;
      return {
        command: fleet.pgbackrest.command, args: [...args, processMax, `--compress-type=${PGBACKREST_TYPE[c]}`, '--type=full', 'backup'],
        uid: user.uid, gid: user.gid, role: 'pgbackrest', stored: path.join(dir, 'repo', 'backup'),
      };
    }
    const target = path.join(fleet.localRoot, 'pgbackrest');
    await rm(target, { recursive: true, force: true });
    await mkdirOwned(target, 0o700);
    await mkdirOwned(path.join(target, 'data'), 0o700);
    return {
      command: fleet.pgbackrest.command,
      args: [...args, processMax, `--pg1-path=${path.join(target, 'data')}`, `--tablespace-map=${ts.name}=${path.join(target, 'ts')}`, '--type=none', 'restore'],
      uid: user.uid, gid: user.gid, role: 'pgbackrest',
    };
  }
  if (job === 'backup') {
    const cluster = clusterName(tool === 'pgfleet-agent' ? 'agent' : 'direct', c);
    const dir = path.join(fleet.repository, cluster, 'backups');
    await rm(dir, { recursive: true, force: true });
    return { command: process.execPath, args: [...profileArgs(fleet.opts.profileDir, `cli-backup-${cluster}-run${run}`), PGFLEET_JS, 'backup', cluster, '--json'], env: cliEnv(fleet), role: 'cli', stored: dir };
  }
  const cluster = clusterName('agent', c);
  // Targets must be absent (or empty); their parent exists.
  const root = tool === 'pgfleet-agent' ? fleet.agentRoot : fleet.localRoot;
  const [data, tsTarget] = [path.join(root, 'pgfleet-data'), path.join(root, 'pgfleet-ts')];
  await rm(data, { recursive: true, force: true });
  await rm(tsTarget, { recursive: true, force: true });
  if (tool === 'pgfleet-agent') {
    return {
      command: process.execPath,
      args: [...profileArgs(fleet.opts.profileDir, `cli-restore-${cluster}-run${run}`), PGFLEET_JS, 'restore', cluster, '--backup', 'latest', '--agent', AGENT_NAME, '-D', data, '-T', `${ts.location}=${tsTarget}`, '--mode', 'none', '--json'],
      env: cliEnv(fleet), role: 'cli',
    };
  }
  const backup = await latestBackup(fleet, cluster);
  if (backup === null) return `no backup of "${cluster}" in the repository to restore`;
  return {
    command: process.execPath,
    args: [...profileArgs(fleet.opts.profileDir, `agent-restore-${cluster}-run${run}`), AGENT_JS, 'restore', '--from', backup, '-D', data, '-T', `${ts.location}=${tsTarget}`, '--mode', 'none', '--json'],
    env: cleanEnv(), role: 'agent',
  };
}

async function runJob(fleet: Fleet, job: FleetJob, tool: FleetTool, c: FleetCompression, run: number, position: number): Promise<FleetSample> {
  const sample: FleetSample = { job, compression: c, tool, run, position, ok: false, wallMs: 0, processes: [], storedBytes: null };
  const prepared = await prepareJob(fleet, job, tool, c, run);
  if (typeof prepared === 'string') {
    sample.error = prepared;
    return sample;
  }
  if (fleet.opts.dropCaches) dropPageCache();
  const begun = beginUsage(probes(fleet, job, tool));
  const result: Measurement = await measure({
    command: prepared.command, args: prepared.args, timeoutMs: fleet.opts.timeoutMs,
    ...(prepared.env ? { env: prepared.env } : {}),
    ...(prepared.uid !== undefined ? { uid: prepared.uid, gid: prepared.gid ?? prepared.uid } : {}),
  });
  const others = endUsage(begun);
  const own: ProcessUsage = { role: prepared.role, cpuSeconds: result.cpuSeconds, peakRssKb: result.peakRssKb };
  sample.processes = [own, ...others];
  sample.ok = result.ok;
  sample.wallMs = result.wallMs;
  // pgfleet's restores restore the agent's cluster (agent-C); pgBackRest's, its repository.
  if (result.ok && job === 'backup' && tool !== 'pgfleet-direct') fleet.backedUp.add(`${isPgfleet(tool) ? 'pgfleet' : 'pgbackrest'} ${c}`);
  if (result.ok) {
    if (prepared.stored !== undefined) sample.storedBytes = await outputSize([prepared.stored]);
  } else {
    const status = result.signal ? `signal ${result.signal}` : `exit code ${String(result.exitCode)}`;
    sample.error = `${status}: ${result.outputTail.trim().split('\n').slice(-20).join('\n')}`;
  }
  return sample;
}

function describe(sample: FleetSample): string {
  const head = `  ${sample.job} ${sample.compression} run ${sample.run} #${sample.position} ${toolLabel(sample.job, sample.tool)}:`;
  if (!sample.ok) return `${head} FAILED: ${errorSummary(sample.error ?? '')}`;
  const usage = sample.processes.map((p) => `${p.role} ${p.cpuSeconds === null ? 'n/a' : p.cpuSeconds.toFixed(2)} s` +
    `${p.peakRssKb === null ? '' : ` ${Math.round(p.peakRssKb / 1024)} MB`}`).join(', ');
  return `${head} ${formatSeconds(sample.wallMs)} (CPU ${usage})`;
}

/**
 * When restores are picked without the backup they restore (--fleet-jobs restore-local, say),
 * takes that backup first, untimed and not reported.
 */
async function prepareRestores(fleet: Fleet, tools: readonly FleetTool[], c: FleetCompression): Promise<void> {
  const needs: [string, FleetTool][] = [];
  if (tools.some(isPgfleet)) needs.push(['pgfleet', 'pgfleet-agent']);
  if (tools.some((t) => !isPgfleet(t))) needs.push(['pgbackrest', 'pgbackrest-pm2']);
  for (const [who, tool] of needs) {
    if (fleet.backedUp.has(`${who} ${c}`)) continue;
    fleet.opts.log(`  restore ${c}: first a backup to restore (${toolLabel('backup', tool)}, not measured)`);
    const sample = await runJob(fleet, 'backup', tool, c, 0, 0);
    if (!sample.ok) fleet.opts.log(describe(sample));
  }
}

/** Restores leave files owned by the PostgreSQL user under the work directory: all removed here. */
async function tearDown(fleet: Fleet | null, workDir: string): Promise<void> {
  if (fleet !== null) {
    await fleet.controller.stop();
    await fleet.agent.stop();
  }
  await rm(workDir, { recursive: true, force: true });
}

/** Runs the fleet part (see the module comment). Never throws for a failing job. */
export async function runFleetBench(opts: FleetBenchOptions): Promise<FleetBenchReport> {
  const startedAt = new Date();
  const loadStart = os.loadavg()[0] ?? 0;
  const compressions = opts.compressions ?? FLEET_COMPRESSIONS;
  const samples: FleetSample[] = [];
  const notes: string[] = [];
  let fleet: Fleet | null = null;
  try {
    fleet = await setUp(opts);
    opts.log(`fleet: agent ${fleet.agent.address} (pid ${fleet.agent.pid}), controller ${fleet.controller.address} (pid ${fleet.controller.pid}), mutual TLS`);
    const selected = opts.tools ?? FLEET_TOOLS;
    if (!FLEET_JOBS.some((job) => selected[job].some((t) => !isPgfleet(t)))) notes.push('pgBackRest not picked (--fleet-tools)');
    else if (fleet.pgbackrest === null) notes.push(opts.pgbackrest ? 'pgBackRest could not be installed: its columns are missing' : 'pgBackRest skipped (--no-pgbackrest)');
    let warmedUp = false;
    for (const job of FLEET_JOBS) {
      for (const [ci, c] of compressions.entries()) {
        const tools = selected[job].filter((t) => isPgfleet(t) || fleet?.pgbackrest !== null);
        if (tools.length === 0) continue;
        if (job === 'restore') await prepareRestores(fleet, tools, c);
        // Shifted by compression, so that no tool always opens a job.
        const rounds = balancedRounds(tools, opts.runs, ci);
        const opener = rounds[0]?.[0];
        if (!warmedUp && opener !== undefined) {
          // The first job of the part took up to twice as long as the same job later, whichever
          // tool ran it: it is run once more first, and not counted.
          warmedUp = true;
          opts.log(`${describe(await runJob(fleet, job, opener, c, 0, 0))} (warm-up, not counted)`);
        }
        for (const [r, order] of rounds.entries()) {
          for (const [i, tool] of order.entries()) {
            const sample = await runJob(fleet, job, tool, c, r + 1, i + 1);
            samples.push(sample);
            opts.log(describe(sample));
          }
        }
      }
    }
  } finally {
    await tearDown(fleet, opts.workDir);
  }
  const selected = opts.tools ?? FLEET_TOOLS;
  if (FLEET_JOBS.some((job) => selected[job].length !== FLEET_TOOLS[job].length)) {
    notes.push(`a subset was run: ${FLEET_JOBS.map((job) => `${job}: ${selected[job].map((t) => toolLabel(job, t)).join(', ') || 'none'}`).join('; ')}`);
  }
  notes.push(
    `pgfleet: compression ${compressions.map((c) => `${c} = ${PGFLEET_SPEC[c]}`).join(', ')}; backups -X stream, manifest CRC32C, verified as stored; ` +
      'restores --mode none, verified against the manifest, fsynced',
    `pgBackRest: compress-type ${compressions.map((c) => PGBACKREST_TYPE[c]).join('/')} at default levels, archive-check=n (no WAL in its backups), ` +
      'restore --type=none --tablespace-map; repository on the same disk',
    'server = CPU of PostgreSQL backends that ended during the job (a pgfleet backup\'s walsender); not counted in the tool\'s CPU s/GB',
  );
  const rows = summariseFleet(samples, compressions);
  const d = opts.dataset;
  return {
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    commit: opts.commit,
    node: process.version,
    cpus: os.cpus().length,
    memoryBytes: os.totalmem(),
    loadAverage: { start: loadStart, end: os.loadavg()[0] ?? 0 },
    dataset: { key: d.key, totalBytes: d.sizes.totalBytes, mainBytes: d.sizes.mainBytes, tablespaceBytes: d.sizes.tablespaceBytes },
    runs: opts.runs,
    pageCache: opts.pageCache,
    pgbackrest: fleet?.pgbackrest ?? null,
    notes,
    rows,
    targets: evaluateFleetTargets(rows),
    samples,
  };
}
