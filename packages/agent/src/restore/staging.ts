/**
 * Staging directories: a restore never writes into a target directly. Each target (data
 * directory, --waldir, each tablespace location) gets a sibling staging directory on the same
 * file system, named
 *
 *     <parent>/.pgfleet-staging.<target name>.<pid>.<random>
 *
 * Everything is extracted and prepared there, and only at the very end is each staging
 * directory renamed onto its target (rename(2) is atomic and replaces an empty directory). A
 * restore that fails removes its staging directories; one that is killed leaves them behind,
 * under that recognisable name, and the next restore to the same target removes those whose
 * process is gone. A staging directory named with this process's own PID is a leftover too
 * unless this process made it (an agent that is PID 1 in a container always has the same PID):
 * the paths this process owns are remembered. Parent directories created for a target are
 * removed again on failure when they are still empty.
 *
 * A target that is an (empty) mount point cannot be renamed onto, and its parent is another
 * file system. Its staging directory is made inside it instead (`<target>/.pgfleet-staging.
 * <pid>.<random>`) and commit moves the staging directory's entries up one by one: each move
 * is atomic, the whole commit is not (a kill during those few renames leaves a partial target,
 * which the next restore refuses as non-empty).
 *
 * undo() takes a committed target back whole: everything in it goes, also what was written
 * there after the commit (a started server's files), since it was empty before the restore.
 */

