// The long-running processes of the fleet part: an agent (`pgfleet-agent serve`) and a
// controller (`pgfleet serve`) started from the built dist/ scripts, and what a job cost each
// of them. A job's usage is taken around it: beginUsage() resets the process's peak RSS
// (proc-stat.ts) and reads its CPU time, endUsage() reads both again.
//
// The PostgreSQL server is measured the same way through its postmaster: the CPU time of the
// children it reaped during the job (the walsender that streamed a backup, a backend that ran
// pg_backup_start); live processes (checkpointer, background writer) are not counted.

import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from '../harness/index.js';
import type { FleetRole, ProcessUsage } from './fleet-summary.js';
import { cpuTimes, peakRssKb, resetPeakRss } from './proc-stat.js';

export const PGFLEET_JS = path.join(REPO_ROOT, 'packages', 'controller', 'dist', 'bin', 'pgfleet.js');
export const AGENT_JS = path.join(REPO_ROOT, 'packages', 'agent', 'dist', 'bin', 'pgfleet-agent.js');
const START_TIMEOUT_MS = 30_000;

export interface Daemon {
  name: string;
  pid: number;
  address: string;
  log(): string;
  stop(): Promise<void>;
}

/** Environment without the shell's PG* and PGFLEET_* variables, plus `extra`. */
export function cleanEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^PG/.test(k)) env[k] = v;
  return { ...env, ...extra };
}

const started = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of started) child.kill('SIGKILL');
});

/** node's arguments to write a CPU profile `<name>.cpuprofile` into `dir` (none without a dir). */
export function profileArgs(dir: string | undefined, name: string): string[] {
  return dir === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', dir, '--cpu-prof-name', `${name}.cpuprofile`];
}

/**
 * Starts `node [nodeArgs] SCRIPT ARGS` and waits until its log matches `listening` (group 1:
 * the address).
 */
export async function startDaemon(name: string, script: string, args: string[], listening: RegExp, nodeArgs: string[] = []): Promise<Daemon> {
  const child = spawn(process.execPath, [...nodeArgs, script, ...args], { stdio: ['ignore', 'ignore', 'pipe'], env: cleanEnv() });
  started.add(child);
  let log = '';
  const exited = new Promise<void>((resolve) => child.on('close', () => {
    started.delete(child);
    resolve();
  }));
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    log = (log + d).slice(-65536);
  });
  const address = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not start within ${START_TIMEOUT_MS / 1000} s:\n${log}`)), START_TIMEOUT_MS);
    const check = (): void => {
      const m = listening.exec(log);
      if (m?.[1] !== undefined) {
        clearTimeout(timer);
        child.stderr.off('data', check);
        resolve(m[1]);
      }
    };
    child.stderr.on('data', check);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited with ${code ?? signal} before listening:\n${log}`));
    });
  });
  return {
    name,
    pid: child.pid as number,
    address,
    log: () => log,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

export interface UsageProbe {
  role: FleetRole;
  pid: number;
  /** Count the process's own CPU (daemons) or its reaped children's (postmaster). */
  count: 'self' | 'children';
}

interface Started {
  probe: UsageProbe;
  cpu: number | null;
  rssReset: boolean;
}

function cpuOf(probe: UsageProbe): number | null {
  const times = cpuTimes(probe.pid);
  if (times === null) return null;
  return probe.count === 'self' ? times.self : times.children;
}

export function beginUsage(probes: readonly UsageProbe[]): Started[] {
  return probes.map((probe) => ({
    probe,
    rssReset: probe.count === 'self' && resetPeakRss(probe.pid),
    cpu: cpuOf(probe),
  }));
}

/** Usage since beginUsage(); peak RSS only for processes whose high water mark could be reset. */
export function endUsage(begun: readonly Started[]): ProcessUsage[] {
  return begun.map(({ probe, cpu, rssReset }) => {
    const now = cpuOf(probe);
    return {
      role: probe.role,
      cpuSeconds: now === null || cpu === null ? null : Math.max(0, now - cpu),
      peakRssKb: rssReset ? peakRssKb(probe.pid) : null,
    };
  });
}

/** The postmaster's pid, from the first line of postmaster.pid. */
export function postmasterPid(dataDir: string): number | null {
  try {
    const pid = Number(readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}
