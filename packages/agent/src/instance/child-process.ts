/**
 * runChild(): a child process with a bound and an abort. The agent runs pg_ctl and its report
 * child this way; neither may keep a call (or the agent's shutdown) waiting forever.
 *
 * - `timeoutMs`: the child is killed when it runs longer; the result says `killed: 'timeout'`.
 * - `signal`: aborting kills it at once; the result says `killed: 'aborted'`.
 * - The result comes once the child has exited and its output pipes have closed, but at most
 *   PIPE_GRACE_MS after the exit: a grandchild that inherited the pipes (a shell's background
 *   job, tsx's esbuild service) must not hold us.
 * It rejects only when the program could not be run at all (InstanceError).
 */

import { spawn } from 'node:child_process';
import { InstanceError } from '@pgfleet/core';

export interface ChildOptions {
  cwd: string;
  env: NodeJS.ProcessEnv;
  uid?: number;
  gid?: number;
  timeoutMs: number;
  signal?: AbortSignal | undefined;
  /** Default SIGTERM. */
  killSignal?: NodeJS.Signals;
}

export interface ChildResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** Killed by us: its time was up, or the signal aborted. */
  killed: 'timeout' | 'aborted' | null;
}

const PIPE_GRACE_MS = 2000;

export function runChild(cmd: string, args: readonly string[], options: ChildOptions): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    if (options.signal?.aborted) {
      resolve({ code: null, stdout: '', stderr: '', killed: 'aborted' });
      return;
    }
    const child = spawn(cmd, args, {
      cwd: options.cwd, env: options.env, stdio: ['ignore', 'pipe', 'pipe'],
      ...(options.uid !== undefined ? { uid: options.uid } : {}), ...(options.gid !== undefined ? { gid: options.gid } : {}),
    });
    let killed: ChildResult['killed'] = null;
    const kill = (why: 'timeout' | 'aborted'): void => {
      killed ??= why;
      child.kill(options.killSignal ?? 'SIGTERM');
    };
    const timer = setTimeout(() => kill('timeout'), options.timeoutMs);
    const onAbort = (): void => kill('aborted');
    options.signal?.addEventListener('abort', onAbort, { once: true });
    const settle = (): void => {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
    };
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e) => {
      settle();
      reject(new InstanceError(`could not run "${cmd}": ${e.message}`, { cause: e }));
    });
    child.on('exit', (code) => {
      settle();
      let done = false;
      const finish = (): void => {
        if (done) return;
        done = true;
        clearTimeout(pipeTimer);
        // Whoever still holds the other ends, we are done reading: release our handles.
        child.stdout.destroy();
        child.stderr.destroy();
        resolve({ code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8'), killed });
      };
      const pipeTimer = setTimeout(finish, PIPE_GRACE_MS);
      let open = 0;
      for (const stream of [child.stdout, child.stderr]) {
        if (stream.closed) continue;
        open += 1;
        stream.once('close', () => {
          open -= 1;
          if (open === 0) finish();
        });
      }
      if (open === 0) finish();
    });
  });
}
