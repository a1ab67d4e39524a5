/**
 * The newcomer's demo: on this machine, with nothing configured, start a local PostgreSQL
 * (embedded 17 by default; PGFLEET_DEMO_VERSION=13..18 picks another) with a tablespace and
 * data, back it up with pgfleet-basebackup (tar format, as pg_basebackup -F t would), verify it
 * with pgfleet-verifybackup, restore it onto a NEW tablespace location, start the restored
 * instance next to the still-running source, and show what PostgreSQL itself reports.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import {
  REPO_ROOT, cleanupAll, isSupportedVersion, makeTempDir, startCluster, startRestored,
  preparePlainRestore, type PgVersion,
} from '../harness/index.js';

const CORE_BIN = join(REPO_ROOT, 'packages/core/dist/bin');

function step(text: string): void {
  process.stdout.write(`\n\x1b[1m== ${text}\x1b[0m\n`);
}

function runTool(tool: string, args: string[], env: NodeJS.ProcessEnv): Promise<void> {
  process.stdout.write(`$ ${tool} ${args.join(' ')}\n`);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(CORE_BIN, `${tool}.js`), ...args], {
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
  step(`restore with the tablespace relocated: ${ts.location} -> ${newTs}`);
  await runTool('pgfleet-basebackup', ['-D', restored, '-X', 'stream', '-c', 'fast', '-T', `${ts.location}=${newTs}`], source.env);
  await preparePlainRestore({ dataDir: restored });
  const copy = await startRestored({ dataDir: restored, version, mode: 'promote' });

  step('what the restored instance reports (the source keeps running)');
  const state = await copy.query(
    `SELECT pg_is_in_recovery() AS in_recovery, current_setting('server_version') AS version,
            (SELECT count(*) FROM t_main) AS rows_main, (SELECT count(*) FROM t_${ts.name}) AS rows_in_tablespace`);
  const locs = await copy.query(
    `SELECT spcname AS tablespace, pg_tablespace_location(oid) AS location
       FROM pg_tablespace WHERE spcname NOT LIKE 'pg\\_%' ORDER BY 1`);
  console.table(state.rows);
  console.table(locs.rows);
  await copy.query(`INSERT INTO t_main (id, label) VALUES (-1, 'written after restore')`);
  process.stdout.write('a write succeeded: the restored instance is a read-write primary\n');
  const same = JSON.stringify(await source.snapshot()) !== JSON.stringify(await copy.snapshot());
  process.stdout.write(`source data unchanged by the write on the copy: ${same}\n`);
  await copy.destroy();
  await source.destroy();
}

main().then(async () => {
  await cleanupAll();
}, async (err) => {
  process.stderr.write(`demo failed: ${err instanceof Error ? err.message : String(err)}\n`);
  await cleanupAll();
  process.exitCode = 1;
});
