// pgfleet-basebackup is a drop-in for pg_basebackup, as PostgreSQL's own tools see it.
//
// For servers 13, 14 and 15 (the ones the system pg_basebackup 15 accepts), on one cluster
// with two tablespaces and data per version:
//   - `-F t -X stream -c fast`, and once per version with client or server compression (-z on
//     13, -Z client-lz4 on 14, -Z server-gzip on 15): the names in the output directory and
//     the member names inside every archive equal pg_basebackup 15's for the same cluster and
//     flags (WAL segment names, which differ from one backup to the next, are compared as a
//     shape; archive_status/*.done entries, whose presence depends on timing, must name a
//     segment of the same archive);
//   - `-F p -X stream -R -T ...` connecting with -h/-p/-U: standby.signal exists and
//     postgresql.auto.conf is byte-identical to pg_basebackup's (so primary_conninfo carries
//     the same parameters), and the system pg_verifybackup 15 accepts the backup (our manifest,
//     checksums, and WAL as read by pg_waldump).
// For server 16, pg_verifybackup 15 is run on our plain backup too (manifest version 1).
//
// With PGFLEET_BASEBACKUP_BIN=/usr/lib/postgresql/15/bin/pg_basebackup the comparisons are
// pg_basebackup against itself: that validates the normalisation (no false differences).

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  makeTempDir,
  startCluster,
  versionsUnderTest,
  type PgVersion,
  type TestCluster,
} from '../harness/index.js';
import {
  assertSucceeded,
  baseBackupBinary,
  describeRun,
  dirNames,
  isWalSegmentName,
  listTar,
  parseConninfo,
  primaryConninfoOf,
  runBaseBackup,
  runReferenceBaseBackup,
  runSystemVerifyBackup,
} from './support/index.js';

const binary = baseBackupBinary();
const selected = versionsUnderTest();

/** One extra compressed comparison per version, each within what pg_basebackup 15 can do. */
const COMPRESSED_FLAGS: Partial<Record<PgVersion, string[]>> = {
  13: ['-z'],
  14: ['-Z', 'client-lz4'],
  15: ['-Z', 'server-gzip'],
};

/**
 * Member names of every archive in a tar-format backup directory, normalised so that two
 * backups of the same idle cluster compare equal: in pg_wal.tar each WAL segment becomes
 * "<segment>" (deduplicated) and archive_status entries are checked, then dropped.
 */
async function archiveInventory(dir: string): Promise<Record<string, string[]>> {
  const inventory: Record<string, string[]> = {};
  for (const file of await dirNames(dir)) {
    if (!/\.tar(\.|$)/.test(file)) continue;
    const listing = await listTar(path.join(dir, file));
    assert.equal(listing.result.code, 0, `tar -t ${file}: ${listing.result.stderr}`);
    let names = listing.names;
    if (file.startsWith('pg_wal.tar')) {
      const segments = new Set(names.filter(isWalSegmentName));
      for (const name of names.filter((n) => n.startsWith('archive_status/'))) {
        const match = /^archive_status\/([0-9A-F]{24})\.done$/.exec(name);
        assert.ok(match && segments.has(match[1] as string), `${dir}/${file}: ${name} names a segment of the archive`);
      }
      names = [...new Set(names.filter((n) => !n.startsWith('archive_status/')).map((n) => (isWalSegmentName(n) ? '<segment>' : n)))];
    }
    inventory[file] = [...names].sort();
  }
  return inventory;
}

/**
 * pg_verifybackup 15 checks the WAL with pg_waldump 15, which reads only PostgreSQL 15 WAL
 * (the page magic changes with every major version: on pg_basebackup 15's own backups of 13
 * and 14 it fails with "could not find a valid record after ..."). For other servers only the
 * manifest, file sizes and checksums are checked (-n, --no-parse-wal).
 */
function noParseWal(version: PgVersion): string[] {
  return version === 15 ? [] : ['-n'];
}

function tablespaceMappings(cluster: TestCluster, root: string): string[] {
  return cluster.tablespaces.flatMap((ts) => ['-T', `${ts.location}=${path.join(root, ts.name)}`]);
}

