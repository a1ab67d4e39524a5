// Real backups made by pg_basebackup 15 of a PostgreSQL 15 cluster with a tablespace, in plain
// and tar format, with -X stream and -X fetch: verifyBackup accepts them, rejects the same
// damage pg_verifybackup rejects (with the same words), and our manifest writer reproduces the
// server's manifest byte for byte.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import {
  appendFileSync, copyFileSync, readdirSync, readFileSync, renameSync, rmSync, statSync, truncateSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { makeTempDir, run, startCluster, systemBin, type TestCluster } from '../../../../test/harness/index.js';
import { verifyBackup, type VerifyBackupOptions } from '../../src/verify/verify-backup.js';
import { parseManifest, readManifestFile } from '../../src/manifest/parser.js';
import { ManifestWriter, writeManifest } from '../../src/manifest/writer.js';
import { computeChecksum } from '../../src/manifest/checksum.js';
import { requiredSegments } from '../../src/wal/wal-check.js';
import type { BackupManifest } from '../../src/manifest/manifest.js';

let cluster: TestCluster;
let work: string;
const backups: Record<'plainStream' | 'plainFetch' | 'tarStream' | 'tarFetch', string> = {
  plainStream: '', plainFetch: '', tarStream: '', tarFetch: '',
};

async function pgBasebackup(dir: string, args: string[]): Promise<void> {
  const tablespaceMaps = cluster.tablespaces.flatMap((ts) => ['-T', `${ts.location}=${dir}-${ts.name}`]);
  await run(systemBin('pg_basebackup'), [
    '-D', dir, '-c', 'fast', '--no-sync', ...args, ...(args.includes('-Ft') ? [] : tablespaceMaps),
    '-d', cluster.connectionString,
  ]);
}

before(async () => {
  cluster = await startCluster({ version: 15, tablespaces: 1, data: { rows: 200 } });
  work = await makeTempDir('pgfleet-verify');
  backups.plainStream = join(work, 'plain-stream');
  backups.plainFetch = join(work, 'plain-fetch');
  backups.tarStream = join(work, 'tar-stream');
  backups.tarFetch = join(work, 'tar-fetch');
  await pgBasebackup(backups.plainStream, ['-Fp', '-X', 'stream']);
  await pgBasebackup(backups.plainFetch, ['-Fp', '-X', 'fetch']);
  await pgBasebackup(backups.tarStream, ['-Ft', '-X', 'stream']);
  await pgBasebackup(backups.tarFetch, ['-Ft', '-X', 'fetch']);
  await cluster.stop();
});

after(async () => {
  await cluster?.destroy();
});

/** Runs verifyBackup and returns its problem lines (as the CLI prints them, without prefix). */
async function problemsOf(dir: string, options: VerifyBackupOptions = {}): Promise<string[]> {
  const seen: string[] = [];
  const result = await verifyBackup(dir, { ...options, onProblem: (p) => seen.push(p.message) });
  assert.deepEqual(result.problems.map((p) => p.message), seen);
  assert.equal(result.ok, seen.length === 0);
  return seen;
}

async function pgVerifybackup(dir: string, args: string[] = []): Promise<{ code: number | null; stderr: string }> {
  const r = await run(systemBin('pg_verifybackup'), [...args, dir], { allowFailure: true });
  return { code: r.code, stderr: r.stderr };
}

/** The relative path of a non-empty data file in the tablespace, and one in base/. */
function pickFiles(manifest: BackupManifest): { tablespaceFile: string; baseFile: string } {
  const big = manifest.files.filter((f) => f.size >= 8192);
  const tablespaceFile = big.find((f) => f.path.startsWith('pg_tblspc/'))?.path;
  const baseFile = big.find((f) => /^base\/\d+\/\d+$/.test(f.path))?.path;
  assert.ok(tablespaceFile && baseFile);
  return { tablespaceFile, baseFile };
}

