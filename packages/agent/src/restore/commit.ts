/**
 * Commit and undo. Commit renames every staging directory onto its target (tablespaces and
 * WAL first, the data directory last: until it appears nothing looks like a restored
 * instance) and fsyncs the parents; a commit that fails half-way is undone. Before the commit
 * a failed restore discards its staging directories; after it, a cancelled one is undone:
 * the server its start made is stopped and every target emptied, so that cancelled means
 * undone, and an undo that cannot finish names what it left.
 */

import path from 'node:path';
import { CancelledError, FileIoError } from '@pgfleet/core';
import { stopStartedServer } from '../instance/stop.js';
import type { RestoreContext } from './context.js';
import { fsyncAll } from './finish.js';
import type { StagingDirectory } from './staging.js';

export async function commitStagings(ctx: RestoreContext): Promise<void> {
  ctx.checkCancelled();
  const order = [...ctx.stagings.filter((s) => s !== ctx.dataStaging), ctx.dataStaging];
  const touched: StagingDirectory[] = [];
  try {
    for (const s of order) {
      // Touched before its commit: a mount-point target may be partly moved when it fails.
      touched.push(s);
      await s.commit();
    }
  } catch (err) {
    const failed = await undoAll(touched.reverse());
    if (failed) {
      throw new FileIoError(`the restore into "${ctx.dataDir}" could not be committed, and undoing the commit failed: ${failed.message}`, {
        cause: err,
        hint: `The commit failed with: ${err instanceof Error ? err.message : String(err)}. ${failed.hint}`,
      });
    }
    throw err;
  }
  if (ctx.options.sync !== false) {
    await fsyncAll(order.map((s) => path.dirname(s.target)));
  }
}

/** Removes every staging directory of a restore that failed before its commit. */
export async function discardStagings(ctx: RestoreContext): Promise<void> {
  for (const s of [...ctx.stagings].reverse()) await s.discard();
}

/**
 * Undoes a committed restore that was cancelled (its start, or just after the commit): stops
 * the server this restore started, if it attempted one (`startedAt`: Date.now() just before
 * pg_ctl start; pg_ctl stop -m immediate, the copy is thrown away), then empties every target
 * (staging.ts undo()). A server that cannot be confirmed stopped keeps its files, and an undo
 * that fails names what it left; both are CancelledErrors with a hint.
 */
export async function undoCommitted(ctx: RestoreContext, startedAt: number | null): Promise<void> {
  if (startedAt !== null) {
    await stopStartedServer({
      dataDir: ctx.dataDir, installation: ctx.installation, owner: ctx.owner, startedAt,
      waitMs: (ctx.options.startTimeoutSeconds ?? 300) * 1000,
    });
  }
  const failed = await undoAll([...ctx.stagings].reverse());
  if (failed) {
    throw new CancelledError(`the restore into "${ctx.dataDir}" was cancelled, and undoing it failed: ${failed.message}`, {
      cause: failed.cause, hint: failed.hint,
    });
  }
}

/**
 * Undoes each staging directory (committed or not); returns what failed, with a hint naming
 * every path left behind, or null when everything is gone.
 */
async function undoAll(stagings: StagingDirectory[]): Promise<{ message: string; cause: unknown; hint: string } | null> {
  const left: string[] = [];
  let first: unknown = null;
  for (const s of stagings) {
    try {
      await s.undo();
    } catch (err) {
      first ??= err;
      left.push(s.leftBehind());
    }
  }
  if (left.length === 0) return null;
  return {
    message: first instanceof Error ? first.message : String(first),
    cause: first,
    hint: `Left behind: ${left.map((p) => `"${p}"`).join(', ')}; remove ${left.length === 1 ? 'it' : 'them'} by hand (a mount point itself stays) before restoring there again.`,
  };
}