describe(`${binary.name} writes what pg_basebackup 15 writes`, () => {
  for (const version of ([13, 14, 15] as const).filter((v) => selected.includes(v))) {
    describe(`PostgreSQL ${version}`, () => {
      let source: TestCluster;
      let work: string;

      before(async () => {
        source = await startCluster({ version, tablespaces: 2, data: true });
        work = await makeTempDir(`pgfleet-e2e-compat-pg${version}`);
      });
      after(async () => {
        await source?.destroy();
      });

      const compareTar = async (name: string, flags: string[]): Promise<void> => {
        const ours = path.join(work, `${name}-ours`);
        const reference = path.join(work, `${name}-reference`);
        const common = ['-F', 't', '-X', 'stream', '-c', 'fast', '-N', ...flags, '-d', source.connectionString];
        assertSucceeded(`${binary.name} -D ${ours} ${common.join(' ')}`, await runBaseBackup(['-D', ours, ...common]));
        assertSucceeded(`pg_basebackup -D ${reference} ${common.join(' ')}`, await runReferenceBaseBackup(['-D', reference, ...common]));

        const expected = await archiveInventory(reference);
        assert.deepEqual(await dirNames(ours), await dirNames(reference), 'same files in the output directory');
        // Not vacuous: the reference lists the cluster's files, its tablespaces and WAL.
        const baseFile = Object.keys(expected).find((f) => f.startsWith('base.tar')) as string;
        assert.ok((expected[baseFile] ?? []).includes('global/pg_control'));
        assert.equal(Object.keys(expected).length, 2 + source.tablespaces.length);
        assert.deepEqual(await archiveInventory(ours), expected, 'same members in every archive');
      };

      test('-F t -X stream: same file names and tar member names as pg_basebackup 15', async () => {
        await compareTar('tar', []);
      });

      const compressed = COMPRESSED_FLAGS[version] ?? [];
      test(`-F t -X stream ${compressed.join(' ')}: same file names and tar member names as pg_basebackup 15`, async () => {
        await compareTar('compressed', compressed);
      });

      test('-F p -R -T: same standby.signal and postgresql.auto.conf as pg_basebackup 15; pg_verifybackup 15 accepts it', async () => {
        const connection = ['-h', source.tcpHost, '-p', String(source.port), '-U', source.user];
        const ours = path.join(work, 'plain-ours');
        const reference = path.join(work, 'plain-reference');
        const flags = ['-F', 'p', '-X', 'stream', '-c', 'fast', '-N', '-R'];
        const oursArgs = ['-D', ours, ...flags, ...tablespaceMappings(source, path.join(work, 'plain-ours-ts')), ...connection];
        const refArgs = ['-D', reference, ...flags, ...tablespaceMappings(source, path.join(work, 'plain-reference-ts')), ...connection];
        assertSucceeded(`${binary.name} ${oursArgs.join(' ')}`, await runBaseBackup(oursArgs));
        assertSucceeded(`pg_basebackup ${refArgs.join(' ')}`, await runReferenceBaseBackup(refArgs));

        assert.ok(existsSync(path.join(ours, 'standby.signal')), 'standby.signal written');
        assert.equal(await readFile(path.join(ours, 'standby.signal'), 'utf8'), await readFile(path.join(reference, 'standby.signal'), 'utf8'));
        const oursConf = await readFile(path.join(ours, 'postgresql.auto.conf'), 'utf8');
        const refConf = await readFile(path.join(reference, 'postgresql.auto.conf'), 'utf8');
        const refConninfo = primaryConninfoOf(refConf);
        assert.ok(refConninfo, `pg_basebackup wrote primary_conninfo:\n${refConf}`);
        assert.equal(parseConninfo(refConninfo)['port'], String(source.port));
        const oursConninfo = primaryConninfoOf(oursConf);
        assert.ok(oursConninfo, `primary_conninfo written:\n${oursConf}`);
        assert.deepEqual(parseConninfo(oursConninfo), parseConninfo(refConninfo), 'same connection parameters');
        assert.equal(oursConf, refConf, 'postgresql.auto.conf identical');

        const verifyArgs = [...noParseWal(version), ours];
        const verified = await runSystemVerifyBackup(verifyArgs);
        assert.equal(verified.code, 0, describeRun(`pg_verifybackup ${verifyArgs.join(' ')}`, verified));
        assert.equal(verified.stdout, 'backup successfully verified\n');
      });
    });
  }

  if (selected.includes(16)) {
    const skip = binary.maxServerVersion < 16 ? `${binary.name} ${String(binary.referenceMajor)} refuses PostgreSQL 16 servers` : false;
    describe('PostgreSQL 16', { skip }, () => {
      let source: TestCluster;
      let work: string;
      before(async () => {
        source = await startCluster({ version: 16, tablespaces: 2, data: true });
        work = await makeTempDir('pgfleet-e2e-compat-pg16');
      });
      after(async () => {
        await source?.destroy();
      });

      test('-F p -X stream: pg_verifybackup 15 accepts our backup of a PostgreSQL 16 server', async () => {
        const ours = path.join(work, 'plain');
        const args = ['-D', ours, '-F', 'p', '-X', 'stream', '-c', 'fast', '-N', ...tablespaceMappings(source, path.join(work, 'ts')), '-d', source.connectionString];
        assertSucceeded(`${binary.name} ${args.join(' ')}`, await runBaseBackup(args));
        const verifyArgs = [...noParseWal(16), ours];
        const verified = await runSystemVerifyBackup(verifyArgs);
        assert.equal(verified.code, 0, describeRun(`pg_verifybackup ${verifyArgs.join(' ')}`, verified));
        assert.equal(verified.stdout, 'backup successfully verified\n');
      });
    });
  }
});
