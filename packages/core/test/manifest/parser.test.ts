import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManifestParser, parseManifest, readManifestFile } from '../../src/manifest/parser.js';
import type { BackupManifest } from '../../src/manifest/manifest.js';
import { FileIoError, ManifestError } from '../../src/errors.js';

/** Appends the checksum line the way the server does, computed independently of our writer. */
function seal(body: string): string {
  const sum = createHash('sha256').update(body, 'utf8').digest('hex');
  return `${body}"Manifest-Checksum": "${sum}"}\n`;
}

const V2_BODY =
  '{ "PostgreSQL-Backup-Manifest-Version": 2,\n' +
  '"System-Identifier": 7351234567890123456,\n' +
  '"Files": [\n' +
  '{ "Path": "backup_label", "Size": 225, "Last-Modified": "2025-01-02 03:04:05 GMT", "Checksum-Algorithm": "CRC32C", "Checksum": "0a1b2c3d" },\n' +
  '{ "Encoded-Path": "626173652f312f31323539", "Size": 8192, "Last-Modified": "2025-01-02 03:04:05 GMT", "Checksum-Algorithm": "sha256", "Checksum": "' + 'AB'.repeat(32) + '" },\n' +
  '{ "Path": "pg_tblspc/16384/PG_17_202406281/5/16385", "Size": 0, "Last-Modified": "2025-01-02 03:04:05 GMT" },\n' +
  '{ "Path": "caf\\u00e9 \\"q\\" \\\\ \\t\\/ \\ud83d\\ude00 é", "Size": 1, "Last-Modified": "x", "Checksum-Algorithm": "NONE" }\n' +
  '],\n' +
  '"WAL-Ranges": [\n' +
  '{ "Timeline": 2, "Start-LSN": "0/5000000", "End-LSN": "0/5000138" },\n' +
  '{ "Timeline": 1, "Start-LSN": "0/2000028", "End-LSN": "0/05000000" }\n' +
  '],\n';
const V2 = seal(V2_BODY);

function checkV2(m: BackupManifest): void {
  assert.equal(m.version, 2);
  assert.equal(m.systemIdentifier, 7351234567890123456n);
  assert.deepEqual(m.files.map((f) => f.path), [
    'backup_label', 'base/1/1259', 'pg_tblspc/16384/PG_17_202406281/5/16385', 'café "q" \\ \t/ 😀 é',
  ]);
  const [label, encoded, noChecksum, escaped] = m.files;
  assert.deepEqual(label, {
    path: 'backup_label', size: 225, lastModified: '2025-01-02 03:04:05 GMT', checksumAlgorithm: 'CRC32C',
    checksum: Buffer.from('0a1b2c3d', 'hex'),
  });
  assert.equal(encoded?.checksumAlgorithm, 'SHA256');
  assert.deepEqual(encoded?.checksum, Buffer.alloc(32, 0xab));
  assert.equal(noChecksum?.checksumAlgorithm, 'NONE');
  assert.equal(noChecksum?.checksum.length, 0);
  assert.equal(escaped?.checksumAlgorithm, 'NONE');
  assert.equal(m.byPath.get('base/1/1259'), encoded);
  assert.deepEqual(m.walRanges, [
    { timeline: 2, startLsn: 0x5000000n, endLsn: 0x5000138n },
    { timeline: 1, startLsn: 0x2000028n, endLsn: 0x5000000n },
  ]);
  assert.equal(m.manifestChecksum, createHash('sha256').update(V2_BODY).digest('hex'));
}

test('parses a version 2 manifest held in memory', () => {
  checkV2(parseManifest(V2));
});

test('parses the same manifest split in two at every byte boundary', () => {
  const bytes = Buffer.from(V2, 'utf8');
  for (let i = 0; i <= bytes.length; i++) {
    const p = new ManifestParser();
    p.write(bytes.subarray(0, i));
    p.write(bytes.subarray(i));
    checkV2(p.end());
  }
});

test('parses the manifest fed one byte at a time from a reused buffer', () => {
  const bytes = Buffer.from(V2, 'utf8');
  const p = new ManifestParser();
  const one = Buffer.alloc(1);
  for (const b of bytes) { one[0] = b; p.write(one); }
  checkV2(p.end());
});

test('parses a version 1 manifest with no files and whitespace variations', () => {
  const m = parseManifest(seal('{ "PostgreSQL-Backup-Manifest-Version": 1,\n"Files": [\n],\n"WAL-Ranges": [\n{ "Timeline": 1, "Start-LSN": "0/2000028", "End-LSN": "0/2000100" }\n],\n'));
  assert.equal(m.version, 1);
  assert.equal(m.systemIdentifier, null);
  assert.deepEqual(m.files, []);
  assert.deepEqual(m.walRanges, [{ timeline: 1, startLsn: 0x2000028n, endLsn: 0x2000100n }]);
  const spaced = parseManifest(seal('\t{"PostgreSQL-Backup-Manifest-Version":1 , "Files":[ {"Size":"3","Path":"a"} ] ,\r\n"WAL-Ranges":[],\n'));
  assert.deepEqual(spaced.files.map((f) => [f.path, f.size, f.lastModified]), [['a', 3, null]]);
});

