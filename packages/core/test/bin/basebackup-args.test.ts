import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  parseBaseBackupArgs, parseMaxRate, parseTablespaceMapping, canonicalizePath,
} from '../../src/bin/basebackup-args.js';
import { InvalidOptionError, NotSupportedError } from '../../src/errors.js';
import { GetoptComplaint } from '../../src/bin/getopt.js';

const TRY = 'Try "pgfleet-basebackup --help" for more information.';

function run(argv: string[]) {
  const r = parseBaseBackupArgs(argv);
  assert.equal(r.action, 'run');
  if (r.action !== 'run') throw new Error('unreachable');
  return r.options;
}

/** The error pg_basebackup reports first for argv, and its hint (undefined: none, as pg_fatal). */
function rejects(argv: string[], message: string, hint?: string) {
  assert.throws(() => parseBaseBackupArgs(argv), (err: unknown) => {
    assert.ok(err instanceof InvalidOptionError, `expected InvalidOptionError, got ${String(err)}`);
    assert.ok(!(err instanceof GetoptComplaint), `not a getopt complaint: ${err.message}`);
    assert.equal(err.message, message);
    assert.equal(err.hint, hint, `hint for ${argv.join(' ')}`);
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
  // libpq's words, which pg_basebackup prints when connecting.
  rejects(['-D', '/x', '-p', 'abc'], 'invalid integer value "abc" for connection option "port"');
  rejects(['-D', '/x', '-p', '99999'], 'invalid port number: "99999"');
  assert.equal(run(['-D', '/x', '-p', ' 5433 ']).connection.port, 5433);
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
  rejects(['-D', '/x', '-z'], 'only tar mode backups can be compressed', TRY);
});

test('incompatible and invalid flags carry pg_basebackup texts, with its hint exactly where it gives one', () => {
  rejects([], 'must specify output directory or backup target', TRY);
  rejects(['-D', '/x', 'extra'], 'too many command-line arguments (first is "extra")', TRY);
  rejects(['extra', '-F', 'zip'], 'invalid output format "zip", must be "plain" or "tar"');
  rejects(['-D', '/x', '-F', 'zip'], 'invalid output format "zip", must be "plain" or "tar"');
  rejects(['-D', '/x', '-X', 'all'], 'invalid wal-method option "all", must be "fetch", "stream", or "none"');
  rejects(['-D', '/x', '-c', 'slow'], 'invalid checkpoint argument "slow", must be "fast" or "spread"');
  assert.equal(run(['-D', '/x', '-c', 'FAST']).checkpoint, 'fast');
  rejects(['-D', '/x', '-s', ' 5x'], 'invalid value " 5x" for option -s/--status-interval');
  rejects(['-D', '/x', '-s', '2147484'], '-s/--status-interval must be in range 0..2147483');
  assert.equal(run(['-D', '/x', '-s', ' 7 ']).statusIntervalSec, 7);
  rejects(['-D', '-', '-Ft'], 'cannot stream write-ahead logs in tar mode to stdout', TRY);
  rejects(['-D', '/x', '-X', 'fetch', '-S', 'slot1'], 'replication slots can only be used with WAL streaming', TRY);
  rejects(['-D', '/x', '-S', 's', '--no-slot'], '--no-slot cannot be used with slot name', TRY);
  rejects(['-D', '/x', '--no-slot', '-S', 's'], '--no-slot cannot be used with slot name', TRY);
  rejects(['-D', '/x', '-C'], '--create-slot needs a slot to be specified using --slot', TRY);
  rejects(['-D', '/x', '-C', '-S', 's', '--no-slot'], '--no-slot cannot be used with slot name', TRY);
  rejects(['-D', '/x', '-Ft', '--waldir', '/w'], 'WAL directory location can only be specified in plain mode', TRY);
  rejects(['-D', '/x', '--waldir', 'w'], 'WAL directory location must be an absolute path', TRY);
  rejects(['-D', '/x', '-P', '--no-estimate-size'], '--progress and --no-estimate-size are incompatible options', TRY);
  rejects(['-D', '/x', '--no-manifest', '--manifest-checksums=SHA256'], '--no-manifest and --manifest-checksums are incompatible options', TRY);
  rejects(['-D', '/x', '--no-manifest', '--manifest-force-encode'], '--no-manifest and --manifest-force-encode are incompatible options', TRY);
  rejects(['-D', '/x', '--sync-method', 'fast'], 'unrecognized sync method: fast');
  rejects(['-D', '/x', '-F', 't', '-Z', 'bogus'], 'unrecognized compression algorithm: "bogus"');
  // The server names an unknown manifest checksum algorithm, as it does for pg_basebackup.
  assert.equal(run(['-D', '/x', '--manifest-checksums=md5']).manifestChecksums, 'md5');
  // Slot names are the server's business too ("replication slot "Bad-Name" does not exist").
  assert.equal(run(['-D', '/x', '-S', 'Bad-Name']).slot, 'Bad-Name');
});

test('getopt complaints: the line getopt prints, then the hint', () => {
  const complaint = (argv: string[], line: string | null) => {
    assert.throws(() => parseBaseBackupArgs(argv, { name: 'pg_basebackup', argv0: '/usr/bin/pg_basebackup' }), (err: unknown) => {
      assert.ok(err instanceof GetoptComplaint, String(err));
      assert.equal(err.complaint, line);
      assert.equal(err.hint, 'Try "pg_basebackup --help" for more information.');
      return true;
    });
  };
  complaint(['-D', '/x', '-q'], "/usr/bin/pg_basebackup: invalid option -- 'q'");
  complaint(['--bogus'], "/usr/bin/pg_basebackup: unrecognized option '--bogus'");
  complaint(['-D'], "/usr/bin/pg_basebackup: option requires an argument -- 'D'");
  complaint(['--ver'], "/usr/bin/pg_basebackup: option '--ver' is ambiguous; possibilities: '--version' '--verbose'");
  // Accepted by getopt, not by the switch: only the hint.
  complaint(['-D', '/x', '--help'], null);
  complaint(['-D', '/x', '--version'], null);
  complaint(['-D', '/x', '-?'], "/usr/bin/pg_basebackup: invalid option -- '?'");
});

test('backup targets: server:DIR and blackhole, with pg_basebackup\'s cross-checks; -i is not supported', () => {
  assert.deepEqual(run(['-t', 'server:/srv/b', '-X', 'none']).target, { name: 'server', detail: '/srv/b' });
  assert.deepEqual(run(['--target=blackhole', '-X', 'fetch']).target, { name: 'blackhole', detail: null });
  // Unknown targets and bad details are refused by the server, in its words.
  assert.deepEqual(run(['-t', 'bogus:x', '-X', 'none']).target, { name: 'bogus', detail: 'x' });
  assert.equal(run(['-t', 'client', '-D', '/x']).target, null);
  rejects(['-t', 'blackhole'], 'WAL cannot be streamed when a backup target is specified', TRY);
  rejects(['-t', 'blackhole', '-D', '/x'], 'cannot specify both output directory and backup target', TRY);
  rejects(['-t', 'blackhole', '-F', 'p', '-X', 'none'], 'cannot specify both format and backup target', TRY);
  rejects(['-t', 'blackhole', '-X', 'none', '-Z', 'client-gzip'], 'client-side compression is not possible when a backup target is specified', TRY);
  rejects(['-t', 'blackhole', '-X', 'none', '--waldir', '/w'], 'WAL directory location cannot be specified along with a backup target', TRY);
  assert.equal(run(['-t', 'blackhole', '-X', 'none', '-Z', 'gzip']).compression.location, 'server');
  assert.throws(() => parseBaseBackupArgs(['-D', '/x', '-i', '/m']), NotSupportedError);
});

test('help and version', () => {
  assert.equal(parseBaseBackupArgs(['-?']).action, 'help');
  assert.equal(parseBaseBackupArgs(['--help']).action, 'help');
  assert.equal(parseBaseBackupArgs(['-V']).action, 'version');
  assert.equal(parseBaseBackupArgs(['--version', '-D']).action, 'version');
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
  assert.equal(canonicalizePath('./a//b/../c/'), 'a/c');
  assert.equal(canonicalizePath('./'), '.');
  const o = run(['-D', '/x', '-T', '/old=/new', '--tablespace-mapping=/o2=/n2']);
  assert.deepEqual(o.tablespaceMappings, [{ oldDir: '/old', newDir: '/new' }, { oldDir: '/o2', newDir: '/n2' }]);
});
