import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  parseBaseBackupArgs, parseMaxRate, parseTablespaceMapping, canonicalizePath,
} from '../../src/bin/basebackup-args.js';
import { InvalidOptionError, NotSupportedError } from '../../src/errors.js';

function run(argv: string[]) {
  const r = parseBaseBackupArgs(argv);
  assert.equal(r.action, 'run');
  if (r.action !== 'run') throw new Error('unreachable');
  return r.options;
}

function rejects(argv: string[], message: string, hint?: string) {
  assert.throws(() => parseBaseBackupArgs(argv), (err: unknown) => {
    assert.ok(err instanceof InvalidOptionError, `expected InvalidOptionError, got ${String(err)}`);
    assert.equal(err.message, message);
    if (hint !== undefined) assert.equal(err.hint, hint);
    return true;
  });
}

test('defaults are pg_basebackup defaults', () => {
  const o = run(['-D', '/tmp/x']);
  assert.equal(o.format, 'plain');
  assert.equal(o.walMethod, 'stream');
  assert.equal(o.temporarySlot, true);
  assert.equal(o.checkpoint, 'spread');
  assert.equal(o.label, 'pg_basebackup base backup');
  assert.equal(o.manifest, true);
  assert.equal(o.manifestChecksums, 'CRC32C');
  assert.equal(o.sync, true);
  assert.equal(o.noClean, false);
  assert.equal(o.verifyChecksums, true);
  assert.equal(o.estimateSize, true);
  assert.equal(o.statusIntervalSec, 10);
  assert.equal(o.compression.method, 'none');
  assert.equal(o.passwordPrompt, 'auto');
});

test('short options with attached values and long forms', () => {
  const o = run(['-Ft', '-Xfetch', '-cfast', '-lmy label', '-D/tmp/x', '-P', '-vv', '-Z9', '-N', '-n', '-R']);
  assert.equal(o.format, 'tar');
  assert.equal(o.walMethod, 'fetch');
  assert.equal(o.checkpoint, 'fast');
  assert.equal(o.label, 'my label');
  assert.equal(o.pgdata, '/tmp/x');
  assert.equal(o.progress, true);
  assert.equal(o.verbose, 2);
  assert.equal(o.compression.method, 'gzip');
  assert.equal(o.compression.location, 'client');
  assert.equal(o.sync, false);
  assert.equal(o.noClean, true);
  assert.equal(o.writeRecoveryConf, true);
  const l = run(['--pgdata=/tmp/y', '--format=tar', '--wal-method=none', '--checkpoint=spread', '--gzip']);
  assert.equal(l.format, 'tar');
  assert.equal(l.walMethod, 'none');
  assert.equal(l.compression.method, 'gzip');
});

test('connection options', () => {
  const o = run(['-D', '/x', '-d', 'host=a port=1', '-h', '/tmp', '-p', '5433', '-U', 'rep', '-w']);
  assert.deepEqual(o.connection, { connectionString: 'host=a port=1', host: '/tmp', port: 5433, user: 'rep' });
  assert.equal(o.passwordPrompt, 'never');
  assert.equal(run(['-D', '/x', '-W']).passwordPrompt, 'force');
  rejects(['-D', '/x', '-p', 'abc'], 'invalid port number: "abc"');
});

test('server-side and explicit client compression specs', () => {
  const s = run(['-Ft', '-D', '/x', '-Z', 'server-zstd:level=5']);
  assert.equal(s.compression.location, 'server');
  assert.equal(s.compression.method, 'zstd');
  const c = run(['-Ft', '-D', '/x', '--compress=client-lz4']);
  assert.equal(c.compression.location, 'client');
  assert.equal(c.compression.method, 'lz4');
  const none = run(['-Ft', '-D', '/x', '-Z0']);
  assert.equal(none.compression.method, 'none');
  // plain format may use server-side compression (the client decompresses), not client-side
  assert.equal(run(['-D', '/x', '-Z', 'server-gzip']).compression.location, 'server');
  rejects(['-D', '/x', '-z'], 'only tar mode backups can be compressed');
});

