import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InvalidOptionError } from '../../src/errors.js';
import { createDaemonLog, errorFields, errorText } from '../../src/log/daemon-log.js';

const TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

function capture(format: 'text' | 'json', level: 'debug' | 'info' | 'warn' | 'error' = 'info'): { lines: string[]; log: ReturnType<typeof createDaemonLog> } {
  const lines: string[] = [];
  return { lines, log: createDaemonLog({ name: 'pgfleet-test', format, level, write: (l) => lines.push(l) }) };
}

test('text: one line per event with time, level and name; line breaks inside a message become spaces', () => {
  const { lines, log } = capture('text');
  log.info('listening on 127.0.0.1:7400', { port: 7400 });
  log.error('backup failed: refused\nHINT: Start it.');
  log.debug('not shown');
  log.info('100% done, %s kept');
  assert.equal(lines.length, 3);
  const [first, second, third] = lines.map((l) => /^(\S+) (\S+) +(.*)\n$/.exec(l));
  assert.match(first?.[1] ?? '', TIME);
  assert.deepEqual([first?.[2], first?.[3]], ['INFO', 'pgfleet-test: listening on 127.0.0.1:7400']);
  assert.deepEqual([second?.[2], second?.[3]], ['ERROR', 'pgfleet-test: backup failed: refused HINT: Start it.']);
  assert.equal(third?.[3], 'pgfleet-test: 100% done, %s kept');
});

test('json: every line parses, with time, level, name, the message and the fields', () => {
  const { lines, log } = capture('json', 'debug');
  log.debug('a');
  log.warn('b\nc', { cluster: 'main', error: errorFields(new InvalidOptionError('bad', { hint: 'Fix it.' })) });
  const events = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.equal(events.length, 2);
  for (const e of events) {
    assert.match(String(e['time']), TIME);
    assert.equal(e['name'], 'pgfleet-test');
  }
  assert.deepEqual([events[0]?.['level'], events[0]?.['msg']], ['debug', 'a']);
  assert.deepEqual([events[1]?.['level'], events[1]?.['msg'], events[1]?.['cluster']], ['warn', 'b\nc', 'main']);
  assert.deepEqual(events[1]?.['error'], { id: 'invalid-option', code: 31, message: 'bad', hint: 'Fix it.' });
});

test('levels below the configured one are dropped; an error on one line', () => {
  const { lines, log } = capture('text', 'warn');
  log.info('no');
  log.warn('yes');
  assert.equal(lines.length, 1);
  assert.equal(errorText(new InvalidOptionError('bad', { hint: 'Fix it.' })), 'bad HINT: Fix it.');
});
