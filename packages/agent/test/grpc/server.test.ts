// The agent's gRPC service in-process on port 0 (plaintext), with AgentClient: the calls,
// their refusals and the catalogue errors crossing the wire. Restores use crafted backups and
// no --start (the end-to-end tests start real servers).

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, readlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import {
  CancelledError, DirectoryNotEmptyError, InstanceError, InvalidOptionError, MAX_WIRE_HINT_BYTES, MAX_WIRE_MESSAGE_BYTES,
  IncompatibleVersionError, NotAllowedError,
} from '@pgfleet/core';
import { AGENT_PROTOCOL_VERSION, AgentClient, agentServiceClient, backupFilesOf, fromServiceError as decode, toServiceError } from '@pgfleet/proto';
import { parseAgentConfig } from '../../src/config.js';
import { AgentServer, CAPABILITIES } from '../../src/grpc/server.js';
import { resolveOwner } from '../../src/instance/owner.js';
import { craftTarBackup, makeDir } from '../helpers/fixtures.js';

/** A failed call's error as a client rethrows it. */
const fromServiceError = (err: unknown, peer: string) => decode(err, { peer: `agent "${peer}"` });
/** A raw client of the agent's service, for calls AgentClient would not make. */
const rawClient = (address: string) => new (agentServiceClient())(address, grpc.credentials.createInsecure());

