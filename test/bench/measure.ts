// Runs one command and measures its whole-process wall time and peak resident memory.
//
// Peak RSS comes from GNU time (/usr/bin/time -f %M), which reports the child's ru_maxrss as
// returned by wait4(): the largest RSS of the process or of any descendant it waited for
// (pg_basebackup forks its WAL streamer; the maximum of the two is reported, not their sum).
// Without GNU time, /proc/<pid>/status VmHWM of the process and its descendants is polled every
// 50 ms instead (a very short-lived peak can then be missed); measurement.rssSource says which.
// CPU time (user + system of the command and every child it waited for) comes from GNU time's
// %U and %S too; without GNU time it is not measured.
//
// The command runs in its own process group so that a timeout (or our own exit) kills it and
// everything it started. A failing command is a result (ok: false, with the tail of its
// output), never an exception: the bench records it and goes on.

import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { chown, mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseVmHwm } from './proc-stat.js';

export { parseVmHwm };

export const GNU_TIME = '/usr/bin/time';
const TIME_MARKER = 'PGFLEET_BENCH_TIME';
const TAIL_BYTES = 8192;
const POLL_MS = 50;

export type RssSource = 'gnu-time' | 'proc-poll';

export interface MeasureOptions {
  command: string;
  args: readonly string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  timeoutMs: number;
  /** Run as this user (root only), e.g. the PostgreSQL OS user for tools that read PGDATA. */
  uid?: number;
  gid?: number;
  /** Use /proc polling even when GNU time exists (tests). */
  forcePoll?: boolean;
}

export interface Measurement {
  ok: boolean;
  wallMs: number;
  /** Peak RSS in KiB, or null when it could not be read. */
  peakRssKb: number | null;
  /** User + system CPU seconds of the command and the children it waited for (GNU time %U + %S);
   * null without GNU time. */
  cpuSeconds: number | null;
  rssSource: RssSource;
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  /** Last bytes of stdout+stderr, interleaved as they came. */
  outputTail: string;
}

let gnuTimeChecked: boolean | undefined;

/** Whether /usr/bin/time is GNU time with -f and -o (checked once by running it). */
export async function hasGnuTime(): Promise<boolean> {
  if (gnuTimeChecked !== undefined) return gnuTimeChecked;
  if (!existsSync(GNU_TIME)) return (gnuTimeChecked = false);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'pgfleet-bench-time-'));
  try {
    const file = path.join(dir, 'out');
    const code = await new Promise<number | null>((resolve) => {
      const child = spawn(GNU_TIME, ['-f', `${TIME_MARKER} %e %M %U %S`, '-o', file, 'true'], { stdio: 'ignore' });
      child.on('error', () => resolve(null));
      child.on('close', (c) => resolve(c));
    });
    gnuTimeChecked = code === 0 && parseGnuTimeOutput(await readFile(file, 'utf8').catch(() => '')) !== null;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  return gnuTimeChecked;
}

/**
 * Elapsed seconds, peak RSS (KiB) and user + system CPU seconds (null in the older format
 * without them) from a GNU time -o file written with our format. GNU time may write
 * "Command exited with non-zero status N" or "Command terminated by signal N" first, so the
 * marker line is looked for rather than assumed to be the only one.
 */
export function parseGnuTimeOutput(text: string): { elapsedS: number; peakRssKb: number; cpuSeconds: number | null } | null {
  const number = '(\\d+(?:\\.\\d+)?)';
  for (const line of text.split('\n').reverse()) {
    const match = new RegExp(`^${TIME_MARKER} ${number} (\\d+)(?: ${number} ${number})?\\s*$`).exec(line);
    if (match?.[1] !== undefined && match[2] !== undefined) {
      const cpuSeconds = match[3] !== undefined && match[4] !== undefined ? Number(match[3]) + Number(match[4]) : null;
      return { elapsedS: Number(match[1]), peakRssKb: Number(match[2]), cpuSeconds };
    }
  }
  return null;
}

function readText(file: string): string | null {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return null;
  }
}

