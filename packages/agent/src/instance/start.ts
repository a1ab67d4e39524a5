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

import { readFile, chown, lchown, lstat, mkdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { CancelledError, InstanceError, fileError, isErrno } from '@pgfleet/core';
import type { OsOwner } from './owner.js';
import { findSetting } from '../restore/recovery.js';
import { PG_CTL_SLACK_MS, logTail, runPgCtl } from './pg-ctl.js';

export const START_LOG = path.join('log', 'pgfleet-agent-start.log');

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
    const args = ['start', '-w', '-t', String(timeout), '-D', dataDir, '-l', logFile, '-o', `-p ${port} -k ${shellQuote(socketDir)}`];
  const result = await runPgCtl(owner, options.binDir, args, dataDir, { timeoutMs: timeout * 1000 + PG_CTL_SLACK_MS, signal: options.signal });
  if (result.killed === 'aborted') throw new CancelledError(`the start of the restored instance in "${dataDir}" was cancelled`);
  if (result.killed === 'timeout' || /server did not start in time/.test(result.stdout + result.stderr)) {
    throw new InstanceError(`the restored instance in "${dataDir}" did not accept connections within ${timeout} seconds`, {
      hint: 'It may still be starting (a standby that lacks WAL waits for its primary or archive), and it was left as it is. ' +
        `Its log "${logFile}" ends with:\n${(await logTail(logFile, 15)) || '(empty)'}`,
    });
  }
  if (result.code !== 0) {
    const log = await logTail(logFile, 15);
    const portTaken = /Address already in use|could not create lock file ".*\.s\.PGSQL\.[0-9]+\.lock"/.test(log);
    throw new InstanceError(`could not start the restored instance in "${dataDir}": pg_ctl exited with code ${String(result.code)}`, {
      hint: (portTaken ? `Port ${port} is in use (the instance the backup came from?); choose another with --port. ` : '') +
        `Its log "${logFile}" ends with:\n${log || (result.stderr || result.stdout).trim()}`,
    });
  }
  return { port, socketDir, logFile };
}
