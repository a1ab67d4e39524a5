/**
 * The last touches in staging, before the rename: ownership of everything below a staged root
 * (what the extractor created already has it; parents it made implicitly and files the engine
 * wrote do not), and fsync of what changed, so that success is only reported for data that is
 * on disk (as pg_basebackup's final fsync does).
 */

import { lchown, lstat, open, readdir } from 'node:fs/promises';
import path from 'node:path';
import { fileError } from '@pgfleet/core';
import type { OsOwner } from './owner.js';

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