import { randomBytes } from 'node:crypto';
import { chmod, chown, mkdir, readdir, rename, rm, rmdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { fileError, isErrno } from '@pgfleet/core';
import type { OsOwner } from '../instance/owner.js';

export const STAGING_PREFIX = '.pgfleet-staging.';

function stagingPattern(target: string): string {
  return `${STAGING_PREFIX}${path.basename(target)}.`;
}

/** True when `dir` exists and is the root of a mounted file system. */
export async function isMountPoint(dir: string): Promise<boolean> {
  try {
    const [own, parent] = await Promise.all([stat(dir), stat(path.dirname(dir))]);
    return own.isDirectory() && (own.dev !== parent.dev || own.ino === parent.ino);
  } catch {
    return false;
  }
}

/** Names inside a mount-point target that are staging directories (ignored by emptiness checks). */
export function isStagingName(name: string): boolean {
  return name.startsWith(STAGING_PREFIX);
}

/** Staging paths this process made and has not yet removed or committed. */
const ownedStaging = new Set<string>();

/** Whether a process with this PID exists (one of another user counts). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return isErrno(err, 'EPERM');
  }
}

/**
 * Removes staging directories a killed restore left next to `target` (their process is gone).
 * Returns the paths removed.
 */
export async function removeLeftoverStaging(target: string): Promise<string[]> {
  const removed: string[] = [];
  await removeLeftoversIn(path.dirname(target), stagingPattern(target), removed);
  await removeLeftoversIn(target, STAGING_PREFIX, removed);
  return removed;
}

async function removeLeftoversIn(parent: string, prefix: string, removed: string[]): Promise<void> {
  let names: string[];
  try {
    names = await readdir(parent);
  } catch {
    return;
  }
  for (const name of names) {
    if (!name.startsWith(prefix)) continue;
    const m = /^(\d+)\.[0-9a-f]+$/.exec(name.slice(prefix.length));
    if (!m) continue;
    const pid = Number(m[1]);
    const leftover = path.join(parent, name);
    // This process runs restores concurrently: its own live staging directories are kept, but
    // one with its PID that it never made is an earlier process's (same PID after a restart).
    if (pid === process.pid ? ownedStaging.has(leftover) : processAlive(pid)) continue;
    try {
      await rm(leftover, { recursive: true, force: true });
    } catch (err) {
      throw fileError('could not remove leftover staging directory', leftover, err);
    }
    removed.push(leftover);
  }
}

export class StagingDirectory {
  /** Where the content is prepared. */
  readonly path: string;
  /** Mode the target gets (0700, or 0750 for a backup with group access); set before commit. */
  mode = 0o700;
  private readonly createdParents: string[] = [];
  private created = false;
  private committed = false;

  /**
   * `inside`: the target is an existing mount point; stage within it (see the module comment).
   */
  constructor(readonly target: string, private readonly owner: OsOwner, private readonly inside = false) {
    const unique = `${process.pid}.${randomBytes(4).toString('hex')}`;
    this.path = inside
      ? path.join(target, `${STAGING_PREFIX}${unique}`)
      : path.join(path.dirname(target), `${stagingPattern(target)}${unique}`);
  }

  /** Creates missing parents of the target (owned by the owner, 0700) and the staging directory. */
  async create(): Promise<void> {
    const parent = path.dirname(this.target);
    const missing: string[] = [];
    for (let dir = parent; ; dir = path.dirname(dir)) {
      try {
        await stat(dir);
        break;
      } catch (err) {
        if (!isErrno(err, 'ENOENT')) throw fileError('could not access directory', dir, err);
        missing.unshift(dir);
        if (path.dirname(dir) === dir) break;
      }
    }
    for (const dir of missing) {
      try {
        await mkdir(dir, { mode: 0o700 });
      } catch (err) {
        if (!isErrno(err, 'EEXIST')) throw fileError('could not create directory', dir, err);
        continue;
      }
      this.createdParents.unshift(dir);
      await this.giveToOwner(dir);
    }
    ownedStaging.add(this.path);
    try {
      await mkdir(this.path, { mode: 0o700 });
    } catch (err) {
      ownedStaging.delete(this.path);
      throw fileError('could not create directory', this.path, err);
    }
    this.created = true;
    await this.giveToOwner(this.path);
  }

  /** Moves the prepared content onto the target (which must be absent or an empty directory). */
  async commit(): Promise<void> {
    if (this.inside) {
      await this.commitInside();
      return;
    }
    try {
      await rename(this.path, this.target);
    } catch (err) {
      throw fileError(`could not rename "${this.path}" to`, this.target, err,
        isErrno(err, 'ENOTEMPTY') || isErrno(err, 'EEXIST')
          ? 'Something wrote into the target while the restore ran; the restore was undone.'
          : undefined);
    }
    this.committed = true;
    ownedStaging.delete(this.path);
  }

  /** Undoes commit() (used when a later target could not be committed). */
  async uncommit(): Promise<void> {
    if (!this.committed) return;
    ownedStaging.add(this.path);
    if (this.inside) {
      await mkdir(this.path, { mode: 0o700 });
      for (const name of this.moved.splice(0)) await rename(path.join(this.target, name), path.join(this.path, name));
    } else {
      await rename(this.target, this.path);
    }
    this.committed = false;
  }

  private readonly moved: string[] = [];

  private async commitInside(): Promise<void> {
    this.committed = true;
    let names: string[];
    try {
      names = await readdir(this.path);
    } catch (err) {
      throw fileError('could not open directory', this.path, err);
    }
    for (const name of names) {
      const to = path.join(this.target, name);
      try {
        await rename(path.join(this.path, name), to);
      } catch (err) {
        throw fileError(`could not rename "${path.join(this.path, name)}" to`, to, err);
      }
      this.moved.push(name);
    }
    try {
      await rmdir(this.path);
      ownedStaging.delete(this.path);
      // The mount point itself keeps its own inode: give it the staging directory's mode/owner.
      await this.giveToOwner(this.target, this.mode);
    } catch (err) {
      throw fileError('could not finish moving into', this.target, err);
    }
  }

  /**
   * Takes a restore back completely, committed or not, and throws when it cannot (FileIoError
   * naming the path; what is left is then `leftBehind()`). A committed target is emptied of
   * everything, including files written into it after the commit (a started server's
   * postmaster.opts, the start log): it was verified empty before the restore. A mount-point
   * target itself stays; only the staging directories of other restores in it are kept.
   */
  async undo(): Promise<void> {
    if (this.committed) {
      ownedStaging.add(this.path);
      if (this.inside) {
        try {
          await mkdir(this.path, { mode: 0o700 });
        } catch (err) {
          if (!isErrno(err, 'EEXIST')) throw fileError('could not create directory', this.path, err);
        }
        let names: string[];
        try {
          names = await readdir(this.target);
        } catch (err) {
          throw fileError('could not open directory', this.target, err);
        }
        const own = path.basename(this.path);
        for (const name of names) {
          if (name === own || isStagingName(name)) continue;
          const from = path.join(this.target, name);
          try {
            await rename(from, path.join(this.path, name));
          } catch (err) {
            throw fileError(`could not move "${from}" back to`, this.path, err);
          }
        }
        this.moved.splice(0);
      } else {
        try {
          await rename(this.target, this.path);
        } catch (err) {
          throw fileError(`could not rename "${this.target}" back to`, this.path, err);
        }
      }
      this.committed = false;
    }
    if (this.created) {
      try {
        await rm(this.path, { recursive: true, force: true });
      } catch (err) {
        throw fileError('could not remove directory', this.path, err);
      }
    }
    ownedStaging.delete(this.path);
    for (const dir of this.createdParents) await rmdir(dir).catch(() => undefined);
  }

  /** What an undo() that failed left behind: the target when it was still committed, else the staging directory. */
  leftBehind(): string {
    return this.committed ? this.target : this.path;
  }

  /** Removes the staging directory and the parents create() made; never throws. */
  async discard(): Promise<void> {
    if (this.committed && this.inside && this.moved.length > 0) await this.uncommit().catch(() => undefined);
    if (this.committed) return;
    if (this.created) await rm(this.path, { recursive: true, force: true }).catch(() => undefined);
    ownedStaging.delete(this.path);
    for (const dir of this.createdParents) await rmdir(dir).catch(() => undefined);
  }

  private async giveToOwner(dir: string, mode = 0o700): Promise<void> {
    try {
      await chmod(dir, mode);
      if (this.owner.chown) await chown(dir, this.owner.uid, this.owner.gid);
    } catch (err) {
      throw fileError('could not set owner and permissions of directory', dir, err);
    }
  }
}
