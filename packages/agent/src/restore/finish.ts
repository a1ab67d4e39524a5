/**
 * The last touches in staging, before the rename: the source server's own files dropped,
 * tablespace_map rewritten with the NEW locations and pg_tblspc/<oid> links pointing there
 * (PostgreSQL recreates the links from the map at startup, so both must agree: SEED.md), the
 * WAL directory link, the recovery configuration of the mode (recovery.ts), modes 0700 (0750
 * when the backup had group access), ownership of everything below a staged root (what the
 * extractor created already has it; parents it made implicitly and files the engine wrote do
 * not), and fsync of what changed, so that success is only reported for data that is on disk
 * (as pg_basebackup's final fsync does).
 */

import { lchown, lstat, open, readdir, readlink, rm, unlink } from 'node:fs/promises';
import path from 'node:path';
import { ArchiveFormatError, fileError, recoveryTargetSettings } from '@pgfleet/core';
import type { OsOwner } from '../instance/owner.js';
import type { RestoreContext } from './context.js';
import { ensureDirectoryNoFollow, writeFileNoFollow } from './no-follow.js';
import { externalTablespaces, type ExternalTablespace } from './plan.js';
import { applyRecoveryMode } from './recovery.js';
import type { StagingDirectory } from './staging.js';
import { setDirectoryMode, symlinkOwned } from './staging-files.js';
import { formatTablespaceMap } from './tablespaces.js';

/** Files of a running server that a restore never brings over (PostgreSQL's base backup excludes them too). */
const SOURCE_SERVER_FILES = ['postmaster.pid', 'postmaster.opts'] as const;

/** Everything the staged copy needs besides the archives' content; see the module comment. */
export async function finishStaging(ctx: RestoreContext): Promise<void> {
  ctx.checkCancelled();
  ctx.phase('finish');
  const facts = ctx.baseFacts();
  const data = ctx.dataStaging.path;
  const groupAccess = ctx.source.dataDirectoryMode !== null
    ? ctx.source.dataDirectoryMode === 0o750
    : facts.globalDirMode !== null && (facts.globalDirMode & 0o070) !== 0;
  const dirMode = groupAccess ? 0o750 : 0o700;
  const fileMode = groupAccess ? 0o640 : 0o600;
  const external = externalTablespaces(ctx.tablespacePlan());
  const toSync: string[] = [data];

  await dropSourceServerFiles(ctx, data);
  if (facts.files.has('tablespace_map')) toSync.push(await rewriteTablespaceMap(data, external, fileMode));
  toSync.push(await linkTablespaces(ctx, data, external, dirMode));
  toSync.push(await finishWalDirectory(ctx, data, dirMode));

  const pitr = ctx.options.pointInTime;
  const recovery = await applyRecoveryMode(data, ctx.options.mode, {
    primaryConninfo: ctx.options.primaryConninfo ?? null, fileMode,
    targetSettings: pitr ? recoveryTargetSettings(pitr.target, pitr.restoreCommand) : null,
  });
  for (const f of recovery.written) toSync.push(path.join(data, f));

  for (const s of ctx.stagings) s.mode = dirMode;
  const roots: StagingDirectory[] = [ctx.dataStaging, ...(ctx.walStaging ? [ctx.walStaging] : [])];
  for (const t of external) roots.push(ctx.tablespaceStagings.get(t.oid) as StagingDirectory);
  for (const s of roots) {
    await setDirectoryMode(s.path, dirMode);
    toSync.push(s.path, ...(await fixOwnership(s.path, ctx.owner)));
  }
  if (ctx.options.sync !== false) await fsyncAll(toSync);
}

/**
 * A backup copied from a running cluster (not by a base backup, which leaves them out) has the
 * source server's: its pid file would make the undo of a cancelled start, or pg_ctl, take that
 * server's pid for the copy's.
 */
