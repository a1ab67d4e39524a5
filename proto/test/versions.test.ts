// Protocol versions: one negotiation rule and one error for both contracts, and what "minors
// only add" means on the wire: messages of a newer minor (agent.proto with fields, an enum value
// and a oneof member added, made from today's file here) are read by today's code, unknown
// fields ignored; a new oneof member (a new event kind) is the one thing an older peer cannot
// read, which is why a sender uses one only when the peer's version says it can (speaksAtLeast).
import assert from 'node:assert/strict';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import * as protoLoader from '@grpc/proto-loader';
import { IncompatibleVersionError } from '@pgfleet/core';
import {
  AGENT_PROTO, AGENT_PROTOCOL_VERSION, CONTROLLER_PROTOCOL_VERSION, LOADER_OPTIONS, checkProtocolCompatibility, parseProtocolVersion,
  receiveBackupStream, speaksAtLeast, type BackupEvent__Output,
} from '../src/index.js';

test('same major: any minors work together; another major is IncompatibleVersionError (53) with a HINT naming the side to upgrade', () => {
  for (const theirs of ['2.0', '2.1', '2.99']) checkProtocolCompatibility('2.3', theirs, { peer: 'agent "db1"', self: 'controller' });
  assert.throws(() => checkProtocolCompatibility('2.3', '1.9', { peer: 'agent "db1"', self: 'controller' }), (err: unknown) => {
    assert.ok(err instanceof IncompatibleVersionError);
    assert.deepEqual([err.code, err.message, err.hint], [53, 'agent "db1" speaks protocol 1.9, this controller speaks 2.3',
      'Upgrade agent "db1" so that both have protocol major version 2.']);
    return true;
  });
  assert.throws(() => checkProtocolCompatibility('1.1', '2.0', { peer: 'client "pgfleet 0.2.0"', self: 'controller' }), {
    code: 53, message: 'client "pgfleet 0.2.0" speaks protocol 2.0, this controller speaks 1.1',
    hint: 'Upgrade this controller so that both have protocol major version 2.',
  });
  assert.throws(() => checkProtocolCompatibility('2.0', 'two', { peer: 'agent "db1"', self: 'controller' }), {
    code: 53, message: 'agent "db1" announced no valid protocol version ("two")', hint: 'Upgrade agent "db1" to a pgfleet release that speaks protocol 2.x.',
  });
  assert.deepEqual(parseProtocolVersion(AGENT_PROTOCOL_VERSION), { major: 2, minor: 3 });
  assert.deepEqual(parseProtocolVersion(CONTROLLER_PROTOCOL_VERSION), { major: 1, minor: 6 });
  assert.equal(speaksAtLeast('2.3', '2.1'), true);
  assert.equal(speaksAtLeast('2.0', '2.1'), false);
  assert.equal(speaksAtLeast('', '2.0'), false);
});

/** agent.proto as a next minor could be: a field, an enum value, an event kind added. */
async function nextMinor(): Promise<protoLoader.PackageDefinition> {
  let text = await readFile(AGENT_PROTO, 'utf8');
  const add = (anchor: string, addition: string): void => {
    assert.ok(text.includes(anchor), anchor);
    text = text.replace(anchor, `${anchor}\n${addition}`);
  };
  add('  string os_user = 9;', '  string wal_archive = 40;');
  add('  uint32 max_rate_kb = 8;', '  bool incremental = 40;');
  add('    BackupResult result = 6;', '    WalPosition wal = 40;');
  text += '\nmessage WalPosition { string flushed_lsn = 1; }\n';
  const file = join(await mkdtemp(join(os.tmpdir(), 'pgfleet-proto-next-')), 'agent.proto');
  await writeFile(file, text);
  return protoLoader.loadSync(file, LOADER_OPTIONS);
}

type Method = protoLoader.MethodDefinition<object, object>;
const method = (d: protoLoader.PackageDefinition, name: string): Method => (d['pgfleet.v1.Agent'] as protoLoader.ServiceDefinition)[name] as Method;

test('messages of a newer minor are read by this one: added fields are ignored, the rest is intact', async () => {
  const next = await nextMinor();
  const today = protoLoader.loadSync(AGENT_PROTO, LOADER_OPTIONS);
  // A newer agent's GetInfo answer.
  const info = method(next, 'GetInfo').responseSerialize({ protocolVersion: '2.9', hostname: 'db1', capabilities: ['backup'], walArchive: 'stream' });
  const read = method(today, 'GetInfo').responseDeserialize(info) as Record<string, unknown>;
  assert.deepEqual([read['protocolVersion'], read['hostname'], read['capabilities']], ['2.9', 'db1', ['backup']]);
  assert.equal('walArchive' in read, false);
  // A newer controller's Backup request.
  const request = method(next, 'Backup').requestSerialize({ label: 'x', maxRateKb: 5, incremental: true, protocolVersion: '2.9' });
  const req = method(today, 'Backup').requestDeserialize(request) as Record<string, unknown>;
  assert.deepEqual([req['label'], req['maxRateKb'], req['protocolVersion']], ['x', 5, '2.9']);
  // An event kind this minor does not know arrives without a kind: the receiver refuses it.
  const event = method(today, 'Backup').responseDeserialize(method(next, 'Backup').responseSerialize({ wal: { flushedLsn: '0/1' } })) as BackupEvent__Output;
  assert.equal(event.event, undefined);
  const started = method(today, 'Backup').responseDeserialize(method(next, 'Backup').responseSerialize({
    started: { startLsn: '0/2000028', timeline: 1 },
  })) as BackupEvent__Output;
  await assert.rejects(receiveBackupStream((async function* () { yield started; yield event; })(), {
    peer: 'agent "db1"', open: async () => { throw new Error('no file'); },
  }), { message: 'backup stream from agent "db1": event of unknown type (newer agent?)' });
});