function expectManifestError(text: string | Buffer, detail: string, hint?: string): void {
  assert.throws(() => parseManifest(text, { source: '/b/backup_manifest' }), (err: unknown) => {
    assert.ok(err instanceof ManifestError, String(err));
    assert.equal(err.message, `could not parse backup manifest "/b/backup_manifest": ${detail}`);
    assert.equal(err.hint, hint);
    return true;
  });
}

const HEAD = '{ "PostgreSQL-Backup-Manifest-Version": 1,\n"Files": [\n';
const TAIL = '\n],\n"WAL-Ranges": [\n],\n';
const withFile = (file: string): string => seal(`${HEAD}${file}${TAIL}`);

test('rejects a manifest whose checksum does not match', () => {
  const tampered = V2.replace('"Size": 225', '"Size": 226');
  expectManifestError(tampered, 'manifest checksum mismatch', 'The manifest was changed or damaged after the backup was taken.');
  expectManifestError(V2.replace(/"Manifest-Checksum": "[0-9a-f]+"/, '"Manifest-Checksum": "abc"'),
    'invalid manifest checksum: "abc"');
  expectManifestError(V2.replace(/"Manifest-Checksum": "([0-9a-f]+)"/, '"Manifest-Checksum": "$1zz"'),
    `invalid manifest checksum: "${createHash('sha256').update(V2_BODY).digest('hex')}zz"`);
});

test('rejects duplicate paths, also when one of them is encoded', () => {
  expectManifestError(withFile('{ "Path": "a", "Size": 1 },\n{ "Path": "a", "Size": 2 }'),
    'duplicate path name in backup manifest: "a"');
  expectManifestError(withFile('{ "Path": "ab", "Size": 1 },\n{ "Encoded-Path": "6162", "Size": 2 }'),
    'duplicate path name in backup manifest: "ab"');
});

test('rejects bad file entries with the server parser\'s wording', () => {
  const cases: Array<[string, string]> = [
    ['{ "Size": 1 }', 'missing path name'],
    ['{ "Path": "a", "Encoded-Path": "61", "Size": 1 }', 'both path name and encoded path name'],
    ['{ "Path": "a" }', 'missing size'],
    ['{ "Path": "a", "Size": 1, "Checksum": "00" }', 'checksum without algorithm'],
    ['{ "Encoded-Path": "616", "Size": 1 }', 'could not decode file name'],
    ['{ "Encoded-Path": "zz", "Size": 1 }', 'could not decode file name'],
    ['{ "Path": "a", "Size": 1.5 }', 'file size is not an integer'],
    ['{ "Path": "a", "Size": -1 }', 'file size is not an integer'],
    ['{ "Path": "a", "Size": 1, "Checksum-Algorithm": "MD5", "Checksum": "00" }', 'unrecognized checksum algorithm: "MD5"'],
    ['{ "Path": "a", "Size": 1, "Checksum-Algorithm": "CRC32C", "Checksum": "0g" }', 'invalid checksum for file "a": "0g"'],
    ['{ "Path": "a", "Size": 1, "Checksum-Algorithm": "CRC32C", "Checksum": "000" }', 'invalid checksum for file "a": "000"'],
    ['{ "Path": "a", "Size": 1, "Mode": 1 }', 'unexpected file field'],
    ['{ "Path": "a", "Size": 1, "x": { } }', 'unexpected file field'],
    ['{ "Path": ["a"], "Size": 1 }', 'unexpected array start'],
    ['[]', 'unexpected array start'],
  ];
  for (const [file, detail] of cases) expectManifestError(withFile(file), detail);
});

test('rejects bad top-level structure and WAL ranges', () => {
  const cases: Array<[string, string]> = [
    ['{ "Files": [],\n', 'expected version indicator'],
    ['{ "PostgreSQL-Backup-Manifest-Version": 3,\n', 'unexpected manifest version'],
    ['{ "PostgreSQL-Backup-Manifest-Version": "one",\n', 'manifest version not an integer'],
    ['{ "PostgreSQL-Backup-Manifest-Version": 2,\n"System-Identifier": "x1",\n', 'manifest system identifier not an integer'],
    ['{ "PostgreSQL-Backup-Manifest-Version": 1,\n"Extra": 1,\n', 'unrecognized top-level field'],
    ['{ "PostgreSQL-Backup-Manifest-Version": 1,\n"Files": {},\n', 'unexpected object start'],
    ['{ "PostgreSQL-Backup-Manifest-Version": 1,\n"WAL-Ranges": [ { "Timeline": 1, "Start-LSN": "0/1" } ],\n', 'missing end LSN'],
    ['{ "PostgreSQL-Backup-Manifest-Version": 1,\n"WAL-Ranges": [ { "End-LSN": "0/1", "Start-LSN": "0/1" } ],\n', 'missing timeline'],
    ['{ "PostgreSQL-Backup-Manifest-Version": 1,\n"WAL-Ranges": [ { "Timeline": 1, "End-LSN": "0/1" } ],\n', 'missing start LSN'],
    ['{ "PostgreSQL-Backup-Manifest-Version": 1,\n"WAL-Ranges": [ { "Timeline": "x", "Start-LSN": "0/1", "End-LSN": "0/1" } ],\n', 'timeline is not an integer'],
    ['{ "PostgreSQL-Backup-Manifest-Version": 1,\n"WAL-Ranges": [ { "Timeline": 1, "Start-LSN": "01", "End-LSN": "0/1" } ],\n', 'could not parse start LSN'],
    ['{ "PostgreSQL-Backup-Manifest-Version": 1,\n"WAL-Ranges": [ { "Timeline": 1, "Start-LSN": "0/1", "End-LSN": "0/x" } ],\n', 'could not parse end LSN'],
    ['{ "PostgreSQL-Backup-Manifest-Version": 1,\n"WAL-Ranges": [ { "Timeline": 1, "Start-LSN": "0/1", "End-LSN": "0/1", "TLI": 1 } ],\n', 'unexpected WAL range field'],
  ];
  for (const [body, detail] of cases) expectManifestError(seal(body), detail);
});

