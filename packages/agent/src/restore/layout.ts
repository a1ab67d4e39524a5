/**
 * Recognizing a backup directory's layout: pg_basebackup's tar layout (a base archive,
 * tar-directory-source.ts) or plain layout (a data directory copy with PG_VERSION,
 * plain-source.ts). Anything else is refused with a message saying what was looked for.
 */

import { stat } from 'node:fs/promises';
import { InvalidOptionError, fileError } from '@pgfleet/core';
import { PlainDirectorySource } from './plain-source.js';
import type { BackupSource } from './source.js';
import { TarDirectorySource } from './tar-directory-source.js';

export async function openBackupDirectory(dir: string): Promise<BackupSource> {
  let st;
  try {
    st = await stat(dir);
  } catch (err) {
    throw fileError('could not open backup directory', dir, err);
  }
  if (!st.isDirectory()) throw new InvalidOptionError(`backup "${dir}" is not a directory`);
  const tar = await TarDirectorySource.open(dir);
  if (tar) return tar;
  const plain = await PlainDirectorySource.open(dir);
  if (plain) return plain;
  throw new InvalidOptionError(`directory "${dir}" does not hold a backup`, {
    hint: 'A backup directory holds base.tar (or base.tar.gz, .lz4, .zst) in tar format, or PG_VERSION in plain format.',
  });
}
