// Backups of PostgreSQL 13, 17 and 18 taken with pgfleet-basebackup (pg_basebackup 15 refuses
// servers above 15): verifyBackup accepts them, which exercises the version 2 manifest with its
// System-Identifier against a real pg_control of control version 1700 and 1800 (whose CRC sits
// at another offset), and the WAL page magic of each version. Damage to pg_control is fatal for
// version 2 manifests only. WAL records are decoded (record-reader.ts) on WAL of each version. Versions: PGFLEET_TEST_VERSIONS narrows the set, as for the e2e tests.

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeTempDir, run, startCluster, versionsUnderTest, type PgVersion, type TestCluster } from '../../../../test/harness/index.js';
import { verifyBackup } from '../../src/verify/verify-backup.js';
import { requiredSegments } from '../../src/wal/wal-check.js';

/** Offset of a member's data in an uncompressed ustar archive (names under 100 bytes). */
function memberDataOffset(tar: Buffer, name: string): number {
  for (let o = 0; o + 512 <= tar.length;) {
    const header = tar.subarray(o, o + 512);
    if (header.every((b) => b === 0)) break;
    const size = Number.parseInt(header.subarray(124, 136).toString('ascii').replace(/\0.*$/s, '').trim(), 8);
    if (header.subarray(0, 100).toString('utf8').replace(/\0.*$/s, '') === name) return o + 512;
    o += 512 + Math.ceil(size / 512) * 512;
  }
  throw new Error(`no member "${name}"`);
}

const BASEBACKUP = fileURLToPath(new URL('../../src/bin/pgfleet-basebackup.ts', import.meta.url));
const VERSIONS = ([13, 17, 18] as PgVersion[]).filter((v) => versionsUnderTest().includes(v));
const clusters: TestCluster[] = [];

after(async () => {
  for (const c of clusters) await c.destroy();
});

for (const version of VERSIONS) {
  test(`PostgreSQL ${version}: a pgfleet-basebackup tar backup verifies, and pg_control is checked for manifest version 2`, async () => {
    const cluster = await startCluster({ version, tablespaces: 1, data: { rows: 50 } });
    clusters.push(cluster);
    const dir = join(await makeTempDir(`pgfleet-verify-${version}`), 'backup');
    await run(process.execPath, ['--import', 'tsx', BASEBACKUP, '-D', dir, '-Ft', '-X', 'stream', '-c', 'fast', '--no-sync',
      '-d', cluster.connectionString]);
    const sysid = BigInt((await cluster.query<{ id: string }>('SELECT system_identifier::text AS id FROM pg_control_system()')).rows[0]!.id);
    await cluster.stop();

    const result = await verifyBackup(dir);
    assert.deepEqual(result.problems, []);
    const v2 = version >= 17;
    assert.equal(result.manifest.version, v2 ? 2 : 1);
    assert.equal(result.manifest.systemIdentifier, v2 ? sysid : null);
    assert.deepEqual(result.walSegmentsChecked, requiredSegments(result.manifest.walRanges, 16 * 1024 * 1024).map((s) => s.name));
    // every record of the range read and CRC-checked, with this version's WAL
    assert.ok(result.walRecordsChecked >= 2, `${result.walRecordsChecked} WAL records read`);

    // A manifest claiming another system: fatal for version 2 (checked against pg_control).
    const manifestPath = join(dir, 'backup_manifest');
    const original = readFileSync(manifestPath, 'utf8');
    if (v2) {
      const { writeManifest } = await import('../../src/manifest/writer.js');
      const { parseManifest } = await import('../../src/manifest/parser.js');
      writeFileSync(manifestPath, writeManifest({ ...parseManifest(original), systemIdentifier: sysid + 1n }));
      const bad = await verifyBackup(dir);
      assert.deepEqual(bad.problems.map((p) => [p.message, p.fatal]), [[
        `control file "global/pg_control" in archive "base.tar": manifest system identifier is ${sysid + 1n}, but control file has ${sysid}`, true]]);
      writeFileSync(manifestPath, original);
    }
    // PG_VERSION selects the page magic: claim another known major (checksums skipped, since
    // PG_VERSION's own checksum no longer matches) and the real WAL no longer passes. (An
    // unknown major would make the check learn the magic from the WAL instead.)
    const basePath = join(dir, 'base.tar');
    const base = readFileSync(basePath);
    const at = memberDataOffset(base, 'PG_VERSION');
    assert.equal(base.subarray(at, at + 3).toString(), `${version}\n`);
    base.write(`${version === 18 ? 17 : version + 1}\n`, at);
    writeFileSync(basePath, base);
    const claimed = await verifyBackup(dir, { skipChecksums: true });
    const first = requiredSegments(result.manifest.walRanges, 16 * 1024 * 1024)[0]!.name;
    assert.equal(claimed.problems.length, 1);
    assert.match(claimed.problems[0]!.message, new RegExp(`^invalid magic number [0-9A-F]{4} in WAL segment "${first}", LSN [0-9A-F]+/[0-9A-F]+, offset 0$`));
  });
}
