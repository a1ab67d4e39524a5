/**
 * pg_basebackup's `-T OLDDIR=NEWDIR`, parsed once for every program that takes it
 * (pgfleet-basebackup, `pgfleet-agent restore`, `pgfleet restore`): "\=" stands for a literal
 * "=", a lone "=" separates, both sides must be absolute, and both are canonicalized as
 * PostgreSQL's canonicalize_path does, so that OLDDIR compares equal to the server's
 * spclocation. Errors are TablespaceMappingErrors with pg_basebackup's texts (the drop-in
 * prints them as they are); a program with its own wording maps `problem` onto it.
 */
import { InvalidOptionError } from './errors.js';

export interface TablespaceMapping {
  /** The tablespace's location as the server (or the backup) records it. */
  oldDir: string;
  newDir: string;
}

export type TablespaceMappingProblem = 'format' | 'multiple-separators' | 'old-not-absolute' | 'new-not-absolute';

/** Thrown when a -T argument is not OLDDIR=NEWDIR with both directories absolute. */
export class TablespaceMappingError extends InvalidOptionError {
  constructor(message: string, readonly problem: TablespaceMappingProblem, readonly argument: string) {
    super(message);
  }
}

/** Parses one -T argument; see the module comment. */
export function parseTablespaceMapping(arg: string): TablespaceMapping {
  let oldDir = '';
  let newDir = '';
  let inNew = false;
  for (let i = 0; i < arg.length; i++) {
    const c = arg[i];
    if (c === '\\' && arg[i + 1] === '=') continue;
    if (c === '=' && (i === 0 || arg[i - 1] !== '\\')) {
      if (inNew) throw new TablespaceMappingError('multiple "=" signs in tablespace mapping', 'multiple-separators', arg);
      inNew = true;
      continue;
    }
    if (inNew) newDir += c;
    else oldDir += c;
  }
  if (!oldDir || !newDir) {
    throw new TablespaceMappingError(`invalid tablespace mapping format "${arg}", must be "OLDDIR=NEWDIR"`, 'format', arg);
  }
  if (!oldDir.startsWith('/')) {
    throw new TablespaceMappingError(`old directory is not an absolute path in tablespace mapping: ${oldDir}`, 'old-not-absolute', arg);
  }
  if (!newDir.startsWith('/')) {
    throw new TablespaceMappingError(`new directory is not an absolute path in tablespace mapping: ${newDir}`, 'new-not-absolute', arg);
  }
  return { oldDir: canonicalizePath(oldDir), newDir: canonicalizePath(newDir) };
}

/** PostgreSQL's canonicalize_path for POSIX paths: collapse "//", "/./", a trailing "/" and
 * "name/..", so that -T OLDDIR compares equal to the server's spclocation. Relative paths stay
 * relative ("." when nothing is left). */
export function canonicalizePath(path: string): string {
  const absolute = path.startsWith('/');
  const parts: string[] = [];
  for (const part of path.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..' && parts.length > 0 && parts.at(-1) !== '..') parts.pop();
    else if (!(part === '..' && absolute)) parts.push(part);
  }
  if (absolute) return '/' + parts.join('/');
  return parts.length === 0 ? '.' : parts.join('/');
}
