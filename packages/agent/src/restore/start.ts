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
 * Status comes from postmaster.pid (pid, port, socket directory) and, when the server
 * answers, from report.ts.
 */

import { spawn } from 'node:child_process';
import { access, chown, mkdir, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { InstanceError, fileError, isErrno } from '@pgfleet/core';
import { ownerEnv, ownerSpawnIds, type OsOwner } from './owner.js';
import { findSetting } from './recovery.js';
import { ConnectFailure, reportInstanceAs, type ConnectTarget, type InstanceReport } from './report.js';

export const START_LOG = path.join('log', 'pgfleet-agent-start.log');

interface CommandResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runAsOwner(owner: OsOwner, cmd: string, args: string[], cwd: string, timeoutMs: number): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, env: ownerEnv(owner), stdio: ['ignore', 'pipe', 'pipe'], timeout: timeoutMs, ...ownerSpawnIds(owner) });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e) => reject(new InstanceError(`could not run "${cmd}": ${e.message}`, { cause: e })));
    child.on('close', (code) => resolve({ code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') }));
  });
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
  return (await readText(file)).trimEnd().split('\n').slice(-lines).join('\n');
}

export interface StartOptions {
  dataDir: string;
  binDir: string;
  owner: OsOwner;
  port?: number | null;
  socketDir?: string | null;
  timeoutSeconds?: number;
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
  for (const dir of [path.dirname(logFile), ...(options.socketDir ? [socketDir] : [])]) {
    try {
      await mkdir(dir, { recursive: true, mode: 0o700 });
      if (owner.chown) await chown(dir, owner.uid, owner.gid);
    } catch (err) {
      throw fileError('could not create directory', dir, err);
    }
  }
  const pgCtl = path.join(options.binDir, 'pg_ctl');
  const args = ['start', '-w', '-t', String(timeout), '-D', dataDir, '-l', logFile, '-o', `-p ${port} -k ${shellQuote(socketDir)}`];
  const result = await runAsOwner(owner, pgCtl, args, dataDir, (timeout + 30) * 1000);
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

/**
 * Waits until the instance has left recovery (promotion done) and returns its report; fails
 * after the timeout. PostgreSQL removes recovery.signal when archive recovery ends, so the
 * cheap check is that file; the report (run as the owner) then confirms.
 */
export async function waitForPromotion(
  dataDir: string, owner: OsOwner, target: ConnectTarget, timeoutSeconds: number, logFile: string,
): Promise<InstanceReport> {
  const deadline = Date.now() + timeoutSeconds * 1000;
  let lastError: unknown = null;
  while (Date.now() < deadline) {
    let signalled = true;
    try {
      await access(path.join(dataDir, 'recovery.signal'));
    } catch {
      signalled = false;
    }
    if (!signalled) {
      try {
        const report = await reportInstanceAs(owner, target);
        if (!report.inRecovery) return report;
      } catch (err) {
        // Only "not ready yet" is worth waiting for; a wrong role or a broken child is not.
        if (!(err instanceof ConnectFailure && err.retryable)) throw err;
        lastError = err;
      }
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new InstanceError(`the restored instance did not leave recovery within ${timeoutSeconds} seconds`, {
    cause: lastError,
    hint: `Its log "${logFile}" ends with:\n${await tail(logFile, 15)}`,
  });
}

export async function stopInstance(options: { dataDir: string; binDir: string; owner: OsOwner; timeoutSeconds?: number }): Promise<void> {
  const timeout = options.timeoutSeconds ?? 120;
  const result = await runAsOwner(options.owner, path.join(options.binDir, 'pg_ctl'),
    ['stop', '-w', '-t', String(timeout), '-m', 'fast', '-D', options.dataDir], options.dataDir, (timeout + 30) * 1000);
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
  let text: string;
  try {
    text = await readFile(path.join(dataDir, 'postmaster.pid'), 'utf8');
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return null;
    throw fileError('could not read file', path.join(dataDir, 'postmaster.pid'), err);
  }
  const lines = text.split('\n');
  const pid = Number(lines[0]);
  const port = Number(lines[3]);
  const socketDir = (lines[4] ?? '').trim();
  let alive = false;
  if (Number.isInteger(pid) && pid > 0) {
    try {
      process.kill(pid, 0);
      alive = true;
    } catch (err) {
      alive = isErrno(err, 'EPERM');
    }
  }
  return { pid, port, socketDir, alive };
}
