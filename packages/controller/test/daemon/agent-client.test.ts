import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { ConnectError } from '@pgfleet/core';
import { AgentClient } from '../../src/daemon/agent-client.js';
import { initCertificates } from '../../src/tls/certs-init.js';
import type { TlsMaterial } from '../../src/tls/credentials.js';
import { tempDir } from '../repository/fixtures.js';
import { startFakeAgent, type FakeAgent } from './fake-agent.js';

const agents: FakeAgent[] = [];
const clients: AgentClient[] = [];
after(async () => {
  for (const c of clients) c.close();
  for (const a of agents) a.kill();
});

async function client(options: Parameters<typeof startFakeAgent>[0] = {}, tls: TlsMaterial | null = null): Promise<AgentClient> {
  const agent = await startFakeAgent(options);
  agents.push(agent);
  const c = new AgentClient({ name: 'db1', address: agent.address }, tls);
  clients.push(c);
  return c;
}

test('an agent one minor version apart works', async () => {
  for (const v of ['1.1', '1.0', '1.7']) {
    const c = await client({ info: { protocolVersion: v } });
    assert.equal((await c.getInfo()).protocolVersion, v);
  }
});

test('an agent with another major version is refused with a hint saying which side to upgrade', async () => {
  const newer = await client({ info: { protocolVersion: '2.0' } });
  await assert.rejects(newer.getInfo(), {
    message: 'agent "db1" speaks protocol 2.0, this controller speaks 1.0',
    hint: 'Upgrade this controller so that both have protocol major version 2.',
    code: 53,
  });
  const older = await client({ info: { protocolVersion: '0.9' } });
  await assert.rejects(older.getInfo(), {
    message: 'agent "db1" speaks protocol 0.9, this controller speaks 1.0',
    hint: 'Upgrade agent "db1" so that both have protocol major version 1.',
  });
  const garbled = await client({ info: { protocolVersion: '' } });
  await assert.rejects(garbled.getInfo(), { message: 'agent "db1" announced no valid protocol version ("")' });
});

test('an agent without the backup capability is refused before any Backup call', async () => {
  let called = false;
  const c = await client({ info: { agentVersion: '0.1.0', capabilities: ['restore'] }, backup: async () => { called = true; } });
  await assert.rejects(async () => { for await (const _ of c.backup({})) { /* none */ } }, {
    message: 'agent "db1" cannot take backups (pgfleet-agent 0.1.0, no "backup" capability)',
    hint: 'Upgrade the agent to a release with the Backup call, or remove "agent" from the cluster so that the controller connects to the server directly.',
    code: 53,
  });
  assert.equal(called, false);
});

test('an error raised by the agent arrives as the same catalogue error', async () => {
  const c = await client({
    backup: async () => {
      throw new ConnectError('could not connect to server: connection refused', { hint: 'Is the server running locally and accepting connections on that socket?' });
    },
  });
  await assert.rejects(async () => { for await (const _ of c.backup({})) { /* none */ } }, (err: Error & { code?: number; hint?: string }) => {
    assert.ok(err instanceof ConnectError);
    assert.equal(err.message, 'could not connect to server: connection refused');
    assert.equal(err.hint, 'Is the server running locally and accepting connections on that socket?');
    assert.equal(err.code, 40);
    return true;
  });
});

test('an agent that is not running is a connect error naming it', async () => {
  const agent = await startFakeAgent();
  const address = agent.address;
  agent.kill();
  const c = new AgentClient({ name: 'db1', address }, null);
  clients.push(c);
  await assert.rejects(c.getInfo(), (err: Error & { code?: number; hint?: string }) => {
    assert.match(err.message, /^could not connect to agent "db1": connect ECONNREFUSED 127\.0\.0\.1:\d+$/);
    assert.equal(err.hint, 'Check that it is running and listening on that address.');
    assert.equal(err.code, 40);
    return true;
  });
});

test('aborting the backup cancels the call on the agent', async () => {
  const fake = await startFakeAgent({
    backup: async (_req, write, call) => {
      await write({ started: { startLsn: '0/1', timeline: 1, systemIdentifier: '1', serverVersionNum: 150000, tablespaces: [], estimatedBytes: '0' } });
      await new Promise<void>((resolve) => call.on('cancelled', () => resolve()));
    },
  });
  agents.push(fake);
  const c = new AgentClient({ name: 'db1', address: fake.address }, null);
  clients.push(c);
  const ac = new AbortController();
  const seen: string[] = [];
  await assert.rejects(async () => {
    for await (const e of c.backup({}, ac.signal)) {
      seen.push(e.event ?? '');
      ac.abort();
    }
  }, { message: 'backup on agent "db1" cancelled', code: 90 });
  assert.deepEqual(seen, ['started']);
  for (let i = 0; i < 50 && !fake.cancelled; i += 1) await new Promise((r) => setTimeout(r, 10));
  assert.equal(fake.cancelled, true);
});

test('mutual TLS: an agent whose certificate is not from the fleet CA is refused, and so is a controller without one', async () => {
  const dir = await tempDir();
  await initCertificates({ dir: join(dir, 'fleet'), tool: 'node', agents: ['db1'] });
  await initCertificates({ dir: join(dir, 'rogue'), tool: 'node', agents: ['db1'] });
  const load = async (d: string, leaf: string): Promise<TlsMaterial> => ({
    ca: await readFile(join(dir, d, 'ca.crt')), cert: await readFile(join(dir, d, `${leaf}.crt`)), key: await readFile(join(dir, d, `${leaf}.key`)),
  });
  const controllerTls = await load('fleet', 'controller');

  const good = await client({ tls: await load('fleet', 'agent-db1') }, controllerTls);
  assert.equal((await good.getInfo()).hostname, 'fake');

  const rogue = await client({ tls: await load('rogue', 'agent-db1') }, controllerTls);
  await assert.rejects(rogue.getInfo(), (err: Error & { code?: number }) => {
    assert.match(err.message, /^TLS handshake with agent "db1" failed: /);
    assert.equal(err.code, 41);
    return true;
  });

  // A controller presenting a certificate from another CA is refused by the agent.
  const agent = await startFakeAgent({ tls: await load('fleet', 'agent-db1') });
  agents.push(agent);
  const rogueController = new AgentClient({ name: 'db1', address: agent.address }, { ...(await load('rogue', 'controller')), ca: controllerTls.ca });
  clients.push(rogueController);
  await assert.rejects(rogueController.getInfo(), (err: Error & { code?: number; hint?: string }) => {
    // The agent refuses the handshake. With TLS 1.3 the client learns it from the alert (41)
    // or only as a failed connection (40), depending on timing.
    if (err.code === 40) {
      assert.equal(err.message, 'could not connect to agent "db1": failed to connect');
      assert.equal(err.hint, 'Check that it is running and listening on that address, and that it accepts this certificate (signed by the same CA, see "pgfleet certs init").');
    } else {
      assert.equal(err.code, 41, err.message);
      assert.match(err.message, /^TLS handshake with agent "db1" failed: .*(alert|certificate)/);
    }
    return true;
  });
});