let savedCount = 0;

/** Changes a file for the duration of fn, then restores it byte for byte. */
async function withChange(path: string, change: (data: Buffer) => Buffer | null, fn: () => Promise<void>): Promise<void> {
  const saved = join(work, `saved-${savedCount++}`);
  copyFileSync(path, saved);
  try {
    const changed = change(readFileSync(path));
    if (changed === null) rmSync(path);
    else writeFileSync(path, changed);
    await fn();
  } finally {
    renameSync(saved, path);
  }
}

describe('plain backups', () => {
  test('pg_basebackup plain backups verify, with -X stream and -X fetch', async () => {
    for (const dir of [backups.plainStream, backups.plainFetch]) {
      const result = await verifyBackup(dir);
      assert.deepEqual(result.problems, [], dir);
      assert.equal(result.ok, true);
      assert.equal(result.format, 'plain');
      assert.equal(result.manifest.version, 1);
      // every entry but the always-ignored postgresql.auto.conf and (-X fetch) pg_wal/*
      assert.equal(result.filesMatched,
        result.manifest.files.filter((f) => !/^(pg_wal|postgresql\.auto\.conf)(\/|$)/.test(f.path)).length);
      const expected = requiredSegments(result.manifest.walRanges, 16 * 1024 * 1024).map((s) => s.name);
      assert.ok(expected.length >= 1);
      assert.deepEqual(result.walSegmentsChecked, expected);
      assert.equal((await pgVerifybackup(dir)).code, 0);
    }
  });

  test('the tablespace is reached through the pg_tblspc symlink', async () => {
    const manifest = await readManifestFile(join(backups.plainStream, 'backup_manifest'));
    const { tablespaceFile } = pickFiles(manifest);
    const oid = tablespaceFile.split('/')[1]!;
    assert.ok(statSync(join(backups.plainStream, 'pg_tblspc', oid)).isDirectory());
    assert.equal(readdirSync(join(backups.plainStream, 'pg_tblspc')).length, 1);
  });

  test('one byte changed: checksum mismatch, in base/ and in a tablespace, like pg_verifybackup', async () => {
    const dir = backups.plainStream;
    const manifest = await readManifestFile(join(dir, 'backup_manifest'));
    for (const file of Object.values(pickFiles(manifest))) {
      await withChange(join(dir, file), (d) => { d[100]! ^= 0x40; return d; }, async () => {
        const message = `checksum mismatch for file "${file}"`;
        assert.deepEqual(await problemsOf(dir), [message]);
        assert.deepEqual(await problemsOf(dir, { skipChecksums: true }), []);
        assert.deepEqual(await problemsOf(dir, { ignore: [file] }), []);
        const pg = await pgVerifybackup(dir, ['-n']);
        assert.equal(pg.code, 1);
        assert.match(pg.stderr, new RegExp(`error: ${message.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\n`));
      });
    }
  });

  test('a file grown by one byte, a missing file, an extra file', async () => {
    const dir = backups.plainStream;
    const { baseFile } = pickFiles(await readManifestFile(join(dir, 'backup_manifest')));
    await withChange(join(dir, baseFile), (d) => Buffer.concat([d, Buffer.of(0)]), async () => {
      const size = statSync(join(dir, baseFile)).size;
      assert.deepEqual(await problemsOf(dir), [`"${baseFile}" has size ${size} on disk but size ${size - 1} in the manifest`]);
      assert.match((await pgVerifybackup(dir, ['-n'])).stderr, new RegExp(`"${baseFile}" has size ${size} on disk but size ${size - 1} in the manifest`));
    });
    await withChange(join(dir, baseFile), () => null, async () => {
      assert.deepEqual(await problemsOf(dir), [`"${baseFile}" is present in the manifest but not on disk`]);
      assert.match((await pgVerifybackup(dir, ['-n'])).stderr, new RegExp(`"${baseFile}" is present in the manifest but not on disk`));
    });
    const extra = join(dir, 'base', 'extra_file');
    writeFileSync(extra, 'x');
    try {
      assert.deepEqual(await problemsOf(dir), ['"base/extra_file" is present on disk but not in the manifest']);
      assert.deepEqual(await problemsOf(dir, { ignore: ['base/extra_file'] }), []);
      assert.match((await pgVerifybackup(dir, ['-n'])).stderr, /"base\/extra_file" is present on disk but not in the manifest/);
    } finally {
      rmSync(extra);
    }
    // the always-ignored names
    writeFileSync(join(dir, 'standby.signal'), '');
    appendFileSync(join(dir, 'postgresql.auto.conf'), "primary_conninfo = 'x'\n");
    try {
      assert.deepEqual(await problemsOf(dir), []);
    } finally {
      rmSync(join(dir, 'standby.signal'));
    }
  });

  test('-e stops at the first problem', async () => {
    const dir = backups.plainStream;
    const { baseFile, tablespaceFile } = pickFiles(await readManifestFile(join(dir, 'backup_manifest')));
    await withChange(join(dir, baseFile), () => null, async () => {
      await withChange(join(dir, tablespaceFile), () => null, async () => {
        assert.equal((await problemsOf(dir)).length, 2);
        assert.equal((await problemsOf(dir, { exitOnError: true })).length, 1);
      });
    });
  });

  test('a WAL segment missing or truncated in pg_wal', async () => {
    for (const dir of [backups.plainStream, backups.plainFetch]) {
      const manifest = await readManifestFile(join(dir, 'backup_manifest'));
      const segment = requiredSegments(manifest.walRanges, 16 * 1024 * 1024)[0]!.name;
      const path = join(dir, 'pg_wal', segment);
      await withChange(path, () => null, async () => {
        assert.deepEqual(await problemsOf(dir), [`WAL segment "${segment}" is missing from "${join(dir, 'pg_wal')}"`]);
        assert.deepEqual(await problemsOf(dir, { checkWal: false }), []);
        assert.equal((await pgVerifybackup(dir)).code, 1);
      });
      await withChange(path, (d) => d.subarray(0, 8 * 1024 * 1024), async () => {
        assert.deepEqual(await problemsOf(dir), [
          `WAL segment "${segment}" in "${join(dir, 'pg_wal')}" has size 8388608, but the WAL segment size is 16777216`]);
      });
      // a page before the end LSN overwritten with zeros
      const endOffset = Number(manifest.walRanges[0]!.endLsn % (16n * 1024n * 1024n));
      const last = requiredSegments(manifest.walRanges, 16 * 1024 * 1024).at(-1)!.name;
      const page = Math.floor((endOffset - 1) / 8192) * 8192;
      await withChange(join(dir, 'pg_wal', last), (d) => { d.fill(0, page, page + 8192); return d; }, async () => {
        const problems = await problemsOf(dir);
        assert.equal(problems.length, 1);
        assert.match(problems[0]!, new RegExp(`^invalid magic number 0000 in WAL segment "${last}", LSN [0-9A-F]+/[0-9A-F]+, offset ${page}$`));
        assert.equal((await pgVerifybackup(dir)).code, 1);
      });
    }
  });

  test('WAL in another directory with walPath', async () => {
    const dir = backups.plainFetch;
    const moved = join(work, 'moved-wal');
    renameSync(join(dir, 'pg_wal'), moved);
    try {
      const problems = await problemsOf(dir);
      assert.equal(problems[0], `could not open directory "${join(dir, 'pg_wal')}": no such file or directory`);
      assert.deepEqual(await problemsOf(dir, { walPath: moved }), []);
    } finally {
      renameSync(moved, join(dir, 'pg_wal'));
    }
  });
});

