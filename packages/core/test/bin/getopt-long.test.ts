// getopt_long as glibc does it, for the drop-ins' command lines. The expected messages are
// glibc 2.36's (what pg_receivewal 15 prints on Debian 12; the e2e comparison runs the real one).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { getoptLong, type LongOption } from '../../src/bin/getopt-long.js';

const SHORT = 'd:D:nvZ:';
const LONG: LongOption[] = [
  { name: 'help', hasArg: false, key: '?' },
  { name: 'directory', hasArg: true, key: 'D' },
  { name: 'dbname', hasArg: true, key: 'd' },
  { name: 'no-loop', hasArg: false, key: 'n' },
  { name: 'no-password', hasArg: false, key: 'w' },
  { name: 'no-sync', hasArg: false, key: 'no-sync' },
  { name: 'verbose', hasArg: false, key: 'v' },
];

function parse(...argv: string[]) {
  return getoptLong(argv, SHORT, LONG);
}

test('short options cluster; an argument is the rest of the word or the next word, whatever it is', () => {
  assert.deepEqual(parse('-nvD/x', '-D', '-n', '-vv').items, [
    { kind: 'option', key: 'n', arg: null },
    { kind: 'option', key: 'v', arg: null },
    { kind: 'option', key: 'D', arg: '/x' },
    { kind: 'option', key: 'D', arg: '-n' },
    { kind: 'option', key: 'v', arg: null },
    { kind: 'option', key: 'v', arg: null },
  ]);
});

test('non-options are permuted to the end; "--" ends options; "-" is a non-option', () => {
  const r = parse('a', '-n', '-', 'b', '--', '-v', '--directory');
  assert.deepEqual(r.items, [{ kind: 'option', key: 'n', arg: null }]);
  assert.deepEqual(r.operands, ['a', '-', 'b', '-v', '--directory']);
});

test('long options: =value or the next word, unique prefixes, exact names first', () => {
  assert.deepEqual(parse('--directory=/a', '--dir', '/b', '--db=x', '--no-l', '--verbose').items, [
    { kind: 'option', key: 'D', arg: '/a' },
    { kind: 'option', key: 'D', arg: '/b' },
    { kind: 'option', key: 'd', arg: 'x' },
    { kind: 'option', key: 'n', arg: null },
    { kind: 'option', key: 'v', arg: null },
  ]);
  assert.deepEqual(parse('--directory=').items, [{ kind: 'option', key: 'D', arg: '' }]);
});

test("glibc's messages", () => {
  const messages = (...argv: string[]) => parse(...argv).items.filter((i) => i.kind === 'error').map((i) => i.kind === 'error' ? i.message : '');
  assert.deepEqual(messages('--bogus'), ["unrecognized option '--bogus'"]);
  assert.deepEqual(messages('--bogus=1'), ["unrecognized option '--bogus=1'"]);
  assert.deepEqual(messages('-x'), ["invalid option -- 'x'"]);
  assert.deepEqual(messages('-?'), ["invalid option -- '?'"]);
  assert.deepEqual(messages('-D'), ["option requires an argument -- 'D'"]);
  assert.deepEqual(messages('--dir'), ["option '--directory' requires an argument"]);
  assert.deepEqual(messages('--no-loop=1'), ["option '--no-loop' doesn't allow an argument"]);
  assert.deepEqual(messages('--no'), ["option '--no' is ambiguous; possibilities: '--no-loop' '--no-password' '--no-sync'"]);
  assert.deepEqual(messages('--no=x'), ["option '--no=x' is ambiguous; possibilities: '--no-loop' '--no-password' '--no-sync'"]);
  assert.deepEqual(messages('--d'), ["option '--d' is ambiguous; possibilities: '--directory' '--dbname'"]);
});

test('a mistake in a cluster does not stop the options after it from being read (the caller stops at the first)', () => {
  assert.deepEqual(parse('-xn').items, [
    { kind: 'error', message: "invalid option -- 'x'" },
    { kind: 'option', key: 'n', arg: null },
  ]);
});
