/**
 * Checks made before anything is written: every target directory (data directory, --waldir,
 * each tablespace's location) must be absent or an empty directory, targets must not overlap
 * each other, and the OS user running the server must reach them. Paths are canonical
 * (../policy/allowed-roots.ts), so that containment and overlap are judged on where data would
 * really go; whether the agent may write there at all is the policy's.
 */

import { lstat, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { DirectoryNotEmptyError, InvalidOptionError, fileError, isErrno } from '@pgfleet/core';
import { isWithin, type NamedTarget } from '../policy/allowed-roots.js';

export type TargetState = 'absent' | 'empty';

/**
 * Fails unless `dir` is absent or an empty directory. `what` names it in the message
 * ("data directory", "tablespace \"ts1\" directory", "WAL directory"). Staging directories
 * of restores into a mount point (".pgfleet-staging.*") do not count as content.
 */
export async function checkTargetUsable(dir: string, what: string): Promise<TargetState> {
  let st;
  try {
    st = await lstat(dir);
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return 'absent';
    throw fileError(`could not access ${what}`, dir, err);
  }
  if (!st.isDirectory()) {
    throw new DirectoryNotEmptyError(`${what} "${dir}" exists but is not a directory`, {
      hint: 'Remove it or choose another location; pgfleet-agent never overwrites existing files.',
    });
  }
  let entries: string[];
  try {
    entries = await readdir(dir);
  } catch (err) {
    throw fileError(`could not open ${what}`, dir, err);
  }
  if (entries.some((name) => !name.startsWith('.pgfleet-staging.'))) {
    throw new DirectoryNotEmptyError(`${what} "${dir}" exists but is not empty`, {
      hint: 'Remove its contents or choose another directory; pgfleet-agent never restores over existing files.',
    });
  }
  return 'empty';
}

/** Targets must be distinct and none may lie within another. */
export function checkNoOverlap(targets: readonly NamedTarget[]): void {
  for (let i = 0; i < targets.length; i++) {
    for (let j = 0; j < targets.length; j++) {
      if (i === j) continue;
      const a = targets[i] as NamedTarget;
      const b = targets[j] as NamedTarget;
      if (a.path === b.path && i < j) {
        throw new InvalidOptionError(`${a.what} and ${b.what} are the same directory "${a.path}"`);
      }
      if (a.path !== b.path && isWithin(a.path, b.path)) {
        throw new InvalidOptionError(`${a.what} "${a.path}" lies within ${b.what} "${b.path}"`, {
          hint: 'Give each target its own directory, none inside another.',
        });
      }
    }
  }
}

/**
 * Fails when the OS user that will run the server could not reach `target`: every existing
 * directory above it must be searchable by that user (by its owner, group or other bits; the
 * user's primary group is the one considered). Checked before anything is written, because
 * PostgreSQL would otherwise fail at startup with "Permission denied", after the whole restore.
 */
export async function checkReachable(target: NamedTarget, user: { name: string; uid: number; gid: number }): Promise<void> {
  if (user.uid === 0) return;
  const ancestors: string[] = [];
  for (let dir = path.dirname(target.path); ; dir = path.dirname(dir)) {
    ancestors.unshift(dir);
    if (path.dirname(dir) === dir) break;
  }
  for (const dir of ancestors) {
    let st;
    try {
      st = await stat(dir);
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return; // created by the restore, for that user
      throw fileError('could not access directory', dir, err);
    }
    const bit = st.uid === user.uid ? 0o100 : st.gid === user.gid ? 0o010 : 0o001;
    if ((st.mode & bit) === 0) {
      throw new InvalidOptionError(`OS user "${user.name}" cannot reach ${target.what} "${target.path}": directory "${dir}" is not searchable by it`, {
        hint: `Let "${user.name}" search that directory (chmod o+x or a group), or choose another location.`,
      });
    }
  }
}
