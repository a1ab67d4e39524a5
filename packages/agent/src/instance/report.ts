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
 * Every wait is bounded: the connection attempt (CONNECT_TIMEOUT_MS), each query
 * (QUERY_TIMEOUT_MS, also sent as statement_timeout), and reportInstanceAs() as a whole (its
 * timeout; the child is killed then). An AbortSignal ends reportInstanceAs() at once with
 * CancelledError (the child is killed).
 *
 * Timeline: a primary's is the one its current WAL file is on (pg_walfile_name of the insert
 * position), which is right immediately after promotion, before the end-of-recovery
 * checkpoint has updated pg_control. A standby's is the WAL receiver's received_tli, else the
 * last checkpoint's.
 *
 * Replay: where WAL replay is, or where it stopped once recovery has ended (the server keeps
 * pg_last_wal_replay_lsn() and pg_last_xact_replay_timestamp() after promotion), and whether
 * replay is paused.
 */

import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type pg from 'pg';
// pg is required when an instance is first connected to: `pgfleet-agent restore` without
// --start never does (core's loader also spares Node 20 loading undici for pg).
import { CancelledError, InstanceError, loadPg } from '@pgfleet/core';
import { runChild } from './child-process.js';
import { ownerEnv, ownerSpawnIds, type OsOwner } from './owner.js';

export interface TablespaceReport {
  name: string;
  oid: number;
  location: string;
}

export interface WalReceiverReport {
  /** The WAL receiver process (a new one after each failed attempt). */
  pid: number;
  /** pg_stat_wal_receiver.status; null when the role may not see it (no pg_read_all_stats). */
  status: string | null;
  senderHost: string;
  senderPort: number;
}

/** Where WAL replay is (or stopped, once recovery has ended): null fields when never in recovery. */
export interface ReplayReport {
  /** pg_last_wal_replay_lsn(). */
  lsn: string | null;
  /** pg_last_xact_replay_timestamp(), ISO 8601. */
  lastTransactionTime: string | null;
  /** In recovery and paused (pg_is_wal_replay_paused()); false otherwise. */
  paused: boolean;
}