/** pid and all its descendants that can be found through /proc/<pid>/task/<tid>/children. */
function processTree(pid: number): number[] {
  const seen: number[] = [];
  const stack = [pid];
  while (stack.length > 0) {
    const current = stack.pop() as number;
    if (seen.includes(current)) continue;
    seen.push(current);
    const tasks = readText(`/proc/${current}/task/${current}/children`);
    if (tasks) for (const child of tasks.trim().split(/\s+/)) if (child) stack.push(Number(child));
  }
  return seen;
}

/** Polls the peak RSS of a process tree until stop() is called. */
function startRssPoller(pid: number): { stop(): number | null } {
  let peak: number | null = null;
  const sample = (): void => {
    for (const p of processTree(pid)) {
      const hwm = parseVmHwm(readText(`/proc/${p}/status`) ?? '');
      if (hwm !== null && (peak === null || hwm > peak)) peak = hwm;
    }
  };
  sample();
  const timer = setInterval(sample, POLL_MS);
  return {
    stop() {
      clearInterval(timer);
      return peak;
    },
  };
}

/** Process groups of commands still running; killed if the bench itself exits. */
const running = new Set<number>();
process.on('exit', () => {
  for (const pgid of running) {
    try {
      process.kill(-pgid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
});

export async function measure(opts: MeasureOptions): Promise<Measurement> {
  const useTime = !opts.forcePoll && (await hasGnuTime());
  const statDir = useTime ? await mkdtemp(path.join(os.tmpdir(), 'pgfleet-bench-time-')) : undefined;
  const statFile = statDir ? path.join(statDir, 'time') : undefined;
  // GNU time runs as the target user too, and must be able to write its report.
  if (statDir && opts.uid !== undefined) await chown(statDir, opts.uid, opts.gid ?? -1);
  const [command, args] = statFile
    ? [GNU_TIME, ['-f', `${TIME_MARKER} %e %M %U %S`, '-o', statFile, opts.command, ...opts.args]]
    : [opts.command, [...opts.args]];

  try {
    const started = process.hrtime.bigint();
    const child = spawn(command, args, {
      cwd: opts.cwd,
      env: { ...process.env, ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
      ...(opts.uid !== undefined ? { uid: opts.uid } : {}),
      ...(opts.gid !== undefined ? { gid: opts.gid } : {}),
    });
    const pid = child.pid;
    if (pid !== undefined) running.add(pid);
    const poller = !useTime && pid !== undefined ? startRssPoller(pid) : undefined;

    let tail = Buffer.alloc(0);
    const keep = (chunk: Buffer): void => {
      tail = Buffer.concat([tail, chunk]);
      if (tail.length > TAIL_BYTES) tail = tail.subarray(tail.length - TAIL_BYTES);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);

    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      if (pid !== undefined) {
        try {
          process.kill(-pid, 'SIGKILL');
        } catch {
          // it ended in the meantime
        }
      }
    }, opts.timeoutMs);

    const { code, signal, spawnError } = await new Promise<{
      code: number | null;
      signal: NodeJS.Signals | null;
      spawnError?: Error;
    }>((resolve) => {
      child.on('error', (error) => resolve({ code: null, signal: null, spawnError: error }));
      child.on('close', (c, s) => resolve({ code: c, signal: s }));
    });
    const wallMs = Number(process.hrtime.bigint() - started) / 1e6;
    clearTimeout(timer);
    if (pid !== undefined) running.delete(pid);
    const polledPeak = poller?.stop() ?? null;

    let peakRssKb: number | null = polledPeak;
    let cpuSeconds: number | null = null;
    if (statFile) {
      const stats = parseGnuTimeOutput(await readFile(statFile, 'utf8').catch(() => ''));
      peakRssKb = stats?.peakRssKb ?? null;
      cpuSeconds = stats?.cpuSeconds ?? null;
    }
    let outputTail = tail.toString('utf8');
    if (spawnError) outputTail += `\ncould not start "${opts.command}": ${spawnError.message}`;
    if (timedOut) outputTail += `\nkilled after ${(opts.timeoutMs / 1000).toFixed(1)} s`;
    return {
      ok: code === 0 && !timedOut && !spawnError,
      wallMs,
      peakRssKb,
      cpuSeconds,
      rssSource: useTime ? 'gnu-time' : 'proc-poll',
      exitCode: code,
      signal,
      timedOut,
      outputTail,
    };
  } finally {
    if (statDir) await rm(statDir, { recursive: true, force: true });
  }
}
