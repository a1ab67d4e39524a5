import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildBaseBackupCommand, replicationSyntaxFor } from '../../src/replication/base-backup-command.js';
import type { BaseBackupOptions } from '../../src/replication/base-backup-events.js';

const defaults: BaseBackupOptions = {
  label: 'pg_basebackup base backup',
  progress: true,
  checkpoint: 'fast',
  wal: false,
  wait: false,
  maxRateKbPerSec: null,
  tablespaceMap: false,
  verifyChecksums: true,
  manifest: 'yes',
  manifestChecksums: 'CRC32C',
  compression: null,
};

test('the grammar is chosen by version: legacy up to 14, option lists from 15', () => {
  assert.equal(replicationSyntaxFor(140009), 'legacy');
  assert.equal(replicationSyntaxFor(149999), 'legacy');
  assert.equal(replicationSyntaxFor(150000), 'options');
  assert.equal(replicationSyntaxFor(180001), 'options');
});

test('pg_basebackup-like commands for 15+ and 14', () => {
  assert.equal(buildBaseBackupCommand(defaults, 150004),
    "BASE_BACKUP ( LABEL 'pg_basebackup base backup', PROGRESS, CHECKPOINT 'fast', WAIT 0, MANIFEST 'yes', MANIFEST_CHECKSUMS 'CRC32C', TARGET 'client' )");
  assert.equal(buildBaseBackupCommand(defaults, 140009),
    "BASE_BACKUP LABEL 'pg_basebackup base backup' PROGRESS FAST NOWAIT MANIFEST 'yes' MANIFEST_CHECKSUMS 'CRC32C'");
});

test('every option in both grammars', () => {
  const all: BaseBackupOptions = {
    ...defaults, progress: false, checkpoint: 'spread', wal: true, wait: true, maxRateKbPerSec: 32,
    tablespaceMap: true, verifyChecksums: false, manifest: 'force-encode', manifestChecksums: 'SHA256',
  };
  assert.equal(buildBaseBackupCommand(all, 140000),
    "BASE_BACKUP LABEL 'pg_basebackup base backup' WAL MAX_RATE 32 TABLESPACE_MAP NOVERIFY_CHECKSUMS MANIFEST 'force-encode' MANIFEST_CHECKSUMS 'SHA256'");
  assert.equal(buildBaseBackupCommand({ ...all, compression: { method: 'zstd', detail: 'level=3,long' } }, 170000),
    "BASE_BACKUP ( LABEL 'pg_basebackup base backup', WAL, MAX_RATE 32, TABLESPACE_MAP, VERIFY_CHECKSUMS 0, MANIFEST 'force-encode', MANIFEST_CHECKSUMS 'SHA256', COMPRESSION 'zstd', COMPRESSION_DETAIL 'level=3,long', TARGET 'client' )");
  assert.equal(buildBaseBackupCommand({ ...defaults, manifest: 'no', compression: { method: 'gzip', detail: null } }, 150000),
    "BASE_BACKUP ( LABEL 'pg_basebackup base backup', PROGRESS, CHECKPOINT 'fast', WAIT 0, COMPRESSION 'gzip', TARGET 'client' )");
});

test('labels are standard strings: quotes doubled, backslashes literal', () => {
  const label = "it's a \\ backup ''";
  assert.equal(buildBaseBackupCommand({ ...defaults, label, manifest: 'no', progress: false }, 140000),
    "BASE_BACKUP LABEL 'it''s a \\ backup ''''' FAST NOWAIT");
  assert.throws(() => buildBaseBackupCommand({ ...defaults, label: 'a\0b' }, 150000), {
    name: 'InvalidOptionError', message: 'a string in a replication command cannot contain a NUL character',
  });
});

test('no manifest is requested from servers older than 13; no compression before 15', () => {
  assert.equal(buildBaseBackupCommand({ ...defaults, progress: false }, 120000),
    "BASE_BACKUP LABEL 'pg_basebackup base backup' FAST NOWAIT");
  assert.throws(() => buildBaseBackupCommand({ ...defaults, compression: { method: 'lz4', detail: null } }, 140000), {
    name: 'NotSupportedError', message: 'server version 14 does not support server-side compression',
  });
});

test('MAX_RATE is checked against the server\'s range', () => {
  assert.throws(() => buildBaseBackupCommand({ ...defaults, maxRateKbPerSec: 31 }, 150000), {
    name: 'InvalidOptionError', message: 'transfer rate "31" is out of range',
  });
  assert.throws(() => buildBaseBackupCommand({ ...defaults, maxRateKbPerSec: 1048577 }, 150000), { name: 'InvalidOptionError' });
  assert.match(buildBaseBackupCommand({ ...defaults, maxRateKbPerSec: 1048576 }, 150000), /MAX_RATE 1048576,/);
});

test('a backup target (15+): TABLESPACE_MAP, TARGET and TARGET_DETAIL as pg_basebackup -t sends them; refused before 15', () => {
  assert.equal(buildBaseBackupCommand({ ...defaults, target: { name: 'server', detail: "/srv/it's" } }, 150000),
    "BASE_BACKUP ( LABEL 'pg_basebackup base backup', PROGRESS, CHECKPOINT 'fast', WAIT 0, MANIFEST 'yes', MANIFEST_CHECKSUMS 'CRC32C', TABLESPACE_MAP, TARGET 'server', TARGET_DETAIL '/srv/it''s' )");
  assert.equal(buildBaseBackupCommand({ ...defaults, manifest: 'no', progress: false, target: { name: 'blackhole', detail: null } }, 180000),
    "BASE_BACKUP ( LABEL 'pg_basebackup base backup', CHECKPOINT 'fast', WAIT 0, TABLESPACE_MAP, TARGET 'blackhole' )");
  assert.throws(() => buildBaseBackupCommand({ ...defaults, target: { name: 'blackhole', detail: null } }, 140000), {
    name: 'NotSupportedError', message: 'backup targets are not supported by this server version',
  });
});
