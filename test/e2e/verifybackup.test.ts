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
// Installed as a symlink named pg_verifybackup, next to pg_verifybackup 15 on the plain backups
// of server 15 (pg_basebackup 15's and ours): invalid invocations, good backups with every
// option 15 has, and damaged copies (checksum, missing, truncated, extra file) give the same
// exit status, stdout and stderr, once the directory of argv[0] (which getopt prints) is out.
//
// Validate with PGFLEET_VERIFYBACKUP_BIN=/usr/lib/postgresql/15/bin/pg_verifybackup: the plain
// cases run, tar cases are skipped (pg_verifybackup
// reads tar backups from 18 on).

import assert from 'node:assert/strict';
import { mkdir, readdir, rm, stat, symlink, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  REPO_ROOT,
  makeTempDir,
  run,
  systemBin,
  startCluster,
  versionsUnderTest,
  type RunResult,
  type TestCluster,
} from '../harness/index.js';
import {
  assertSucceeded,
  baseBackupBinary,
  binaryAt,
  deleteTarMembers,
  describeRun,
  flipByte,
  listTar,
  runBaseBackup,
  runReferenceBaseBackup,
  runVerifyBackup,
  startTool,
  tarMemberLocations,
  verifyBackupBinary,
  walSegmentsIn,
  type ToolBinary,
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

  describe('installed as pg_verifybackup (a symlink), next to pg_verifybackup 15 on plain backups', {
    skip: (v !== 15 || !verifier.isPgfleet) && 'compared with pg_verifybackup 15, on backups of server 15',
  }, () => {
    let ours: ToolBinary;
    const reference = () => binaryAt(systemBin('pg_verifybackup'));
    before(async () => {
      const bin = path.join(work, 'bin');
      await mkdir(bin);
      await symlink(path.join(REPO_ROOT, 'packages', 'core', 'bin', 'pgfleet-verifybackup.js'), path.join(bin, 'pg_verifybackup'));
      ours = binaryAt(path.join(bin, 'pg_verifybackup'));
    });

    /** Both tools, same arguments: exit status, stdout and stderr equal once argv[0]'s directory is taken out. */
    async function sameAsReference(args: (dir: string) => string[], dir: string): Promise<RunResult> {
      const outcome = async (tool: ToolBinary): Promise<string> => {
        const r = await startTool(tool, args(dir), { cwd: work }).result;
        return `exit ${String(r.code)}\n--- stdout\n${r.stdout}--- stderr\n${r.stderr.replaceAll(`${path.dirname(tool.command)}/`, '')}`;
      };
      const expected = await outcome(reference());
      assert.equal(await outcome(ours), expected, `pg_verifybackup ${args(dir).join(' ')}`);
      return startTool(ours, args(dir), { cwd: work }).result;
    }

    test('--version names pgfleet and reads as 18 or newer', async () => {
      const r = await startTool(ours, ['--version']).result;
      assert.match(r.stdout, /^pg_verifybackup \(PostgreSQL\) (\d+)\.\d+ \(pgfleet \d+\.\d+\.\d+\)\n$/);
      assert.ok(Number(/\) (\d+)\./.exec(r.stdout)?.[1]) >= 18);
    });

    test('invalid invocations: same exit status and stderr', async () => {
      const invocations: Array<(d: string) => string[]> = [
        () => [], (d) => ['-x', d], (d) => ['--x', d], (d) => [d, 'extra'], () => ['-m'], () => ['--manifest-path'], () => ['--ignore'],
        (d) => ['--exit-on-error=1', d], (d) => [d, '--help'], (d) => [d, '-V'], (d) => [d, '-?'], (d) => ['--ver', d], (d) => ['-qx', d],
        (d) => ['-w'].concat(d), (d) => ['--skip=1', d],
      ];
      for (const args of invocations) {
        const r = await sameAsReference(args, dirs.refPlain);
        assert.equal(r.code, 1, args(dirs.refPlain).join(' '));
      }
    });

    test('good backups, with -q, -n, -s, -e, -i, -m, -w and --wal-directory: same output', async () => {
      for (const dir of [dirs.refPlain, dirs.oursPlain]) {
        for (const args of [
          (d: string) => [d], (d: string) => ['-q', d], (d: string) => ['-n', d], (d: string) => ['-s', '-e', d], (d: string) => ['-i', 'global', d],
          (d: string) => ['-m', path.join(d, 'backup_manifest'), d], (d: string) => ['-w', path.join(d, 'pg_wal'), d],
          (d: string) => [`--wal-directory=${path.join(d, 'pg_wal')}`, '--no-parse-wal', d],
        ]) {
          const r = await sameAsReference(args, dir);
          assert.equal(r.code, 0, args(dir).join(' '));
        }
      }
    });

    test('damaged copies: the same error lines, and the same success with -i or -s where they apply', async () => {
      const checksum = await copyOf(dirs.refPlain);
      await flipByte(path.join(checksum, mainRelation), 8192 + 100);
      assert.equal((await sameAsReference((d) => [d], checksum)).code, 1);
      assert.equal((await sameAsReference((d) => ['-s', d], checksum)).code, 0);
      assert.equal((await sameAsReference((d) => ['-i', mainRelation, d], checksum)).code, 0);
      const missing = await copyOf(dirs.refPlain);
      await rm(path.join(missing, mainRelation));
      assert.equal((await sameAsReference((d) => [d], missing)).code, 1);
      const truncated = await copyOf(dirs.oursPlain);
      await truncate(path.join(truncated, mainRelation), 8192);
      assert.equal((await sameAsReference((d) => ['-e', d], truncated)).code, 1);
      const extra = await copyOf(dirs.oursPlain);
      await writeFile(path.join(extra, 'global', 'extra_file'), 'not from the server\n');
      assert.equal((await sameAsReference((d) => [d], extra)).code, 1);
      assert.equal((await sameAsReference((d) => ['--ignore=global/extra_file', d], extra)).code, 0);
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
