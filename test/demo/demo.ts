/**
 * The newcomer's demo, the fleet path end to end on this machine, with nothing configured:
 *
 *   1. a local PostgreSQL (embedded 17 by default; PGFLEET_DEMO_VERSION=13..18 picks another)
 *      with a tablespace and data;
 *   2. certificates for mutual TLS (`pgfleet certs init`);
 *   3. an agent (`pgfleet-agent serve`) and a controller (`pgfleet serve`), separate processes
 *      on free local ports;
 *   4. a fleet backup (`pgfleet backup --all`) into the controller's repository, taken by the
 *      agent on "its host", verified as it is stored; the repository's files are listed;
 *   5. a restore through the agent (`pgfleet restore ... -T OLD=NEW --mode promote --start`)
 *      onto a new tablespace location, started next to the still-running source;
 *   6. what PostgreSQL itself reports about the copy, and a write into it.
 *
 * Everything lives in one temporary directory, removed at the end with every process stopped.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import pg from 'pg';
import {
  REPO_ROOT, binDir, chownOne, cleanupAll, freePort, isSupportedVersion, makeTempDir, pgOsUser,
  runAs, startCluster, type PgVersion, type TestCluster,
} from '../harness/index.js';

const AGENT_JS = join(REPO_ROOT, 'packages/agent/dist/bin/pgfleet-agent.js');
const PGFLEET_JS = join(REPO_ROOT, 'packages/controller/dist/bin/pgfleet.js');
const START_TIMEOUT_MS = 30_000;

function step(text: string): void {
  process.stdout.write(`\n\x1b[1m== ${text}\x1b[0m\n`);
}

/** Environment for the tools: ours plus `extra`, without PG* and PGFLEET_* from the shell. */
function toolEnv(extra: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^PG/.test(k)) env[k] = v;
  return { ...env, ...extra };
}

/** Runs `pgfleet ARGS`, its output shown as it comes; rejects on a non-zero exit. */
function pgfleet(args: string[], env: NodeJS.ProcessEnv): Promise<void> {
  process.stdout.write(`$ pgfleet ${args.join(' ')}\n`);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [PGFLEET_JS, ...args], { stdio: ['ignore', 'inherit', 'inherit'], env: toolEnv(env) });
    child.on('error', reject);
    child.on('exit', (code, signal) => (code === 0 ? resolve() : reject(new Error(`pgfleet ${args[0]} exited with ${code ?? signal}`))));
  });
}

/** A long-running process (agent, controller), its stderr kept for the address and for errors. */
interface Daemon {
  name: string;
  child: ChildProcess;
  log(): string;
  stop(): Promise<void>;
}

const daemons: Daemon[] = [];

/** Starts `node SCRIPT ARGS` and waits until stderr matches `listening` (group 1: address). */
async function startDaemon(name: string, script: string, args: string[], listening: RegExp): Promise<{ daemon: Daemon; address: string }> {
  const child = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'ignore', 'pipe'], env: toolEnv({}) });
  let log = '';
  const exited = new Promise<void>((resolve) => child.on('close', () => resolve()));
  const daemon: Daemon = {
    name,
    child,
    log: () => log,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
  daemons.push(daemon);
  const address = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not start within ${START_TIMEOUT_MS / 1000} s:\n${log}`)), START_TIMEOUT_MS);
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      log += d;
      const m = listening.exec(log);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited with ${code ?? signal} before listening:\n${log}`));
    });
  });
  return { daemon, address };
}

/** The restored server's port and socket directory, from postmaster.pid (lines 4 and 5). */
async function connectTo(dataDir: string): Promise<pg.Client> {
  const lines = readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n');
  const client = new pg.Client({ host: lines[4] || '127.0.0.1', port: Number(lines[3]), user: 'postgres', database: 'postgres' });
  await client.connect();
  return client;
}

/** `ls -l`-like listing of one backup directory of the repository. */
function showBackupDirectory(dir: string): void {
  process.stdout.write(`${dir}/\n`);
  for (const name of readdirSync(dir).sort()) {
    process.stdout.write(`  ${String(statSync(join(dir, name)).size).padStart(12)}  ${name}\n`);
  }
}