describe('AgentServer (in-process, plaintext)', () => {
  let root: string;
  let allowed: string;
  let backup: string;
  let server: AgentServer;
  let client: AgentClient;
  let address: string;

  before(async () => {
    root = await makeDir();
    allowed = path.join(root, 'allowed');
    backup = path.join(root, 'backup');
    await craftTarBackup(backup, { tablespaces: new Map([[16384, '/old/ts1']]), gzip: true });
    const config = parseAgentConfig({ listen: '127.0.0.1:0', insecure: true, allowedRoots: [allowed], osUser: resolveOwner(null).name }, 'agent.yaml', root);
    server = await AgentServer.start(config);
    address = `127.0.0.1:${server.port}`;
    client = await AgentClient.connect({ address, tls: null });
  });
  after(async () => {
    client?.close();
    await server?.stop(1000);
  });

  test('GetInfo', async () => {
    const info = await client.getInfo();
    assert.equal(info.protocolVersion, AGENT_PROTOCOL_VERSION);
    assert.deepEqual(info.capabilities, CAPABILITIES);
    assert.deepEqual(info.allowedRoots, [allowed]);
    assert.deepEqual(info.dataDirectories, []);
  });

  test('a client of another major protocol version is refused', async () => {
    const raw = rawClient(address);
    try {
      const err = await new Promise<unknown>((resolve) => raw.getInfo({ protocolVersion: '1.0', client: 'test' }, (e) => resolve(e)));
      const back = fromServiceError(err, address);
      assert.ok(back instanceof IncompatibleVersionError);
      assert.equal(back.message, `client "test" speaks protocol 1.0, this agent speaks ${AGENT_PROTOCOL_VERSION}`);
      assert.equal(back.hint, 'Upgrade client "test" so that both have protocol major version 2.');
    } finally {
      raw.close();
    }
  });

  /** A Backup call that must fail: its status, and the error as the client rethrows it. */
  async function refusedBackup(request: Record<string, unknown>): Promise<{ code: grpc.status; error: unknown }> {
    const raw = rawClient(address);
    try {
      const call = raw.backup(request);
      const err = await new Promise<grpc.ServiceError>((resolve) => {
        call.on('error', resolve);
        call.on('data', () => undefined);
      });
      return { code: err.code, error: fromServiceError(err, address) };
    } finally {
      raw.close();
    }
  }

  test('Backup without a conninfo or data directory is refused (INVALID_ARGUMENT + catalogue error)', async () => {
    const { code, error: back } = await refusedBackup({ label: 'x' });
    assert.equal(code, grpc.status.INVALID_ARGUMENT);
    assert.ok(back instanceof InvalidOptionError);
    assert.equal(back.message, 'a backup request needs a conninfo or a data directory');
    assert.equal(back.hint, 'Set BackupRequest.conninfo to the local server\'s connection string, or data_dir to its data directory.');
  });

  test('Backup with an invalid checkpoint is refused before connecting', async () => {
    const { code, error: back } = await refusedBackup({ conninfo: 'host=/nonexistent port=1', checkpoint: 'slow' });
    assert.equal(code, grpc.status.INVALID_ARGUMENT);
    assert.ok(back instanceof InvalidOptionError);
    assert.equal(back.message, 'invalid checkpoint argument "slow", must be "fast" or "spread"');
  });

  test('Restore over the stream into an allowed root; the data directory then shows in GetInfo', async () => {
    const dataDir = path.join(allowed, 'one', 'data');
    const events: string[] = [];
    const report = await client.restore({
      dataDir, mode: 'RECOVERY_MODE_PROMOTE',
      tablespaceMappings: [{ oldDir: '/old/ts1', newDir: path.join(allowed, 'one', 'ts1') }],
    }, backup, { onEvent: (e) => events.push(e.event ?? '') });
    assert.deepEqual([events[0], events.at(-1)], ['plan', 'report']);
    assert.equal(report.mode, 'promote');
    assert.equal(report.major, 15);
    assert.deepEqual(report.tablespaces, [{ oid: 16384, originalLocation: '/old/ts1', location: path.join(allowed, 'one', 'ts1') }]);
    assert.equal(report.instance, null);
    assert.equal(await readlink(path.join(dataDir, 'pg_tblspc', '16384')), path.join(allowed, 'one', 'ts1'));
    const info = await client.getInfo();
    assert.deepEqual(info.dataDirectories.map((d) => [d.path, d.major, d.running, d.tablespaces.map((t) => t.location)]),
      [[dataDir, 15, false, [path.join(allowed, 'one', 'ts1')]]]);
    const status = await client.instance({ action: 'ACTION_STATUS', dataDir });
    assert.equal(status.running, false);
  });

  test('refusals come back as the catalogue classes; nothing is written', async () => {
    await assert.rejects(client.restore({ dataDir: path.join(root, 'outside'), mode: 'RECOVERY_MODE_NONE' }, backup),
      (err: unknown) => err instanceof NotAllowedError);
    await assert.rejects(client.restore({ dataDir: path.join(allowed, 'm'), mode: 'RECOVERY_MODE_UNSPECIFIED' }, backup),
      (err: unknown) => err instanceof InvalidOptionError && err.format() === 'no recovery mode given\nHINT: Set RestoreSpec.mode to STANDBY, PROMOTE or NONE.');
    await assert.rejects(client.restore({ dataDir: 'relative/data', mode: 'RECOVERY_MODE_NONE' }, backup),
      (err: unknown) => err instanceof InvalidOptionError && err.message === 'data directory "relative/data" is not an absolute path');
    await assert.rejects(client.restore({ dataDir: path.join(allowed, 'sock'), mode: 'RECOVERY_MODE_NONE', socketDir: '/tmp/elsewhere' }, backup),
      (err: unknown) => err instanceof NotAllowedError && err.message === 'socket directory "/tmp/elsewhere" is outside the directories this agent may write to');
    await assert.rejects(client.instance({ action: 'ACTION_STATUS', dataDir: path.join(allowed, 'nothing') }),
      (err: unknown) => err instanceof InstanceError && err.message === `"${path.join(allowed, 'nothing')}" is not a data directory: it has no PG_VERSION`);
    await assert.rejects(client.instance({ action: 'ACTION_START', dataDir: '/etc' }), (err: unknown) => err instanceof NotAllowedError);
    assert.deepEqual(await readdir(allowed), ['one']);
    assert.ok(!existsSync(path.join(root, 'outside')));
  });
});

/** An agent in-process on port 0 (plaintext) whose one allowed root is `<new dir>/<rootName>`. */
async function startPlainAgent(rootName: string): Promise<{ root: string; allowed: string; server: AgentServer; log: string[] }> {
  const root = await makeDir();
  const allowed = path.join(root, rootName);
  await mkdir(allowed);
  const log: string[] = [];
  const config = parseAgentConfig({ listen: '127.0.0.1:0', insecure: true, allowedRoots: [allowed], osUser: resolveOwner(null).name }, 'agent.yaml', root);
  return { root, allowed, server: await AgentServer.start(config, { log: (line) => log.push(line) }), log };
}