test('incompatible and invalid flags carry pg_basebackup texts', () => {
  rejects([], 'no target directory specified', 'Try "pgfleet-basebackup --help" for more information.');
  rejects(['-D', '/x', 'extra'], 'too many command-line arguments (first is "extra")');
  rejects(['-D', '/x', '-F', 'zip'], 'invalid output format "zip", must be "plain" or "tar"');
  rejects(['-D', '/x', '-X', 'all'], 'invalid wal-method option "all", must be "fetch", "stream", or "none"');
  rejects(['-D', '/x', '-c', 'slow'], 'invalid checkpoint argument "slow", must be "fast" or "spread"');
  rejects(['-D', '-', '-Ft'], 'cannot stream write-ahead logs in tar mode to stdout', 'Use -X none or -X fetch to disable log streaming.');
  rejects(['-D', '/x', '-X', 'fetch', '-S', 'slot1'], 'replication slots can only be used with WAL streaming');
  rejects(['-D', '/x', '-S', 's', '--no-slot'], '--no-slot cannot be used with slot name');
  rejects(['-D', '/x', '--no-slot', '-S', 's'], '--no-slot cannot be used with slot name');
  rejects(['-D', '/x', '-C'], '--create-slot needs a slot to be specified using --slot');
  rejects(['-D', '/x', '-Ft', '--waldir', '/w'], 'WAL directory location can only be specified in plain mode');
  rejects(['-D', '/x', '--waldir', 'w'], 'WAL directory location must be an absolute path');
  rejects(['-D', '/x', '-P', '--no-estimate-size'], '--progress and --no-estimate-size are incompatible options');
  rejects(['-D', '/x', '--no-manifest', '--manifest-checksums=SHA256'], '--no-manifest and --manifest-checksums are incompatible options');
  rejects(['-D', '/x', '--no-manifest', '--manifest-force-encode'], '--no-manifest and --manifest-force-encode are incompatible options');
  rejects(['-D', '/x', '--manifest-checksums=md5'], 'invalid checksum algorithm "md5"');
  rejects(['-D', '/x', '--bogus'], 'unknown option "--bogus"');
  rejects(['-D', '/x', '-S', 'Bad-Name'], 'replication slot name "Bad-Name" is invalid');
});

test('-i and -t answer not supported yet', () => {
  assert.throws(() => parseBaseBackupArgs(['-D', '/x', '-i', '/m']), NotSupportedError);
  assert.throws(() => parseBaseBackupArgs(['-t', 'server:/x']), NotSupportedError);
});

test('help and version', () => {
  assert.equal(parseBaseBackupArgs(['-?']).action, 'help');
  assert.equal(parseBaseBackupArgs(['--help']).action, 'help');
  assert.equal(parseBaseBackupArgs(['-V']).action, 'version');
});

test('manifest checksum names are case-insensitive', () => {
  assert.equal(run(['-D', '/x', '--manifest-checksums=sha512']).manifestChecksums, 'SHA512');
  assert.equal(run(['-D', '/x', '--manifest-force-encode']).manifestForceEncode, true);
});

test('max rate: units and range', () => {
  assert.equal(parseMaxRate('100'), 100);
  assert.equal(parseMaxRate('100k'), 100);
  assert.equal(parseMaxRate('2M'), 2048);
  assert.throws(() => parseMaxRate('abc'), { message: 'transfer rate "abc" is not a valid value' });
  assert.throws(() => parseMaxRate('0'), { message: 'transfer rate must be greater than zero' });
  assert.throws(() => parseMaxRate('10'), { message: 'transfer rate "10" is out of range' });
  assert.throws(() => parseMaxRate('5G'), { message: 'invalid --max-rate unit: "G"' });
  assert.throws(() => parseMaxRate('2000M'), { message: 'transfer rate "2000M" is out of range' });
});

test('tablespace mapping: escapes, absolute paths, canonical form', () => {
  assert.deepEqual(parseTablespaceMapping('/a/b/=/c//d'), { oldDir: '/a/b', newDir: '/c/d' });
  assert.deepEqual(parseTablespaceMapping('/a\\=b=/c'), { oldDir: '/a=b', newDir: '/c' });
  assert.throws(() => parseTablespaceMapping('/a=/b=/c'), { message: 'multiple "=" signs in tablespace mapping' });
  assert.throws(() => parseTablespaceMapping('/a'), { message: 'invalid tablespace mapping format "/a", must be "OLDDIR=NEWDIR"' });
  assert.throws(() => parseTablespaceMapping('a=/b'), { message: 'old directory is not an absolute path in tablespace mapping: a' });
  assert.throws(() => parseTablespaceMapping('/a=b'), { message: 'new directory is not an absolute path in tablespace mapping: b' });
  assert.equal(canonicalizePath('/x/./y/../z/'), '/x/z');
  const o = run(['-D', '/x', '-T', '/old=/new', '--tablespace-mapping=/o2=/n2']);
  assert.deepEqual(o.tablespaceMappings, [{ oldDir: '/old', newDir: '/new' }, { oldDir: '/o2', newDir: '/n2' }]);
});
