// pgfleet-basebackup is a drop-in for pg_basebackup, as PostgreSQL's own tools see it.
//
// For servers 13, 14 and 15 (the ones the system pg_basebackup 15 accepts), on one cluster
// with two tablespaces and data per version:
//   - `-F t -X stream -c fast -v` (the -v lines must be pg_basebackup's, in its order, with
//     LSNs, slot pid and paths abstracted), once per version with client or server compression (-z on
//     13, -Z client-lz4 on 14, -Z server-gzip on 15), and with -R: the names in the output
//     directory, and the name, type, mode and numeric owner of every member of every archive
//     equal pg_basebackup 15's for the same cluster and flags (WAL segment names, which differ
//     from one backup to the next, are compared as a shape; archive_status/*.done entries,
//     whose presence depends on timing, must name a segment of the same archive); with -R the
//     standby.signal and postgresql.auto.conf inside base.tar are byte-identical too;
//   - `-F p -X stream -R -T ...` connecting with -h/-p/-U: standby.signal exists and
//     postgresql.auto.conf is byte-identical to pg_basebackup's (so primary_conninfo carries
//     the same parameters), and the system pg_verifybackup 15 accepts the backup (our manifest,
//     checksums, and WAL as read by pg_waldump).
// On one more server without tablespaces (15, or 14/13): `-D - -F t -X fetch -z` (tar on
// stdout) gives the same members as pg_basebackup 15's stream (backup_manifest inside) and
// restores; -C -S -R creates the same persistent slot and primary_slot_name line; -R over the
// Unix socket with a keyword/value connection string (application_name) gives the same
// postgresql.auto.conf; --manifest-checksums=SHA256 --manifest-force-encode is accepted by
// pg_verifybackup; --no-manifest writes no manifest.
// For server 16, pg_verifybackup 15 is run on our plain backup too (manifest version 1).
//
// With PGFLEET_BASEBACKUP_BIN=/usr/lib/postgresql/15/bin/pg_basebackup the comparisons are
// pg_basebackup against itself: that validates the normalisation (no false differences).

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  makeTempDir,
  restoreTarByHand,
  startCluster,
  startRestored,
  versionsUnderTest,
  type PgVersion,
  type RunResult,
  type TestCluster,
} from '../harness/index.js';
import {
  assertSucceeded,
  baseBackupBinary,
  describeRun,
  dirNames,
  isWalSegmentName,
  listTarVerbose,
  readTarMember,
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
 * Every archive of a tar-format backup directory as `tar -tv --numeric-owner` shows it, one
 * "mode uid/gid name" line per member (sizes and times left out), normalised so that two
 * backups of the same idle cluster compare equal: in pg_wal.tar each WAL segment name becomes
 * "<segment>" (deduplicated) and archive_status entries are checked, then dropped.
 */
async function archiveInventory(dir: string): Promise<Record<string, string[]>> {
  const inventory: Record<string, string[]> = {};
  for (const file of await dirNames(dir)) {
    if (/\.tar(\.|$)/.test(file)) inventory[file] = await tarInventory(path.join(dir, file));
  }
  return inventory;
}

/** One archive's "mode uid/gid name" lines, sorted (see archiveInventory). */
async function tarInventory(file: string): Promise<string[]> {
  let entries = await listTarVerbose(file);
  if (path.basename(file).startsWith('pg_wal.tar')) {
    const segments = new Set(entries.map((e) => e.name).filter(isWalSegmentName));
    for (const entry of entries.filter((e) => e.name.startsWith('archive_status/'))) {
      const match = /^archive_status\/([0-9A-F]{24})\.done$/.exec(entry.name);
      assert.ok(match && segments.has(match[1] as string), `${file}: ${entry.name} names a segment of the archive`);
    }
    entries = entries
      .filter((e) => !e.name.startsWith('archive_status/'))
      .map((e) => (isWalSegmentName(e.name) ? { ...e, name: '<segment>' } : e));
  }
  const lines = entries.map((e) => `${e.mode} ${e.owner} ${e.name}${e.linkTarget === undefined ? '' : ` -> ${e.linkTarget}`}`);
  return [...new Set(lines)].sort();
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
        // No autovacuum: a VACUUM between two backups would add _fsm/_vm files to one of them.
        source = await startCluster({ version, tablespaces: 2, data: true, settings: ['autovacuum = off'] });
        work = await makeTempDir(`pgfleet-e2e-compat-pg${version}`);
      });
      after(async () => {
        await source?.destroy();
      });

      /** Both tools with the same flags; returns the two output directories and runs once their inventories matched. */
      const compareTar = async (
        name: string,
        flags: string[],
        opts: { noSync?: boolean } = {},
      ): Promise<{ ours: string; reference: string; oursRun: RunResult; referenceRun: RunResult }> => {
        const ours = path.join(work, `${name}-ours`);
        const reference = path.join(work, `${name}-reference`);
        const connection = flags.includes('-h') ? [] : ['-d', source.connectionString];
        const common = ['-F', 't', '-X', 'stream', '-c', 'fast', ...(opts.noSync === false ? [] : ['-N']), ...flags, ...connection];
        const oursRun = await runBaseBackup(['-D', ours, ...common]);
        assertSucceeded(`${binary.name} -D ${ours} ${common.join(' ')}`, oursRun);
        const referenceRun = await runReferenceBaseBackup(['-D', reference, ...common]);
        assertSucceeded(`pg_basebackup -D ${reference} ${common.join(' ')}`, referenceRun);

        const expected = await archiveInventory(reference);
        assert.deepEqual(await dirNames(ours), await dirNames(reference), 'same files in the output directory');
        // Not vacuous: the reference lists the cluster's files, its tablespaces and WAL.
        const baseFile = Object.keys(expected).find((f) => f.startsWith('base.tar')) as string;
        assert.ok((expected[baseFile] ?? []).some((line) => line.endsWith(' global/pg_control')));
        assert.equal(Object.keys(expected).length, 2 + source.tablespaces.length);
        assert.deepEqual(await archiveInventory(ours), expected, 'same members in every archive');
        return { ours, reference, oursRun, referenceRun };
      };

      test('-F t -X stream -v: same file names and tar members as pg_basebackup 15, same -v milestones in the same order', async () => {
        const { ours, reference, oursRun, referenceRun } = await compareTar('tar', ['-v'], { noSync: false });
        // Scripts read these lines: compare them with the program name, LSNs, slot pid and directory abstracted.
        const milestones = (stderr: string, dir: string): string[] =>
          stderr
            .split('\n')
            .filter((line) => line !== '')
            .map((line) =>
              line
                .replace(/^(pgfleet-basebackup|pg_basebackup): /, '')
                .replaceAll(dir, '<dir>')
                .replace(/\b[0-9A-F]+\/[0-9A-F]+\b/g, '<lsn>')
                .replace(/pg_basebackup_\d+/, 'pg_basebackup_<pid>'),
            );
        const expected = milestones(referenceRun.stderr, reference);
        assert.ok(expected.includes('syncing data to disk ...'), referenceRun.stderr);
        assert.deepEqual(milestones(oursRun.stderr, ours), expected, oursRun.stderr);
      });

      const compressed = COMPRESSED_FLAGS[version] ?? [];
      test(`-F t -X stream ${compressed.join(' ')}: same file names and tar member names as pg_basebackup 15`, async () => {
        await compareTar('compressed', compressed);
      });

      test('-F t -X stream -R: base.tar carries the same standby.signal and postgresql.auto.conf as pg_basebackup 15\'s', async () => {
        // -h/-p/-U and no dbname: pg_basebackup 15 and 17 then write the same primary_conninfo
        // (17 adds dbname=... when the connection string or PGDATABASE names a database).
        const { ours, reference } = await compareTar('recovery', ['-R', '-h', source.tcpHost, '-p', String(source.port), '-U', source.user]);
        for (const member of ['standby.signal', 'postgresql.auto.conf']) {
          assert.equal(
            await readTarMember(path.join(ours, 'base.tar'), member),
            await readTarMember(path.join(reference, 'base.tar'), member),
            `${member} in base.tar`,
          );
        }
        const conninfo = primaryConninfoOf(await readTarMember(path.join(ours, 'base.tar'), 'postgresql.auto.conf'));
        assert.equal(conninfo && parseConninfo(conninfo)['port'], String(source.port));
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

  const stdoutVersion = ([15, 14, 13] as const).find((v) => selected.includes(v));
  if (stdoutVersion !== undefined) {
    describe(`PostgreSQL ${stdoutVersion}, no tablespaces: stdout, slots, socket, manifest options`, () => {
      let source: TestCluster;
      let work: string;
      before(async () => {
        source = await startCluster({ version: stdoutVersion, data: true, settings: ['autovacuum = off'] });
        work = await makeTempDir(`pgfleet-e2e-compat-stdout-pg${stdoutVersion}`);
      });
      after(async () => {
        await source?.destroy();
      });

      test('-D - -F t -X fetch -z: the same gzip tar on stdout as pg_basebackup 15 (manifest inside), and it restores', async () => {
        const expected = await source.snapshot();
        const args = ['-D', '-', '-F', 't', '-X', 'fetch', '-z', '-c', 'fast', '-d', source.connectionString];
        const restoreDir = path.join(work, 'ours');
        await mkdir(restoreDir);
        const ours = path.join(restoreDir, 'base.tar.gz');
        const reference = path.join(work, 'reference.tar.gz');
        assertSucceeded(`${binary.name} ${args.join(' ')}`, await runBaseBackup(args, { stdoutTo: ours }));
        assertSucceeded(`pg_basebackup ${args.join(' ')}`, await runReferenceBaseBackup(args, { stdoutTo: reference }));

        const expectedMembers = await tarInventory(reference);
        assert.ok(expectedMembers.some((line) => line.endsWith(' backup_manifest')), 'pg_basebackup puts the manifest in the stream');
        assert.ok(expectedMembers.some((line) => /pg_wal\/[0-9A-F]{24}$/.test(line)), '-X fetch puts WAL in the stream');
        // Segment names (in pg_wal/ and pg_wal/archive_status/) differ from one backup to the next.
        const normalise = (lines: string[]): string[] => [...new Set(lines.map((l) => l.replace(/(pg_wal\/.*)[0-9A-F]{24}/, '$1<segment>')))];
        assert.deepEqual(normalise(await tarInventory(ours)), normalise(expectedMembers));

        const restored = await restoreTarByHand({ backupDir: restoreDir, targetDir: path.join(work, 'restored') });
        const copy = await startRestored({ dataDir: restored.dataDir, version: stdoutVersion, mode: 'promote' });
        try {
          assert.deepEqual(await copy.snapshot(), expected);
          await copy.query("INSERT INTO t_main VALUES (900002, 'written after restore', NULL)");
        } finally {
          await copy.destroy();
        }
      });

      /** Both tools, same flags and connection; the two output directories. */
      const both = async (name: string, args: (who: 'ours' | 'reference') => string[]): Promise<{ ours: string; reference: string }> => {
        const ours = path.join(work, `${name}-ours`);
        const reference = path.join(work, `${name}-reference`);
        const oursArgs = ['-D', ours, '-c', 'fast', '-N', ...args('ours')];
        const refArgs = ['-D', reference, '-c', 'fast', '-N', ...args('reference')];
        assertSucceeded(`${binary.name} ${oursArgs.join(' ')}`, await runBaseBackup(oursArgs));
        assertSucceeded(`pg_basebackup ${refArgs.join(' ')}`, await runReferenceBaseBackup(refArgs));
        return { ours, reference };
      };

      test('-C -S SLOT -R: a persistent physical slot, primary_slot_name written as pg_basebackup writes it', async () => {
        const { ours, reference } = await both('slot', (who) => ['-F', 't', '-X', 'stream', '-R', '-C', '-S', `slot_${who}`, '-d', source.connectionString]);
        const oursConf = await readTarMember(path.join(ours, 'base.tar'), 'postgresql.auto.conf');
        const refConf = await readTarMember(path.join(reference, 'base.tar'), 'postgresql.auto.conf');
        assert.match(refConf, /^primary_slot_name = 'slot_reference'$/m);
        // -d names a database: pgfleet follows pg_basebackup 17, which appends it to
        // primary_conninfo (for logical slot synchronization); the reference is version 15.
        const expectedConf = binary.isPgfleet
          ? refConf.replace(/^(primary_conninfo = '.*)'$/m, `$1 dbname=${new URL(source.connectionString).pathname.slice(1)}'`)
          : refConf;
        assert.equal(oursConf, expectedConf.replace('slot_reference', 'slot_ours'));
        const slots = await source.query<{ slot_name: string; slot_type: string; temporary: boolean; reserved: boolean }>(
          "SELECT slot_name, slot_type, temporary, restart_lsn IS NOT NULL AS reserved FROM pg_replication_slots WHERE slot_name LIKE 'slot\\_%' ORDER BY 1",
        );
        assert.deepEqual(slots.rows, [
          { slot_name: 'slot_ours', slot_type: 'physical', temporary: false, reserved: true },
          { slot_name: 'slot_reference', slot_type: 'physical', temporary: false, reserved: true },
        ]);
        await source.query("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name LIKE 'slot\\_%'");
      });

      test('-R over the Unix socket, keyword/value connection string with application_name: same primary_conninfo', async () => {
        const conninfo = `host=${source.host} port=${source.port} user=${source.user} application_name=standby_one`;
        const { ours, reference } = await both('socket', () => ['-F', 't', '-X', 'stream', '-R', '-d', conninfo]);
        const refConf = await readTarMember(path.join(reference, 'base.tar'), 'postgresql.auto.conf');
        const params = parseConninfo(primaryConninfoOf(refConf) ?? '');
        assert.equal(params['host'], source.host);
        assert.equal(params['application_name'], 'standby_one');
        assert.equal(await readTarMember(path.join(ours, 'base.tar'), 'postgresql.auto.conf'), refConf);
      });

      test('--manifest-checksums=SHA256 --manifest-force-encode (plain): pg_verifybackup accepts it; --no-manifest writes none', async () => {
        const { ours } = await both('sha256', () => ['-F', 'p', '-X', 'stream', '--manifest-checksums=SHA256', '--manifest-force-encode', '-d', source.connectionString]);
        const manifest = JSON.parse(await readFile(path.join(ours, 'backup_manifest'), 'utf8')) as { Files: Array<Record<string, unknown>> };
        assert.ok(manifest.Files.length > 100);
        assert.ok(manifest.Files.every((f) => typeof f['Encoded-Path'] === 'string' && f['Checksum-Algorithm'] === 'SHA256'));
        const verified = await runSystemVerifyBackup([...noParseWal(stdoutVersion), ours]);
        assert.equal(verified.code, 0, describeRun(`pg_verifybackup ${ours}`, verified));

        const none = await both('no-manifest', () => ['-F', 't', '-X', 'fetch', '--no-manifest', '-d', source.connectionString]);
        assert.deepEqual(await dirNames(none.reference), ['base.tar']);
        assert.deepEqual(await dirNames(none.ours), ['base.tar']);
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