test('rejects invalid JSON, naming the line', () => {
  expectManifestError('{ "PostgreSQL-Backup-Manifest-Version": 1,\n"Files": [ @ ]}\n', 'invalid JSON at line 2: unexpected character "@"');
  expectManifestError('{ "PostgreSQL-Backup-Manifest-Version": 1,\n"Files": [ x ]}\n', 'invalid JSON at line 2: invalid token "x"');
  expectManifestError('{ "PostgreSQL-Backup-Manifest-Version": 1,,\n', 'invalid JSON at line 1: unexpected ","');
  expectManifestError('{ "PostgreSQL-Backup-Manifest-Version": 1,\n"Files": [\n', 'invalid JSON at line 3: the input ended unexpectedly');
  expectManifestError('{ "PostgreSQL-Backup-Manifest-Version": 1,\n"Files": [ "ab', 'invalid JSON at line 2: the input ended inside a string');
  expectManifestError('{ "PostgreSQL-Backup-Manifest-Version": 01 }\n\n', 'invalid JSON at line 1: invalid number "01"');
  expectManifestError('{ "PostgreSQL-Backup-Manifest-Version": nul }\n\n', 'invalid JSON at line 1: invalid token "nul"');
  expectManifestError('{ "PostgreSQL-Backup-Manifest-Version": "\\x" }\n\n', 'invalid JSON at line 1: invalid escape "\\x"');
  expectManifestError('{ "PostgreSQL-Backup-Manifest-Version": "\\u0000" }\n\n', 'invalid JSON at line 1: \\u0000 is not allowed in a string');
  expectManifestError('{ "PostgreSQL-Backup-Manifest-Version": "\\ud800" }\n\n', 'invalid JSON at line 1: unpaired Unicode surrogate in string');
  expectManifestError('{ "PostgreSQL-Backup-Manifest-Version": "a\tb" }\n\n', 'invalid JSON at line 1: control character in string');
  expectManifestError(Buffer.concat([Buffer.from('{ "PostgreSQL-Backup-Manifest-Version": "'), Buffer.of(0xc3, 0x28), Buffer.from('" }\n\n')]),
    'invalid JSON at line 1: string is not valid UTF-8');
  expectManifestError(`${V2}{}`, 'invalid JSON at line 14: unexpected "{"');
});

test('rejects a manifest that is truncated anywhere', () => {
  const bytes = Buffer.from(V2, 'utf8');
  for (let i = 0; i < bytes.length; i++) {
    assert.throws(() => parseManifest(bytes.subarray(0, i)), ManifestError, `truncated at ${i}`);
  }
});

test('rejects a single-line manifest and one without a final newline', () => {
  const body = '{ "PostgreSQL-Backup-Manifest-Version": 1, "Files": [], "WAL-Ranges": [], ';
  const sum = createHash('sha256').update('').digest('hex');
  expectManifestError(`${body}"Manifest-Checksum": "${sum}"}\n`, 'expected at least 2 lines');
  expectManifestError(V2.slice(0, -1), 'last line not newline-terminated');
  expectManifestError(`${V2}  `, 'last line not newline-terminated');
});

test('readManifestFile streams a file and names it in errors', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'manifest-'));
  try {
    const path = join(dir, 'backup_manifest');
    writeFileSync(path, V2);
    checkV2(await readManifestFile(path));
    writeFileSync(path, V2.replace('225', '226'));
    await assert.rejects(readManifestFile(path), {
      name: 'ManifestError', message: `could not parse backup manifest "${path}": manifest checksum mismatch`,
    });
    const missing = join(dir, 'nope');
    await assert.rejects(readManifestFile(missing), (err: unknown) => {
      assert.ok(err instanceof FileIoError);
      assert.equal(err.message, `could not open file "${missing}": no such file or directory`);
      return true;
    });
    await assert.rejects(readManifestFile(dir), { name: 'FileIoError', message: `could not read file "${dir}": illegal operation on a directory` });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
