import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import {
  escapeJsonString, formatManifestTime, ManifestWriter, writeManifest, type ManifestFileEntry,
} from '../../src/manifest/writer.js';
import type { ManifestFile } from '../../src/manifest/manifest.js';
import { parseManifest } from '../../src/manifest/parser.js';
import { InvalidOptionError } from '../../src/errors.js';

function seal(body: string): string {
  return `${body}"Manifest-Checksum": "${createHash('sha256').update(body, 'utf8').digest('hex')}"}\n`;
}

const MTIME = new Date(Date.UTC(2025, 0, 2, 3, 4, 5, 999));
const FILES: ManifestFileEntry[] = [
  { path: 'backup_label', size: 225, lastModified: MTIME, checksumAlgorithm: 'CRC32C', checksum: Buffer.from('0a1b2c3d', 'hex') },
  { path: 'base/1/1259', size: 8192, lastModified: '2024-12-31 23:59:59 GMT', checksumAlgorithm: 'NONE', checksum: Buffer.alloc(0) },
  { path: 'odd "name"\n\u0001', size: 0, lastModified: MTIME, checksumAlgorithm: 'SHA224', checksum: Buffer.alloc(28, 1) },
];
/**
 * writeManifest is declared for parsed files (ManifestFile: text times, Buffer digests) but
 * hands each one to ManifestWriter.addFile, which takes the wider ManifestFileEntry (a Date to
 * format, any Uint8Array): these tests feed it the wider form on purpose.
 */
function asParsedFiles(entries: ManifestFileEntry[]): ManifestFile[] {
  return entries as ManifestFile[];
}
const RANGES = [
  { timeline: 2, startLsn: 0x5000000n, endLsn: 0x1_0500_0138n },
  { timeline: 1, startLsn: 0x2000028n, endLsn: 0x5000000n },
];

test('writes the server\'s byte layout for a version 2 manifest', () => {
  const expected = seal(
    '{ "PostgreSQL-Backup-Manifest-Version": 2,\n"System-Identifier": 7351234567890123456,\n"Files": [\n' +
    '{ "Path": "backup_label", "Size": 225, "Last-Modified": "2025-01-02 03:04:05 GMT", "Checksum-Algorithm": "CRC32C", "Checksum": "0a1b2c3d" },\n' +
    '{ "Path": "base/1/1259", "Size": 8192, "Last-Modified": "2024-12-31 23:59:59 GMT" },\n' +
    '{ "Path": "odd \\"name\\"\\n\\u0001", "Size": 0, "Last-Modified": "2025-01-02 03:04:05 GMT", "Checksum-Algorithm": "SHA224", "Checksum": "' + '01'.repeat(28) + '" }\n' +
    '],\n"WAL-Ranges": [\n' +
    '{ "Timeline": 2, "Start-LSN": "0/5000000", "End-LSN": "1/5000138" },\n' +
    '{ "Timeline": 1, "Start-LSN": "0/2000028", "End-LSN": "0/5000000" }\n' +
    '],\n');
  const w = new ManifestWriter({ systemIdentifier: 7351234567890123456n });
  for (const f of FILES) w.addFile(f);
  assert.equal(w.finish(RANGES).toString('utf8'), expected);
});

test('writes a version 1 manifest with no files as servers 13-16 do', () => {
  const expected = seal('{ "PostgreSQL-Backup-Manifest-Version": 1,\n"Files": [\n],\n"WAL-Ranges": [\n' +
    '{ "Timeline": 1, "Start-LSN": "0/2000028", "End-LSN": "0/2000100" }\n],\n');
  const out = new ManifestWriter().finish([{ timeline: 1, startLsn: 0x2000028n, endLsn: 0x2000100n }]);
  assert.equal(out.toString('utf8'), expected);
});

test('our output parses back to the same entries, in both path forms', () => {
  for (const forceEncode of [false, true]) {
    const bytes = writeManifest({ version: 2, systemIdentifier: 42n, files: asParsedFiles(FILES.map((f) => ({ ...f }))), walRanges: RANGES }, { forceEncode });
    assert.equal(bytes.includes('"Encoded-Path"'), forceEncode);
    const m = parseManifest(bytes);
    assert.equal(m.version, 2);
    assert.equal(m.systemIdentifier, 42n);
    assert.deepEqual(m.files.map((f) => [f.path, f.size, f.checksumAlgorithm, f.checksum.toString('hex'), f.lastModified]),
      FILES.map((f) => [f.path, f.size, f.checksumAlgorithm, Buffer.from(f.checksum).toString('hex'),
        typeof f.lastModified === 'string' ? f.lastModified : '2025-01-02 03:04:05 GMT']));
    assert.deepEqual(m.walRanges, RANGES);
    // and writing the parsed manifest again reproduces the bytes exactly
    assert.deepEqual(writeManifest(m, { forceEncode }), bytes);
  }
});

test('streaming through onData gives the same bytes as collecting', () => {
  const chunks: Buffer[] = [];
  const w = new ManifestWriter({ version: 1, onData: (c) => chunks.push(c) });
  for (const f of FILES) w.addFile(f);
  assert.equal(w.finish(RANGES).length, 0);
  assert.ok(chunks.length > 3);
  assert.deepEqual(Buffer.concat(chunks), writeManifest({ version: 1, systemIdentifier: null, files: asParsedFiles(FILES), walRanges: RANGES }));
});

test('escapes strings exactly like the server', () => {
  assert.equal(escapeJsonString('a/b'), '"a/b"');
  assert.equal(escapeJsonString('\b\f\n\r\t"\\'), '"\\b\\f\\n\\r\\t\\"\\\\"');
  assert.equal(escapeJsonString('\u0000\u001f\u007f é😀'), '"\\u0000\\u001f\u007f é😀"');
  assert.equal(formatManifestTime(new Date(Date.UTC(999, 11, 31, 0, 0, 0))), '0999-12-31 00:00:00 GMT');
});

test('rejects inconsistent versions and use after finish', () => {
  assert.throws(() => new ManifestWriter({ version: 2 }), InvalidOptionError);
  assert.throws(() => new ManifestWriter({ version: 1, systemIdentifier: 1n }), InvalidOptionError);
  const w = new ManifestWriter();
  w.finish([]);
  assert.throws(() => w.addFile(FILES[0]!), /backup manifest already finished/);
});
