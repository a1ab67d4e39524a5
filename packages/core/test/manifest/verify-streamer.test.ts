import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { ManifestVerifyStreamer, type ObservedMember } from '../../src/manifest/verify-streamer.js';
import { canonicalRelativePath, StopVerification, VerifyContext, type VerifyProblem } from '../../src/manifest/verify-context.js';
import { computeChecksum, type ChecksumAlgorithm } from '../../src/manifest/checksum.js';
import { PG_CONTROL_FILE_SIZE } from '../../src/manifest/control-file.js';
import { InternalError } from '../../src/errors.js';
import { parseManifest } from '../../src/manifest/parser.js';
import { ManifestWriter } from '../../src/manifest/writer.js';
import type { MemberType, Streamer, TarMember } from '../../src/archive/streamer.js';

const fixture = JSON.parse(readFileSync(new URL('./fixtures/pg-control-13-18.json', import.meta.url), 'utf8')) as { files: Record<string, string> };
const CONTROL = Buffer.alloc(8192);
Buffer.from(fixture.files['17']!, 'hex').copy(CONTROL);
const SYSID = CONTROL.readBigUInt64LE(0);

const FILES: Record<string, Buffer> = {
  'backup_label': Buffer.from('START WAL LOCATION: 0/2000028 (file 000000010000000000000002)\n'),
  'PG_VERSION': Buffer.from('17\n'),
  'base/1/1259': Buffer.from(Array.from({ length: 20000 }, (_, i) => (i * 7) & 0xff)),
  'pg_tblspc/16384/PG_17_202406281/5/16385': Buffer.alloc(8192, 3),
  'global/pg_control': CONTROL,
};

function manifestFor(files: Record<string, Buffer>, options: { algorithm?: ChecksumAlgorithm; version?: 1 | 2; sysid?: bigint } = {}) {
  const version = options.version ?? 2;
  const w = new ManifestWriter(version === 2 ? { systemIdentifier: options.sysid ?? SYSID } : { version: 1 });
  for (const [path, data] of Object.entries(files)) {
    const algorithm = options.algorithm ?? 'CRC32C';
    w.addFile({ path, size: data.length, lastModified: new Date(0), checksumAlgorithm: algorithm, checksum: computeChecksum(algorithm, data) });
  }
  return parseManifest(w.finish([{ timeline: 1, startLsn: 0x2000028n, endLsn: 0x2000100n }]));
}

function member(name: string, size: number, type: MemberType = 'file'): TarMember {
  return { name, size, mode: 0o600, uid: 0, gid: 0, mtime: new Date(0), type, linkname: null };
}

async function stream(s: Streamer, members: Array<[TarMember, Buffer]>, chunk = 3000): Promise<void> {
  for (const [m, data] of members) {
    await s.content(m, Buffer.alloc(0), 'header');
    for (let i = 0; i < data.length; i += chunk) await s.content(m, data.subarray(i, i + chunk), 'contents');
    await s.content(m, Buffer.alloc(0), 'trailer');
  }
  await s.content(null, Buffer.alloc(0), 'archive-trailer');
  await s.finalize();
}

const baseMembers = (files: Record<string, Buffer>): Array<[TarMember, Buffer]> => [
  [member('global', 0, 'directory'), Buffer.alloc(0)],
  [member('pg_tblspc/16384', 0, 'symlink'), Buffer.alloc(0)],
  ...Object.entries(files).filter(([p]) => !p.startsWith('pg_tblspc/')).map(([p, d]): [TarMember, Buffer] => [member(p, d.length), d]),
];
const tablespaceMembers = (files: Record<string, Buffer>): Array<[TarMember, Buffer]> =>
  Object.entries(files).filter(([p]) => p.startsWith('pg_tblspc/16384/'))
    .map(([p, d]): [TarMember, Buffer] => [member(p.slice('pg_tblspc/16384/'.length), d.length), d]);

type VerifyOptions = { manifestFiles?: Record<string, Buffer>; ignore?: string[];
  skipChecksums?: boolean; exitOnError?: boolean; algorithm?: ChecksumAlgorithm; version?: 1 | 2; sysid?: bigint };

