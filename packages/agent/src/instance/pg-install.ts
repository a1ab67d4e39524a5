/**
 * Finding PostgreSQL server binaries by major version. Candidates, in order: the directories
 * given (--pg-bin, agent.yaml pgBin), then the usual package locations
 * (/usr/lib/postgresql/<N>/bin on Debian/Ubuntu, /usr/pgsql-<N>/bin on RHEL,
 * /usr/local/pgsql/bin) and the directory of a pg_ctl on PATH. A directory counts when it holds
 * executable postgres and pg_ctl; its version is what `postgres --version` prints. The first
 * directory of a major version wins.
 */

import { execFile } from 'node:child_process';
import { access, constants, readdir } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { InvalidOptionError } from '@pgfleet/core';

const execFileAsync = promisify(execFile);

export interface PostgresInstallation {
  major: number;
  /** "15.8" */
  version: string;
  binDir: string;
}

async function executable(file: string): Promise<boolean> {
  try {
    await access(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

async function globBinDirs(parent: string, pattern: RegExp, sub: string): Promise<string[]> {
  try {
    return (await readdir(parent)).filter((n) => pattern.test(n)).sort().map((n) => path.join(parent, n, sub));
  } catch {
    return [];
  }
}

/** Default places to look, after the configured ones. */
export async function defaultCandidates(env: NodeJS.ProcessEnv = process.env): Promise<string[]> {
  const dirs = [
    ...(await globBinDirs('/usr/lib/postgresql', /^[0-9]+$/, 'bin')),
    ...(await globBinDirs('/usr', /^pgsql-[0-9]+$/, 'bin')),
    '/usr/local/pgsql/bin',
  ];
  for (const dir of (env['PATH'] ?? '').split(':')) {
    if (dir && (await executable(path.join(dir, 'pg_ctl')))) dirs.push(dir);
  }
  return dirs;
}

/** Parses "postgres (PostgreSQL) 15.8 (Debian 15.8-1.pgdg120+1)" into ["15.8", 15]. */
export function parsePostgresVersion(output: string): { version: string; major: number } | null {
  const m = /\(PostgreSQL\)\s+([0-9]+)(?:\.([0-9]+))?([^\s]*)/.exec(output);
  if (!m) return null;
  const major = Number(m[1]);
  return { version: `${m[1]}${m[2] !== undefined ? `.${m[2]}` : ''}${m[3] ?? ''}`, major };
}

const cache = new Map<string, PostgresInstallation | null>();

/** The installation in one directory, or null. Results are cached per process. */
export async function probeBinDir(binDir: string): Promise<PostgresInstallation | null> {
  const dir = path.resolve(binDir);
  if (cache.has(dir)) return cache.get(dir) ?? null;
  let found: PostgresInstallation | null = null;
  const postgres = path.join(dir, 'postgres');
  if ((await executable(postgres)) && (await executable(path.join(dir, 'pg_ctl')))) {
    try {
      const { stdout } = await execFileAsync(postgres, ['--version'], { timeout: 10_000 });
      const parsed = parsePostgresVersion(stdout);
      if (parsed) found = { ...parsed, binDir: dir };
    } catch {
      found = null;
    }
  }
  cache.set(dir, found);
  return found;
}

/** Every installation found, one per major version (configured directories first). */
export async function findInstallations(configured: readonly string[] = []): Promise<PostgresInstallation[]> {
  const seen = new Set<string>();
  const byMajor = new Map<number, PostgresInstallation>();
  for (const dir of [...configured, ...(await defaultCandidates())]) {
    const resolved = path.resolve(dir);
    if (seen.has(resolved)) continue;
    seen.add(resolved);
    const found = await probeBinDir(resolved);
    if (found && !byMajor.has(found.major)) byMajor.set(found.major, found);
  }
  return [...byMajor.values()].sort((a, b) => a.major - b.major);
}

/** The installation for a major version, or an error naming what was found. */
export async function installationFor(major: number, configured: readonly string[] = []): Promise<PostgresInstallation> {
  const all = await findInstallations(configured);
  const match = all.find((i) => i.major === major);
  if (match) return match;
  throw new InvalidOptionError(`no PostgreSQL ${major} server binaries found to start the restored instance`, {
    hint: all.length === 0
      ? `Install PostgreSQL ${major}, or name its bin directory with --pg-bin (pgBin in agent.yaml).`
      : `Found ${all.map((i) => `${i.major} in "${i.binDir}"`).join(', ')}; install PostgreSQL ${major} or name its bin directory with --pg-bin (pgBin in agent.yaml).`,
  });
}
