/**
 * Waiting for a started instance to become what was asked for: a promoted copy out of
 * recovery, a standby streaming from its primary. Every wait has a deadline (InstanceError,
 * naming the data directory and quoting the server log; the server is left as it is) and ends
 * at once when the signal aborts (CancelledError).
 */

import { access } from 'node:fs/promises';
import path from 'node:path';
import { CancelledError, InstanceError } from '@pgfleet/core';
import type { OsOwner } from './owner.js';
import { logTail, sleep } from './pg-ctl.js';
import { readPostmasterPid } from './status.js';
import { ConnectFailure, REPORT_TIMEOUT_MS, reportInstanceAs, type ConnectTarget, type InstanceReport } from './report.js';

export interface PromotionWait {
  dataDir: string;
  owner: OsOwner;
  target: ConnectTarget;
  /** Date.now() value after which the wait fails. */
  deadline: number;
  /** The seconds the deadline stands for (named in the error). */
  timeoutSeconds: number;
  logFile: string;
  signal?: AbortSignal;
  /** Wait until recovery is paused at its target (recovery_target_action = pause) instead. */
  paused?: boolean;
  /** The server was started (pg_ctl start -w returned): its postmaster gone means recovery failed. */
  started?: boolean;
}

/**
 * Waits until the instance has left recovery (promotion done) and returns its report; fails
 * at the deadline (InstanceError) or when the signal aborts (CancelledError). PostgreSQL
 * removes recovery.signal when archive recovery ends, so the cheap check is that file; the
 * report (run as the owner, each attempt bounded by what is left of the deadline) then confirms.
 * A server that stopped (recovery failed: a target not reached, a restore_command that aborted)
 * fails the wait at once, with the end of its log. With `paused`, waits instead until replay is
 * paused (recovery_target_action = pause reached its target).
 */
export async function waitForPromotion(wait: PromotionWait): Promise<InstanceReport> {
  const { dataDir, owner, target, deadline, signal } = wait;
  const cancelled = (): CancelledError => new CancelledError(`the wait for the restored instance in "${dataDir}" to leave recovery was cancelled`);
  let lastError: unknown = null;
  for (;;) {
    if (signal?.aborted) throw cancelled();
    const left = deadline - Date.now();
    if (left <= 0) break;
    let signalled = true;
    try {
      await access(path.join(dataDir, 'recovery.signal'));
    } catch {
      signalled = false;
    }
    if (wait.started === true && !(await readPostmasterPid(dataDir))?.alive) {
      // Recovery failed (a target not reached, restore_command aborting): the server is gone.
      throw new InstanceError(`the restored instance in "${dataDir}" stopped during recovery`, {
        hint: `It did not reach the point it was to recover to. Its log "${wait.logFile}" ends with:\n${(await logTail(wait.logFile, 15)) || '(empty)'}`,
      });
    }
    if (!signalled || wait.paused === true) {
      try {
        const report = await reportInstanceAs(owner, target, { timeoutMs: Math.min(left, REPORT_TIMEOUT_MS), dataDir, ...(signal ? { signal } : {}) });
        if (wait.paused === true ? report.replay.paused : !report.inRecovery) return report;
      } catch (err) {
        if (err instanceof CancelledError) throw cancelled();
        lastError = err;
        // An attempt cut short by the deadline (it was bounded by what was left of it) fails
        // because time ran out: that is the cause to report, not the attempt's own timeout.
        if (Date.now() >= deadline) break;
        // Only "not ready yet" is worth waiting for; a wrong role or a broken child is not.
        if (!(err instanceof ConnectFailure && err.retryable)) throw err;
      }
    }
    await sleep(Math.min(200, Math.max(0, deadline - Date.now())), signal);
  }
  throw new InstanceError(`the restored instance in "${dataDir}" did not ${wait.paused === true ? 'pause at its recovery target' : 'leave recovery'} within ${wait.timeoutSeconds} seconds`, {
    cause: lastError,
    hint: 'It was left running, still in recovery. ' +
      `Its log "${wait.logFile}" ends with:\n${(await logTail(wait.logFile, 15)) || '(empty)'}`,
  });
}

/** How long one WAL receiver process must be seen streaming before the standby counts as following. */
export const STREAMING_STABLE_MS = 1500;
const FOLLOW_POLL_MS = 500;

export interface StreamingWait {
  dataDir: string;
  owner: OsOwner;
  target: ConnectTarget;
  /** Date.now() value after which the wait fails. */
  deadline: number;
  logFile: string;
  signal?: AbortSignal;
}

/**
 * Waits until a standby follows its primary: its WAL receiver (pg_stat_wal_receiver) is seen
 * "streaming", the same process, over STREAMING_STABLE_MS. Once is not enough: a receiver whose
 * primary no longer has the WAL it asks for does reach "streaming", and dies the moment the
 * primary answers "requested WAL segment ... has already been removed"; the server starts
 * another every wal_retrieve_retry_interval (5 s). Returns the last report; a role that may
 * not see the receiver's status (its status is null) ends the wait at once, the caller decides.
 * Fails at the deadline (InstanceError, the server left running) or when the signal aborts
 * (CancelledError).
 */
export async function waitForStreaming(wait: StreamingWait): Promise<InstanceReport> {
  const { dataDir, owner, target, deadline, signal } = wait;
  const started = Date.now();
  const cancelled = (): CancelledError => new CancelledError(`the wait for the restored standby in "${dataDir}" to stream from its primary was cancelled`);
  let streaming: { pid: number; since: number } | null = null;
  let last: InstanceReport | null = null;
  let lastError: unknown = null;
  for (;;) {
    if (signal?.aborted) throw cancelled();
    const left = deadline - Date.now();
    if (left <= 0) break;
    try {
      const report = await reportInstanceAs(owner, target, { timeoutMs: Math.min(left, REPORT_TIMEOUT_MS), dataDir, ...(signal ? { signal } : {}) });
      last = report;
      const receiver = report.walReceiver;
      if (receiver !== null && receiver.status === null) return report;
      if (receiver?.status !== 'streaming') {
        streaming = null;
      } else if (streaming === null || streaming.pid !== receiver.pid) {
        streaming = { pid: receiver.pid, since: Date.now() };
      } else if (Date.now() - streaming.since >= STREAMING_STABLE_MS) {
        return report;
      }
    } catch (err) {
      if (err instanceof CancelledError) throw cancelled();
      lastError = err;
      if (Date.now() >= deadline) break;
      if (!(err instanceof ConnectFailure && err.retryable)) throw err;
    }
    await sleep(Math.min(FOLLOW_POLL_MS, Math.max(0, deadline - Date.now())), signal);
  }
  const receiver = last?.walReceiver ?? null;
  const seen = receiver === null ? 'no WAL receiver is running' : `its WAL receiver is "${receiver.status ?? ''}"`;
  const waited = Number(((deadline - started) / 1000).toFixed(1));
  throw new InstanceError(`the restored standby in "${dataDir}" does not stream from its primary: after ${waited} seconds, ${seen}`, {
    cause: lastError,
    hint: 'It was left running, in recovery. The primary may no longer have the WAL the standby needs (restore a newer backup), ' +
      `or not accept its primary_conninfo. Its log "${wait.logFile}" ends with:\n${(await logTail(wait.logFile, 15)) || '(empty)'}`,
  });
}
