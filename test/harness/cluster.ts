// Throw-away PostgreSQL clusters for end-to-end tests.
//
// startCluster() runs initdb (as the unprivileged OS user, see os-user.ts) in a fresh temp
// directory laid out as
//     <baseDir>/data      the data directory
//     <baseDir>/sock      unix socket directory (TestCluster.host)
//     <baseDir>/tsN       location of tablespace tsN
//     <baseDir>/postgres.log
// and starts it on a free TCP port on 127.0.0.1. The superuser ROLE is always "postgres"
// (initdb -U postgres), whatever the OS user is; authentication is trust unless hba says
// otherwise. Clusters are tracked by cleanup.ts, so they are stopped even when a test fails.
//
// Settings chosen for speed, not durability: initdb -N, fsync=off, synchronous_commit=off,
// small shared_buffers. full_page_writes stays on: base backups depend on it.

import { appendFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import pg from 'pg';
import { killSync, trackResource, untrackDir, untrackResource, type StoppableResource } from './cleanup.js';
import { chownOne, CommandError, makeTempDir, pgOsUser, runAs } from './os-user.js';
import { binDir as binDirOf, type PgVersion } from './versions.js';

/** The superuser role every harness cluster has. */
export const SUPERUSER = 'postgres';

export interface TablespaceInfo {
  name: string;
  oid: number;
  /** pg_tablespace_location(): where PostgreSQL itself says the tablespace lives. */
  location: string;
}

/** One user table's content: row count and md5 of its rows' text forms, sorted. */
export interface TableDigest {
  rows: number;
  md5: string;
}

/** Table name (schema-qualified when not in public) -> digest. Compare with deepEqual. */
export type Snapshot = Record<string, TableDigest>;

export interface DataOptions {
  /** Plain rows per table (default 1000), plus one TOASTed row with id 0. */
  rows?: number;
}

export interface StartClusterOptions {
  /** Major version, default 15. */
  version?: PgVersion;
  /** Number of tablespaces ts1..tsN to create at harness-made directories (default 0). */
  tablespaces?: number;
  /** Create tables with known rows: t_main in the main directory, t_ts<N> in each tablespace. */
  data?: boolean | DataOptions;
  /** Extra postgresql.conf lines, appended last (so they win). */
  settings?: string[];
  /** Replaces the default pg_hba.conf lines entirely. */
  hba?: string[];
  /** Lines placed BEFORE the default pg_hba.conf lines (first match wins). */
  extraHba?: string[];
  /** Extra initdb arguments, e.g. ["--data-checksums"] or ["-g"]. */
  initdbArgs?: string[];
  /** Password for the "postgres" role (initdb --pwfile); it is put in connectionString/env. */
  password?: string;
}

export const DEFAULT_HBA: readonly string[] = [
  'local   replication all                trust',
  'host    replication all   127.0.0.1/32 trust',
  'local   all         all                trust',
  'host    all         all   127.0.0.1/32 trust',
];

/** Internal description of where a server's files are; shared with restore.ts. */
export interface ClusterLayout {
  version: PgVersion;
  dataDir: string;
  /** Harness-owned directory holding sock/ and postgres.log (and, for startCluster, data/). */
  baseDir: string;
  /** Remove dataDir on destroy() even though it is not inside baseDir. */
  removeDataDir: boolean;
  password?: string;
  /** Extra postgres command-line settings (e.g. overrides for a restored copy). */
  extraArgs?: string[];
}

/** A free TCP port on 127.0.0.1 (the OS picks one; a race with other processes is retried on start). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error('could not pick a free port'))));
    });
  });
}

function quoteConf(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

const checkedBinaries = new Set<string>();

/** Fail early, with a useful message, when the OS user cannot run a version's binaries. */
async function checkBinaries(dir: string): Promise<void> {
  if (checkedBinaries.has(dir)) return;
  const postgres = path.join(dir, 'postgres');
  if (!existsSync(postgres)) throw new Error(`"${postgres}" does not exist: run npm ci (or .ci/run)`);
  try {
    await runAs(postgres, ['--version']);
  } catch (error) {
    throw new Error(
      `the OS user "${pgOsUser().name}" cannot run "${postgres}": every directory above it must be ` +
        `searchable by that user (.ci/run fixes this)\n${String(error)}`,
    );
  }
  checkedBinaries.add(dir);
}

export class TestCluster implements StoppableResource {
  readonly version: PgVersion;
  readonly binDir: string;
  readonly dataDir: string;
  readonly baseDir: string;
  /** Unix socket directory. */
  readonly host: string;
  /** TCP host the server listens on; connectionString and env use it. */
  readonly tcpHost = '127.0.0.1';
  /** Superuser role name (always "postgres", independent of the OS user). */
  readonly user = SUPERUSER;
  readonly password: string | undefined;
  readonly logFile: string;
  readonly pidFile: string;
  port = 0;
  tablespaces: TablespaceInfo[] = [];

  private pool: pg.Pool | undefined;
  private running = false;
  private destroyed = false;
  private readonly removeDataDir: boolean;
  private readonly extraArgs: string[];

  constructor(layout: ClusterLayout) {
    this.version = layout.version;
    this.binDir = binDirOf(layout.version);
    this.dataDir = layout.dataDir;
    this.baseDir = layout.baseDir;
    this.host = path.join(layout.baseDir, 'sock');
    this.logFile = path.join(layout.baseDir, 'postgres.log');
    this.pidFile = path.join(layout.dataDir, 'postmaster.pid');
    this.password = layout.password;
    this.removeDataDir = layout.removeDataDir;
    this.extraArgs = layout.extraArgs ?? [];
  }

  get isRunning(): boolean {
    return this.running;
  }

  /** postgresql://postgres[:password]@127.0.0.1:<port>/postgres */
  get connectionString(): string {
    const auth = this.password === undefined ? this.user : `${this.user}:${encodeURIComponent(this.password)}`;
    return `postgresql://${auth}@${this.tcpHost}:${this.port}/postgres`;
  }

  /** Environment for child processes (psql, pg_basebackup, pgfleet tools): TCP to the server. */
  get env(): Record<string, string> {
    const env: Record<string, string> = {
      PGHOST: this.tcpHost,
      PGPORT: String(this.port),
      PGUSER: this.user,
      PGDATABASE: 'postgres',
    };
    if (this.password !== undefined) env['PGPASSWORD'] = this.password;
    return env;
  }

  /** Start the server on a free port (pg_ctl -w), retrying with another port if it is taken. */
  async start(): Promise<void> {
    if (this.destroyed) throw new Error(`cluster "${this.dataDir}" was destroyed`);
    if (this.running) return;
    await checkBinaries(this.binDir);
    await mkdir(this.host, { recursive: true });
    await chownOne(this.host);
    trackResource(this);
    for (let attempt = 1; ; attempt++) {
      this.port = await freePort();
      const options = [
        `-p ${this.port}`,
        `-k ${quoteConf(this.host)}`,
        `-c listen_addresses=127.0.0.1`,
        ...this.extraArgs,
      ].join(' ');
      const logStart = await this.logSize();
      try {
        await runAs(path.join(this.binDir, 'pg_ctl'), [
          'start', '-w', '-t', '120', '-D', this.dataDir, '-l', this.logFile, '-o', options,
        ]);
        break;
      } catch (error) {
        const log = await this.readLog(logStart);
        if (attempt < 5 && /could not bind|Address already in use|could not create any TCP\/IP sockets/.test(log)) {
          continue;
        }
        killSync(this.pidFile);
        untrackResource(this);
        throw new Error(`could not start PostgreSQL ${this.version} in "${this.dataDir}"\n${String(error)}\n--- log ---\n${log.slice(-4000)}`);
      }
    }
    this.running = true;
    await this.refreshTablespaces();
  }

  /** Stop the server (fast shutdown). Idempotent. */
  async stop(): Promise<void> {
    if (this.pool) {
      const pool = this.pool;
      this.pool = undefined;
      await pool.end().catch(() => undefined);
    }
    if (!this.running) {
      untrackResource(this);
      return;
    }
    try {
      await runAs(path.join(this.binDir, 'pg_ctl'), ['stop', '-w', '-t', '60', '-m', 'fast', '-D', this.dataDir]);
    } catch (error) {
      // The server may already be gone (e.g. a test killed it); anything else is fatal for it.
      if (!(error instanceof CommandError && /Is server running\?|PID file .* does not exist/.test(error.result.stderr))) {
        killSync(this.pidFile);
      }
    }
    this.running = false;
    untrackResource(this);
  }

  /** Stop the server and remove its directories. Idempotent. */
  async destroy(): Promise<void> {
    await this.stop();
    this.destroyed = true;
    if (this.removeDataDir) await rm(this.dataDir, { recursive: true, force: true });
    await rm(this.baseDir, { recursive: true, force: true });
    untrackDir(this.baseDir);
  }

  /** Server log (optionally from a byte offset). */
  async readLog(fromByte = 0): Promise<string> {
    try {
      return (await readFile(this.logFile)).subarray(fromByte).toString('utf8');
    } catch {
      return '';
    }
  }

  private async logSize(): Promise<number> {
    try {
      return (await readFile(this.logFile)).length;
    } catch {
      return 0;
    }
  }

  private getPool(): pg.Pool {
    if (!this.running) throw new Error(`cluster "${this.dataDir}" is not running`);
    if (!this.pool) {
      this.pool = new pg.Pool({
        host: this.tcpHost,
        port: this.port,
        user: this.user,
        database: 'postgres',
        max: 3,
        ...(this.password !== undefined ? { password: this.password } : {}),
      });
      // Idle clients get an error when the server stops; the next query reports it instead.
      this.pool.on('error', () => undefined);
    }
    return this.pool;
  }

  /** Run one statement (or several, without params) on the "postgres" database. */
  async query<R extends pg.QueryResultRow = Record<string, unknown>>(
    sql: string,
    params?: unknown[],
  ): Promise<pg.QueryResult<R>> {
    return this.getPool().query<R>(sql, params);
  }

  /** A dedicated connection (e.g. to another database); the caller must end() it. */
  async connect(database = 'postgres'): Promise<pg.Client> {
    const client = new pg.Client({
      host: this.tcpHost,
      port: this.port,
      user: this.user,
      database,
      ...(this.password !== undefined ? { password: this.password } : {}),
    });
    client.on('error', () => undefined);
    await client.connect();
    return client;
  }

  /** Re-read the user tablespaces as PostgreSQL reports them. */
  async refreshTablespaces(): Promise<TablespaceInfo[]> {
    const result = await this.query<{ name: string; oid: string; location: string }>(
      `SELECT spcname AS name, oid::text AS oid, pg_tablespace_location(oid) AS location
         FROM pg_tablespace WHERE spcname NOT IN ('pg_default', 'pg_global') ORDER BY spcname`,
    );
    this.tablespaces = result.rows.map((r) => ({ name: r.name, oid: Number(r.oid), location: r.location }));
    return this.tablespaces;
  }

  /**
   * Deterministic digest of the user data of one database: for every ordinary, partitioned
   * and materialized table outside the system schemas, its row count and the md5 of its rows'
   * text forms in sorted order (byte order: clusters are initialised with --locale=C).
   */
  async snapshot(database = 'postgres'): Promise<Snapshot> {
    const client = await this.connect(database);
    try {
      const tables = await client.query<{ name: string }>(
        `SELECT c.oid::regclass::text AS name
           FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE c.relkind IN ('r', 'm')
            AND n.nspname NOT IN ('pg_catalog', 'information_schema')
            AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'
          ORDER BY 1`,
      );
      const snapshot: Snapshot = {};
      for (const { name } of tables.rows) {
        const digest = await client.query<{ rows: string; md5: string }>(
          `SELECT count(*)::text AS rows,
                  md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t::text COLLATE "C"), '')) AS md5
             FROM ${name} t`,
        );
        const row = digest.rows[0];
        if (!row) throw new Error(`no digest for table "${name}"`);
        snapshot[name] = { rows: Number(row.rows), md5: row.md5 };
      }
      return snapshot;
    } finally {
      await client.end().catch(() => undefined);
    }
  }
}

/** The value stored in the TOASTed row of every harness table: about 64 kB of hex text. */
export const TOAST_VALUE_SQL = `(SELECT string_agg(md5(i::text), '') FROM generate_series(1, 2000) i)`;

async function createData(cluster: TestCluster, rows: number): Promise<void> {
  const tables: Array<{ table: string; tablespace?: string }> = [{ table: 't_main' }];
  for (const ts of cluster.tablespaces) tables.push({ table: `t_${ts.name}`, tablespace: ts.name });
  for (const { table, tablespace } of tables) {
    const where = tablespace ? ` TABLESPACE ${quoteIdent(tablespace)}` : '';
    // STORAGE EXTERNAL: the big value goes out of line uncompressed, so a TOAST table with
    // real chunks exists (in the same tablespace as its table).
    await cluster.query(`
      CREATE TABLE ${table} (id integer PRIMARY KEY, label text NOT NULL, big text)${where};
      ALTER TABLE ${table} ALTER COLUMN big SET STORAGE EXTERNAL;
      INSERT INTO ${table} SELECT i, 'row ' || i, NULL FROM generate_series(1, ${rows}) i;
      INSERT INTO ${table} VALUES (0, 'toasted', ${TOAST_VALUE_SQL});
      CREATE INDEX ${table}_label_idx ON ${table} (label)${where};
    `);
  }
  await cluster.query('CHECKPOINT');
}

/** initdb + configure + start a new cluster (see the module comment for the layout). */
export async function startCluster(opts: StartClusterOptions = {}): Promise<TestCluster> {
  const version = opts.version ?? 15;
  const dir = binDirOf(version);
  await checkBinaries(dir);
  const baseDir = await makeTempDir(`pgfleet-pg${version}`);
  const dataDir = path.join(baseDir, 'data');
  const layout: ClusterLayout = { version, dataDir, baseDir, removeDataDir: false };
  if (opts.password !== undefined) layout.password = opts.password;
  const cluster = new TestCluster(layout);

  const initdbArgs = ['-D', dataDir, '-N', '-U', SUPERUSER, '-A', 'trust', '--locale=C', '-E', 'UTF8'];
  if (opts.password !== undefined) {
    const pwfile = path.join(baseDir, 'pwfile');
    await writeFile(pwfile, `${opts.password}\n`, { mode: 0o600 });
    await chownOne(pwfile);
    initdbArgs.push(`--pwfile=${pwfile}`);
  }
  initdbArgs.push(...(opts.initdbArgs ?? []));
  await runAs(path.join(dir, 'initdb'), initdbArgs);
  await rm(path.join(baseDir, 'pwfile'), { force: true });

  await appendFile(
    path.join(dataDir, 'postgresql.conf'),
    [
      '',
      '# pgfleet test harness',
      // no port here: every start passes a fresh free port with pg_ctl -o "-p <port>"
      `unix_socket_directories = ${quoteConf(cluster.host)}`,
      "listen_addresses = '127.0.0.1'",
      'wal_level = replica',
      'max_wal_senders = 10',
      'max_replication_slots = 10',
      'fsync = off',
      'synchronous_commit = off',
      'shared_buffers = 16MB',
      'max_connections = 30',
      "log_line_prefix = '%m [%p] '",
      "lc_messages = 'C'",
      ...(opts.settings ?? []),
      '',
    ].join('\n'),
  );
  const hba = opts.hba ?? [...(opts.extraHba ?? []), ...DEFAULT_HBA];
  await writeFile(path.join(dataDir, 'pg_hba.conf'), `${hba.join('\n')}\n`);

  const tablespaceDirs: string[] = [];
  for (let i = 1; i <= (opts.tablespaces ?? 0); i++) {
    const location = path.join(baseDir, `ts${i}`);
    await mkdir(location, { mode: 0o700 });
    await chownOne(location);
    tablespaceDirs.push(location);
  }

  await cluster.start();
  for (const [index, location] of tablespaceDirs.entries()) {
    await cluster.query(`CREATE TABLESPACE ts${index + 1} LOCATION ${quoteConf(location)}`);
  }
  await cluster.refreshTablespaces();
  if (opts.data) {
    const rows = typeof opts.data === 'object' ? (opts.data.rows ?? 1000) : 1000;
    await createData(cluster, rows);
  }
  return cluster;
}

export { quoteConf as quoteLiteral };
