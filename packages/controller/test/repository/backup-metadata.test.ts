import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatBackupMetadata, parseBackupMetadata } from '../../src/repository/backup-metadata.js';
import { sampleMetadata } from './fixtures.js';

test('backup.json round-trips', () => {
  const meta = sampleMetadata('a', '20250101T000000Z', [{ name: 'base.tar', size: 3 }]);
  assert.deepEqual(parseBackupMetadata(formatBackupMetadata(meta)), { ok: true, metadata: meta });
});

test('an incomplete or foreign backup.json is refused with the reason', () => {
  const meta = sampleMetadata('a', '20250101T000000Z');
  const cases: Array<[unknown, string]> = [
    [[], 'not a JSON object'],
    [{ ...meta, format: 2 }, 'unsupported format 2'],
    [{ ...meta, endLsn: undefined }, 'field "endLsn" missing or not a string'],
    [{ ...meta, timeline: -1 }, 'field "timeline" missing or not a non-negative integer'],
    [{ ...meta, status: 'running' }, 'status is "running", not "ok" or "damaged"'],
    [{ ...meta, type: 'incr' }, 'type is "incr", not "full"'],
    [{ ...meta, walMethod: 'none' }, 'field "walMethod" must be "stream" or "fetch"'],
    [{ ...meta, tablespaces: [{ oid: '1' }] }, 'field "tablespaces" malformed'],
    [{ ...meta, files: {} }, 'field "files" malformed'],
  ];
  for (const [doc, reason] of cases) assert.deepEqual(parseBackupMetadata(JSON.stringify(doc)), { ok: false, reason });
  const bad = parseBackupMetadata('{');
  assert.equal(bad.ok, false);
  assert.match((bad as { reason: string }).reason, /^invalid JSON: /);
});
