import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  BaseBackupStreamState, decodeBaseBackupMessage, type BaseBackupStreamMessage,
} from '../../src/replication/base-backup-stream.js';
import { ProtocolError } from '../../src/errors.js';
import { cstr, int64 } from './frames.js';

const n = (name: string, path: string) => Buffer.concat([Buffer.from('n'), cstr(name), cstr(path)]);
const d = (bytes: Buffer) => Buffer.concat([Buffer.from('d'), bytes]);
const p = (done: bigint) => Buffer.concat([Buffer.from('p'), int64(done)]);
const m = () => Buffer.from('m');

test('decodes each message type', () => {
  assert.deepEqual(decodeBaseBackupMessage(n('16384.tar.gz', '/srv/ts1')),
    { type: 'new-archive', name: '16384.tar.gz', tablespacePath: '/srv/ts1' });
  assert.deepEqual(decodeBaseBackupMessage(n('base.tar', '')), { type: 'new-archive', name: 'base.tar', tablespacePath: '' });
  const data = decodeBaseBackupMessage(d(Buffer.from([1, 2, 3])));
  assert.ok(data.type === 'data');
  assert.deepEqual([...data.data], [1, 2, 3]);
  assert.deepEqual(decodeBaseBackupMessage(d(Buffer.alloc(0))), { type: 'data', data: Buffer.alloc(0) });
  assert.deepEqual(decodeBaseBackupMessage(p(123456789012n)), { type: 'progress', bytesDone: 123456789012n });
  assert.deepEqual(decodeBaseBackupMessage(m()), { type: 'manifest' });
});

test('every truncation of a message with a fixed layout is rejected with type and length', () => {
  const whole = [n('base.tar', ''), p(42n)];
  for (const msg of whole) {
    for (let len = 1; len < msg.length; len++) {
      assert.throws(() => decodeBaseBackupMessage(msg.subarray(0, len)), (err: unknown) => {
        assert.ok(err instanceof ProtocolError);
        assert.match(err.message, new RegExp(`^malformed (new archive|progress) message \\("[np]"\\) of ${len} bytes: `));
        return true;
      }, `length ${len}`);
    }
  }
});

test('corrupt messages: exact texts', () => {
  const cases: Array<[Buffer, string]> = [
    [Buffer.alloc(0), 'malformed base backup CopyData message of 0 bytes: no message type'],
    [Buffer.from('x'), 'unexpected base backup CopyData message type "x" (1 bytes)'],
    [Buffer.from([0x01, 0x02]), 'unexpected base backup CopyData message type 0x01 (2 bytes)'],
    [Buffer.from('mm'), 'malformed manifest message ("m") of 2 bytes: 1 unexpected trailing bytes at offset 1'],
    [Buffer.concat([p(1n), Buffer.from([0])]), 'malformed progress message ("p") of 10 bytes: 1 unexpected trailing bytes at offset 9'],
    [Buffer.concat([n('a.tar', ''), Buffer.from('x')]), 'malformed new archive message ("n") of 9 bytes: 1 unexpected trailing bytes at offset 8'],
    [Buffer.from('nbase.tar'), 'malformed new archive message ("n") of 9 bytes: unterminated string at offset 1'],
    [Buffer.concat([Buffer.from('p'), Buffer.from([0x80, 0, 0, 0, 0, 0, 0, 0])]), 'malformed progress message ("p") of 9 bytes: negative byte count -9223372036854775808'],
  ];
  for (const [payload, expected] of cases) {
    assert.throws(() => decodeBaseBackupMessage(payload), { name: 'ProtocolError', message: expected });
  }
});

function run(messages: Buffer[]): { actions: unknown[]; end: ReturnType<BaseBackupStreamState['finish']> } {
  const state = new BaseBackupStreamState();
  const actions = messages.map((msg) => {
    const a = state.apply(decodeBaseBackupMessage(msg));
    return 'data' in a ? { ...a, data: a.data.toString() } : a;
  });
  return { actions, end: state.finish() };
}

test('order: archives, then the manifest; data goes where it belongs', () => {
  const { actions, end } = run([
    n('16384.tar', '/ts'), p(0n), d(Buffer.from('A')), p(10n), n('base.tar', ''), d(Buffer.from('B')), m(), d(Buffer.from('{')),
  ]);
  assert.deepEqual(actions, [
    { action: 'archive-start', name: '16384.tar', tablespacePath: '/ts', endPrevious: false },
    { action: 'progress', bytesDone: 0n },
    { action: 'archive-data', data: 'A' },
    { action: 'progress', bytesDone: 10n },
    { action: 'archive-start', name: 'base.tar', tablespacePath: '', endPrevious: true },
    { action: 'archive-data', data: 'B' },
    { action: 'manifest-start', endPrevious: true },
    { action: 'manifest-data', data: '{' },
  ]);
  assert.deepEqual(end, { open: 'manifest', archives: 2 });
  assert.deepEqual(run([n('base.tar', ''), d(Buffer.from('x'))]).end, { open: 'archive', archives: 1 });
  assert.deepEqual(run([]).end, { open: null, archives: 0 });
});

test('order violations are rejected as pg_basebackup rejects them', () => {
  const bad: Array<[Buffer[], string]> = [
    [[d(Buffer.from('x'))], 'unexpected payload data before the first archive'],
    [[n('base.tar', ''), m(), n('x.tar', '')], 'archives should precede manifest'],
    [[n('base.tar', ''), m(), m()], 'duplicate manifest in base backup stream'],
    [[n('', '')], 'invalid archive name: ""'],
    [[n('.hidden.tar', '')], 'invalid archive name: ".hidden.tar"'],
    [[n('../base.tar', '')], 'invalid archive name: "../base.tar"'],
    [[n('a\\b.tar', '')], 'invalid archive name: "a\\b.tar"'],
  ];
  for (const [messages, expected] of bad) {
    assert.throws(() => run(messages), { name: 'ProtocolError', message: expected });
  }
});

test('messages are decoded independently of one another (no state in the decoder)', () => {
  const seq: BaseBackupStreamMessage[] = [n('base.tar', ''), d(Buffer.from('q')), p(5n)].map((b) => decodeBaseBackupMessage(b));
  assert.deepEqual(seq.map((x) => x.type), ['new-archive', 'data', 'progress']);
});
