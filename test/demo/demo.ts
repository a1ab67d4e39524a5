/**
 * The newcomer's demo: on this machine, with nothing configured, start a local PostgreSQL
 * (embedded 17 by default; PGFLEET_DEMO_VERSION=13..18 picks another) with a tablespace and
 * data, back it up with pgfleet-basebackup (tar format, as pg_basebackup -F t would), verify it
 * with pgfleet-verifybackup, restore it with pgfleet-agent onto a NEW tablespace location as a
 * read-write primary, started next to the still-running source, and show what PostgreSQL
 * itself reports.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import pg from 'pg';
import {
  REPO_ROOT, binDir, cleanupAll, freePort, isSupportedVersion, makeTempDir, pgOsUser, runAs,
  startCluster, type PgVersion,
} from '../harness/index.js';

const CORE_BIN = join(REPO_ROOT, 'packages/core/dist/bin');
const AGENT_BIN = join(REPO_ROOT, 'packages/agent/dist/bin');

/** The restored server's port and socket directory, from postmaster.pid (lines 4 and 5). */
async function connectTo(dataDir: string): Promise<pg.Client> {
  const lines = readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n');
  const client = new pg.Client({ host: lines[4] || '127.0.0.1', port: Number(lines[3]), user: 'postgres', database: 'postgres' });
  await client.connect();
  return client;
}

async function stopRestored(dataDir: string, version: PgVersion): Promise<void> {
  await runAs(join(binDir(version), 'pg_ctl'), ['-D', dataDir, '-m', 'fast', '-w', 'stop'], { allowFailure: true });
}

function step(text: string): void {
  process.stdout.write(`\n\x1b[1m== ${text}\x1b[0m\n`);
}

function runTool(tool: string, args: string[], env: NodeJS.ProcessEnv, bin = CORE_BIN): Promise<void> {
  process.stdout.write(`$ ${tool} ${args.join(' ')}\n`);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(bin, `${tool}.js`), ...args], {
      stdio: 'inherit',
      env: { ...process.env, ...env },
    });
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${tool} exited with status ${code}`))));
  });
}

async function main(): Promise<void> {
  const v = Number(process.env.PGFLEET_DEMO_VERSION ?? '17');
  if (!isSupportedVersion(v)) throw new Error(`PGFLEET_DEMO_VERSION must be 13..18, not "${v}"`);
  const version = v as PgVersion;

  step(`starting a local PostgreSQL ${version} with a tablespace and data`);
  const source = await startCluster({ version, tablespaces: 1, data: { rows: 5000 } });
  const ts = source.tablespaces[0]!;
  process.stdout.write(`source: port ${source.port}, data directory ${source.dataDir}\n`);
  process.stdout.write(`tablespace ${ts.name} (oid ${ts.oid}) at ${ts.location}\n`);

  const work = await makeTempDir('pgfleet-demo-');
  const tarDir = join(work, 'backup-tar');
  step('backup in tar format (pg_basebackup -F t compatible)');
  await runTool('pgfleet-basebackup', ['-D', tarDir, '-F', 't', '-X', 'stream', '-c', 'fast', '-P', '-v'], source.env);
  await runTool('pgfleet-verifybackup', [tarDir], {});

  const restored = join(work, 'restored');
  const newTs = join(work, 'relocated-tablespace');
  step(`restore with the agent, tablespace relocated: ${ts.location} -> ${newTs}`);
  await runTool('pgfleet-agent', [
    'restore', '--from', tarDir, '-D', restored, '-T', `${ts.location}=${newTs}`,
    '--mode', 'promote', '--start', '--port', String(await freePort()), '-U', 'postgres',
    '--pg-bin', binDir(version), '--owner', pgOsUser().name,
  ], {}, AGENT_BIN);

  step('what the restored instance holds (the source keeps running)');
  const copy = await connectTo(restored);
  try {
    const state = await copy.query(
      `SELECT pg_is_in_recovery() AS in_recovery, current_setting('server_version') AS version,
              (SELECT count(*) FROM t_main) AS rows_main, (SELECT count(*) FROM t_${ts.name}) AS rows_in_tablespace`);
    console.table(state.rows);
    await copy.query(`INSERT INTO t_main (id, label) VALUES (-1, 'written after restore')`);
    process.stdout.write('a write succeeded: the restored instance is a read-write primary\n');
  } finally {
    await copy.end();
  }
  const sourceRows = await source.query(`SELECT count(*) AS n FROM t_main WHERE id = -1`);
  process.stdout.write(`the source is untouched by that write: ${sourceRows.rows[0].n === '0'}\n`);
  await stopRestored(restored, version);
  await source.destroy();
}

main().then(async () => {
  await cleanupAll();
}, async (err) => {
  process.stderr.write(`demo failed: ${err instanceof Error ? err.message : String(err)}\n`);
  await cleanupAll();
  process.exitCode = 1;
});
