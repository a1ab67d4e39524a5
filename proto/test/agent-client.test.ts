// The one AgentClient against in-process agents (support/fake-agent.ts): version negotiation,
// capabilities, errors raised by the agent, connection failures, cancellation, mutual TLS, and
// what a restore makes of a call that ends in an error after the report had arrived.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type * as grpc from '@grpc/grpc-js';
import { CancelledError, ConnectError, initCertificates } from '@pgfleet/core';
import { AGENT_PROTOCOL_VERSION, AgentClient, toServiceError, type BackupEvent__Output, type BackupRequest, type TlsMaterial } from '../src/index.js';
import { startFakeAgent, type FakeAgent } from './support/fake-agent.js';

const tempDir = (): Promise<string> => mkdtemp(join(os.tmpdir(), 'pgfleet-proto-test-'));

const agents: FakeAgent[] = [];
const clients: AgentClient[] = [];
after(async () => {
  for (const c of clients) c.close();
  for (const a of agents) a.kill();
});

async function client(options: Parameters<typeof startFakeAgent>[0] = {}, tls: TlsMaterial | null = null): Promise<AgentClient> {
  const agent = await startFakeAgent(options);
  agents.push(agent);
  const c = new AgentClient({ name: 'db1', address: agent.address, self: 'controller' }, tls);
  clients.push(c);
  return c;
}

/** A Backup call whose files go nowhere; `onEvent` sees each event. */
function backup(c: AgentClient, request: BackupRequest, options: { signal?: AbortSignal; onEvent?: (e: BackupEvent__Output) => void } = {}): Promise<unknown> {
  return c.receiveBackup(request, { open: async () => ({ write: async () => {}, end: async () => {}, abort: async () => {} }), ...options });
}

test('an agent one minor version apart works', async () => {
  for (const v of ['2.1', '2.0', '2.7']) {
    const c = await client({ info: { protocolVersion: v } });
    assert.equal((await c.getInfo()).protocolVersion, v);
  }
});

test('an agent with another major version is refused with a hint saying which side to upgrade', async () => {
  const newer = await client({ info: { protocolVersion: '3.0' } });
  await assert.rejects(newer.getInfo(), {
    message: `agent "db1" speaks protocol 3.0, this controller speaks ${AGENT_PROTOCOL_VERSION}`,
    hint: 'Upgrade this controller so that both have protocol major version 3.',
    code: 53,
  });
  const older = await client({ info: { protocolVersion: '1.0' } });
  await assert.rejects(older.getInfo(), {
    message: `agent "db1" speaks protocol 1.0, this controller speaks ${AGENT_PROTOCOL_VERSION}`,
    hint: 'Upgrade agent "db1" so that both have protocol major version 2.',
  });
  const garbled = await client({ info: { protocolVersion: '' } });
  await assert.rejects(garbled.getInfo(), { message: 'agent "db1" announced no valid protocol version ("")' });
});

