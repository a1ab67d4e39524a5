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
 *   6. what PostgreSQL itself reports about the copy, and a write into it;
 *   7. point-in-time recovery: rows written, the moment noted, a table dropped by mistake, more
 *      rows written; the agent has streamed all of it into the controller's WAL archive
 *      meanwhile, and `pgfleet restore ... --target-time` brings the cluster back to the moment
 *      before the drop: the table is there again, the rows written after it are not.
 *
 * Everything lives in one temporary directory, removed at the end with every process stopped.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { copyFile, mkdir } from 'node:fs/promises';
import pg from 'pg';
import {
  REPO_ROOT, binDir, chownOne, chownR, cleanupAll, freePort, isSupportedVersion, makeTempDir, pgOsUser,
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
  process.stdout.write(`$ pgfleet ${args.map((a) => (/\s/.test(a) ? `'${a}'` : a)).join(' ')}\n`);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [PGFLEET_JS, ...args], { stdio: ['ignore', 'inherit', 'inherit'], env: toolEnv(env) });
    child.on('error', reject);
    child.on('exit', (code, signal) => (code === 0 ? resolve() : reject(new Error(`pgfleet ${args[0]} exited with ${code ?? signal}`))));
  });
}

/** Runs `pgfleet ARGS --json` quietly and returns what it printed, parsed. */
function pgfleetJson<T>(args: string[], env: NodeJS.ProcessEnv): Promise<T> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [PGFLEET_JS, ...args, '--json'], { stdio: ['ignore', 'pipe', 'pipe'], env: toolEnv(env) });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => { out += d; });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { err += d; });
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(JSON.parse(out) as T) : reject(new Error(`pgfleet ${args[0]} exited with ${code}: ${err}`))));
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
  // A point-in-time restore's restore_command (pgfleet-agent wal-get) runs as the PostgreSQL OS
  // user and fetches WAL from the controller with the agent's certificate: that user gets its
  // own copy of it (controller.tls), and wal-get its prefetch directory inside the demo's.
  const walGetTls = join(agentRoot, 'wal-get-tls');
  await mkdir(walGetTls);
  for (const f of ['ca.crt', 'agent-host1.crt', 'agent-host1.key']) await copyFile(join(certs, f), join(walGetTls, f));
  await chownR(walGetTls);
  const controllerPort = await freePort();
  const agentYaml = join(work, 'agent.yaml');
  writeFileSync(agentYaml, [
    'listen: 127.0.0.1:0',
    `tls: { ca: ${JSON.stringify(join(certs, 'ca.crt'))}, cert: ${JSON.stringify(join(certs, 'agent-host1.crt'))}, key: ${JSON.stringify(join(certs, 'agent-host1.key'))} }`,
    `allowedRoots: [${JSON.stringify(agentRoot)}]`,
    `pgBin: ${JSON.stringify(binDir(version))}`,
    `osUser: ${osUser}`,
    'connectUser: postgres',
    `controller: { address: "127.0.0.1:${controllerPort}", cluster: demo, prefetchDir: ${JSON.stringify(join(agentRoot, 'wal-prefetch'))},`,
    `  tls: { ca: ${JSON.stringify(join(walGetTls, 'ca.crt'))}, cert: ${JSON.stringify(join(walGetTls, 'agent-host1.crt'))}, key: ${JSON.stringify(join(walGetTls, 'agent-host1.key'))} } }`,
    '',
  ].join('\n'));
  step('an agent on "host1" (pgfleet-agent serve)');
  const agent = await startDaemon('the agent', AGENT_JS, ['serve', '--config', agentYaml], /listening on (127\.0\.0\.1:[0-9]+)/);
  process.stdout.write(`agent host1 listening on ${agent.address}; it may write only below ${agentRoot}\n`);

  const repository = join(work, 'repository');
  const fleetYaml = join(work, 'fleet.yaml');
  writeFileSync(fleetYaml, [
    `listen: 127.0.0.1:${controllerPort}`,
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

  step('a fleet backup: the agent streams it from its local server into the repository (and the WAL, continuously)');
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

  await pointInTimeRecovery({ version, source, ts, agentRoot, cli });
}

interface PitrContext {
  version: PgVersion;
  source: TestCluster;
  ts: TestCluster['tablespaces'][number];
  agentRoot: string;
  cli: NodeJS.ProcessEnv;
}

/** Runs `sql` on the source, shown as typed. */
async function onSource<R extends pg.QueryResultRow>(source: TestCluster, sql: string): Promise<pg.QueryResult<R>> {
  process.stdout.write(`source=# ${sql};\n`);
  return source.query<R>(sql);
}

/** Waits until the controller's WAL archive holds everything the source has written. */
async function waitForArchive(source: TestCluster, cli: NodeJS.ProcessEnv): Promise<void> {
  const lsn = (text: string): bigint => {
    const [hi, lo] = text.split('/');
    return (BigInt(`0x${hi}`) << 32n) | BigInt(`0x${lo}`);
  };
  const current = (await source.query<{ l: string }>('SELECT pg_current_wal_lsn()::text AS l')).rows[0]!.l;
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    const [w] = await pgfleetJson<Array<{ flushedLsn: string | null }>>(['wal', 'demo'], cli);
    if (w?.flushedLsn && lsn(w.flushedLsn) >= lsn(current)) {
      process.stdout.write(`the WAL archive holds the source's WAL up to ${w.flushedLsn} (the source is at ${current})\n`);
      return;
    }
    if (Date.now() > deadline) throw new Error(`the WAL archive did not reach ${current} within ${START_TIMEOUT_MS / 1000} s`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Step 7: a table dropped by mistake, and the cluster restored to the moment before. */
async function pointInTimeRecovery({ version, source, ts, agentRoot, cli }: PitrContext): Promise<void> {
  step('point-in-time recovery: a table dropped by mistake');
  await onSource(source, "CREATE TABLE orders (id int PRIMARY KEY, item text)");
  await onSource(source, "INSERT INTO orders SELECT g, 'order ' || g FROM generate_series(1, 1000) g");
  const before = (await onSource<{ t: string }>(source, 'SELECT clock_timestamp()::text AS t')).rows[0]!.t;
  process.stdout.write(`the moment before the mistake: ${before}\n`);
  await onSource(source, 'DROP TABLE orders');
  process.stdout.write('oops: table "orders" is gone on the source\n');
  await onSource(source, "INSERT INTO t_main (id, label) SELECT -g, 'written after the drop' FROM generate_series(1, 500) g");
  await waitForArchive(source, cli);
  await pgfleet(['backups', 'demo'], cli);

  const pitr = join(agentRoot, 'before-the-drop');
  step(`restore the cluster as it was at ${before}, next to the source`);
  await pgfleet([
    'restore', 'demo', '--agent', 'host1', '-D', pitr, '-T', `${ts.location}=${join(agentRoot, 'before-the-drop-tablespace')}`,
    '--target-time', before, '--start', '--port', String(await freePort()),
  ], cli);
  try {
    await showBeforeTheDrop(pitr, source);
  } finally {
    await runAs(join(binDir(version), 'pg_ctl'), ['-D', pitr, '-m', 'fast', '-w', 'stop'], { allowFailure: true });
  }
}

/** What the point-in-time copy holds next to the source: the dropped table back, the later rows absent. */
async function showBeforeTheDrop(pitr: string, source: TestCluster): Promise<void> {
  // The table's rows are counted only where it exists: a query naming a missing table fails even unexecuted.
  const state = async (q: (sql: string) => Promise<pg.QueryResult>): Promise<Record<string, unknown>> => {
    const row = (await q(`SELECT pg_is_in_recovery() AS in_recovery, (SELECT timeline_id FROM pg_control_checkpoint()) AS timeline,
                                 to_regclass('orders') IS NOT NULL AS has_orders,
                                 (SELECT count(*) FROM t_main WHERE label = 'written after the drop') AS rows_written_after_the_drop`)).rows[0];
    const orders = row.has_orders ? (await q('SELECT count(*) AS n FROM orders')).rows[0]?.n : 'dropped';
    return { in_recovery: row.in_recovery, timeline: row.timeline, orders, rows_written_after_the_drop: row.rows_written_after_the_drop };
  };
  const copy = await connectTo(pitr);
  try {
    console.table({ source: await state((sql) => source.query(sql)), 'before the drop': await state((sql) => copy.query(sql)) });
    const orders = (await copy.query<{ n: string }>('SELECT count(*) AS n FROM orders')).rows[0]?.n;
    process.stdout.write(`the dropped table is back: orders holds ${orders} rows\n`);
    const later = (await copy.query<{ n: string }>("SELECT count(*) AS n FROM t_main WHERE label = 'written after the drop'")).rows[0]?.n;
    process.stdout.write(`the rows written after the drop are missing: ${later} of 500 there\n`);
    await copy.query(`INSERT INTO orders VALUES (1001, 'written after the recovery')`);
    process.stdout.write('a write into the recovered copy succeeded: it is a read-write primary\n');
  } finally {
    await copy.end();
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
