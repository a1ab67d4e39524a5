/**
 * Stopping an instance with pg_ctl stop, run as its OS owner, bounded and abortable; and
 * stopping the server a cancelled start made, and only that one.
 */

import { stat } from 'node:fs/promises';
import path from 'node:path';
import { CancelledError, InstanceError, InternalError } from '@pgfleet/core';
import type { OsOwner } from './owner.js';
import type { PostgresInstallation } from './pg-install.js';
import { PG_CTL_SLACK_MS, runPgCtl } from './pg-ctl.js';
import { postgresProcessesIn, processAlive, processCwd, readPostmasterPid, type PostmasterInfo } from './status.js';

export interface StopOptions {
  dataDir: string;
  binDir: string;
  owner: OsOwner;
  /** pg_ctl stop -t (default 120). */
  timeoutSeconds?: number;
  /** pg_ctl stop -m (default fast). */
  mode?: 'smart' | 'fast' | 'immediate';
  signal?: AbortSignal;
}

export async function stopInstance(options: StopOptions): Promise<void> {
  const timeout = options.timeoutSeconds ?? 120;
  const result = await runPgCtl(options.owner, options.binDir,
    ['stop', '-w', '-t', String(timeout), '-m', options.mode ?? 'fast', '-D', options.dataDir], options.dataDir,
    { timeoutMs: timeout * 1000 + PG_CTL_SLACK_MS, signal: options.signal });
  if (result.killed === 'aborted') throw new CancelledError(`the stop of the instance in "${options.dataDir}" was cancelled`);
  if (result.killed === 'timeout') {
    throw new InstanceError(`the instance in "${options.dataDir}" did not stop within ${timeout} seconds`, {
      hint: 'Look at its log; "pg_ctl stop -m immediate" stops it without waiting for clients.',
    });
  }
  if (result.code !== 0) {
    throw new InstanceError(`could not stop the instance in "${options.dataDir}": ${(result.stderr || result.stdout).trim()}`);
  }
}

/** The longest the stop of a cancelled start waits for a starting postmaster's pid file. */
const POSTMASTER_APPEAR_MS = 10_000;

export interface StartedServer {
  dataDir: string;
  /** The installation the start used; null when none was chosen (then no server can be ours). */
  installation: PostgresInstallation | null;
  owner: OsOwner;
  /** Date.now() just before pg_ctl start was run: only a pid file written since is ours. */
  startedAt: number;
  /** How long a starting postmaster may take to write its pid file (at most POSTMASTER_APPEAR_MS). */
  waitMs: number;
}

/**
 * Stops the postmaster a cancelled pg_ctl start made, if any (pg_ctl stop -m immediate). pg_ctl
 * may have been killed before the postmaster wrote its pid file: while a postgres process runs
 * in the data directory, its pid file is waited for (bounded). Only a pid file written after
 * the start was attempted, by a process working in this data directory, is acted on. A server
 * that cannot be stopped is a CancelledError naming its processes: the files are kept.
 */
export async function stopStartedServer(server: StartedServer): Promise<void> {
  const { dataDir, installation, owner } = server;
  const until = Date.now() + Math.min(server.waitMs, POSTMASTER_APPEAR_MS);
  let pm = await startedPostmaster(dataDir, server.startedAt);
  while (pm === null && Date.now() < until) {
    const running = await postgresProcessesIn(dataDir);
    if (running !== null && running.length === 0) break;
    await new Promise((r) => setTimeout(r, 100));
    pm = await startedPostmaster(dataDir, server.startedAt);
  }
  const kept = (pids: number[], cause?: unknown): CancelledError => new CancelledError(
    `the restore into "${dataDir}" was cancelled after its instance had started, and the instance could not be stopped; the restored files were kept`, {
      ...(cause === undefined ? {} : { cause }),
      hint: `Stop it (${pids.length === 1 ? 'process' : 'processes'} ${pids.join(', ')}) with "pg_ctl stop -D ${dataDir}" and remove the restored directories by hand.`,
    });
  if (pm === null) {
    const stray = await postgresProcessesIn(dataDir);
    if (stray !== null && stray.length > 0) throw kept(stray);
    return;
  }
  if (installation === null) throw new InternalError(`an instance runs in "${dataDir}" but no installation was chosen`);
  try {
    await stopInstance({ dataDir, binDir: installation.binDir, owner, mode: 'immediate', timeoutSeconds: 20 });
  } catch (err) {
    // pg_ctl may fail only because the server went away meanwhile.
    if (processAlive(pm.pid)) throw kept([pm.pid], err);
  }
}

/** The live postmaster whose pid file a start at `startedAt` wrote; null when there is none. */
async function startedPostmaster(dataDir: string, startedAt: number): Promise<PostmasterInfo | null> {
  const file = path.join(dataDir, 'postmaster.pid');
  const pm = await readPostmasterPid(dataDir).catch(() => null);
  if (pm === null || !pm.alive) return null;
  const st = await stat(file).catch(() => null);
  // One second of slack for file systems with coarse timestamps.
  if (st === null || st.mtimeMs < startedAt - 1000) return null;
  const cwd = await processCwd(pm.pid);
  if (cwd !== null && cwd !== dataDir) return null;
  return pm;
}