describe('AgentServer: errors cross the wire whatever their text, and the agent keeps serving', { timeout: 60_000 }, () => {
  // grpc-js refuses a newline or a non-ASCII character in a plain metadata value; an error
  // whose HINT had one used to throw out of the handler and end the agent.
  let root: string;
  let allowed: string;
  let server: AgentServer;
  let client: AgentClient;

  before(async () => {
    ({ root, allowed, server } = await startPlainAgent('données'));
    client = await AgentClient.connect({ address: `127.0.0.1:${server.port}`, tls: null });
  });
  after(async () => {
    client?.close();
    await server?.stop(1000);
  });

  test('an allowedRoots refusal whose HINT names a non-ASCII directory: exact message and hint; the agent still answers', async () => {
    const backup = path.join(root, 'backup');
    await craftTarBackup(backup, {});
    await assert.rejects(client.restore({ dataDir: path.join(root, 'ailleurs'), mode: 'RECOVERY_MODE_NONE' }, backup), (err: unknown) => {
      assert.ok(err instanceof NotAllowedError);
      assert.equal(err.message, `data directory "${path.join(root, 'ailleurs')}" is outside the directories this agent may write to`);
      assert.equal(err.hint, `Choose a directory under "${allowed}", or add it to allowedRoots in agent.yaml.`);
      return true;
    });
    assert.equal((await client.getInfo()).protocolVersion, AGENT_PROTOCOL_VERSION);
  });

  test('a refusal naming a non-ASCII path in message and HINT (a tablespace\'s original location in use)', async () => {
    const original = path.join(allowed, 'espace-été');
    await mkdir(original);
    await writeFile(path.join(original, 'PG_15_202209061'), '');
    const backup = path.join(root, 'backup-ts');
    await craftTarBackup(backup, { tablespaces: new Map([[16390, original]]) });
    await assert.rejects(client.restore({ dataDir: path.join(allowed, 'copie'), mode: 'RECOVERY_MODE_NONE' }, backup), (err: unknown) => {
      assert.ok(err instanceof DirectoryNotEmptyError);
      assert.equal(err.message, `original location of tablespace 16390 "${original}" exists but is not empty`);
      assert.equal(err.hint, `It may belong to the instance the backup was taken from; restore the tablespace elsewhere with -T "${original}=NEWDIR".`);
      return true;
    });
    assert.equal((await client.getInfo()).protocolVersion, AGENT_PROTOCOL_VERSION);
    assert.deepEqual((await readdir(allowed)).sort(), ['espace-été']);
  });

  test('a HINT with a newline, a non-ASCII character and more than the wire allows arrives whole or cut with a marker', () => {
    const hint = 'Première ligne.\nDeuxième ligne: "/srv/données".';
    const back = fromServiceError(toServiceError(new InstanceError('could not start "/srv/données"', { hint })), 'db1');
    assert.ok(back instanceof InstanceError);
    assert.equal(back.message, 'could not start "/srv/données"');
    assert.equal(back.hint, hint);
    const huge = fromServiceError(toServiceError(new InstanceError('x'.repeat(200_000), { hint: `é${'y'.repeat(50_000)}` })), 'db1');
    assert.match(huge.message, /^x+ \.\.\. \[\d+ more bytes\]$/);
    assert.ok(Buffer.byteLength(huge.message) <= MAX_WIRE_MESSAGE_BYTES);
    assert.match(huge.hint ?? '', /^éy+ \.\.\. \[\d+ more bytes\]$/);
    assert.ok(Buffer.byteLength(huge.hint ?? '') <= MAX_WIRE_HINT_BYTES);
  });
});

