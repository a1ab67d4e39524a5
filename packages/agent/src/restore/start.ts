/**
 * Starting, stopping and inspecting an instance with pg_ctl, run as the data directory's OS
 * owner (PostgreSQL refuses root).
 *
 * Start: `pg_ctl start -w -t <timeout> -D <dir> -l <dir>/log/pgfleet-agent-start.log
 * -o "-p <port> -k <socket dir>"`. The port is the one asked for, else the restored
 * configuration's `port`, else 5432. The socket directory is the one asked for, else
 * os.tmpdir() (/tmp): PostgreSQL's own default location, writable by every user, and not inside
 * the data directory (sockets there would be picked up by later base backups with warnings).
 * Both are on the command line, so they also apply to `pg_ctl restart`. pg_ctl -w returns once
 * the server accepts connections (a standby: once it is consistent). For --mode promote the
 * engine then waits until pg_is_in_recovery() is false.
 *
 * Every wait is bounded and abortable: pg_ctl gets `-t` and is killed 30 s after that if it is
 * still running; the promotion wait has a deadline; an AbortSignal kills pg_ctl or ends the
 * wait at once (CancelledError). A timeout is an InstanceError naming the data directory and
 * what was waited for, with the server log's last lines; the server itself is left as it is
 * (the caller decides whether to stop it).
 *
 * Status comes from postmaster.pid (pid, port, socket directory) and, when the server
 * answers, from report.ts.
 *
 * The data directory belongs to the server's OS user, and we may be root: the log directory is
 * given to the owner only when it is a real directory (a link there, an operator's choice or
 * not, is left to pg_ctl, which writes as the owner), and the log and postmaster.pid are read
 * without following a link (no-follow.ts), so that a link planted there cannot make root chown
 * or read (into an error's HINT) a file elsewhere.
 */

