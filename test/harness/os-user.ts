// The unprivileged OS user PostgreSQL runs as, and process helpers that run commands as it.
//
// PostgreSQL refuses to run as root. When the tests run as root, servers and initdb run as the
// OS user "postgres" if it exists, otherwise as a system user "pgfleet" created on demand.
// When the tests do not run as root, the current user is used and nothing is chowned.
// Every directory a server touches must be owned by that user: use makeTempDir() for them.
//
// runAs() switches user with node's own spawn({uid, gid}) (setuid/setgid in the child, and
// libuv drops the supplementary groups), which is what setpriv/runuser do, without a wrapper
// process between us and the command.

import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, chown, mkdir, mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { trackDir } from './cleanup.js';

export interface OsUser {
  name: string;
  uid: number;
  gid: number;
}

export function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

function lookupUser(name: string): OsUser | undefined {
  try {
    const uid = Number(execFileSync('id', ['-u', name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());
    const gid = Number(execFileSync('id', ['-g', name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());
    return { name, uid, gid };
  } catch {
    return undefined;
  }
}

let cachedUser: OsUser | undefined;

/** The OS user servers run as (see the module comment). Creates "pgfleet" if needed. */
export function pgOsUser(): OsUser {
  if (cachedUser) return cachedUser;
  if (!isRoot()) {
    const info = os.userInfo();
    cachedUser = { name: info.username, uid: info.uid, gid: info.gid };
    return cachedUser;
  }
  let user = lookupUser('postgres') ?? lookupUser('pgfleet');
  if (!user) {
    execFileSync('useradd', ['--system', '--user-group', '--no-create-home', '--shell', '/usr/sbin/nologin', 'pgfleet'], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    user = lookupUser('pgfleet');
    if (!user) throw new Error('could not create the OS user "pgfleet"');
  }
  cachedUser = user;
  return user;
}

export interface RunOptions {
  cwd?: string;
  /** Added to (and overriding) the inherited environment. */
  env?: NodeJS.ProcessEnv;
  /** Written to the child's stdin, which is then closed. */
  input?: string | Buffer;
  /** Resolve instead of reject on a non-zero exit. */
  allowFailure?: boolean;
  timeoutMs?: number;
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Thrown when a command exits non-zero; carries its output for the failure message. */
export class CommandError extends Error {
  constructor(
    readonly command: string,
    readonly result: RunResult,
  ) {
    const tail = (result.stderr || result.stdout).trim().split('\n').slice(-20).join('\n');
    super(
      `command failed (${result.signal ? `signal ${result.signal}` : `exit code ${String(result.code)}`}): ${command}\n${tail}`,
    );
    this.name = 'CommandError';
  }
}

function spawnCollect(cmd: string, args: readonly string[], opts: RunOptions, ids: OsUser | undefined): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd: opts.cwd ?? (ids ? os.tmpdir() : undefined),
      env: { ...process.env, ...(ids ? { HOME: os.tmpdir(), USER: ids.name, LOGNAME: ids.name } : {}), ...opts.env },
      stdio: ['pipe', 'pipe', 'pipe'],
      ...(ids ? { uid: ids.uid, gid: ids.gid } : {}),
      ...(opts.timeoutMs ? { timeout: opts.timeoutMs } : {}),
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const result: RunResult = {
        code,
        signal,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      };
      if (code !== 0 && !opts.allowFailure) {
        reject(new CommandError([cmd, ...args].join(' '), result));
      } else {
        resolve(result);
      }
    });
    child.stdin.on('error', () => {
      // the command may exit without reading its input; the exit code tells what happened
    });
    child.stdin.end(opts.input ?? '');
  });
}

/** Run a command as the PostgreSQL OS user (plain spawn when we are not root). */
export function runAs(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  return spawnCollect(cmd, args, opts, isRoot() ? pgOsUser() : undefined);
}

/** Run a command as the current user (e.g. tar or pg_basebackup as root). */
export function run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  return spawnCollect(cmd, args, opts, undefined);
}

/** chown -R a path to the PostgreSQL OS user (symlinks themselves, not their targets). */
export async function chownR(target: string): Promise<void> {
  if (!isRoot()) return;
  const user = pgOsUser();
  await run('chown', ['-R', '-P', `${user.uid}:${user.gid}`, target]);
}

/** chown a single path (not recursive) to the PostgreSQL OS user. */
export async function chownOne(target: string): Promise<void> {
  if (!isRoot()) return;
  const user = pgOsUser();
  await chown(target, user.uid, user.gid);
}

/**
 * mkdir -p where every directory created is owned by the PostgreSQL OS user (and gets mode),
 * so that the user can reach the innermost one. Existing directories are left alone.
 */
export async function mkdirOwned(dir: string, mode = 0o700): Promise<void> {
  const missing: string[] = [];
  for (let current = path.resolve(dir); !existsSync(current); current = path.dirname(current)) {
    missing.unshift(current);
  }
  for (const created of missing) {
    await mkdir(created, { mode });
    await chmod(created, mode);
    await chownOne(created);
  }
}

export interface MakeTempDirOptions {
  /** 0o700 by default (what PostgreSQL demands of data directories). */
  mode?: number;
  /** Remove the directory when the test process ends (default true; see cleanup.ts). */
  cleanup?: boolean;
}

/**
 * A new directory under os.tmpdir(), owned by the PostgreSQL OS user. It is removed when the
 * test process ends unless PGFLEET_KEEP_TEST_DIRS=1 or cleanup is false.
 */
export async function makeTempDir(prefix: string, opts: MakeTempDirOptions = {}): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix.endsWith('-') ? prefix : `${prefix}-`));
  await chownOne(dir);
  await chmod(dir, opts.mode ?? 0o700);
  if (opts.cleanup !== false) trackDir(dir);
  return dir;
}
