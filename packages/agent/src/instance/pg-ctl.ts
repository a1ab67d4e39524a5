/**
 * Running pg_ctl (and reading what it left) as the data directory's OS owner: PostgreSQL
 * refuses root, and every run is bounded (pg_ctl's own -t plus PG_CTL_SLACK_MS, then killed)
 * and abortable.
 */

import path from 'node:path';
import { runChild, type ChildResult } from './child-process.js';
import { ownerEnv, ownerSpawnIds, type OsOwner } from './owner.js';
import { readFileNoFollow } from '../restore/no-follow.js';

/** How long a pg_ctl may run beyond its own -t before it is killed. */
export const PG_CTL_SLACK_MS = 30_000;

/** Runs pg_ctl of `binDir` as `owner` in `cwd`. */
export function runPgCtl(
  owner: OsOwner, binDir: string, args: string[], cwd: string, options: { timeoutMs: number; signal?: AbortSignal | undefined },
): Promise<ChildResult> {
  return runChild(path.join(binDir, 'pg_ctl'), args, { cwd, env: ownerEnv(owner), ...ownerSpawnIds(owner), timeoutMs: options.timeoutMs, signal: options.signal });
}

/** The last `lines` lines of a log, read without following a link (module comment of start.ts). */
export async function logTail(file: string, lines: number): Promise<string> {
  const text = await readFileNoFollow(file).catch(() => null);
  return (text ?? '').trimEnd().split('\n').slice(-lines).join('\n');
}

/** setTimeout as a promise that an abort ends early (resolving: the caller checks the signal). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
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