import { readFileSync } from 'node:fs';
import { access, chown, lchown, lstat, mkdir, readdir, readFile, readlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { CancelledError, InstanceError, fileError, isErrno } from '@pgfleet/core';
import { runChild, type ChildResult } from './child-process.js';
import { ownerEnv, ownerSpawnIds, type OsOwner } from './owner.js';
import { readFileNoFollow } from './no-follow.js';
import { findSetting } from './recovery.js';
import { ConnectFailure, REPORT_TIMEOUT_MS, reportInstanceAs, type ConnectTarget, type InstanceReport } from './report.js';

export const START_LOG = path.join('log', 'pgfleet-agent-start.log');

/** How long a pg_ctl may run beyond its own -t before it is killed. */
const PG_CTL_SLACK_MS = 30_000;

function runAsOwner(
  owner: OsOwner, cmd: string, args: string[], cwd: string, options: { timeoutMs: number; signal?: AbortSignal | undefined },
): Promise<ChildResult> {
  return runChild(cmd, args, { cwd, env: ownerEnv(owner), ...ownerSpawnIds(owner), timeoutMs: options.timeoutMs, signal: options.signal });
}

function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

async function readText(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch {
    return '';
  }
}

/** The port the data directory's configuration asks for (postgresql.auto.conf wins), else 5432. */
export async function configuredPort(dataDir: string): Promise<number> {
  const auto = findSetting(await readText(path.join(dataDir, 'postgresql.auto.conf')), 'port');
  const main = findSetting(await readText(path.join(dataDir, 'postgresql.conf')), 'port');
  const value = Number(auto ?? main ?? '5432');
  return Number.isInteger(value) && value > 0 && value < 65536 ? value : 5432;
}

async function tail(file: string, lines: number): Promise<string> {
  const text = await readFileNoFollow(file).catch(() => null);
  return (text ?? '').trimEnd().split('\n').slice(-lines).join('\n');
}

export interface StartOptions {
  dataDir: string;
  binDir: string;
  owner: OsOwner;
  port?: number | null;
  socketDir?: string | null;
  /** pg_ctl start -t (default 300). */
  timeoutSeconds?: number;
  /** Aborting kills pg_ctl: CancelledError (the server may be running; see stopInstance). */
  signal?: AbortSignal;
}

export interface StartedInstance {
  port: number;
  socketDir: string;
  logFile: string;
}

export async function startInstance(options: StartOptions): Promise<StartedInstance> {
  const { dataDir, owner } = options;
  const port = options.port ?? (await configuredPort(dataDir));
  const socketDir = path.resolve(options.socketDir ?? os.tmpdir());
  const timeout = options.timeoutSeconds ?? 300;
  const logFile = path.join(dataDir, START_LOG);
  const logDir = path.dirname(logFile);
  try {
    await mkdir(logDir, { mode: 0o700 });
  } catch (err) {
    if (!isErrno(err, 'EEXIST')) throw fileError('could not create directory', logDir, err);
  }
  if (owner.chown) {
    try {
      if (!(await lstat(logDir)).isSymbolicLink()) await lchown(logDir, owner.uid, owner.gid);
    } catch (err) {
      throw fileError('could not change owner of', logDir, err);
    }
  }
  if (options.socketDir) {
    try {
      await mkdir(socketDir, { recursive: true, mode: 0o700 });
      if (owner.chown) await chown(socketDir, owner.uid, owner.gid);
    } catch (err) {
      throw fileError('could not create directory', socketDir, err);
    }
  }
  const pgCtl = path.join(options.binDir, 'pg_ctl');
  const args = ['start', '-w', '-t', String(timeout), '-D', dataDir, '-l', logFile, '-o', `-p ${port} -k ${shellQuote(socketDir)}`];
  const result = await runAsOwner(owner, pgCtl, args, dataDir, { timeoutMs: timeout * 1000 + PG_CTL_SLACK_MS, signal: options.signal });
  if (result.killed === 'aborted') throw new CancelledError(`the start of the restored instance in "${dataDir}" was cancelled`);
  if (result.killed === 'timeout' || /server did not start in time/.test(result.stdout + result.stderr)) {
    throw new InstanceError(`the restored instance in "${dataDir}" did not accept connections within ${timeout} seconds`, {
      hint: 'It may still be starting (a standby that lacks WAL waits for its primary or archive), and it was left as it is. ' +
        `Its log "${logFile}" ends with:\n${(await tail(logFile, 15)) || '(empty)'}`,
    });
  }
  if (result.code !== 0) {
    const log = await tail(logFile, 15);
    const portTaken = /Address already in use|could not create lock file ".*\.s\.PGSQL\.[0-9]+\.lock"/.test(log);
    throw new InstanceError(`could not start the restored instance in "${dataDir}": pg_ctl exited with code ${String(result.code)}`, {
      hint: (portTaken ? `Port ${port} is in use (the instance the backup came from?); choose another with --port. ` : '') +
        `Its log "${logFile}" ends with:\n${log || (result.stderr || result.stdout).trim()}`,
    });
  }
  return { port, socketDir, logFile };
}

export interface PromotionWait {
  dataDir: string;
  owner: OsOwner;
  target: ConnectTarget;
  /** Date.now() value after which the wait fails. */
  deadline: number;
  /** The seconds the deadline stands for (named in the error). */
  timeoutSeconds: number;
  logFile: string;
  signal?: AbortSignal;
  /** Wait until recovery is paused at its target (recovery_target_action = pause) instead. */
  paused?: boolean;
}

/**
 * Waits until the instance has left recovery (promotion done) and returns its report; fails
 * at the deadline (InstanceError) or when the signal aborts (CancelledError). PostgreSQL
 * removes recovery.signal when archive recovery ends, so the cheap check is that file; the
 * report (run as the owner, each attempt bounded by what is left of the deadline) then confirms.
 * A server that stopped (recovery failed: a target not reached, a restore_command that aborted)
 * fails the wait at once, with the end of its log. With `paused`, waits instead until replay is
 * paused (recovery_target_action = pause reached its target).
 */
export async function waitForPromotion(wait: PromotionWait): Promise<InstanceReport> {
  const { dataDir, owner, target, deadline, signal } = wait;
  const cancelled = (): CancelledError => new CancelledError(`the wait for the restored instance in "${dataDir}" to leave recovery was cancelled`);
  let lastError: unknown = null;
  for (;;) {
    if (signal?.aborted) throw cancelled();
    const left = deadline - Date.now();
    if (left <= 0) break;
    let signalled = true;
    try {
      await access(path.join(dataDir, 'recovery.signal'));
    } catch {
      signalled = false;
    }
    if (!(await readPostmasterPid(dataDir))?.alive) {
      // Recovery failed (a target not reached, restore_command aborting): the server is gone.
      throw new InstanceError(`the restored instance in "${dataDir}" stopped during recovery`, {
        hint: `It did not reach the point it was to recover to. Its log "${wait.logFile}" ends with:\n${(await tail(wait.logFile, 15)) || '(empty)'}`,
      });
    }
    if (!signalled || wait.paused === true) {
      try {
        const report = await reportInstanceAs(owner, target, { timeoutMs: Math.min(left, REPORT_TIMEOUT_MS), dataDir, ...(signal ? { signal } : {}) });
        if (wait.paused === true ? report.replay.paused === true : !report.inRecovery) return report;
      } catch (err) {
        if (err instanceof CancelledError) throw cancelled();
        lastError = err;
        // An attempt cut short by the deadline (it was bounded by what was left of it) fails
        // because time ran out: that is the cause to report, not the attempt's own timeout.
        if (Date.now() >= deadline) break;
        // Only "not ready yet" is worth waiting for; a wrong role or a broken child is not.
        if (!(err instanceof ConnectFailure && err.retryable)) throw err;
      }
    }
    await sleep(Math.min(200, Math.max(0, deadline - Date.now())), signal);
  }
  throw new InstanceError(`the restored instance in "${dataDir}" did not ${wait.paused === true ? 'pause at its recovery target' : 'leave recovery'} within ${wait.timeoutSeconds} seconds`, {
    cause: lastError,
    hint: 'It was left running, still in recovery. ' +
      `Its log "${wait.logFile}" ends with:\n${(await tail(wait.logFile, 15)) || '(empty)'}`,
  });
}

/** How long one WAL receiver process must be seen streaming before the standby counts as following. */
export const STREAMING_STABLE_MS = 1500;
const FOLLOW_POLL_MS = 500;

export interface StreamingWait {
  dataDir: string;
  owner: OsOwner;
  target: ConnectTarget;
  /** Date.now() value after which the wait fails. */
  deadline: number;
  logFile: string;
  signal?: AbortSignal;
}

/**
 * Waits until a standby follows its primary: its WAL receiver (pg_stat_wal_receiver) is seen
 * "streaming", the same process, over STREAMING_STABLE_MS. Once is not enough: a receiver whose
 * primary no longer has the WAL it asks for does reach "streaming", and dies the moment the
 * primary answers "requested WAL segment ... has already been removed"; the server starts
 * another every wal_retrieve_retry_interval (5 s). Returns the last report; a role that may
 * not see the receiver's status (its status is null) ends the wait at once, the caller decides.
 * Fails at the deadline (InstanceError, the server left running) or when the signal aborts
 * (CancelledError).
 */
export async function waitForStreaming(wait: StreamingWait): Promise<InstanceReport> {
  const { dataDir, owner, target, deadline, signal } = wait;
  const started = Date.now();
  const cancelled = (): CancelledError => new CancelledError(`the wait for the restored standby in "${dataDir}" to stream from its primary was cancelled`);
  let streaming: { pid: number; since: number } | null = null;
  let last: InstanceReport | null = null;
  let lastError: unknown = null;
  for (;;) {
    if (signal?.aborted) throw cancelled();
    const left = deadline - Date.now();
    if (left <= 0) break;
    try {
      const report = await reportInstanceAs(owner, target, { timeoutMs: Math.min(left, REPORT_TIMEOUT_MS), dataDir, ...(signal ? { signal } : {}) });
      last = report;
      const receiver = report.walReceiver;
      if (receiver !== null && receiver.status === null) return report;
      if (receiver?.status !== 'streaming') {
        streaming = null;
      } else if (streaming === null || streaming.pid !== receiver.pid) {
        streaming = { pid: receiver.pid, since: Date.now() };
      } else if (Date.now() - streaming.since >= STREAMING_STABLE_MS) {
        return report;
      }
    } catch (err) {
      if (err instanceof CancelledError) throw cancelled();
      lastError = err;
      if (Date.now() >= deadline) break;
      if (!(err instanceof ConnectFailure && err.retryable)) throw err;
    }
    await sleep(Math.min(FOLLOW_POLL_MS, Math.max(0, deadline - Date.now())), signal);
  }
  const receiver = last?.walReceiver ?? null;
  const seen = receiver === null ? 'no WAL receiver is running' : `its WAL receiver is "${receiver.status ?? ''}"`;
  const waited = Number(((deadline - started) / 1000).toFixed(1));
  throw new InstanceError(`the restored standby in "${dataDir}" does not stream from its primary: after ${waited} seconds, ${seen}`, {
    cause: lastError,
    hint: 'It was left running, in recovery. The primary may no longer have the WAL the standby needs (restore a newer backup), ' +
      `or not accept its primary_conninfo. Its log "${wait.logFile}" ends with:\n${(await tail(wait.logFile, 15)) || '(empty)'}`,
  });
}

/** setTimeout as a promise that an abort ends early (resolving: the caller checks the signal). */
function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

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
  const result = await runAsOwner(options.owner, path.join(options.binDir, 'pg_ctl'),
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

export interface PostmasterInfo {
  pid: number;
  port: number;
  socketDir: string;
  alive: boolean;
}

/** postmaster.pid's pid, port and first socket directory; null when there is none. */
export async function readPostmasterPid(dataDir: string): Promise<PostmasterInfo | null> {
  const text = await readFileNoFollow(path.join(dataDir, 'postmaster.pid'));
  if (text === null) return null;
  const lines = text.split('\n');
  const pid = Number(lines[0]);
  const port = Number(lines[3]);
  const socketDir = (lines[4] ?? '').trim();
  return { pid, port, socketDir, alive: Number.isInteger(pid) && pid > 0 && processAlive(pid) };
}

/**
 * The process exists and is not a zombie. A postmaster whose pg_ctl was killed is reparented
 * to PID 1, and a PID 1 that does not reap (a container's) leaves it a zombie: gone in every
 * way that matters, yet kill(pid, 0) still succeeds.
 */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return isErrno(err, 'EPERM');
  }
  try {
    // Field 3 of /proc/<pid>/stat, after the parenthesized command name.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true; // no /proc (not Linux): kill() said it exists
  }
}

/** The working directory of process `pid`; null when it cannot be read (gone, no /proc). */
export async function processCwd(pid: number): Promise<string | null> {
  try {
    return await readlink(`/proc/${pid}/cwd`);
  } catch {
    return null;
  }
}

/**
 * Live PostgreSQL server processes (command name postgres/postmaster) working in `dataDir`: a
 * postmaster changes into its data directory before it writes its pid file, so this finds one
 * that is still starting. null where there is no /proc (not Linux).
 */
export async function postgresProcessesIn(dataDir: string): Promise<number[] | null> {
  let names: string[];
  try {
    names = await readdir('/proc');
  } catch {
    return null;
  }
  const found: number[] = [];
  for (const name of names) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    if (pid === process.pid || (await processCwd(pid)) !== dataDir) continue;
    const comm = (await readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '')).trim();
    if ((comm === 'postgres' || comm === 'postmaster') && processAlive(pid)) found.push(pid);
  }
  return found;
}
