import { test } from 'node:test';
import assert from 'node:assert/strict';
import { getoptLong, type GetoptItem, type GetoptSpec } from '../../src/bin/getopt.js';

const SPEC: GetoptSpec = {
  short: 'D:vw:',
  long: [
    { name: 'pgdata', hasArg: true, key: 'D' },
    { name: 'verbose', hasArg: false, key: 'v' },
    { name: 'version', hasArg: false, key: 'V' },
    { name: 'wal-path', hasArg: true, key: 'w' },
    { name: 'wal-directory', hasArg: true, key: 'w' },
    { name: 'no-sync', hasArg: false, key: 'N' },
    { name: 'no-slot', hasArg: false, key: 'S' },
    { name: 'no', hasArg: false, key: 'n' },
  ],
};

function scan(args: string[], posixlyCorrect = false): { items: GetoptItem[]; operands: string[] } {
  const operands: string[] = [];
  const items = [...getoptLong(args, SPEC, { argv0: '/bin/prog', posixlyCorrect }, operands)];
  return { items, operands };
}

const opt = (key: string, value?: string): GetoptItem => ({ kind: 'option', key, value });
const err = (complaint: string): GetoptItem => ({ kind: 'error', complaint });

test('short options cluster; an argument is the rest of the word or the next word, whatever it is', () => {
  assert.deepEqual(scan(['-vvDdir', '-D', '-', '-vD', '--x']).items, [opt('v'), opt('v'), opt('D', 'dir'), opt('D', '-'), opt('v'), opt('D', '--x')]);
});

test('long options: =value or next word, unique abbreviations, an exact name wins, same-meaning prefixes are one', () => {
  assert.deepEqual(scan(['--pgdata=a', '--pgd', 'b', '--verb', '--no', '--wal', 'w']).items,
    [opt('D', 'a'), opt('D', 'b'), opt('v'), opt('n'), opt('w', 'w')]);
});

test('operands are gathered between options, unless POSIXLY_CORRECT; -- ends the options', () => {
  assert.deepEqual(scan(['a', '-v', '-', 'b', '--', '-D']), { items: [opt('v')], operands: ['a', '-', 'b', '-D'] });
  assert.deepEqual(scan(['a', '-v'], true), { items: [], operands: ['a', '-v'] });
});

test('glibc complaints, argv[0] first, and scanning stops at the first', () => {
  assert.deepEqual(scan(['-v', '-x', '-v']).items, [opt('v'), err("/bin/prog: invalid option -- 'x'")]);
  assert.deepEqual(scan(['-D']).items, [err("/bin/prog: option requires an argument -- 'D'")]);
  assert.deepEqual(scan(['--bogus=1']).items, [err("/bin/prog: unrecognized option '--bogus=1'")]);
  assert.deepEqual(scan(['--pgd']).items, [err("/bin/prog: option '--pgdata' requires an argument")]);
  assert.deepEqual(scan(['--no-sy=1']).items, [err("/bin/prog: option '--no-sync' doesn't allow an argument")]);
  assert.deepEqual(scan(['--ver']).items, [err("/bin/prog: option '--ver' is ambiguous; possibilities: '--verbose' '--version'")]);
  assert.deepEqual(scan(['--no-s=1']).items, [err("/bin/prog: option '--no-s=1' is ambiguous; possibilities: '--no-sync' '--no-slot'")]);
});