describe('AgentServer: an oversized request is refused before any work, and never takes its channel down', { timeout: 60_000 }, () => {
  // A restore with a 120 KB data directory once produced an error too large for the HTTP/2
  // trailers: the connection it shared with other calls dropped, and a backup running on it
  // failed with it.
  let root: string;
  let allowed: string;
  let server: AgentServer;
  let log: string[];

  before(async () => {
    ({ root, allowed, server, log } = await startPlainAgent('allowed'));
  });
  after(async () => {
    await server?.stop(1000);
  });

  test('a restore in progress goes on while calls with oversized fields on the same channel are refused', async () => {
    const backup = path.join(root, 'backup');
    await craftTarBackup(backup, {});
    const files = await backupFilesOf(backup);
    const channel = rawClient(`127.0.0.1:${server.port}`);
    try {
      // The long call: a Restore whose files are sent only after the oversized calls failed.
      const running = channel.restore();
      const events: string[] = [];
      const ended = new Promise<grpc.StatusObject>((resolve) => running.on('status', resolve));
      running.on('error', () => undefined);
      const planned = new Promise<void>((resolve) => running.on('data', (e: { event?: string }) => {
        events.push(e.event ?? '');
        if (e.event === 'plan') resolve();
      }));
      const dataDir = path.join(allowed, 'copy');
      running.write({ spec: { dataDir, mode: 'RECOVERY_MODE_NONE', files: files.map((f) => ({ name: f.name, size: String(f.size) })) } });
      await planned;

      const huge = `/${'a'.repeat(120 * 1024)}`;
      const refused = async (start: (done: (err: grpc.ServiceError | null) => void) => void): Promise<grpc.ServiceError> => {
        const err = await new Promise<grpc.ServiceError | null>((resolve) => start(resolve));
        assert.ok(err, 'the call was refused');
        return err;
      };
      // Restore, Backup, Instance and GetInfo, each with one field far over its limit.
      const restoreErr = await refused((done) => {
        const c = channel.restore();
        c.on('error', done);
        c.on('data', () => undefined);
        c.write({ spec: { dataDir: huge, mode: 'RECOVERY_MODE_NONE', files: files.map((f) => ({ name: f.name, size: String(f.size) })) } });
        c.end();
      });
      assert.equal(restoreErr.code, grpc.status.INVALID_ARGUMENT);
      const back = fromServiceError(restoreErr, 'db1');
      assert.ok(back instanceof InvalidOptionError);
      assert.equal(back.message, 'request field "RestoreSpec.data_dir" is too long (122881 bytes, at most 4096)');
      const backupErr = await refused((done) => {
        const c = channel.backup({ conninfo: `host=/tmp ${'x'.repeat(10_000)}=1`, label: 'x' });
        c.on('error', done);
        c.on('data', () => undefined);
      });
      assert.equal(fromServiceError(backupErr, 'db1').message, 'request field "BackupRequest.conninfo" is too long (10012 bytes, at most 8192)');
      const backupLabel = await refused((done) => {
        const c = channel.backup({ dataDir: path.join(allowed, 'x'), label: 'é'.repeat(600) });
        c.on('error', done);
        c.on('data', () => undefined);
      });
      assert.equal(fromServiceError(backupLabel, 'db1').message, 'request field "BackupRequest.label" is too long (1200 bytes, at most 1024)');
      const instanceErr = await refused((done) => channel.instance({ action: 'ACTION_STATUS', dataDir: huge }, done));
      assert.equal(fromServiceError(instanceErr, 'db1').message, 'request field "InstanceRequest.data_dir" is too long (122881 bytes, at most 4096)');
      const infoErr = await refused((done) => channel.getInfo({ protocolVersion: AGENT_PROTOCOL_VERSION, client: 'c'.repeat(300) }, done));
      assert.equal(fromServiceError(infoErr, 'db1').message, 'request field "GetInfoRequest.client" is too long (300 bytes, at most 256)');

      // The first call, on the same channel, finishes as if nothing had happened.
      for (const [i, f] of files.entries()) {
        running.write({ fileBegin: { name: f.name, size: String(f.size), fileId: i + 1 } });
        running.write({ data: { fileId: i + 1, chunk: await readFile(path.join(backup, f.name)) } });
        running.write({ fileEnd: { fileId: i + 1 } });
      }
      running.end();
      const status = await ended;
      assert.equal(status.code, grpc.status.OK, status.details);
      assert.deepEqual([events[0], events.at(-1)], ['plan', 'report']);
      assert.ok(existsSync(path.join(dataDir, 'PG_VERSION')));
      // Nothing of the refused calls was logged whole.
      assert.ok(log.every((line) => line.length < 4096), 'log lines stay short');
    } finally {
      channel.close();
    }
  });
});

