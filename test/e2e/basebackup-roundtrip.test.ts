// pgfleet-basebackup, black box, against every server version under test: a backup of a
// cluster with two tablespaces and data is complete and usable.
//
// For each version, on one cluster:
//   (a) tar format: the output directory holds exactly base.tar, one <oid>.tar per tablespace,
//       pg_wal.tar (-X stream) and backup_manifest, with the suffix of the compression asked
//       for; the system tar lists every archive; the hand restore (system tar, NEW tablespace
//       directories, tablespace_map rewritten) starts, opens read-write with the source's data,
//       pg_tablespace_location() names the new directories and a write succeeds.
//   (b) plain format with -T OLD=NEW for both tablespaces: the tablespaces are written to the
//       new directories, pg_tblspc symlinks point there, and the same restore checks pass.
// Flags vary by version so that every WAL method and compression variant is used once
// (-X stream/fetch, -z, -Z client-lz4/zstd, -Z server-gzip/lz4/zstd, --no-sync or not,
// --waldir in plain format),
// without multiplying the runtime: see VARIANTS.
//
// Validate the test itself with PGFLEET_BASEBACKUP_BIN=/usr/lib/postgresql/15/bin/pg_basebackup
// (versions it refuses, 16+, are skipped).

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readdir, readFile, readlink } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  chownR,
  makeTempDir,
  parseTablespaceMap,
  preparePlainRestore,
  restoreTarByHand,
  startCluster,
  startRestored,
  versionsUnderTest,
  type PgVersion,
  type Snapshot,
  type TestCluster,
} from '../harness/index.js';
import {
  assertRestoredCopy,
  assertSucceeded,
  baseBackupBinary,
  dirNames,
  listTar,
  runBaseBackup,
  walSegmentsIn,
} from './support/index.js';

interface Variant {
  /** Flags besides -D, -F, -c fast and the connection. */
  flags: string[];
  /** Plain format: also --waldir=<dir> (pg_wal becomes a symlink to it). */
  waldir?: boolean;
}

const VARIANTS: Record<PgVersion, { tar: Variant; plain: Variant }> = {
  13: { tar: { flags: ['-X', 'stream', '-z', '-N'] }, plain: { flags: ['-X', 'stream', '-N'], waldir: true } },
  14: { tar: { flags: ['-X', 'fetch', '-Z', 'client-zstd', '-N'] }, plain: { flags: ['-X', 'fetch', '-N'] } },
  15: {
    tar: { flags: ['-X', 'stream', '-Z', 'server-lz4', '-N'] },
    plain: { flags: ['-X', 'stream', '-Z', 'server-zstd', '-N'] },
  },
  // fsync left on once per format.
  16: { tar: { flags: ['-X', 'stream'] }, plain: { flags: ['-X', 'stream', '-Z', 'server-gzip', '-N'] } },
  17: { tar: { flags: ['-X', 'fetch', '-Z', 'server-gzip', '-N'] }, plain: { flags: ['-X', 'stream'], waldir: true } },
  18: { tar: { flags: ['-X', 'stream', '-Z', 'client-lz4', '-N'] }, plain: { flags: ['-X', 'fetch', '-N'] } },
};

const SUFFIX: Record<string, string> = { gzip: '.gz', lz4: '.lz4', zstd: '.zst' };

/** The archive suffix and whether compression happens on the client, from -z / -Z. */
function compressionOf(flags: readonly string[]): { suffix: string; clientGzip: boolean } {
  if (flags.includes('-z')) return { suffix: '.gz', clientGzip: true };
  const i = flags.indexOf('-Z');
  if (i < 0) return { suffix: '', clientGzip: false };
  const spec = flags[i + 1] ?? '';
  const [where, method] = spec.includes('-') ? spec.split('-', 2) : ['client', spec];
  const algorithm = (method ?? '').split(':')[0] ?? '';
  return { suffix: SUFFIX[algorithm] ?? '', clientGzip: where === 'client' && algorithm === 'gzip' };
}

const binary = baseBackupBinary();

