import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InvalidOptionError } from '../../src/errors.js';
import {
  address, commonNames, configProblems, flag, integer, keyPath, list, mapping, oneOf, optional, problem, splitAddress, text, validateConfig,
} from '../../src/config/config-schema.js';

const schema = mapping({
  name: text({ requiredHint: 'Give it a name.' }),
  port: optional(integer({ min: 1, max: 65535 })),
  on: optional(flag()),
  mode: optional(oneOf(['fast', 'spread'])),
  colour: optional(oneOf(['red', 'green', 'blue'])),
  listen: optional(address({ minPort: 0 })),
  peers: optional(list(mapping({ host: text() }, { describe: 'with "host"' }))),
  names: optional(commonNames('Remove it.')),
  roots: optional(list(text(), { single: true, min: 1, describe: 'a directory or a list of directories' })),
});

function fails(doc: unknown, message: string, hint?: string): void {
  assert.throws(() => validateConfig(schema, doc, '/etc/x.yaml'), (err: unknown) => {
    assert.ok(err instanceof InvalidOptionError);
    assert.equal(err.message, `invalid configuration file "/etc/x.yaml": ${message}`);
    assert.equal(err.hint, hint);
    return true;
  });
}

test('each field type words its problem the same way, naming the key', () => {
  fails('text', 'the document must be a mapping of keys');
  fails({}, '"name" is required', 'Give it a name.');
  fails({ name: '' }, '"name" must not be empty');
  fails({ name: 1 }, '"name" must be a string');
  fails({ name: 'a', port: 0 }, '"port" must be an integer from 1 to 65535, not 0');
  fails({ name: 'a', port: 'x' }, '"port" must be an integer from 1 to 65535, not "x"');
  fails({ name: 'a', on: 'yes' }, '"on" must be true or false');
  fails({ name: 'a', mode: 'slow' }, '"mode" must be "fast" or "spread", not "slow"');
  fails({ name: 'a', colour: 'pink' }, '"colour" must be one of "red", "green", "blue", not "pink"');
  fails({ name: 'a', listen: 'here' }, '"listen" must be HOST:PORT, not "here"');
  fails({ name: 'a', listen: 'here:65536' }, '"listen" must have a port from 0 to 65535, not 65536');
  fails({ name: 'a', peers: {} }, '"peers" must be a list');
  fails({ name: 'a', peers: [{ host: 'h' }, 'x'] }, '"peers[1]" must be a mapping with "host"');
  fails({ name: 'a', peers: [{ host: 'h', hots: 'x' }] }, '"peers[0].hots" is not a known key', 'Did you mean "host"? Known keys here: "host".');
  fails({ name: 'a', names: [] }, '"names" must be a non-empty list of certificate common names', 'Remove it.');
  fails({ name: 'a', names: ['n', 'n'] }, '"names" lists "n" twice');
  fails({ name: 'a', roots: [] }, '"roots" must be a directory or a list of directories');
  assert.deepEqual(validateConfig(schema, { name: 'a', roots: '/srv', port: null }, 'f'), { name: 'a', roots: ['/srv'], port: undefined });
  assert.equal(problem('is bad', 'Fix it.'), 'is bad\nHINT: Fix it.');
});

test('every problem is listed, unknown keys first', () => {
  assert.deepEqual(configProblems(schema, { nmae: 'a', port: 0 }), [
    { key: 'nmae', reason: 'is not a known key', hint: 'Did you mean "name"? Known keys here: "name", "port", "on", "mode", "colour", "listen", "peers", "names", "roots".' },
    { key: 'name', reason: 'is required', hint: 'Give it a name.' },
    { key: 'port', reason: 'must be an integer from 1 to 65535, not 0' },
  ]);
  assert.deepEqual(configProblems(schema, null), [{ key: 'name', reason: 'is required', hint: 'Give it a name.' }]);
});

test('key paths and addresses', () => {
  assert.equal(keyPath(['clusters', 1, 'retention', 'full']), 'clusters[1].retention.full');
  assert.equal(keyPath([]), '');
  assert.deepEqual(splitAddress('[::1]:7400'), { host: '::1', port: 7400 });
  assert.deepEqual(splitAddress(':7443', { allowEmptyHost: true }), { host: '', port: 7443 });
  assert.equal(splitAddress(':7443'), null);
  assert.equal(splitAddress('localhost'), null);
});
