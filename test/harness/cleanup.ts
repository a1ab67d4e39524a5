// Makes sure no PostgreSQL server and no temporary directory outlives the test process.
//
// Servers are started detached (pg_ctl), so nothing stops them when node exits. Every
// started server registers here, and is stopped:
//   - by a node:test root-level `after` hook, registered when this module is first imported
//     from a test file (static imports are evaluated before any test runs, so the hook lands on
//     the file's root and runs after all its tests, passed or failed). It also ends the pg
//     pools, which would otherwise keep the event loop, and so the test process, alive;
//   - on process 'exit' and on SIGINT/SIGTERM, synchronously: SIGQUIT (immediate shutdown) to
//     the postmaster, then wait for it to go.
// Directories made by makeTempDir() are removed afterwards unless PGFLEET_KEEP_TEST_DIRS=1.
//
// The `after` hook is only registered in processes that look like tests (NODE_TEST_CONTEXT set
// by `node --test`, or a main module named *.test.*): calling node:test in a plain script
// would make it print a TAP report.

import { readFileSync, rmSync } from 'node:fs';
import { after } from 'node:test';

/** Something that must be stopped before the process ends (a running server). */
export interface StoppableResource {
  /** Graceful, asynchronous stop. Must be idempotent. */
  stop(): Promise<void>;
  /** Postmaster pid file, used for the synchronous emergency stop. */
  readonly pidFile: string;
}

const resources = new Set<StoppableResource>();
const dirs = new Set<string>();
let hooksInstalled = false;

export function keepTestDirs(): boolean {
  return process.env['PGFLEET_KEEP_TEST_DIRS'] === '1';
}

export function trackResource(resource: StoppableResource): void {
  installProcessHooks();
  resources.add(resource);
}

export function untrackResource(resource: StoppableResource): void {
  resources.delete(resource);
}

export function trackDir(dir: string): void {
  installProcessHooks();
  dirs.add(dir);
}

export function untrackDir(dir: string): void {
  dirs.delete(dir);
}

/** Stop every tracked server, then remove every tracked directory. Safe to call repeatedly. */
export async function cleanupAll(): Promise<void> {
  const failures: unknown[] = [];
  for (const resource of [...resources]) {
    try {
      await resource.stop();
    } catch (error) {
      failures.push(error);
      killSync(resource.pidFile);
    }
    resources.delete(resource);
  }
  removeDirsSync();
  if (failures.length > 0) {
    throw new AggregateError(failures, 'could not stop every test server cleanly');
  }
}

function removeDirsSync(): void {
  if (keepTestDirs()) {
    if (dirs.size > 0) process.stderr.write(`pgfleet harness: keeping ${[...dirs].join(' ')}\n`);
    dirs.clear();
    return;
  }
  for (const dir of [...dirs]) {
    rmSync(dir, { recursive: true, force: true });
    dirs.delete(dir);
  }
}

function readPostmasterPid(pidFile: string): number | undefined {
  try {
    const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));

/** Immediate shutdown of the postmaster named by a pid file, waiting up to 10 s for it. */
export function killSync(pidFile: string): void {
  const pid = readPostmasterPid(pidFile);
  if (pid === undefined || !isAlive(pid)) return;
  try {
    process.kill(pid, 'SIGQUIT');
  } catch {
    return;
  }
  const deadline = Date.now() + 10_000;
  while (isAlive(pid) && Date.now() < deadline) Atomics.wait(sleeper, 0, 0, 20);
  if (isAlive(pid)) process.kill(pid, 'SIGKILL');
}

function cleanupAllSync(): void {
  for (const resource of resources) killSync(resource.pidFile);
  resources.clear();
  removeDirsSync();
}

function installProcessHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on('exit', cleanupAllSync);
  for (const [signal, code] of [
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const) {
    process.once(signal, () => {
      cleanupAllSync();
      process.exit(code);
    });
  }
}

function looksLikeTestProcess(): boolean {
  return process.env['NODE_TEST_CONTEXT'] !== undefined || /\.test\.[cm]?[jt]s$/.test(process.argv[1] ?? '');
}

if (looksLikeTestProcess()) {
  after(cleanupAll);
}