describe(`${binary.name}: backup, restore, start, query`, () => {
  for (const version of versionsUnderTest()) {
    const skip =
      version > binary.maxServerVersion
        ? `${binary.name} ${String(binary.referenceMajor)} refuses PostgreSQL ${version} servers`
        : false;

    describe(`PostgreSQL ${version}`, { skip }, () => {
      let source: TestCluster;
      let expected: Snapshot;
      let work: string;
      const variant = VARIANTS[version];

      before(async () => {
        source = await startCluster({ version, tablespaces: 2, data: true });
        expected = await source.snapshot();
        work = await makeTempDir(`pgfleet-e2e-roundtrip-pg${version}`);
      });
      after(async () => {
        await source?.destroy();
      });

      test(`tar ${variant.tar.flags.join(' ')}: archives list with tar, hand restore onto new tablespace directories works`, async () => {
        const outDir = path.join(work, 'tar');
        const args = ['-D', outDir, '-F', 't', '-c', 'fast', ...variant.tar.flags, '-d', source.connectionString];
        assertSucceeded(`${binary.name} ${args.join(' ')}`, await runBaseBackup(args));

        const { suffix, clientGzip } = compressionOf(variant.tar.flags);
        const streamed = variant.tar.flags.includes('stream');
        const expectedFiles = [
          `base.tar${suffix}`,
          ...source.tablespaces.map((ts) => `${ts.oid}.tar${suffix}`),
          ...(streamed ? [`pg_wal.tar${clientGzip ? '.gz' : ''}`] : []),
          'backup_manifest',
        ].sort();
        assert.deepEqual(await dirNames(outDir), expectedFiles);

        // Every archive is a tar the system tar reads completely.
        const listings = new Map<string, string[]>();
        for (const file of expectedFiles.filter((f) => f !== 'backup_manifest')) {
          const listing = await listTar(path.join(outDir, file));
          assert.equal(listing.result.code, 0, `tar -t ${file}: ${listing.result.stderr}`);
          listings.set(file.replace(/\.tar.*$/, ''), listing.names);
        }
        const base = listings.get('base') ?? [];
        for (const member of ['PG_VERSION', 'backup_label', 'tablespace_map', 'global/pg_control']) {
          assert.ok(base.includes(member), `base.tar has ${member}`);
        }
        assert.ok(!base.includes('backup_manifest'), 'the manifest is a separate file, not in base.tar');
        if (streamed) {
          assert.ok(walSegmentsIn(listings.get('pg_wal') ?? []).length > 0, 'pg_wal.tar holds WAL segments');
        } else {
          assert.ok(walSegmentsIn(base, 'pg_wal/').length > 0, '-X fetch puts the WAL segments in base.tar');
        }
        for (const ts of source.tablespaces) {
          const names = listings.get(String(ts.oid)) ?? [];
          assert.ok(names.length > 0 && names.every((n) => n.startsWith(`PG_${version}_`)), `${ts.oid}.tar: ${names.join(', ')}`);
        }

        const targets = new Map(source.tablespaces.map((ts) => [ts.oid, path.join(work, 'tar-restore', `new-${ts.name}`)]));
        const restored = await restoreTarByHand({
          backupDir: outDir,
          targetDir: path.join(work, 'tar-restore', 'data'),
          tablespaceTargets: targets,
        });
        // The backup named the original locations; the hand restore rewrote them.
        assert.deepEqual(restored.originalTablespaceMap, new Map(source.tablespaces.map((ts) => [ts.oid, ts.location])));
        assert.deepEqual(parseTablespaceMap(await readFile(path.join(restored.dataDir, 'tablespace_map'), 'utf8')), targets);

        const copy = await startRestored({ dataDir: restored.dataDir, version, mode: 'promote' });
        try {
          await assertRestoredCopy({ copy, source, expected, tablespaceTargets: targets, label: `PG ${version} tar` });
        } finally {
          await copy.destroy();
        }
      });

      const plainFlags = [...variant.plain.flags, ...(variant.plain.waldir ? ['--waldir=<dir>'] : [])];
      test(`plain ${plainFlags.join(' ')} -T OLD=NEW: tablespaces relocated, copy starts and is writable`, async () => {
        const dataDir = path.join(work, 'plain-data');
        const waldir = path.join(work, 'plain-waldir');
        const targets = new Map(source.tablespaces.map((ts) => [ts.oid, path.join(work, `plain-new-${ts.name}`)]));
        const mappings = source.tablespaces.flatMap((ts) => ['-T', `${ts.location}=${targets.get(ts.oid) as string}`]);
        const args = [
          '-D', dataDir, '-F', 'p', '-c', 'fast', ...variant.plain.flags,
          ...(variant.plain.waldir ? [`--waldir=${waldir}`] : []),
          ...mappings, '-d', source.connectionString,
        ];
        assertSucceeded(`${binary.name} ${args.join(' ')}`, await runBaseBackup(args));

        const names = await dirNames(dataDir);
        for (const name of ['PG_VERSION', 'backup_label', 'backup_manifest', 'global', 'pg_tblspc', 'pg_wal']) {
          assert.ok(names.includes(name), `plain backup has ${name}: ${names.join(', ')}`);
        }
        assert.ok(!names.includes('tablespace_map'), 'plain format writes symlinks, not tablespace_map');
        if (variant.plain.waldir) {
          assert.equal(await readlink(path.join(dataDir, 'pg_wal')), waldir, 'pg_wal is a symlink to --waldir');
          // Written as root like the rest; the server's OS user must own it.
          await chownR(waldir);
        }
        assert.ok(walSegmentsIn(await readdir(path.join(dataDir, 'pg_wal'))).length > 0, 'pg_wal holds WAL segments');
        for (const ts of source.tablespaces) {
          const target = targets.get(ts.oid) as string;
          assert.ok(existsSync(target), `tablespace ${ts.name} written to ${target}`);
          assert.ok((await readdir(target)).some((n) => n.startsWith(`PG_${version}_`)), `${target} holds PG_${version}_*`);
        }

        await preparePlainRestore({ dataDir });
        const copy = await startRestored({ dataDir, version, mode: 'promote' });
        try {
          await assertRestoredCopy({ copy, source, expected, tablespaceTargets: targets, label: `PG ${version} plain` });
        } finally {
          await copy.destroy();
        }
      });
    });
  }
});
