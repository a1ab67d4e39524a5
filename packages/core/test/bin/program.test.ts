import { test } from 'node:test';
import assert from 'node:assert/strict';
import { describeError, errorText, programName, tryHelpHint, versionText } from '../../src/bin/program.js';
import { InvalidOptionError, ServerError } from '../../src/errors.js';

/** barman's reading of `<tool> --version`: drop every parenthesised part, the second word is the version. */
export function versionAsBarmanReadsIt(line: string): string | undefined {
  return line.trim().replace(/\s*\([^)]*\)/g, '').split(/\s+/)[1];
}

/** Patroni's: the third whitespace-separated word starts with the version. */
export function versionAsPatroniReadsIt(line: string): string | undefined {
  return /^\S+ \S+ (\d+(?:\.\d+)*)/.exec(line)?.[1];
}

test('the program is named after the base name of argv[0], a symlink keeping its own name', () => {
  assert.equal(programName('pgfleet-basebackup', ['node', '/usr/local/bin/pg_basebackup']), 'pg_basebackup');
  assert.equal(programName('x', ['node', '/work/packages/core/dist/bin/pgfleet-basebackup.js']), 'pgfleet-basebackup');
  assert.equal(programName('x', ['node', '/work/packages/core/src/bin/pgfleet-verifybackup.ts']), 'pgfleet-verifybackup');
  assert.equal(programName('x', ['node', 'node_modules/.bin/pgfleet-verifybackup']), 'pgfleet-verifybackup');
  assert.equal(programName('pgfleet-basebackup', ['node']), 'pgfleet-basebackup');
});

test('--version reads as major 18 by the rules wrappers apply to PostgreSQL\'s tools, and names pgfleet', () => {
  const line = versionText('pg_basebackup');
  assert.equal(line, 'pg_basebackup (PostgreSQL) 18.0 (pgfleet 0.1.0)\n');
  for (const version of [versionAsBarmanReadsIt(line), versionAsPatroniReadsIt(line)]) {
    assert.match(version ?? '', /^\d+\.\d+$/);
    assert.ok(Number(version!.split('.')[0]) >= 18, `${version} < 18`);
  }
  // The same rules read PostgreSQL's own line as they should.
  assert.equal(versionAsBarmanReadsIt('pg_basebackup (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)'), '15.18');
  assert.equal(versionAsPatroniReadsIt('pg_basebackup (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)'), '15.18');
});

test('errors print as PostgreSQL\'s client programs print them', () => {
  assert.equal(errorText('pg_basebackup', 'no target directory specified', tryHelpHint('pg_basebackup')),
    'pg_basebackup: error: no target directory specified\n' +
    'pg_basebackup: hint: Try "pg_basebackup --help" for more information.\n');
  assert.equal(describeError('p', new InvalidOptionError('bad', { hint: 'Do this.' })), 'p: error: bad\np: hint: Do this.\n');
  assert.equal(describeError('p', new Error('boom')), 'p: error: boom\n');
});

test('a server error is relayed in libpq\'s words, as pg_basebackup prints PQerrorMessage', () => {
  const err = new ServerError('could not initiate base backup: unrecognized target: "x"', {
    libpqText: 'could not initiate base backup: ERROR:  unrecognized target: "x"',
  });
  assert.equal(describeError('pg_basebackup', err), 'pg_basebackup: error: could not initiate base backup: ERROR:  unrecognized target: "x"\n');
});