/** What a receiver remembers of an archive as it streams, before the manifest is known. */
function observe(members: Array<[TarMember, Buffer]>, options: { base: boolean; algorithm: ChecksumAlgorithm }): ObservedMember[] {
  return members.map(([m, data]) => {
    const regular = m.type === 'file';
    const keepHead = options.base && (m.name === 'global/pg_control' || m.name === 'PG_VERSION');
    return {
      member: { name: m.name, size: m.size, type: m.type },
      bytes: data.length,
      algorithm: options.algorithm,
      digest: regular ? computeChecksum(options.algorithm, data) : null,
      head: keepHead ? data.subarray(0, PG_CONTROL_FILE_SIZE) : null,
    };
  });
}

/**
 * Runs the verifier over the archives of `files`, either streaming them (`streamed`) or from
 * what was observed of them beforehand (`observed`); the problems, fatal ones marked.
 */
async function verifyBy(mode: 'streamed' | 'observed', files: Record<string, Buffer>, options: VerifyOptions): Promise<{ problems: string[]; context: VerifyContext }> {
  const problems: VerifyProblem[] = [];
  const context = new VerifyContext({
    manifest: manifestFor(options.manifestFiles ?? FILES, options), ignore: options.ignore ?? [],
    skipChecksums: options.skipChecksums ?? false, exitOnError: options.exitOnError ?? false, onProblem: (p) => problems.push(p),
  });
  const algorithm = options.algorithm ?? 'CRC32C';
  try {
    const archives: Array<[string, number | null, Array<[TarMember, Buffer]>]> = [
      ['16384.tar', 16384, tablespaceMembers(files)], ['base.tar', null, baseMembers(files)]];
    for (const [archiveName, tablespaceOid, members] of archives) {
      const verifier = new ManifestVerifyStreamer({ context, archiveName, tablespaceOid });
      if (mode === 'streamed') await stream(verifier, members);
      else for (const o of observe(members, { base: tablespaceOid === null, algorithm })) verifier.verifyObserved(o);
    }
    context.reportMissing();
  } catch (err) {
    if (!(err instanceof StopVerification)) throw err;
  }
  assert.deepEqual(context.problems, problems);
  return { problems: problems.map((p) => (p.fatal ? `FATAL ${p.message}` : p.message)), context };
}

/** Both ways must give the same problems (and learn the same from pg_control and PG_VERSION). */
async function verify(files: Record<string, Buffer>, options: VerifyOptions = {}): Promise<string[]> {
  const streamed = await verifyBy('streamed', files, options);
  const observed = await verifyBy('observed', files, options);
  assert.deepEqual(observed.problems, streamed.problems);
  assert.equal(observed.context.pgVersion, streamed.context.pgVersion);
  assert.deepEqual(observed.context.controlFile, streamed.context.controlFile);
  assert.equal(observed.context.matchedCount, streamed.context.matchedCount);
  return streamed.problems;
}

test('accepts archives that match the manifest, with every checksum algorithm', async () => {
  for (const algorithm of ['NONE', 'CRC32C', 'SHA224', 'SHA256', 'SHA384', 'SHA512'] as const) {
    assert.deepEqual(await verify(FILES, { algorithm }), [], algorithm);
  }
});

test('records pg_control geometry and PG_VERSION for the WAL check', async () => {
  const context = new VerifyContext({ manifest: manifestFor(FILES) });
  await stream(new ManifestVerifyStreamer({ context, archiveName: 'base.tar', tablespaceOid: null }), baseMembers(FILES));
  assert.equal(context.pgVersion, '17');
  assert.equal(context.controlFile?.systemIdentifier, SYSID);
  assert.equal(context.controlFile?.walSegmentSize, 16 * 1024 * 1024);
  assert.equal(context.matchedCount, 4);
});

test('reports changed, resized, extra and missing files in pg_verifybackup\'s words', async () => {
  const damaged = Buffer.from(FILES['base/1/1259']!);
  damaged.writeUInt8(damaged.readUInt8(12345) ^ 1, 12345);
  const changed = { ...FILES, 'base/1/1259': damaged };
  assert.deepEqual(await verify(changed), ['checksum mismatch for file "base/1/1259" in archive "base.tar"']);
  assert.deepEqual(await verify(changed, { skipChecksums: true }), []);

  const resized = { ...FILES, 'pg_tblspc/16384/PG_17_202406281/5/16385': Buffer.alloc(8193, 3) };
  assert.deepEqual(await verify(resized), [
    'file "PG_17_202406281/5/16385" has size 8193 in archive "16384.tar" but size 8192 in the manifest']);

  const extra = { ...FILES, 'base/1/99999': Buffer.alloc(1) };
  assert.deepEqual(await verify(extra), ['file "base/1/99999" is present in archive "base.tar" but not in the manifest']);

  const { 'base/1/1259': _gone, ...missing } = FILES;
  assert.deepEqual(await verify(missing), ['"base/1/1259" is present in the manifest but not on disk']);
});

