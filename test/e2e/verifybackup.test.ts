// pgfleet-verifybackup, black box through its command line, on real backups of one server
// (15, or the newest selected version):
//   - it accepts (exit 0, "backup successfully verified") backups made by pg_basebackup 15
//     (plain and tar; only for servers <= 15) and by the base backup tool under test (plain,
//     tar, and lz4-compressed tar);
//   - it rejects (exit 1, an error line naming the problem) a copy of such a backup with
//       one byte changed in a relation file (plain; tar in base.tar and in a tablespace's
//       <oid>.tar): "checksum mismatch for file "<path>"",
//       a relation file missing (plain; deleted from base.tar): ""<path>" is present in the
//       manifest but not on disk",
//       (plain) a relation file truncated: ""<path>" has size N on disk but size M in the
//       manifest", and an extra file: ""<path>" is present on disk but not in the manifest",
//       the backup's first WAL segment missing (from pg_wal/; from pg_wal.tar): an error line
//       about WAL, which for pgfleet names the segment.
// Every corrupted copy is made from a backup the same tool accepted, so the rejection is due
// to the corruption alone.
//
// Validate with PGFLEET_VERIFYBACKUP_BIN=/usr/lib/postgresql/15/bin/pg_verifybackup: the plain
// cases run, tar cases are skipped (pg_verifybackup
// reads tar backups from 18 on).

import assert from 'node:assert/strict';
import { readdir, rm, stat, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  makeTempDir,
  run,
  startCluster,
  versionsUnderTest,
  type RunResult,
  type TestCluster,
} from '../harness/index.js';
import {
  assertSucceeded,
  baseBackupBinary,
  deleteTarMembers,
  describeRun,
  flipByte,
  listTar,
  runBaseBackup,
  runReferenceBaseBackup,
  runVerifyBackup,
  tarMemberLocations,
  verifyBackupBinary,
  walSegmentsIn,
} from './support/index.js';

const verifier = verifyBackupBinary();
const maker = baseBackupBinary();
const selected = versionsUnderTest().filter((v) => v <= maker.maxServerVersion);
const version = selected.includes(15) ? 15 : selected[selected.length - 1];
const tarSkip = !verifier.isPgfleet && (verifier.referenceMajor ?? 0) < 18
  ? `${verifier.name} ${String(verifier.referenceMajor)} verifies plain backups only (tar from 18 on)`
  : false;

async function expectVerified(dir: string): Promise<void> {
  const result = await runVerifyBackup([dir]);
  assert.equal(result.code, 0, describeRun(`${verifier.name} ${dir}`, result));
  assert.equal(result.stdout, 'backup successfully verified\n', describeRun(`${verifier.name} ${dir}`, result));
}

/**
 * Exit 1 and an error line (the verifier's, or pg_waldump's under pg_verifybackup) containing
 * `fragment`, and for pgfleet also one containing `pgfleetFragment` when given.
 */
async function expectRejected(dir: string, fragment: string, pgfleetFragment?: string): Promise<RunResult> {
  const result = await runVerifyBackup([dir]);
  const context = describeRun(`${verifier.name} ${dir}`, result);
  assert.equal(result.signal, null, context);
  assert.equal(result.code, 1, context);
  const errors = result.stderr.split('\n').filter((l) => /^[a-z_-]+: error: /.test(l));
  assert.ok(errors.some((l) => l.includes(fragment)), `an error line containing ${JSON.stringify(fragment)}\n${context}`);
  if (verifier.isPgfleet && pgfleetFragment !== undefined) {
    assert.ok(
      errors.some((l) => l.startsWith(`${verifier.name}: error: `) && l.includes(pgfleetFragment)),
      `an error line containing ${JSON.stringify(pgfleetFragment)}\n${context}`,
    );
  }
  assert.ok(!result.stdout.includes('successfully verified'), context);
  return result;
}