test('an agent without the backup capability is refused before any Backup call', async () => {
  let called = false;
  const c = await client({ info: { agentVersion: '0.1.0', capabilities: ['restore'] }, backup: async () => { called = true; } });
  await assert.rejects(backup(c, {}), {
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
  await assert.rejects(backup(c, {}), (err: Error & { code?: number; hint?: string }) => {
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
  const c = new AgentClient({ name: 'db1', address, self: 'controller' }, null);
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
  const c = new AgentClient({ name: 'db1', address: fake.address, self: 'controller' }, null);
  clients.push(c);
  const ac = new AbortController();
  const seen: string[] = [];
  await assert.rejects(backup(c, {}, {
    signal: ac.signal,
    onEvent: (e) => {
      seen.push(e.event ?? '');
      ac.abort();
    },
  }), { message: 'backup on agent "db1" cancelled', code: 90 });
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
  const rogueController = new AgentClient({ name: 'db1', address: agent.address, self: 'controller' }, { ...(await load('rogue', 'controller')), ca: controllerTls.ca });
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

test('a restore: the report followed by an error status still counts (the restore is done); an error before the report is the error', async () => {
  const backupDir = await tempDir();
  await writeFile(join(backupDir, 'base.tar'), Buffer.alloc(1024));
  /** What the agent does once the client's first message arrived; it never ends the call itself. */
  let script: (call: grpc.ServerDuplexStream<unknown, unknown>) => void = () => undefined;
  const fake = await startFakeAgent({
    restore: (call) => new Promise<void>(() => {
      call.once('data', () => script(call as grpc.ServerDuplexStream<unknown, unknown>));
      call.on('data', () => undefined);
    }),
  });
  agents.push(fake);
  const c = new AgentClient({ name: 'db1', address: fake.address }, null);
  clients.push(c);
  const report = { report: { dataDir: '/srv/pg/copy', mode: 'promote', major: 15 } };

  // The report, then a CANCELLED status (a cancel that crossed the call's end).
  script = (call) => {
    call.write(report);
    setTimeout(() => call.emit('error', { code: 1, details: 'cancelled after the report' }), 50);
  };
  const got = await c.restore({ dataDir: '/srv/pg/copy' }, backupDir);
  assert.deepEqual([got.dataDir, got.major], ['/srv/pg/copy', 15]);

  // The client cancels after the report arrived, before the call ended.
  let finish: (() => void) | undefined;
  script = (call) => {
    call.write(report);
    finish = () => call.end(); // never called before the cancel
  };
  const controller = new AbortController();
  const cancelled = await c.restore({ dataDir: '/srv/pg/copy' }, backupDir, {
    signal: controller.signal,
    onEvent: (e) => { if (e.report) controller.abort(); },
  });
  assert.equal(cancelled.dataDir, '/srv/pg/copy');
  assert.equal(finish !== undefined, true);

  // The agent's CancelledError before any report.
  script = (call) => {
    call.write({ plan: { mode: 'promote', statement: 'x', dataDir: '/srv/pg/copy' } });
    setTimeout(() => call.emit('error', toServiceError(new CancelledError('the restore was cancelled'))), 50);
  };
  await assert.rejects(c.restore({ dataDir: '/srv/pg/copy' }, backupDir), (err: unknown) => err instanceof CancelledError);

  // The client's own cancel before any report.
  script = (call) => call.write({ plan: { mode: 'promote', statement: 'x', dataDir: '/srv/pg/copy' } });
  const mine = new AbortController();
  await assert.rejects(c.restore({ dataDir: '/srv/pg/copy' }, backupDir, { signal: mine.signal, onEvent: () => mine.abort() }),
    (err: unknown) => err instanceof CancelledError && err.message === 'the call to agent "db1" was cancelled');
});

test('a restore sends the spec, then each file under its file id, in order, with its bytes', async () => {
  const backupDir = await tempDir();
  const files: Record<string, Buffer> = {
    'backup_manifest': Buffer.from('{}'), 'base.tar': Buffer.alloc(600 * 1024, 5), '16400.tar': Buffer.from('ts'), 'pg_wal.tar': Buffer.alloc(10, 1),
  };
  for (const [n, b] of Object.entries(files)) await writeFile(join(backupDir, n), b);
  await writeFile(join(backupDir, 'backup.json'), '{}');
  const frames: Array<{ item?: string; fileBegin?: { name: string; fileId: number }; data?: { fileId: number; chunk: Buffer }; fileEnd?: { fileId: number } }> = [];
  const fake = await startFakeAgent({
    restore: async (call) => {
      for await (const m of call.iterator({ destroyOnReturn: false })) frames.push(m as (typeof frames)[number]);
      call.write({ report: { dataDir: '/x' } });
    },
  });
  agents.push(fake);
  const c = new AgentClient({ name: 'db1', address: fake.address }, null);
  clients.push(c);
  await c.restore({ dataDir: '/x' }, backupDir);
  assert.equal(frames[0]?.item, 'spec');
  const names = new Map<number, string>();
  const got = new Map<string, Buffer[]>();
  for (const f of frames.slice(1)) {
    if (f.fileBegin) { names.set(f.fileBegin.fileId, f.fileBegin.name); got.set(f.fileBegin.name, []); }
    else if (f.data) got.get(names.get(f.data.fileId) ?? '')?.push(f.data.chunk);
  }
  assert.deepEqual([...got.keys()], ['backup_manifest', 'base.tar', '16400.tar', 'pg_wal.tar']);
  for (const [n, b] of Object.entries(files)) assert.deepEqual(Buffer.concat(got.get(n) ?? []), b, n);
});