export interface InstanceReport {
  serverVersion: string;
  replay: ReplayReport;
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

/** A local server that has not completed the startup handshake by then is not going to. */
export const CONNECT_TIMEOUT_MS = 15_000;
/** The report's queries are catalogue lookups: milliseconds, unless something is stuck. */
export const QUERY_TIMEOUT_MS = 15_000;
/** Default bound of reportInstanceAs() as a whole (child start, connect, queries). */
export const REPORT_TIMEOUT_MS = 60_000;

export interface ConnectTarget {
  socketDir: string;
  port: number;
  user: string;
}

function describeTarget(target: ConnectTarget): string {
  return `socket "${target.socketDir}" port ${target.port} as role "${target.user}"`;
}

/** Opens a client on the instance's socket ("postgres", else "template1"). */
export async function connectInstance(target: ConnectTarget): Promise<pg.Client> {
  let lastError: unknown = null;
  for (const database of ['postgres', 'template1']) {
    const client = new (loadPg().Client)({
      host: target.socketDir, port: target.port, user: target.user, database,
      connectionTimeoutMillis: CONNECT_TIMEOUT_MS, query_timeout: QUERY_TIMEOUT_MS, statement_timeout: QUERY_TIMEOUT_MS,
    });
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
  // pg's own connect timeout has no code; a server busy starting up may pass, so it is retried
  // (within the caller's overall bound).
  const timedOut = /connection timeout/i.test(message);
  throw new ConnectFailure(`could not connect to the instance on ${describeTarget(target)}: ${message}`,
    RETRYABLE_CODES.has(code) || timedOut, {
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
  const state = await client.query<{
    in_recovery: boolean; server_version: string; walfile: string | null; replay_lsn: string | null; replay_time: Date | null; paused: boolean | null;
  }>(
    `SELECT pg_is_in_recovery() AS in_recovery, current_setting('server_version') AS server_version,
            CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_walfile_name(pg_current_wal_lsn()) END AS walfile,
            pg_last_wal_replay_lsn()::text AS replay_lsn, pg_last_xact_replay_timestamp() AS replay_time,
            CASE WHEN pg_is_in_recovery() THEN pg_is_wal_replay_paused() ELSE false END AS paused`,
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
    const wr = await client.query<{ pid: number; status: string | null; sender_host: string | null; sender_port: number | null; received_tli: number | null }>(
      'SELECT pid, status, sender_host, sender_port, received_tli FROM pg_stat_wal_receiver',
    );
    const w = wr.rows[0];
    if (w) {
      walReceiver = { pid: w.pid, status: w.status, senderHost: w.sender_host ?? '', senderPort: w.sender_port ?? 0 };
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
    replay: { lsn: row.replay_lsn, lastTransactionTime: row.replay_time?.toISOString() ?? null, paused: row.paused === true },
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

export interface ReportOptions {
  /** Bound of the whole report (child included); default REPORT_TIMEOUT_MS. */
  timeoutMs?: number;
  /** Aborting ends the report at once with CancelledError (the child is killed). */
  signal?: AbortSignal;
  /** The instance's data directory, named in errors. */
  dataDir?: string;
}

function timedOutError(target: ConnectTarget, options: ReportOptions, timeoutMs: number): InstanceError {
  const which = options.dataDir ? `the instance in "${options.dataDir}"` : 'the instance';
  return new InstanceError(`${which} did not answer the report query within ${Number((timeoutMs / 1000).toFixed(1))} seconds (${describeTarget(target)})`, {
    hint: 'The server does not complete the connection or the queries; look at its log, and at pg_hba.conf for the role.',
  });
}

function cancelledError(options: ReportOptions): CancelledError {
  return new CancelledError(options.dataDir ? `the report of the instance in "${options.dataDir}" was cancelled` : 'the instance report was cancelled');
}

/** reportInstance() bounded by the options' timeout and signal, in this process. */
async function reportHere(target: ConnectTarget, options: ReportOptions, timeoutMs: number): Promise<InstanceReport> {
  if (options.signal?.aborted) throw cancelledError(options);
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  const stop = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(timedOutError(target, options, timeoutMs)), timeoutMs);
    onAbort = (): void => reject(cancelledError(options));
    options.signal?.addEventListener('abort', onAbort, { once: true });
  });
  try {
    // The pg timeouts end the abandoned attempt soon after a timeout or an abort.
    return await Promise.race([reportInstance(target), stop]);
  } finally {
    clearTimeout(timer);
    if (onAbort) options.signal?.removeEventListener('abort', onAbort);
  }
}

/**
 * reportInstance() in a child process running as `owner` (when we are root): so that "peer"
 * authentication, the usual rule for local connections (Debian: "local all postgres peer"),
 * sees the owner's OS user rather than root. The child is this package's report-child module.
 * Bounded by options.timeoutMs (the child is killed, InstanceError); options.signal kills it at
 * once (CancelledError).
 */
export async function reportInstanceAs(owner: OsOwner, target: ConnectTarget, options: ReportOptions = {}): Promise<InstanceReport> {
  const timeoutMs = options.timeoutMs ?? REPORT_TIMEOUT_MS;
  if (!owner.chown) return reportHere(target, options, timeoutMs);
  if (options.signal?.aborted) throw cancelledError(options);
  const here = fileURLToPath(import.meta.url);
  const isTs = here.endsWith('.ts');
  const child = path.join(path.dirname(here), `report-child.${isTs ? 'ts' : 'js'}`);
  // Running from sources (tests): the child needs tsx too, resolved from here, not its cwd.
  const args = [...(isTs ? ['--import', import.meta.resolve('tsx')] : []), child, JSON.stringify(target)];
  const result = await runChild(process.execPath, args, {
    cwd: os.tmpdir(), env: ownerEnv(owner), ...ownerSpawnIds(owner), timeoutMs, signal: options.signal, killSignal: 'SIGKILL',
  });
  if (result.killed === 'aborted') throw cancelledError(options);
  if (result.killed === 'timeout') throw timedOutError(target, options, timeoutMs);
  type ChildAnswer = { ok: true; report: InstanceReport } | { ok: false; message: string; hint?: string; retryable?: boolean };
  let parsed: ChildAnswer | null;
  try {
    parsed = JSON.parse(result.stdout) as ChildAnswer;
  } catch {
    parsed = null;
  }
  if (parsed?.ok) return parsed.report;
  if (parsed && !parsed.ok) throw new ConnectFailure(parsed.message, parsed.retryable === true, parsed.hint ? { hint: parsed.hint } : {});
  throw new InstanceError(`the report process failed (exit code ${String(result.code)}): ${result.stderr.trim().split('\n').slice(-5).join(' ')}`);
}
