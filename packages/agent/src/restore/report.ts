/**
 * What a running instance says about itself, asked over its unix socket: server version,
 * whether it is in recovery (standby) or not (primary), its timeline, every user tablespace's
 * location as pg_tablespace_location() returns it, and the WAL receiver's state.
 *
 * Connection: host = the socket directory the instance was started with (-k), its port, the
 * role given (--user / PGUSER / the OS owner's name), database "postgres" (template1 when
 * that does not exist). Authentication follows the restored pg_hba.conf for "local"
 * connections; a password comes from PGPASSWORD or ~/.pgpass as libpq conventions say.
 *
 * Timeline: a primary's is the one its current WAL file is on (pg_walfile_name of the insert
 * position), which is right immediately after promotion, before the end-of-recovery
 * checkpoint has updated pg_control. A standby's is the WAL receiver's received_tli, else the
 * last checkpoint's.
 */

import { spawn } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { InstanceError } from '@pgfleet/core';
import { ownerEnv, ownerSpawnIds, type OsOwner } from './owner.js';

export interface TablespaceReport {
  name: string;
  oid: number;
  location: string;
}

export interface WalReceiverReport {
  status: string;
  senderHost: string;
  senderPort: number;
}

export interface InstanceReport {
  serverVersion: string;
  inRecovery: boolean;
  recoveryState: 'primary' | 'standby';
  timeline: number | null;
  tablespaces: TablespaceReport[];
  walReceiver: WalReceiverReport | null;
}

/** A connection attempt failed in a way that may pass (server starting up, socket not there yet). */
export class ConnectFailure extends InstanceError {
  constructor(message: string, readonly retryable: boolean, details: { hint?: string; cause?: unknown } = {}) {
    super(message, details);
  }
}

const RETRYABLE_CODES = new Set(['ECONNREFUSED', 'ENOENT', '57P03']);

export interface ConnectTarget {
  socketDir: string;
  port: number;
  user: string;
}

/** Opens a client on the instance's socket ("postgres", else "template1"). */
export async function connectInstance(target: ConnectTarget): Promise<pg.Client> {
  let lastError: unknown = null;
  for (const database of ['postgres', 'template1']) {
    const client = new pg.Client({ host: target.socketDir, port: target.port, user: target.user, database });
    client.on('error', () => undefined);
    try {
      await client.connect();
      return client;
    } catch (err) {
      lastError = err;
      await client.end().catch(() => undefined);
      if ((err as { code?: string }).code !== '3D000') break;
    }
  }
  const message = lastError instanceof Error ? lastError.message : String(lastError);
  const code = (lastError as { code?: string } | null)?.code ?? '';
  throw new ConnectFailure(`could not connect to the instance on socket "${target.socketDir}" port ${target.port} as role "${target.user}": ${message}`,
    RETRYABLE_CODES.has(code), {
      cause: lastError,
      hint: 'Name a role that may connect over the unix socket with --user (or PGUSER).',
    });
}

async function optionalScalar(client: pg.Client, sql: string): Promise<unknown> {
  try {
    const result = await client.query(sql);
    const row = result.rows[0] as Record<string, unknown> | undefined;
    return row ? Object.values(row)[0] : null;
  } catch {
    return null;
  }
}

export async function queryInstance(client: pg.Client): Promise<InstanceReport> {
  const state = await client.query<{ in_recovery: boolean; server_version: string; walfile: string | null }>(
    `SELECT pg_is_in_recovery() AS in_recovery, current_setting('server_version') AS server_version,
            CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_walfile_name(pg_current_wal_lsn()) END AS walfile`,
  );
  const row = state.rows[0];
  if (!row) throw new InstanceError('the instance returned no row for its state');
  const spaces = await client.query<{ name: string; oid: string; location: string }>(
    `SELECT spcname AS name, oid::text AS oid, pg_tablespace_location(oid) AS location
       FROM pg_tablespace WHERE spcname NOT IN ('pg_default', 'pg_global') ORDER BY spcname`,
  );
  let walReceiver: WalReceiverReport | null = null;
  let receivedTli: number | null = null;
  try {
    const wr = await client.query<{ status: string; sender_host: string | null; sender_port: number | null; received_tli: number | null }>(
      'SELECT status, sender_host, sender_port, received_tli FROM pg_stat_wal_receiver',
    );
    const w = wr.rows[0];
    if (w) {
      walReceiver = { status: w.status, senderHost: w.sender_host ?? '', senderPort: w.sender_port ?? 0 };
      receivedTli = w.received_tli;
    }
  } catch {
    // pg_stat_wal_receiver's columns need pg_read_all_stats; the report just lacks them then.
  }
  let timeline: number | null = null;
  if (row.walfile) {
    timeline = parseInt(row.walfile.slice(0, 8), 16);
  } else if (receivedTli) {
    timeline = Number(receivedTli);
  } else {
    const tli = await optionalScalar(client, 'SELECT timeline_id FROM pg_control_checkpoint()');
    timeline = tli === null ? null : Number(tli);
  }
  return {
    serverVersion: row.server_version,
    inRecovery: row.in_recovery,
    recoveryState: row.in_recovery ? 'standby' : 'primary',
    timeline,
    tablespaces: spaces.rows.map((r) => ({ name: r.name, oid: Number(r.oid), location: r.location })),
    walReceiver,
  };
}

/** Connects, asks, disconnects. */
export async function reportInstance(target: ConnectTarget): Promise<InstanceReport> {
  const client = await connectInstance(target);
  try {
    return await queryInstance(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * reportInstance() in a child process running as `owner` (when we are root): so that "peer"
 * authentication, the usual rule for local connections (Debian: "local all postgres peer"),
 * sees the owner's OS user rather than root. The child is this package's report-child module.
 */
export async function reportInstanceAs(owner: OsOwner, target: ConnectTarget, timeoutMs = 60_000): Promise<InstanceReport> {
  if (!owner.chown) return reportInstance(target);
  const here = fileURLToPath(import.meta.url);
  const isTs = here.endsWith('.ts');
  const child = path.join(path.dirname(here), `report-child.${isTs ? 'ts' : 'js'}`);
  // Running from sources (tests): the child needs tsx too, resolved from here, not its cwd.
  const args = [...(isTs ? ['--import', import.meta.resolve('tsx')] : []), child, JSON.stringify(target)];
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, args, {
      cwd: os.tmpdir(), env: ownerEnv(owner), stdio: ['ignore', 'pipe', 'pipe'], timeout: timeoutMs, ...ownerSpawnIds(owner),
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    proc.stdout.on('data', (b: Buffer) => out.push(b));
    proc.stderr.on('data', (b: Buffer) => err.push(b));
    proc.on('error', (e) => reject(new InstanceError(`could not run the report as OS user "${owner.name}": ${e.message}`, { cause: e })));
    proc.on('close', (code) => {
      const text = Buffer.concat(out).toString('utf8');
      type ChildAnswer = { ok: true; report: InstanceReport } | { ok: false; message: string; hint?: string; retryable?: boolean };
      let parsed: ChildAnswer | null;
      try {
        parsed = JSON.parse(text) as ChildAnswer;
      } catch {
        parsed = null;
      }
      if (parsed?.ok) resolve(parsed.report);
      else if (parsed && !parsed.ok) reject(new ConnectFailure(parsed.message, parsed.retryable === true, parsed.hint ? { hint: parsed.hint } : {}));
      else reject(new InstanceError(`the report process failed (exit code ${String(code)}): ${Buffer.concat(err).toString('utf8').trim().split('\n').slice(-5).join(' ')}`));
    });
  });
}
