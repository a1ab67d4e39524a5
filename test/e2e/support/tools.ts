// The command-line tools the black-box tests drive, and how to run them.
//
// Tool under test (spawned as the current user, like an administrator running it as root):
//   - pgfleet-basebackup: `node <repo>/packages/core/dist/bin/pgfleet-basebackup.js`, or the
//     binary named by PGFLEET_BASEBACKUP_BIN (e.g. /usr/lib/postgresql/15/bin/pg_basebackup to
//     validate the tests themselves against the real thing);
//   - pgfleet-verifybackup: `node <repo>/packages/core/dist/bin/pgfleet-verifybackup.js`, or
//     PGFLEET_VERIFYBACKUP_BIN (e.g. the system pg_verifybackup);
//   - pgfleet-receivewal: `node <repo>/packages/core/dist/bin/pgfleet-receivewal.js`, or
//     PGFLEET_RECEIVEWAL_BIN (e.g. the system pg_receivewal).
// A binary whose file name starts with "pg_" is a PostgreSQL reference binary: tests that
// assert pgfleet's own texts skip themselves for it, and servers newer than its major version
// are skipped (pg_basebackup refuses them: "incompatible server version").
//
// Children get the inherited environment minus every PG* variable (so nothing from the
// developer's shell leaks into a test), plus what the test passes. They run in a new session
// (detached): with no controlling terminal, a password prompt cannot hang a test.

import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import path from 'node:path';
import { REPO_ROOT, systemBin, type RunResult } from '../../harness/index.js';

export interface ToolBinary {
  /** Program name as it prefixes its messages: "pgfleet-basebackup", "pg_basebackup", ... */
  name: string;
  /** Executable to spawn. */
  command: string;
  /** Arguments before the test's own (the script path when command is node). */
  prefixArgs: string[];
  /** pgfleet's own binary: its exact error texts and HINT lines are asserted. */
  isPgfleet: boolean;
  /** Newest server major version the binary accepts. */
  maxServerVersion: number;
  /** Major version of a PostgreSQL reference binary, undefined for pgfleet. */
  referenceMajor: number | undefined;
}

/** Newest PostgreSQL major pgfleet supports (pg_basebackup 17 compatible, servers 13-18). */
const PGFLEET_MAX_SERVER = 18;

const binaries = new Map<string, ToolBinary>();

/** A binary named by path: a node script, a PostgreSQL reference tool ("pg_*"), or another pgfleet build. */
export function binaryAt(file: string): ToolBinary {
  let binary = binaries.get(file);
  if (!binary) {
    binary = describeBinary(file);
    binaries.set(file, binary);
  }
  return binary;
}

function describeBinary(file: string): ToolBinary {
  const base = path.basename(file);
  const isNodeScript = /\.(c|m)?js$/.test(base);
  const command = isNodeScript ? process.execPath : file;
  const prefixArgs = isNodeScript ? [file] : [];
  if (!base.startsWith('pg_')) {
    return {
      name: base.replace(/\.(c|m)?js$/, ''),
      command,
      prefixArgs,
      isPgfleet: true,
      maxServerVersion: PGFLEET_MAX_SERVER,
      referenceMajor: undefined,
    };
  }
  // "pg_basebackup (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)"
  const version = execFileSync(file, ['--version'], { encoding: 'utf8' });
  const major = Number(/\(PostgreSQL\) (\d+)/.exec(version)?.[1]);
  if (!Number.isInteger(major)) throw new Error(`cannot tell the version of "${file}" from "${version.trim()}"`);
  return { name: base, command, prefixArgs, isPgfleet: false, maxServerVersion: major, referenceMajor: major };
}

function resolveBinary(envVar: string, script: string, env: NodeJS.ProcessEnv): ToolBinary {
  const override = env[envVar]?.trim();
  return binaryAt(override || path.join(REPO_ROOT, 'packages', 'core', 'dist', 'bin', script));
}

/** The base backup tool under test (see the module comment). */
export function baseBackupBinary(env: NodeJS.ProcessEnv = process.env): ToolBinary {
  return resolveBinary('PGFLEET_BASEBACKUP_BIN', 'pgfleet-basebackup.js', env);
}

/** The WAL receiver under test: pgfleet-receivewal, or PGFLEET_RECEIVEWAL_BIN (e.g. the system pg_receivewal). */
export function receiveWalBinary(env: NodeJS.ProcessEnv = process.env): ToolBinary {
  return resolveBinary('PGFLEET_RECEIVEWAL_BIN', 'pgfleet-receivewal.js', env);
}

/** The verify tool under test (see the module comment). */
export function verifyBackupBinary(env: NodeJS.ProcessEnv = process.env): ToolBinary {
  return resolveBinary('PGFLEET_VERIFYBACKUP_BIN', 'pgfleet-verifybackup.js', env);
}