async function main(): Promise<void> {
  const v = Number(process.env.PGFLEET_DEMO_VERSION ?? '17');
  if (!isSupportedVersion(v)) throw new Error(`PGFLEET_DEMO_VERSION must be 13..18, not "${process.env.PGFLEET_DEMO_VERSION}"`);
  const version = v as PgVersion;
  const osUser = pgOsUser().name;

  step(`starting a local PostgreSQL ${version} with a tablespace and data`);
  const source = await startCluster({ version, tablespaces: 1, data: { rows: 5000 } });
  const ts = source.tablespaces[0]!;
  process.stdout.write(`source: port ${source.port}, data directory ${source.dataDir}\n`);
  process.stdout.write(`tablespace ${ts.name} (oid ${ts.oid}) at ${ts.location}\n`);

  const work = await makeTempDir('pgfleet-demo-');
  const certs = join(work, 'certs');
  step('certificates for mutual TLS between the CLI, the controller and the agent');
  await pgfleet(['certs', 'init', certs, '--agent', 'host1'], {});

  // The agent may create, write and link only below its allowed root: the restore goes there.
  const agentRoot = join(work, 'host1');
  await mkdir(agentRoot);
  await chownOne(agentRoot);
  const agentYaml = join(work, 'agent.yaml');
  writeFileSync(agentYaml, [
    'listen: 127.0.0.1:0',
    `tls: { ca: ${JSON.stringify(join(certs, 'ca.crt'))}, cert: ${JSON.stringify(join(certs, 'agent-host1.crt'))}, key: ${JSON.stringify(join(certs, 'agent-host1.key'))} }`,
    `allowedRoots: [${JSON.stringify(agentRoot)}]`,
    `pgBin: ${JSON.stringify(binDir(version))}`,
    `osUser: ${osUser}`,
    'connectUser: postgres',
    '',
  ].join('\n'));
  step('an agent on "host1" (pgfleet-agent serve)');
  const agent = await startDaemon('the agent', AGENT_JS, ['serve', '--config', agentYaml], /listening on (127\.0\.0\.1:[0-9]+)/);
  process.stdout.write(`agent host1 listening on ${agent.address}; it may write only below ${agentRoot}\n`);

  const repository = join(work, 'repository');
  const fleetYaml = join(work, 'fleet.yaml');
  writeFileSync(fleetYaml, [
    'listen: 127.0.0.1:0',
    `repository: ${JSON.stringify(repository)}`,
    `tls: { ca: ${JSON.stringify(join(certs, 'ca.crt'))}, cert: ${JSON.stringify(join(certs, 'controller.crt'))}, key: ${JSON.stringify(join(certs, 'controller.key'))} }`,
    'parallel: 2',
    'agents:',
    `  - { name: host1, address: ${JSON.stringify(agent.address)} }`,
    'clusters:',
    `  - { name: demo, agent: host1, conninfo: ${JSON.stringify(source.connectionString)}, retention: { full: 3 }, compression: client-lz4 }`,
    '',
  ].join('\n'));
  step('a controller (pgfleet serve) with that agent and one cluster');
  process.stdout.write(readFileSync(fleetYaml, 'utf8').trimEnd().replace(/^/gm, '  ') + '\n');
  const controller = await startDaemon('the controller', PGFLEET_JS, ['serve', '--config', fleetYaml], /controller listening on (\S+)/);
  const cli = { PGFLEET_CONTROLLER: controller.address, PGFLEET_CERTS: certs };
  await pgfleet(['agents'], cli);

  step('a fleet backup: the agent streams it from its local server into the repository');
  await pgfleet(['backup', '--all'], cli);
  await pgfleet(['backups'], cli);
  const backupsDir = join(repository, 'demo', 'backups');
  const id = readdirSync(backupsDir).filter((n) => !n.startsWith('.')).sort().at(-1)!;
  showBackupDirectory(join(backupsDir, id));

  const restored = join(agentRoot, 'restored');
  const newTs = join(agentRoot, 'relocated-tablespace');
  step(`restore through the agent, tablespace relocated: ${ts.location} -> ${newTs}`);
  await pgfleet([
    'restore', 'demo', '--backup', 'latest', '--agent', 'host1', '-D', restored,
    '-T', `${ts.location}=${newTs}`, '--mode', 'promote', '--start', '--port', String(await freePort()),
  ], cli);

  step('what the restored instance holds (the source keeps running)');
  try {
    await showRestored(restored, ts, source);
  } finally {
    await runAs(join(binDir(version), 'pg_ctl'), ['-D', restored, '-m', 'fast', '-w', 'stop'], { allowFailure: true });
  }
}

/** The copy as PostgreSQL sees it next to the source, a write into it, and the source without that write. */
async function showRestored(restored: string, ts: TestCluster['tablespaces'][number], source: TestCluster): Promise<void> {
  const sql = `SELECT pg_is_in_recovery() AS in_recovery, current_setting('port') AS port,
                      (SELECT timeline_id FROM pg_control_checkpoint()) AS timeline,
                      pg_tablespace_location(${ts.oid}) AS tablespace_location,
                      (SELECT count(*) FROM t_main) AS rows_main, (SELECT count(*) FROM t_${ts.name}) AS rows_in_tablespace`;
  const copy = await connectTo(restored);
  try {
    const [before, after] = [(await source.query(sql)).rows[0], (await copy.query(sql)).rows[0]];
    console.table({ source: before, 'restored copy': after });
    await copy.query(`INSERT INTO t_main (id, label) VALUES (-1, 'written after restore')`);
    process.stdout.write('a write into the copy succeeded: it is a read-write primary\n');
  } finally {
    await copy.end();
  }
  const sourceRows = await source.query<{ n: string }>(`SELECT count(*) AS n FROM t_main WHERE id = -1`);
  process.stdout.write(`the source is untouched by that write: ${sourceRows.rows[0]?.n === '0'}\n`);
}

async function stopDaemons(): Promise<void> {
  for (const d of daemons.reverse()) await d.stop();
}

main().then(async () => {
  await stopDaemons();
  await cleanupAll();
}, async (err) => {
  process.stderr.write(`demo failed: ${err instanceof Error ? err.message : String(err)}\n`);
  for (const d of daemons) {
    if (d.log() !== '') process.stderr.write(`--- ${d.name}'s log ---\n${d.log()}`);
  }
  await stopDaemons();
  await cleanupAll();
  process.exitCode = 1;
});