test('ignores the always-ignored paths and -i paths (and what is below them)', async () => {
  const more = { ...FILES, 'postgresql.auto.conf': Buffer.from('x'), 'standby.signal': Buffer.alloc(0), 'pg_wal/000000010000000000000002': Buffer.alloc(10), 'base/1/1259.1': Buffer.alloc(1) };
  assert.deepEqual(await verify(more, { ignore: ['base/1/1259.1'] }), []);
  const { 'base/1/1259': _gone, ...missing } = FILES;
  assert.deepEqual(await verify(missing, { ignore: ['./base//1/'] }), []);
  // "base/1/12" is not a parent of "base/1/1259"
  assert.deepEqual(await verify(missing, { ignore: ['base/1/12'] }), ['"base/1/1259" is present in the manifest but not on disk']);
});

test('a link or special member is a problem wherever it is, except base.tar\'s pg_tblspc/<oid>; where the manifest lists a file it counts as bad, not missing', async () => {
  const hint = 'A base backup holds symbolic links only as pg_tblspc/<tablespace OID>, and no hard links or special files; ' +
    'restoring this one could read or write outside its data directory.';
  const cases: Array<[string, TarMember, number | null, string[]]> = [
    ['a symlink at an always-ignored name', { ...member('recovery.signal', 0, 'symlink'), linkname: '/root/victim' }, null,
      ['file "recovery.signal" in archive "base.tar" is a symbolic link, not a regular file']],
    ['a symlink where the manifest lists a file', { ...member('backup_label', 0, 'symlink'), linkname: '/etc/passwd' }, null,
      ['file "backup_label" in archive "base.tar" is a symbolic link, not a regular file']],
    ['a hard link where the manifest lists a file', { ...member('backup_label', 0, 'link'), linkname: 'PG_VERSION' }, null,
      ['file "backup_label" in archive "base.tar" is a hard link, not a regular file']],
    ['a special member', member('base/fifo', 0, 'other'), null,
      ['file "base/fifo" in archive "base.tar" is a special file, not a regular file']],
    ['a symlink in a tablespace archive', { ...member('16390', 0, 'symlink'), linkname: '/etc' }, 16384,
      ['file "16390" in archive "16384.tar" is a symbolic link, not a regular file']],
  ];
  for (const [label, extra, oid, expected] of cases) {
    for (const mode of ['streamed', 'observed'] as const) {
      const problems: VerifyProblem[] = [];
      const context = new VerifyContext({ manifest: manifestFor(FILES), onProblem: (p) => problems.push(p) });
      const replaced = (list: Array<[TarMember, Buffer]>): Array<[TarMember, Buffer]> => [
        ...list.filter(([m]) => m.name !== extra.name), [extra, Buffer.alloc(0)]];
      const archives: Array<[string, number | null, Array<[TarMember, Buffer]>]> = [
        ['16384.tar', 16384, oid === 16384 ? replaced(tablespaceMembers(FILES)) : tablespaceMembers(FILES)],
        ['base.tar', null, oid === null ? replaced(baseMembers(FILES)) : baseMembers(FILES)]];
      for (const [archiveName, tablespaceOid, members] of archives) {
        const verifier = new ManifestVerifyStreamer({ context, archiveName, tablespaceOid });
        if (mode === 'streamed') await stream(verifier, members);
        else for (const o of observe(members, { base: tablespaceOid === null, algorithm: 'CRC32C' })) verifier.verifyObserved(o);
      }
      context.reportMissing();
      assert.deepEqual(problems.map((p) => p.message), expected, `${label} (${mode})`);
      assert.deepEqual(problems.map((p) => [p.kind, p.hint]), expected.map(() => ['unexpected', hint]), `${label} (${mode})`);
    }
  }
  // -i hides it (as it hides a file); the always-ignored names do not.
  const ignoring = new VerifyContext({ manifest: manifestFor(FILES), ignore: ['recovery.signal'] });
  await stream(new ManifestVerifyStreamer({ context: ignoring, archiveName: 'base.tar', tablespaceOid: null }),
    [[{ ...member('recovery.signal', 0, 'symlink'), linkname: '/root/victim' }, Buffer.alloc(0)]]);
  assert.deepEqual(ignoring.problems, []);
});

