/**
 * What runs in a data directory: postmaster.pid (pid, port, socket directory) and the
 * processes behind it, from /proc where there is one. The pid file is read without following
 * a link (no-follow.ts). How the server answers is report.ts's.
 */

import { readFileSync } from 'node:fs';
import { readdir, readFile, readlink } from 'node:fs/promises';
import path from 'node:path';
import { isErrno } from '@pgfleet/core';
import { readFileNoFollow } from '../restore/no-follow.js';

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
