// pgfleet-verifybackup reads the WAL records of a backup's WAL ranges, as pg_verifybackup does
// through pg_waldump, black box through its command line, on backups of real servers
// (PostgreSQL 13, 15 and 18, or those of them PGFLEET_TEST_VERSIONS selects):
//   - plain and tar backups made by the base backup tool under test verify (exit 0);
//   - the same backup with ONE byte changed inside the data of a WAL record in the middle of
//     the range (not in a page header, not in a record header, not past the last record) is
//     rejected (exit 1) with an error naming the record's LSN, for pgfleet exactly
//     `WAL record at <LSN> in "<segment>" has an incorrect CRC`;
//   - -n (--no-parse-wal) accepts that damaged copy: it skips the WAL, records included.
// The record to damage is found by a minimal walk in support/wal-records.ts (xl_tot_len and page headers
// only), not by the code under test. Page headers still pass the page-level check after the
// change, so only record decoding can catch it.
//
// Validate with PGFLEET_VERIFYBACKUP_BIN=/usr/lib/postgresql/15/bin/pg_verifybackup (plain
// backups of PostgreSQL 15 only: pg_waldump 15 reads only its own version's WAL, and tar from
// 18 on): pg_waldump's message names the same LSN.

import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { makeTempDir, startCluster, versionsUnderTest, type TestCluster } from '../harness/index.js';
import {
  assertSucceeded, baseBackupBinary, damageMiddleRecord, describeRun, formatLsn, runBaseBackup, runVerifyBackup, verifyBackupBinary,
} from './support/index.js';

const verifier = verifyBackupBinary();
const maker = baseBackupBinary();

const versions = ([13, 15, 18] as const).filter((v) => versionsUnderTest().includes(v) && v <= maker.maxServerVersion &&
  (verifier.isPgfleet || verifier.referenceMajor === v));
const clusters: TestCluster[] = [];

after(async () => {
  for (const c of clusters) await c.destroy();
});

async function expectVerified(args: string[]): Promise<void> {
  const result = await runVerifyBackup(args);
  assert.equal(result.code, 0, describeRun(`${verifier.name} ${args.join(' ')}`, result));
}

async function expectCrcError(dir: string, lsn: bigint, segment: string): Promise<void> {
  const result = await runVerifyBackup([dir]);
  const context = describeRun(`${verifier.name} ${dir}`, result);
  assert.equal(result.code, 1, context);
  const errors = result.stderr.split('\n').filter((l) => /^[a-z_-]+: error: /.test(l));
  if (verifier.isPgfleet) {
    assert.deepEqual(errors, [`${verifier.name}: error: WAL record at ${formatLsn(lsn)} in "${segment}" has an incorrect CRC`], context);
  } else {
    assert.ok(errors.some((l) => l.includes(`at ${formatLsn(lsn)}`)), context);
  }
}

for (const version of versions) {
  describe(`PostgreSQL ${version}: WAL records of a backup are read`, () => {
    let work: string;

    before(async () => {
      const cluster = await startCluster({ version, data: { rows: 100 } });
      clusters.push(cluster);
      work = await makeTempDir(`pgfleet-e2e-walrec-pg${version}`);
      for (const format of ['p', 't']) {
        assertSucceeded(`${maker.name} -F ${format}`, await runBaseBackup([
          '-D', path.join(work, format), '-F', format, '-X', 'stream', '-c', 'fast', '-N', '-d', cluster.connectionString]));
      }
      await cluster.stop();
    });

    test('plain: verifies; one byte changed in a record\'s data fails with the CRC error; -n accepts it', async () => {
      const dir = path.join(work, 'p');
      await expectVerified([dir]);

      const { lsn, segment } = await damageMiddleRecord(dir, 'pg_wal');
      await expectCrcError(dir, lsn, segment);
      await expectVerified(['-n', dir]);
    });

    test('tar: verifies; one byte changed in a record\'s data inside pg_wal.tar fails with the CRC error', {
      skip: !verifier.isPgfleet && (verifier.referenceMajor ?? 0) < 18 && 'the reference verifier reads plain backups only',
    }, async () => {
      const dir = path.join(work, 't');
      await expectVerified([dir]);

      const { lsn, segment } = await damageMiddleRecord(dir, 'pg_wal.tar');
      await expectCrcError(dir, lsn, segment);
    });
  });
}
