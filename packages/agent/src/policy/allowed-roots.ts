/**
 * The agent's write policy: every directory a restore or a backup writes must lie within one
 * of agent.yaml's allowedRoots (null: no restriction, as for the in-process CLI). Judged on
 * canonical paths, symbolic links in the existing part resolved, so that a link cannot carry
 * data outside the roots.
 */

import { realpath } from 'node:fs/promises';
import path from 'node:path';
import { NotAllowedError, fileError, isErrno } from '@pgfleet/core';

/** A directory to be written, and how messages name it ("data directory", ...). */
export interface NamedTarget {
  path: string;
  what: string;
}

/**
 * The absolute path with symbolic links resolved in its longest existing prefix; the missing
 * rest is appended as given (after "." and ".." are folded).
 */
export async function canonicalPath(p: string): Promise<string> {
  const absolute = path.resolve(p);
  const missing: string[] = [];
  let current = absolute;
  for (;;) {
    try {
      const real = await realpath(current);
      return missing.length === 0 ? real : path.join(real, ...missing.reverse());
    } catch (err) {
      if (!isErrno(err, 'ENOENT') && !isErrno(err, 'ENOTDIR')) throw fileError('could not resolve path', current, err);
      const parent = path.dirname(current);
      if (parent === current) return absolute;
      missing.push(path.basename(current));
      current = parent;
    }
  }
}

/** True when `child` is `parent` or below it (both canonical). */
export function isWithin(child: string, parent: string): boolean {
  const rel = path.relative(parent, child);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel) && rel !== '..');
}

/** Fails unless the (canonical) path lies within one of the (canonical) roots; null = anywhere. */
export function checkAllowed(target: NamedTarget, roots: readonly string[] | null | undefined): void {
  if (roots === null || roots === undefined) return;
  if (roots.some((root) => isWithin(target.path, root))) return;
  throw new NotAllowedError(`${target.what} "${target.path}" is outside the directories this agent may write to`, {
    hint: roots.length === 0
      ? 'The agent has no allowedRoots configured; add the directory to allowedRoots in agent.yaml.'
      : `Choose a directory under ${roots.map((r) => `"${r}"`).join(', ')}, or add it to allowedRoots in agent.yaml.`,
  });
}
