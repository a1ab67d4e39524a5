// CPU time and peak RSS of running processes, read from /proc (Linux), for processes the bench
// does not start and stop around one measurement: the agent and controller daemons, which
// serve many jobs, and the PostgreSQL server. A job's share is the difference of two readings.
//
// CPU: utime + stime of the process itself, plus cutime + cstime (children it has waited for:
// the backends a postmaster reaped, a pg_ctl an agent ran). Peak RSS: VmHWM, which is the high
// water mark since the process started, unless it was reset: resetPeakRss() writes "5" to
// /proc/<pid>/clear_refs (Linux 4.0+, root or the same user), so that VmHWM read after a job is
// that job's peak.

import { readFileSync, writeFileSync } from 'node:fs';

/** sysconf(_SC_CLK_TCK) on Linux. */
export const CLOCK_TICKS = 100;

export interface CpuTimes {
  /** user + system seconds of the process itself. */
  self: number;
  /** user + system seconds of its waited-for children. */
  children: number;
}

/** CPU times from the text of /proc/<pid>/stat, or null when it cannot be parsed. */
export function parseProcStat(text: string): CpuTimes | null {
  // Fields after the command name (which may contain spaces and parentheses) start after the last ')'.
  const close = text.lastIndexOf(')');
  if (close < 0) return null;
  const fields = text.slice(close + 2).trim().split(/\s+/);
  // fields[0] is field 3 (state): utime, stime, cutime, cstime are fields 14-17.
  const [utime, stime, cutime, cstime] = [fields[11], fields[12], fields[13], fields[14]].map(Number);
  if ([utime, stime, cutime, cstime].some((v) => v === undefined || !Number.isFinite(v))) return null;
  return { self: ((utime as number) + (stime as number)) / CLOCK_TICKS, children: ((cutime as number) + (cstime as number)) / CLOCK_TICKS };
}

/** VmHWM (KiB) from the text of /proc/<pid>/status, or null. */
export function parseVmHwm(status: string): number | null {
  const match = /^VmHWM:\s+(\d+)\s+kB/m.exec(status);
  return match?.[1] === undefined ? null : Number(match[1]);
}

function readText(file: string): string | null {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return null;
  }
}

/** CPU times of a process; null when it is gone. */
export function cpuTimes(pid: number): CpuTimes | null {
  const text = readText(`/proc/${pid}/stat`);
  return text === null ? null : parseProcStat(text);
}

/**
 * utime + stime of a process's main thread (its thread id is the pid), in seconds; null when
 * it is gone. The rest of a node process's CPU is its other threads: V8's garbage collection
 * and compiler helpers and libuv's threadpool (promise-based file system calls).
 */
export function mainThreadCpuSeconds(pid: number): number | null {
  const text = readText(`/proc/${pid}/task/${pid}/stat`);
  return text === null ? null : (parseProcStat(text)?.self ?? null);
}

/** utime + stime of a process, in seconds; null when it is gone. */
export function cpuSeconds(pid: number): number | null {
  return cpuTimes(pid)?.self ?? null;
}

/** VmHWM of a process in KiB; null when it is gone. */
export function peakRssKb(pid: number): number | null {
  const text = readText(`/proc/${pid}/status`);
  return text === null ? null : parseVmHwm(text);
}

/** Resets a process's VmHWM to its current RSS; false when the kernel or permissions refuse. */
export function resetPeakRss(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}