async function dropSourceServerFiles(ctx: RestoreContext, data: string): Promise<void> {
  for (const name of SOURCE_SERVER_FILES) {
    const file = path.join(data, name);
    if (!(await lstat(file).catch(() => null))) continue;
    try {
      await rm(file, { force: true });
    } catch (err) {
      throw fileError('could not remove file', file, err);
    }
    ctx.warn(`the backup contains "${name}" (of the server it was copied from); it was not restored`);
  }
}

async function rewriteTablespaceMap(data: string, external: readonly ExternalTablespace[], fileMode: number): Promise<string> {
  const file = path.join(data, 'tablespace_map');
  await rm(file, { force: true });
  await writeFileNoFollow(file, formatTablespaceMap(external.map((t) => [t.oid, t.location] as const)), { mode: fileMode, exclusive: true });
  return file;
}

async function linkTablespaces(ctx: RestoreContext, data: string, external: readonly ExternalTablespace[], dirMode: number): Promise<string> {
  const tblspc = path.join(data, 'pg_tblspc');
  await ensureDirectoryNoFollow(tblspc, dirMode);
  for (const t of external) {
    const link = path.join(tblspc, String(t.oid));
    const existing = await lstat(link).catch(() => null);
    if (existing) {
      throw new ArchiveFormatError(`the base archive has a "pg_tblspc/${t.oid}" entry that is not a symbolic link`, {
        hint: 'A tablespace is either a link in pg_tblspc or a directory in it, not both.',
      });
    }
    await symlinkOwned(ctx.owner, t.location, link);
  }
  return tblspc;
}

/** pg_wal (a link to --waldir's target, replacing the one to its staging directory) and archive_status. */
async function finishWalDirectory(ctx: RestoreContext, data: string, dirMode: number): Promise<string> {
  if (ctx.walStaging && ctx.walDir) {
    const link = path.join(data, 'pg_wal');
    const st = await lstat(link);
    if (st.isSymbolicLink() && (await readlink(link)) === ctx.walStaging.path) await unlink(link);
    await symlinkOwned(ctx.owner, ctx.walDir, link);
  }
  const walRoot = ctx.walRoot();
  await ensureDirectoryNoFollow(walRoot, dirMode);
  await ensureDirectoryNoFollow(path.join(walRoot, 'archive_status'), dirMode);
  return walRoot;
}

/**
 * lchown()s every entry below `root` (root included) that the owner does not own yet, without
 * following symbolic links. Returns the paths changed (to be fsynced).
 */
export async function fixOwnership(root: string, owner: OsOwner): Promise<string[]> {
  if (!owner.chown) return [];
  const changed: string[] = [];
  const visit = async (p: string): Promise<void> => {
    let st;
    try {
      st = await lstat(p);
    } catch (err) {
      throw fileError('could not stat file', p, err);
    }
    if (st.uid !== owner.uid || st.gid !== owner.gid) {
      try {
        await lchown(p, owner.uid, owner.gid);
      } catch (err) {
        throw fileError('could not change owner of', p, err);
      }
      if (!st.isSymbolicLink()) changed.push(p);
    }
    if (!st.isDirectory()) return;
    let names: string[];
    try {
      names = await readdir(p);
    } catch (err) {
      throw fileError('could not open directory', p, err);
    }
    for (const name of names) await visit(path.join(p, name));
  };
  await visit(root);
  return changed;
}

/** fsync()s one file or directory. */
export async function fsyncPath(p: string): Promise<void> {
  let handle;
  try {
    handle = await open(p, 'r');
    await handle.sync();
  } catch (err) {
    throw fileError('could not fsync', p, err);
  } finally {
    await handle?.close().catch(() => undefined);
  }
}

/** fsync()s several paths (deduplicated), a few at a time. */
export async function fsyncAll(paths: Iterable<string>): Promise<void> {
  const list = [...new Set(paths)];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < list.length) await fsyncPath(list[next++] as string);
  };
  await Promise.all(Array.from({ length: Math.min(8, list.length) }, worker));
}