describe(`${verifier.name}: accepts good backups, rejects damaged ones`, { skip: version === undefined && 'no selected server version' }, () => {
  const v = version ?? 15;
  let cluster: TestCluster;
  let work: string;
  /** Relative paths (as in the manifest) of t_main's and t_ts1's main forks. */
  let mainRelation: string;
  let tablespaceRelation: string;
  let tablespaceOid: number;
  const dirs = {
    oursPlain: '',
    oursTar: '',
    oursTarLz4: '',
    refPlain: '',
    refTar: '',
  };

  before(async () => {
    cluster = await startCluster({ version: v, tablespaces: 1, data: true });
    work = await makeTempDir(`pgfleet-e2e-verify-pg${v}`);
    const paths = await cluster.query<{ main: string; ts: string }>(
      "SELECT pg_relation_filepath('t_main') AS main, pg_relation_filepath('t_ts1') AS ts",
    );
    mainRelation = paths.rows[0]?.main ?? '';
    tablespaceRelation = paths.rows[0]?.ts ?? '';
    tablespaceOid = cluster.tablespaces[0]?.oid ?? 0;
    assert.match(mainRelation, /^base\/\d+\/\d+$/);
    assert.match(tablespaceRelation, new RegExp(`^pg_tblspc/${tablespaceOid}/PG_${v}_\\d+/\\d+/\\d+$`));

    const mapTs = (name: string): string[] => ['-T', `${cluster.tablespaces[0]?.location}=${path.join(work, `${name}-ts`)}`];
    const conn = ['-d', cluster.connectionString];
    const common = ['-X', 'stream', '-c', 'fast', '-N'];
    for (const [key, args] of [
      ['oursPlain', ['-F', 'p', ...common, ...mapTs('oursPlain')]],
      ['oursTar', ['-F', 't', ...common]],
      ['oursTarLz4', ['-F', 't', ...common, '-Z', 'client-lz4']],
    ] as const) {
      const dir = path.join(work, key);
      assertSucceeded(`${maker.name} ${key}`, await runBaseBackup(['-D', dir, ...args, ...conn]));
      dirs[key] = dir;
    }
    if (v <= 15) {
      for (const [key, args] of [
        ['refPlain', ['-F', 'p', ...common, ...mapTs('refPlain')]],
        ['refTar', ['-F', 't', ...common]],
      ] as const) {
        const dir = path.join(work, key);
        assertSucceeded(`pg_basebackup ${key}`, await runReferenceBaseBackup(['-D', dir, ...args, ...conn]));
        dirs[key] = dir;
      }
    }
  });
  after(async () => {
    await cluster?.destroy();
  });

  /** A copy of a backup directory (plain: pg_tblspc symlinks still point to the original's tablespace). */
  let copies = 0;
  async function copyOf(dir: string): Promise<string> {
    const copy = path.join(work, `copy-${++copies}-${path.basename(dir)}`);
    await run('cp', ['-a', dir, copy]);
    return copy;
  }

  describe('accepts', () => {
    const pgBaseBackupSkip = (version ?? 15) > 15 ? `pg_basebackup 15 cannot back up PostgreSQL ${String(version)}` : false;
    test('pg_basebackup 15, plain', { skip: pgBaseBackupSkip }, async () => {
      await expectVerified(dirs.refPlain);
    });
    test('pg_basebackup 15, tar', { skip: pgBaseBackupSkip || tarSkip }, async () => {
      await expectVerified(dirs.refTar);
    });
    test(`${maker.name}, plain`, async () => {
      await expectVerified(dirs.oursPlain);
    });
    test(`${maker.name}, tar`, { skip: tarSkip }, async () => {
      await expectVerified(dirs.oursTar);
    });
    test(`${maker.name}, tar with -Z client-lz4`, { skip: tarSkip }, async () => {
      await expectVerified(dirs.oursTarLz4);
    });
  });

  describe('rejects a plain backup', () => {
    test('one byte changed in a relation file', async () => {
      const copy = await copyOf(dirs.oursPlain);
      await flipByte(path.join(copy, mainRelation), 8192 + 100);
      await expectRejected(copy, `checksum mismatch for file "${mainRelation}"`);
    });

    test('a relation file missing', async () => {
      const copy = await copyOf(dirs.oursPlain);
      await rm(path.join(copy, mainRelation));
      await expectRejected(copy, `"${mainRelation}" is present in the manifest but not on disk`);
    });

    test('a relation file truncated', async () => {
      const copy = await copyOf(dirs.oursPlain);
      const file = path.join(copy, mainRelation);
      const { size } = await stat(file);
      await truncate(file, 8192);
      await expectRejected(copy, `"${mainRelation}" has size 8192 on disk but size ${size} in the manifest`);
    });

    test('an extra file', async () => {
      const copy = await copyOf(dirs.oursPlain);
      await writeFile(path.join(copy, 'global', 'extra_file'), 'not from the server\n');
      await expectRejected(copy, '"global/extra_file" is present on disk but not in the manifest');
    });

    test('the first WAL segment missing from pg_wal (and -n, which skips the WAL check, accepts it)', async () => {
      const copy = await copyOf(dirs.oursPlain);
      const segments = walSegmentsIn(await readdir(path.join(copy, 'pg_wal')));
      const first = segments[0];
      assert.ok(first, 'the backup has WAL segments');
      await rm(path.join(copy, 'pg_wal', first));
      // pg_verifybackup 15 says "could not find any WAL file" / "WAL parsing failed"; pgfleet names the segment.
      await expectRejected(copy, 'WAL', first);
      const skipped = await runVerifyBackup(['-n', copy]);
      assert.equal(skipped.code, 0, describeRun(`${verifier.name} -n ${copy}`, skipped));
    });
  });

  describe('rejects a tar backup', { skip: tarSkip }, () => {
    async function flipMember(archive: string, member: string): Promise<void> {
      const location = (await tarMemberLocations(archive)).find((m) => m.name === member);
      assert.ok(location && location.size > 8192 + 100, `${member} in ${archive}`);
      await flipByte(archive, location.dataOffset + 8192 + 100);
      // Still a valid tar: only file data changed.
      assert.equal((await listTar(archive)).result.code, 0);
    }

    test('one byte changed in a relation file in base.tar', async () => {
      const copy = await copyOf(dirs.oursTar);
      await flipMember(path.join(copy, 'base.tar'), mainRelation);
      await expectRejected(copy, `checksum mismatch for file "${mainRelation}"`);
    });

    test('one byte changed in a relation file in a tablespace archive', async () => {
      const copy = await copyOf(dirs.oursTar);
      const member = tablespaceRelation.replace(`pg_tblspc/${tablespaceOid}/`, '');
      await flipMember(path.join(copy, `${tablespaceOid}.tar`), member);
      await expectRejected(copy, `checksum mismatch for file "${tablespaceRelation}"`);
    });

    test('a relation file missing from base.tar', async () => {
      const copy = await copyOf(dirs.oursTar);
      await deleteTarMembers(path.join(copy, 'base.tar'), [mainRelation]);
      assert.ok(!(await listTar(path.join(copy, 'base.tar'))).names.includes(mainRelation));
      await expectRejected(copy, `"${mainRelation}" is present in the manifest but not on disk`);
    });

    test('the first WAL segment missing from pg_wal.tar', async () => {
      const copy = await copyOf(dirs.oursTar);
      const archive = path.join(copy, 'pg_wal.tar');
      const first = walSegmentsIn((await listTar(archive)).names)[0];
      assert.ok(first, 'pg_wal.tar has WAL segments');
      await deleteTarMembers(archive, [first]);
      await expectRejected(copy, 'WAL', first);
    });
  });
});