describe('AgentServer.stop(): the shutdown cancels calls in flight, bounded by its grace period', () => {
  test('a Restore whose client stalls mid-stream is cancelled and undone; the client is told why', async () => {
    const root = await makeDir();
    const allowed = path.join(root, 'allowed');
    const backup = path.join(root, 'backup');
    await craftTarBackup(backup, { gzip: true });
    const config = parseAgentConfig({ listen: '127.0.0.1:0', insecure: true, allowedRoots: [allowed], osUser: resolveOwner(null).name }, 'agent.yaml', root);
    const lines: string[] = [];
    const server = await AgentServer.start(config, { log: (line) => lines.push(line) });
    const address = `127.0.0.1:${server.port}`;
    const raw = rawClient(address);
    try {
      const dataDir = path.join(allowed, 'copy', 'data');
      const base = await readFile(path.join(backup, 'base.tar.gz'));
      const call = raw.restore();
      const events: string[] = [];
      const ended = new Promise<unknown>((resolve) => {
        call.on('data', (e: { event?: string }) => events.push(e.event ?? ''));
        call.on('error', resolve);
        call.on('end', () => resolve(null));
      });
      const files = [{ name: 'base.tar.gz', size: String(base.length) }, { name: 'pg_wal.tar.gz', size: '1' }];
      call.write({ spec: { dataDir, mode: 'RECOVERY_MODE_PROMOTE', files } });
      call.write({ fileBegin: { name: 'base.tar.gz', size: String(base.length), fileId: 1 } });
      call.write({ data: { fileId: 1, chunk: base.subarray(0, 100) } });
      // ... and nothing more: the agent waits for the next message, which never comes.
      const deadline = Date.now() + 10_000;
      while (Date.now() < deadline && !(await readdir(path.join(allowed, 'copy')).catch(() => [] as string[])).some((n) => n.startsWith('.pgfleet-staging.data.'))) {
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.ok(events.includes('progress'), `the restore is under way: ${events.join(',')}`);
      const t0 = Date.now();
      const summary = await server.stop(5000);
      assert.ok(Date.now() - t0 < 4000, `stopped in ${Date.now() - t0} ms, well within the grace period`);
      assert.equal(summary.forced, false);
      assert.deepEqual(summary.unfinished, []);
      assert.equal(summary.cancelled.length, 1);
      assert.match(summary.cancelled[0] as string, new RegExp(`^Restore from [^ ]+ into "${dataDir}"$`));
      assert.equal(lines.filter((l) => l.startsWith('cancelling')).join('\n'), `cancelling 1 call(s) in flight: ${summary.cancelled[0]}`);
      const err = fromServiceError(await ended, address);
      assert.ok(err instanceof CancelledError, String(err));
      assert.equal(err.message, `the agent is shutting down: the restore into "${dataDir}" was cancelled`);
      assert.equal(err.hint, 'The restore was undone and nothing of it is left; run it again once the agent is back.');
      assert.ok(!existsSync(allowed), 'staging directory and the parents it made are gone');
    } finally {
      raw.close();
      await server.stop(1000);
    }
  });

  test('a call that does not end within the grace period is abandoned and the server forced down', async () => {
    const root = await makeDir();
    const config = parseAgentConfig({ listen: '127.0.0.1:0', insecure: true, allowedRoots: [path.join(root, 'allowed')], osUser: resolveOwner(null).name }, 'agent.yaml', root);
    const lines: string[] = [];
    const server = await AgentServer.start(config, { log: (line) => lines.push(line) });
    // A Restore whose client never sends its spec; the call is made to look stuck (ignoring
    // its cancellation) by keeping its registry entry: stop() must still return after the
    // grace period, force the server down and say what it abandoned.
    const raw = rawClient(`127.0.0.1:${server.port}`);
    try {
      const call = raw.restore();
      call.on('error', () => undefined);
      const deadline = Date.now() + 5000;
      while (Date.now() < deadline && server.calls.length === 0) await new Promise((r) => setTimeout(r, 10));
      assert.deepEqual(server.calls.map((c) => c.replace(/ from \S+/, ' from PEER')), ['Restore from PEER']);
      // Hold the call past its cancellation: the registry entry stays, as a stuck call's would.
      const stuck = (server as unknown as { untrack(c: AbortController): void });
      const original = stuck.untrack.bind(server);
      stuck.untrack = () => undefined;
      const t0 = Date.now();
      const summary = await server.stop(300);
      const elapsed = Date.now() - t0;
      assert.ok(elapsed >= 280 && elapsed < 2000, `${elapsed} ms`);
      assert.equal(summary.forced, true);
      assert.equal(summary.unfinished.length, 1);
      assert.match(lines.at(-1) ?? '', /^the grace period of 0.3 s is over; abandoning 1 call\(s\) that did not finish: Restore from \S+; forcing the server down$/);
      stuck.untrack = original;
    } finally {
      raw.close();
    }
  });
});