describe('manifest writer against real manifests', () => {
  test('writing the parsed server manifest reproduces it byte for byte', async () => {
    for (const dir of [backups.plainStream, backups.plainFetch, backups.tarStream, backups.tarFetch]) {
      const original = readFileSync(join(dir, 'backup_manifest'));
      assert.deepEqual(writeManifest(parseManifest(original)), original, dir);
    }
  });

  test('a manifest we write with SHA-256 for a real plain backup is accepted by pg_verifybackup', async () => {
    const dir = backups.plainStream;
    const manifestPath = join(dir, 'backup_manifest');
    const original = readFileSync(manifestPath);
    const parsed = parseManifest(original);
    const writer = new ManifestWriter({ version: 1 });
    for (const f of parsed.files) {
      writer.addFile({ ...f, checksumAlgorithm: 'SHA256', checksum: computeChecksum('SHA256', readFileSync(join(dir, f.path))) });
    }
    const ours = writer.finish(parsed.walRanges);
    try {
      writeFileSync(manifestPath, ours);
      assert.equal((await pgVerifybackup(dir)).code, 0);
      assert.deepEqual(await problemsOf(dir), []);
      // and one wrong checksum is caught by both
      const wrongFile = parsed.files.find((f) => f.size > 0)!.path;
      const writer2 = new ManifestWriter({ version: 1, forceEncode: true });
      for (const f of parsed.files) {
        const checksum = f.path === wrongFile ? createHash('sha256').update('other').digest() : computeChecksum('SHA256', readFileSync(join(dir, f.path)));
        writer2.addFile({ ...f, checksumAlgorithm: 'SHA256', checksum });
      }
      writeFileSync(manifestPath, writer2.finish(parsed.walRanges));
      const pg = await pgVerifybackup(dir);
      assert.equal(pg.code, 1);
      assert.match(pg.stderr, new RegExp(`checksum mismatch for file "${wrongFile}"`));
      assert.deepEqual(await problemsOf(dir), [`checksum mismatch for file "${wrongFile}"`]);
    } finally {
      writeFileSync(manifestPath, original);
    }
  });

  test('version 2: pg_control must carry the manifest\'s system identifier', async () => {
    const dir = backups.plainStream;
    const manifestPath = join(dir, 'backup_manifest');
    const original = readFileSync(manifestPath);
    const parsed = parseManifest(original);
    const sysid = readFileSync(join(dir, 'global/pg_control')).readBigUInt64LE(0);
    try {
      writeFileSync(manifestPath, writeManifest({ ...parsed, version: 2, systemIdentifier: sysid }));
      assert.deepEqual(await problemsOf(dir), []);
      writeFileSync(manifestPath, writeManifest({ ...parsed, version: 2, systemIdentifier: sysid + 1n }));
      assert.deepEqual(await problemsOf(dir), [
        `control file "${join(dir, 'global/pg_control')}": manifest system identifier is ${sysid + 1n}, but control file has ${sysid}`]);
    } finally {
      writeFileSync(manifestPath, original);
    }
  });

  test('a damaged manifest is refused before anything else', async () => {
    const dir = backups.plainStream;
    const manifestPath = join(dir, 'backup_manifest');
    const original = readFileSync(manifestPath);
    try {
      writeFileSync(manifestPath, Buffer.from(original.toString('utf8').replace('"Size": ', '"Size": 1')));
      await assert.rejects(verifyBackup(dir), {
        name: 'ManifestError', message: `could not parse backup manifest "${manifestPath}": manifest checksum mismatch`,
      });
      truncateSync(manifestPath, 100);
      await assert.rejects(verifyBackup(dir), { name: 'ManifestError', message: /^could not parse backup manifest ".*": invalid JSON at line 3: the input ended/ });
    } finally {
      writeFileSync(manifestPath, original);
    }
    await assert.rejects(verifyBackup(join(work, 'nope')), {
      name: 'FileIoError', message: `could not open file "${join(work, 'nope', 'backup_manifest')}": no such file or directory`,
    });
  });
});