test('version 2: pg_control problems are fatal; version 1 does not look', async () => {
  assert.deepEqual(await verify(FILES, { sysid: 42n }), [
    `FATAL control file "global/pg_control" in archive "base.tar": manifest system identifier is 42, but control file has ${SYSID}`]);
  assert.deepEqual(await verify(FILES, { sysid: 42n, version: 1 }), []);
  const damaged = Buffer.from(CONTROL);
  damaged[20]! ^= 0xff;
  const files = { ...FILES, 'global/pg_control': damaged };
  assert.deepEqual(await verify(files, { manifestFiles: files }), ['FATAL control file "global/pg_control" in archive "base.tar": CRC is incorrect']);
  assert.deepEqual(await verify(files, { manifestFiles: files, version: 1 }), []);
});

test('-e stops at the first problem', async () => {
  const bad = { ...FILES, 'backup_label': Buffer.from('changed label, same length? no'), 'base/1/99999': Buffer.alloc(1) };
  const all = await verify(bad);
  assert.equal(all.length, 2);
  assert.deepEqual(await verify(bad, { exitOnError: true }), [`FATAL ${all[0]}`]);
});

test('canonicalRelativePath folds the path as canonicalize_path does', () => {
  assert.equal(canonicalRelativePath('./a//b/./c/'), 'a/b/c');
  assert.equal(canonicalRelativePath('/abs/x'), 'abs/x');
  assert.equal(canonicalRelativePath('a/../b'), 'b');
  assert.equal(canonicalRelativePath('../a'), '../a');
});

test('verifyObserved learns pg_control and PG_VERSION from the kept heads', async () => {
  const { context } = await verifyBy('observed', FILES, {});
  assert.equal(context.pgVersion, '17');
  assert.equal(context.controlFile?.systemIdentifier, SYSID);
  assert.equal(context.matchedCount, 5);
});

test('verifyObserved refuses a checksum of another algorithm than the manifest\'s', () => {
  const context = new VerifyContext({ manifest: manifestFor(FILES, { algorithm: 'SHA256' }) });
  const verifier = new ManifestVerifyStreamer({ context, archiveName: 'base.tar', tablespaceOid: null });
  const data = FILES['base/1/1259']!;
  assert.throws(() => verifier.verifyObserved({
    member: { name: 'base/1/1259', size: data.length, type: 'file' }, bytes: data.length, algorithm: 'CRC32C',
    digest: computeChecksum('CRC32C', data), head: null,
  }), (err: unknown) => err instanceof InternalError &&
    err.message === 'file "base/1/1259" in archive "base.tar" has a SHA256 checksum in the manifest, but CRC32C was computed');
  // Without checksums to compare there is nothing to refuse.
  const skipping = new VerifyContext({ manifest: manifestFor(FILES, { algorithm: 'SHA256' }), skipChecksums: true });
  new ManifestVerifyStreamer({ context: skipping, archiveName: 'base.tar', tablespaceOid: null }).verifyObserved({
    member: { name: 'base/1/1259', size: data.length, type: 'file' }, bytes: data.length, algorithm: 'CRC32C', digest: null, head: null,
  });
  assert.deepEqual(skipping.problems, []);
});

test('verifyObserved: fewer bytes observed than the header said is reported as pg_verifybackup does', () => {
  const context = new VerifyContext({ manifest: manifestFor(FILES) });
  const data = FILES['base/1/1259']!;
  new ManifestVerifyStreamer({ context, archiveName: 'base.tar', tablespaceOid: null }).verifyObserved({
    member: { name: 'base/1/1259', size: data.length, type: 'file' }, bytes: 100, algorithm: 'CRC32C',
    digest: computeChecksum('CRC32C', data.subarray(0, 100)), head: null,
  });
  assert.deepEqual(context.problems.map((p) => p.message),
    ['file "base/1/1259" in archive "base.tar" should contain 20000 bytes, but 100 bytes were read']);
});
