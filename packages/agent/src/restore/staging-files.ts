/**
 * Links and modes the engine itself makes in staging (everything else comes from the
 * archives through the extractor). A link gets the server's OS owner at once (lchown): the
 * ownership pass (finish.ts) does not follow links and would leave root's.
 */

import { chmod, lchown, symlink } from 'node:fs/promises';
import { fileError } from '@pgfleet/core';
import type { OsOwner } from '../instance/owner.js';

export async function symlinkOwned(owner: OsOwner, target: string, link: string): Promise<void> {
  try {
    await symlink(target, link);
  } catch (err) {
    throw fileError(`could not create symbolic link "${link}" to`, target, err);
  }
  if (owner.chown) {
    try {
      await lchown(link, owner.uid, owner.gid);
    } catch (err) {
      throw fileError('could not change owner of', link, err);
    }
  }
}

export async function setDirectoryMode(dir: string, mode: number): Promise<void> {
  try {
    await chmod(dir, mode);
  } catch (err) {
    throw fileError('could not set permissions of directory', dir, err);
  }
}