export interface ToolRunOptions {
  /** Added to the child's environment (after PG* variables were removed from the inherited one). */
  env?: Record<string, string>;
  cwd?: string;
  /** Killed (SIGKILL) after this long; the result then has signal "SIGKILL". Default 180 s. */
  timeoutMs?: number;
  /** Write stdout (binary, e.g. `-D -` tar output) to this file instead of collecting it as text. */
  stdoutTo?: string;
}

/** A started tool: the child process and its eventual result (never rejects on exit status). */
export interface RunningTool {
  child: ChildProcess;
  result: Promise<RunResult>;
  /** stderr received so far. */
  stderrSoFar(): string;
  /** SIGKILL to the child's whole process group (it leads one: it runs detached). */
  killGroup(): void;
}

function childEnv(extra: Record<string, string> | undefined): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith('PG')) env[key] = value;
  }
  // Messages in English, whatever the machine's locale.
  env['LC_ALL'] = 'C';
  env['LANG'] = 'C';
  return { ...env, ...extra };
}

/** After the process exits, how long to wait for its output pipes to close. */
const PIPE_GRACE_MS = 2000;

/**
 * Start a tool; resolve its output when it ends. The result resolves at most PIPE_GRACE_MS
 * after the process itself exited even if a grandchild still holds its output pipes
 * (pg_basebackup's forked WAL streamer does when its parent dies of a signal).
 */
export function startTool(binary: ToolBinary, args: readonly string[], opts: ToolRunOptions = {}): RunningTool {
  const child = spawn(binary.command, [...binary.prefixArgs, ...args], {
    cwd: opts.cwd,
    env: childEnv(opts.env),
    stdio: ['pipe', 'pipe', 'pipe'],
    detached: true,
  });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const sink = opts.stdoutTo === undefined ? undefined : createWriteStream(opts.stdoutTo);
  const sinkClosed = sink ? new Promise<void>((resolve) => sink.on('close', () => resolve())) : Promise.resolve();
  if (sink) child.stdout?.pipe(sink);
  else child.stdout?.on('data', (b: Buffer) => out.push(b));
  child.stderr?.on('data', (b: Buffer) => err.push(b));
  child.stdin?.on('error', () => undefined);
  child.stdin?.end();
  const killGroup = (): void => {
    if (child.pid === undefined) return;
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      // the group is already gone
    }
  };
  const timeout = setTimeout(killGroup, opts.timeoutMs ?? 180_000);
  const result = new Promise<RunResult>((resolve, reject) => {
    let settled = false;
    let grace: NodeJS.Timeout | undefined;
    const finish = (code: number | null, signal: NodeJS.Signals | null): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timeout);
      clearTimeout(grace);
      child.stdout?.destroy();
      child.stderr?.destroy();
      sink?.end();
      void sinkClosed.then(() =>
        resolve({ code, signal, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') }),
      );
    };
    child.on('error', (error) => {
      settled = true;
      clearTimeout(timeout);
      reject(error);
    });
    child.on('exit', (code, signal) => {
      grace = setTimeout(() => finish(code, signal), PIPE_GRACE_MS);
    });
    child.on('close', finish);
  });
  return { child, result, stderrSoFar: () => Buffer.concat(err).toString('utf8'), killGroup };
}

/** Run the base backup tool under test to completion (exit status in the result, never thrown). */
export function runBaseBackup(args: readonly string[], opts: ToolRunOptions = {}): Promise<RunResult> {
  return startTool(baseBackupBinary(), args, opts).result;
}

/** Start the base backup tool under test and return at once (for signal tests). */
export function spawnBaseBackup(args: readonly string[], opts: ToolRunOptions = {}): RunningTool {
  return startTool(baseBackupBinary(), args, opts);
}

/** Run the verify tool under test to completion. */
export function runVerifyBackup(args: readonly string[], opts: ToolRunOptions = {}): Promise<RunResult> {
  return startTool(verifyBackupBinary(), args, opts).result;
}

/** The system pg_basebackup 15, always (the reference to compare against). */
export function referenceBaseBackupBinary(): ToolBinary {
  return binaryAt(systemBin('pg_basebackup'));
}

/** Run the system pg_basebackup 15 (the reference). */
export function runReferenceBaseBackup(args: readonly string[], opts: ToolRunOptions = {}): Promise<RunResult> {
  return startTool(referenceBaseBackupBinary(), args, opts).result;
}

/** Run the system pg_verifybackup 15 (PostgreSQL's own check of plain backups). */
export function runSystemVerifyBackup(args: readonly string[], opts: ToolRunOptions = {}): Promise<RunResult> {
  return startTool(binaryAt(systemBin('pg_verifybackup')), args, opts).result;
}

/** One-line description of a finished run, for assertion messages. */
export function describeRun(what: string, result: RunResult): string {
  const status = result.signal ? `signal ${result.signal}` : `exit code ${String(result.code)}`;
  return `${what}: ${status}\n--- stdout ---\n${result.stdout.trim()}\n--- stderr ---\n${result.stderr.trim()}`;
}

/** Throw (with the output) unless the run succeeded. */
export function assertSucceeded(what: string, result: RunResult): void {
  if (result.code !== 0) throw new Error(describeRun(what, result));
}
