// pg_receivewal 17's command line: defaults, options, and each refusal with its text and form
// (getopt line, error line, hint). test/e2e/receivewal-compat.test.ts runs the same mistakes
// through pg_receivewal 15 and pgfleet-receivewal side by side.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GetoptComplaint } from '../../src/bin/getopt.js';
import {
  parseEndPosition, parseReceiveWalArgs, receiveWalHelp, type ReceiveWalArgs,
} from '../../src/bin/receivewal-args.js';
import { InvalidOptionError } from '../../src/errors.js';

const PROGRAM = { name: 'pg_receivewal', argv0: '/usr/bin/pg_receivewal' };
const HINT = 'Try "pg_receivewal --help" for more information.';

function parse(argv: readonly string[]) {
  return parseReceiveWalArgs(argv, PROGRAM, {});
}

function run(...argv: string[]): ReceiveWalArgs {
  const r = parse(argv);
  if (r.action !== 'run') throw new Error(`expected a run, got ${r.action}`);
  return r.args;
}

/** A refusal: getopt's complaint line (or none), or an error message; with the hint or not. */
function refuses(argv: string[], message: string, form: { getopt?: boolean; hint: boolean }): void {
  assert.throws(() => parse(argv), (err: unknown) => {
    if (form.getopt ?? false) {
      assert.ok(err instanceof GetoptComplaint, String(err));
      assert.equal(err.complaint, message === '' ? null : `/usr/bin/pg_receivewal: ${message}`);
    } else {
      assert.ok(err instanceof InvalidOptionError && !(err instanceof GetoptComplaint), String(err));
      assert.equal(err.message, message);
    }
    assert.equal(err.hint, form.hint ? HINT : undefined);
    return true;
  }, argv.join(' '));
}

test('defaults are pg_receivewal defaults', () => {
  assert.deepEqual(run('-D', '/w'), {
    connection: {}, passwordPrompt: 'auto', directory: '/w', endPosition: null, action: 'stream',
    ifNotExists: false, loop: true, sync: true, synchronous: false, statusIntervalSec: 10, slot: null,
    verbose: 0, compression: { method: 'none', level: 0 },
  });
});

test('every option', () => {
  const a = run('--directory=/w', '-d', 'host=x', '-h', 'h', '-p', '5433', '-U', 'u', '-n', '-w', '-s', '3', '-S', 's',
    '-vv', '-Z', 'gzip:5', '--synchronous', '-E', '1/2000000');
  assert.deepEqual(a.connection, { connectionString: 'host=x', host: 'h', port: '5433', user: 'u' });
  assert.equal(a.passwordPrompt, 'never');
  assert.equal(a.loop, false);
  assert.equal(a.statusIntervalSec, 3);
  assert.equal(a.slot, 's');
  assert.equal(a.verbose, 2);
  assert.deepEqual(a.compression, { method: 'gzip', level: 5 });
  assert.equal(a.synchronous, true);
  assert.equal(a.endPosition, 0x1_0200_0000n);
  assert.equal(run('-D', '/w', '-W').passwordPrompt, 'force');
  assert.equal(run('-D', '/w', '--no-sync').sync, false);
  assert.deepEqual(run('-D', '/w', '-Z', 'lz4').compression, { method: 'lz4', level: 0 });
  assert.deepEqual(run('-D', '/w', '-Z', '9').compression, { method: 'gzip', level: 9 });
  assert.deepEqual(run('-D', '/w', '-Z', '0').compression, { method: 'none', level: 0 });
  assert.deepEqual(run('-D', '/w', '-Z', '').compression, { method: 'none', level: 0 });
  assert.deepEqual(run('-D', '/w', '-Z', 'gzip', '-Z', 'none').compression, { method: 'none', level: 0 });
  const create = run('--create-slot', '-S', 's', '--if-not-exists');
  assert.equal(create.action, 'create-slot');
  assert.equal(create.directory, null);
  assert.equal(create.ifNotExists, true);
  assert.equal(run('--drop-slot', '--slot=s').action, 'drop-slot');
});

test('--help/-? and --version/-V count only as the first argument', () => {
  assert.deepEqual(parse(['--help', '-x']), { action: 'help' });
  assert.deepEqual(parse(['-?']), { action: 'help' });
  assert.deepEqual(parse(['-V', '-D', 'x']), { action: 'version' });
  assert.deepEqual(parse(['--version']), { action: 'version' });
  refuses(['-D', '/w', '--help'], '', { getopt: true, hint: true });
  refuses(['-D', '/w', '--version'], '', { getopt: true, hint: true });
  refuses(['--vers'], '', { getopt: true, hint: true });
  refuses(['-D', '/w', '-V'], "invalid option -- 'V'", { getopt: true, hint: true });
  refuses(['-D', '/w', '-?'], "invalid option -- '?'", { getopt: true, hint: true });
});

