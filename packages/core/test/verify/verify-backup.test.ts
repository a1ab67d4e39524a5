// Real backups made by pg_basebackup 15 of a PostgreSQL 15 cluster with a tablespace, in plain
// and tar format, with -X stream and -X fetch: verifyBackup accepts them, rejects the same
// damage pg_verifybackup rejects (with the same words), and our manifest writer reproduces the
// server's manifest byte for byte.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import {
  appendFileSync, copyFileSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, truncateSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import tarStream from 'tar-stream';
import { makeTempDir, run, startCluster, systemBin, type TestCluster } from '../../../../test/harness/index.js';
import { verifyBackup, type VerifyBackupOptions } from '../../src/verify/verify-backup.js';
import { parseManifest, readManifestFile } from '../../src/manifest/parser.js';
import { ManifestWriter, writeManifest } from '../../src/manifest/writer.js';
import { computeChecksum } from '../../src/manifest/checksum.js';
import { requiredSegments } from '../../src/wal/wal-check.js';
import { WalRecordReader } from '../../src/wal/record-reader.js';
import { formatLsn, parseLsn } from '../../src/wal/lsn.js';
import { walSegmentName } from '../../src/wal/segment.js';
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
      assert.ok(result.walRecordsChecked >= 2, `${result.walRecordsChecked} WAL records read in ${dir}`);
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

  test('a symbolic link other than pg_tblspc/<oid> or pg_wal is a problem, also at an always-ignored name and where the manifest lists a file', async () => {
    const copy = await copyBackup(backups.plainStream);
    symlinkSync('/root/victim', join(copy, 'recovery.signal'));
    rmSync(join(copy, 'PG_VERSION'));
    symlinkSync(join(backups.plainStream, 'PG_VERSION'), join(copy, 'PG_VERSION'));
    assert.deepEqual(await problemsOf(copy), [
      'file "PG_VERSION" is a symbolic link, not a regular file',
      'file "recovery.signal" is a symbolic link, not a regular file',
    ]);
    assert.deepEqual(await problemsOf(copy, { ignore: ['recovery.signal', 'PG_VERSION'] }), []);
    rmSync(copy, { recursive: true });
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

  test('WAL records: the records pg_waldump lists are read; a byte changed in one fails as in pg_verifybackup', async () => {
    const dir = backups.plainStream;
    const manifest = await readManifestFile(join(dir, 'backup_manifest'));
    const range = manifest.walRanges[0]!;
    const segmentSize = 16 * 1024 * 1024;
    const records: Array<{ lsn: bigint; totalLength: number }> = [];
    const reader = new WalRecordReader({
      timeline: range.timeline, startLsn: range.startLsn, endLsn: range.endLsn, segmentSize, serverMajor: 15,
      onRecord: (r) => records.push(r),
    });
    for (const segment of requiredSegments(manifest.walRanges, segmentSize)) {
      reader.beginSegment(segment.segno);
      reader.write(readFileSync(join(dir, 'pg_wal', segment.name)));
      reader.endSegment();
    }
    reader.end();
    assert.equal(reader.problem, null);
    assert.equal(reader.complete, true);
    const ours = records.filter((r) => r.lsn >= range.startLsn).map((r) => formatLsn(r.lsn));
    const waldump = await run(systemBin('pg_waldump'), ['-p', join(dir, 'pg_wal'), '-t', String(range.timeline),
      '-s', formatLsn(range.startLsn), '-e', formatLsn(range.endLsn)]);
    const theirs = [...waldump.stdout.matchAll(/ lsn: ([0-9A-F]+\/[0-9A-F]+),/g)].map((m) => formatLsn(parseLsn(m[1]!)));
    assert.ok(theirs.length >= 2, waldump.stdout);
    assert.deepEqual(ours, theirs);

    // one byte in the middle of a record's data, on one page, not the first nor the last
    const inner = records.filter((r) => r.lsn > range.startLsn && r.lsn !== records.at(-1)!.lsn && r.totalLength > 32 &&
      Number(r.lsn % 8192n) + r.totalLength <= 8192);
    const victim = inner[Math.floor(inner.length / 2)];
    assert.ok(victim, 'a record to damage');
    const segment = walSegmentName(range.timeline, victim.lsn / BigInt(segmentSize), segmentSize);
    const offset = Number(victim.lsn % BigInt(segmentSize)) + 24 + Math.floor((victim.totalLength - 24) / 2);
    await withChange(join(dir, 'pg_wal', segment), (d) => { d[offset]! ^= 0x01; return d; }, async () => {
      assert.deepEqual(await problemsOf(dir), [`WAL record at ${formatLsn(victim.lsn)} in "${segment}" has an incorrect CRC`]);
      assert.deepEqual(await problemsOf(dir, { decodeWalRecords: false }), []);
      assert.deepEqual(await problemsOf(dir, { checkWal: false }), []);
      const pg = await pgVerifybackup(dir);
      assert.equal(pg.code, 1);
      assert.match(pg.stderr, new RegExp(`incorrect resource manager data checksum in record at ${formatLsn(victim.lsn)}`));
    });
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

/** A scratch copy of a tar backup directory, so that each case damages its own copy. */
let copies = 0;
async function copyBackup(dir: string): Promise<string> {
  const copy = join(work, `copy-${copies++}`);
  await run('cp', ['-r', dir, copy]);
  return copy;
}

/**
 * Rewrites an uncompressed tar through tar-stream: members for which `keep` is false are
 * dropped, `replace` may swap a member's data, `extra` members are appended. (GNU tar
 * --delete drops the last member of a PostgreSQL tar too, so it is no use here.)
 */
async function rewriteTar(path: string, edits: {
  keep?: (name: string) => boolean; replace?: (name: string, data: Buffer) => Buffer;
  extra?: Array<{ name: string; data: Buffer; linkname?: string }>;
}): Promise<void> {
  const extract = tarStream.extract();
  const pack = tarStream.pack();
  const done = (async () => {
    const chunks: Buffer[] = [];
    for await (const chunk of pack) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  })();
  const input = Readable.from([readFileSync(path)]);
  input.pipe(extract);
  for await (const entry of extract) {
    const parts: Buffer[] = [];
    for await (const chunk of entry) parts.push(chunk as Buffer);
    const name = entry.header.name;
    if (edits.keep && !edits.keep(name)) continue;
    let data: Buffer = Buffer.concat(parts);
    if (edits.replace) data = edits.replace(name, data);
    pack.entry({ ...entry.header, size: data.length }, data);
  }
  for (const e of edits.extra ?? []) {
    if (e.linkname !== undefined) pack.entry({ name: e.name, type: 'symlink', linkname: e.linkname, mode: 0o777 });
    else pack.entry({ name: e.name, size: e.data.length, mode: 0o600 }, e.data);
  }
  pack.finalize();
  writeFileSync(path, await done);
}

/** Offset of a member's data in an uncompressed ustar archive (PostgreSQL writes no long names). */
function memberDataOffset(tar: Buffer, name: string): { offset: number; size: number } {
  for (let o = 0; o + 512 <= tar.length;) {
    const header = tar.subarray(o, o + 512);
    if (header.every((b) => b === 0)) break;
    const memberName = header.subarray(0, 100).toString('utf8').replace(/\0.*$/s, '');
    const size = Number.parseInt(header.subarray(124, 136).toString('ascii').replace(/\0.*$/s, '').trim(), 8);
    if (memberName === name) return { offset: o + 512, size };
    o += 512 + Math.ceil(size / 512) * 512;
  }
  throw new Error(`no member "${name}"`);
}

describe('tar backups', () => {
  test('pg_basebackup tar backups verify, with -X stream (pg_wal.tar) and -X fetch (WAL in base.tar)', async () => {
    for (const dir of [backups.tarStream, backups.tarFetch]) {
      const result = await verifyBackup(dir);
      assert.deepEqual(result.problems, [], dir);
      assert.equal(result.format, 'tar');
      assert.equal(result.filesMatched,
        result.manifest.files.filter((f) => !/^(pg_wal|postgresql\.auto\.conf)(\/|$)/.test(f.path)).length);
      const expected = requiredSegments(result.manifest.walRanges, 16 * 1024 * 1024).map((s) => s.name);
      assert.deepEqual(result.walSegmentsChecked, expected);
      assert.ok(result.walRecordsChecked >= 2, `${result.walRecordsChecked} WAL records read in ${dir}`);
    }
    assert.ok(readdirSync(backups.tarStream).includes('pg_wal.tar'));
    assert.ok(!readdirSync(backups.tarFetch).includes('pg_wal.tar'));
  });

  test('compressed archives verify (gzip, lz4, zstd)', async () => {
    const copy = await copyBackup(backups.tarStream);
    const oidTar = readdirSync(copy).find((n) => /^\d+\.tar$/.test(n))!;
    await run('gzip', [join(copy, 'base.tar')]);
    await run('lz4', ['-q', '--rm', join(copy, oidTar), join(copy, `${oidTar}.lz4`)]);
    await run('zstd', ['-q', '--rm', join(copy, 'pg_wal.tar')]);
    assert.deepEqual(readdirSync(copy).sort(), [`${oidTar}.lz4`, 'backup_manifest', 'base.tar.gz', 'pg_wal.tar.zst'].sort());
    assert.deepEqual(await problemsOf(copy), []);
    renameSync(join(copy, 'base.tar.gz'), join(copy, 'base.tgz'));
    assert.deepEqual(await problemsOf(copy), []);
  });

  test('one byte changed in base.tar and in a tablespace archive', async () => {
    const manifest = await readManifestFile(join(backups.tarStream, 'backup_manifest'));
    const { baseFile, tablespaceFile } = pickFiles(manifest);
    const oid = tablespaceFile.split('/')[1]!;
    for (const [archive, memberName, path] of [
      ['base.tar', baseFile, baseFile],
      [`${oid}.tar`, tablespaceFile.slice(`pg_tblspc/${oid}/`.length), tablespaceFile],
    ] as const) {
      const copy = await copyBackup(backups.tarStream);
      const tar = readFileSync(join(copy, archive));
      const { offset } = memberDataOffset(tar, memberName);
      tar[offset + 100]! ^= 0x40;
      writeFileSync(join(copy, archive), tar);
      assert.deepEqual(await problemsOf(copy), [`checksum mismatch for file "${path}" in archive "${archive}"`]);
      assert.deepEqual(await problemsOf(copy, { skipChecksums: true }), []);
      rmSync(copy, { recursive: true });
    }
  });

  test('a member missing, an extra member, a stray file', async () => {
    const manifest = await readManifestFile(join(backups.tarStream, 'backup_manifest'));
    const { baseFile } = pickFiles(manifest);
    const copy = await copyBackup(backups.tarStream);
    await rewriteTar(join(copy, 'base.tar'), { keep: (n) => n !== baseFile });
    assert.deepEqual(await problemsOf(copy), [`"${baseFile}" is present in the manifest but not on disk`]);
    await rewriteTar(join(copy, 'base.tar'), { extra: [{ name: 'base/extra_file', data: Buffer.from('x') }] });
    assert.deepEqual(await problemsOf(copy), [
      'file "base/extra_file" is present in archive "base.tar" but not in the manifest',
      `"${baseFile}" is present in the manifest but not on disk`,
    ]);
    writeFileSync(join(copy, 'junk.txt'), 'x');
    assert.deepEqual((await problemsOf(copy, { ignore: ['base/extra_file', baseFile] })), [
      'file "junk.txt" is not expected in a tar format backup']);
    rmSync(copy, { recursive: true });
  });

  test('a symbolic link other than pg_tblspc/<oid> is a problem, also at an always-ignored name and where the manifest lists a file', async () => {
    const copy = await copyBackup(backups.tarStream);
    await rewriteTar(join(copy, 'base.tar'), {
      keep: (n) => n !== 'PG_VERSION',
      extra: [
        { name: 'recovery.signal', data: Buffer.alloc(0), linkname: '/root/victim' },
        { name: 'PG_VERSION', data: Buffer.alloc(0), linkname: '/etc/passwd' },
      ],
    });
    const hint = 'A base backup holds symbolic links only as pg_tblspc/<tablespace OID>, and no hard links or special files; ' +
      'restoring this one could read or write outside its data directory.';
    const result = await verifyBackup(copy);
    assert.deepEqual(result.problems.map((p) => [p.kind, p.message, p.hint]), [
      ['unexpected', 'file "recovery.signal" in archive "base.tar" is a symbolic link, not a regular file', hint],
      ['unexpected', 'file "PG_VERSION" in archive "base.tar" is a symbolic link, not a regular file', hint],
    ]);
    // Only -i hides it.
    assert.deepEqual(await problemsOf(copy, { ignore: ['recovery.signal', 'PG_VERSION'] }), []);
    rmSync(copy, { recursive: true });
  });

  test('a repository backup directory: pgfleet\'s backup.json is passed over, and only that file', async () => {
    const copy = await copyBackup(backups.tarStream);
    writeFileSync(join(copy, 'backup.json'), '{}\n');
    assert.deepEqual(await problemsOf(copy), []);
    writeFileSync(join(copy, 'backup.json.tmp'), '{}\n');
    assert.deepEqual(await problemsOf(copy), ['file "backup.json.tmp" is not expected in a tar format backup']);
    rmSync(join(copy, 'backup.json.tmp'));
    rmSync(join(copy, 'backup.json'));
    mkdirSync(join(copy, 'backup.json'));
    assert.deepEqual(await problemsOf(copy), ['file "backup.json" is not a regular file']);
    rmSync(copy, { recursive: true });
  });

  test('a WAL segment missing from pg_wal.tar, or truncated in it', async () => {
    const manifest = await readManifestFile(join(backups.tarStream, 'backup_manifest'));
    const segment = requiredSegments(manifest.walRanges, 16 * 1024 * 1024)[0]!.name;
    const copy = await copyBackup(backups.tarStream);
    const walTar = join(copy, 'pg_wal.tar');
    await rewriteTar(walTar, { keep: (n) => n !== segment });
    assert.deepEqual(await problemsOf(copy), [`WAL segment "${segment}" is missing from "pg_wal.tar"`]);
    assert.deepEqual(await problemsOf(copy, { checkWal: false }), []);
    await rewriteTar(walTar, { extra: [{ name: segment, data: Buffer.alloc(8 * 1024 * 1024) }] });
    assert.deepEqual(await problemsOf(copy), [
      `WAL segment "${segment}" in "pg_wal.tar" has size 8388608, but the WAL segment size is 16777216`]);
    // -w pointing at a directory holding the good WAL instead
    const goodWal = join(work, 'good-wal');
    mkdirSync(goodWal, { recursive: true });
    await run('tar', ['-x', '-f', join(backups.tarStream, 'pg_wal.tar'), '-C', goodWal]);
    assert.deepEqual(await problemsOf(copy, { walPath: goodWal }), []);
    assert.deepEqual(await problemsOf(copy, { walPath: join(backups.tarStream, 'pg_wal.tar') }), []);
    rmSync(copy, { recursive: true });
  });

  test('-X fetch: a WAL segment missing from base.tar', async () => {
    const manifest = await readManifestFile(join(backups.tarFetch, 'backup_manifest'));
    const segment = requiredSegments(manifest.walRanges, 16 * 1024 * 1024).at(-1)!.name;
    const copy = await copyBackup(backups.tarFetch);
    await rewriteTar(join(copy, 'base.tar'), { keep: (n) => n !== `pg_wal/${segment}` });
    assert.deepEqual(await problemsOf(copy), [`WAL segment "${segment}" is missing from "base.tar"`]);
    rmSync(copy, { recursive: true });
  });
});