test('refusals in pg_receivewal order, with its texts', () => {
  refuses([], 'no target directory specified', { hint: true });
  refuses(['--bogus'], "unrecognized option '--bogus'", { getopt: true, hint: true });
  refuses(['--no'], "option '--no' is ambiguous; possibilities: '--no-loop' '--no-password' '--no-sync'", { getopt: true, hint: true });
  refuses(['--s'], "option '--s' is ambiguous; possibilities: '--status-interval' '--slot' '--synchronous'", { getopt: true, hint: true });
  refuses(['-D', '/w', 'extra'], 'too many command-line arguments (first is "extra")', { hint: true });
  refuses(['-D', '/w', '--', '-n'], 'too many command-line arguments (first is "-n")', { hint: true });
  refuses(['--create-slot', '--drop-slot'], 'cannot use --create-slot together with --drop-slot', { hint: true });
  refuses(['--create-slot'], '--create-slot needs a slot to be specified using --slot', { hint: true });
  refuses(['--drop-slot', '-D', '/w'], '--drop-slot needs a slot to be specified using --slot', { hint: true });
  refuses(['--synchronous', '--no-sync', '-D', '/w'], 'cannot use --synchronous together with --no-sync', { hint: true });
  refuses(['-E', 'foo', '-D', '/w'], 'could not parse end position "foo"', { hint: false });
  refuses(['-E', '0 /1', '-D', '/w'], 'could not parse end position "0 /1"', { hint: false });
  refuses(['-s', 'x', '-D', '/w'], 'invalid value "x" for option -s/--status-interval', { hint: false });
  refuses(['-s', '+', '-D', '/w'], 'invalid value "+" for option -s/--status-interval', { hint: false });
  refuses(['-s', '-1', '-D', '/w'], '-s/--status-interval must be in range 0..2147483', { hint: false });
  refuses(['-s', '2147484', '-D', '/w'], '-s/--status-interval must be in range 0..2147483', { hint: false });
  refuses(['-Z', 'zstd', '-D', '/w'], 'compression with ZSTD is not yet supported', { hint: false });
  refuses(['-Z', 'foo', '-D', '/w'], 'unrecognized compression algorithm: "foo"', { hint: false });
  refuses(['-Z', 'client-gzip', '-D', '/w'], 'unrecognized compression algorithm: "client-gzip"', { hint: false });
  refuses(['-Z', ':', '-D', '/w'], 'unrecognized compression algorithm: ""', { hint: false });
  refuses(['-Z', '10', '-D', '/w'], 'invalid compression specification: compression algorithm "gzip" expects a compression level between 1 and 9 (default at -1)', { hint: false });
  refuses(['-Z', 'none:1', '-D', '/w'], 'invalid compression specification: compression algorithm "none" does not accept a compression level', { hint: false });
  refuses(['-Z', 'zstd:level=100', '-D', '/w'], 'invalid compression specification: compression algorithm "zstd" expects a compression level between -131072 and 22 (default at 3)', { hint: false });
  // The first mistake met wins, as pg_receivewal exits at once.
  refuses(['-E', 'foo', '--bogus'], 'could not parse end position "foo"', { hint: false });
  refuses(['--bogus', '-E', 'foo'], "unrecognized option '--bogus'", { getopt: true, hint: true });
});

test('-E reads like sscanf("%X/%X"): blanks, sign, 0x, trailing text ignored', () => {
  assert.equal(parseEndPosition('0/1'), 1n);
  assert.equal(parseEndPosition(' 0/ 1'), 1n);
  assert.equal(parseEndPosition('0x1/0x2'), 0x1_0000_0002n);
  assert.equal(parseEndPosition('1/2/3'), 0x1_0000_0002n);
  assert.equal(parseEndPosition('0/1x'), 1n);
  assert.equal(parseEndPosition('-1/0'), 0xFFFF_FFFF_0000_0000n);
  assert.equal(parseEndPosition(''), null);
  assert.equal(parseEndPosition('/'), null);
  assert.equal(parseEndPosition('0 /1'), null);
});

test('POSIXLY_CORRECT: options end at the first operand, as glibc does then', () => {
  assert.throws(() => parseReceiveWalArgs(['-D', '/w', 'extra', '-n'], PROGRAM, { POSIXLY_CORRECT: '1' }),
    { message: 'too many command-line arguments (first is "extra")' });
  // Without it, "-n" after the operand is still an option: the first mistake is then the operand.
  assert.throws(() => parse(['-D', '/w', 'extra', '--bogus']), { complaint: "/usr/bin/pg_receivewal: unrecognized option '--bogus'" });
});

test('-s accepts blanks around the number, and nothing at all (0)', () => {
  assert.equal(run('-D', '/w', '-s', ' 5 ').statusIntervalSec, 5);
  assert.equal(run('-D', '/w', '-s', '+5').statusIntervalSec, 5);
  assert.equal(run('-D', '/w', '-s', '').statusIntervalSec, 0);
  assert.equal(run('-D', '/w', '-s', '2147483').statusIntervalSec, 2147483);
});

test('the help text names the program', () => {
  const text = receiveWalHelp('pg_receivewal');
  assert.match(text, /^pg_receivewal receives PostgreSQL streaming write-ahead logs\.\n\nUsage:\n {2}pg_receivewal \[OPTION\]\.\.\.\n/);
  assert.match(text, /--synchronous {6}flush write-ahead log immediately after writing\n/);
});
