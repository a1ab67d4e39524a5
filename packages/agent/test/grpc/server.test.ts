// The agent's gRPC service in-process on port 0 (plaintext), with AgentClient: the calls,
// their refusals and the catalogue errors crossing the wire. Restores use crafted backups and
// no --start (the end-to-end tests start real servers).

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readdir, readlink } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { InstanceError, InvalidOptionError, NotAllowedError, NotSupportedError } from '@pgfleet/core';
import { parseAgentConfig } from '../../src/config.js';
import { AgentClient } from '../../src/grpc/client.js';
import { agentProto } from '../../src/grpc/proto.js';
import { AgentServer, CAPABILITIES } from '../../src/grpc/server.js';
import { fromServiceError } from '../../src/grpc/errors.js';
import { resolveOwner } from '../../src/restore/owner.js';
import { craftTarBackup, makeDir } from '../helpers/fixtures.js';

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
    assert.equal(info.protocolVersion, '1.0');
    assert.deepEqual(info.capabilities, CAPABILITIES);
    assert.deepEqual(info.allowedRoots, [allowed]);
    assert.deepEqual(info.dataDirectories, []);
  });

  test('a client of another major protocol version is refused', async () => {
    const raw = new (agentProto().pgfleet.v1.Agent)(address, grpc.credentials.createInsecure());
    try {
      const err = await new Promise<unknown>((resolve) => raw.getInfo({ protocolVersion: '2.0', client: 'test' }, (e) => resolve(e)));
      const back = fromServiceError(err, address);
      assert.ok(back instanceof NotSupportedError);
      assert.equal(back.message, 'protocol version "2.0" of the client is not supported by this agent (protocol 1.0)');
    } finally {
      raw.close();
    }
  });

  test('Backup without a conninfo or data directory is refused (INVALID_ARGUMENT + catalogue error)', async () => {
    const raw = new (agentProto().pgfleet.v1.Agent)(address, grpc.credentials.createInsecure());
    try {
      const call = raw.backup({ label: 'x' });
      const err = await new Promise<grpc.ServiceError>((resolve) => {
        call.on('error', resolve);
        call.on('data', () => undefined);
      });
      assert.equal(err.code, grpc.status.INVALID_ARGUMENT);
      const back = fromServiceError(err, address);
      assert.ok(back instanceof InvalidOptionError);
      assert.equal(back.message, 'a backup request needs a conninfo or a data directory');
      assert.equal(back.hint, 'Set BackupRequest.conninfo to the local server\'s connection string, or data_dir to its data directory.');
    } finally {
      raw.close();
    }
  });

  test('Backup with an invalid checkpoint is refused before connecting', async () => {
    const raw = new (agentProto().pgfleet.v1.Agent)(address, grpc.credentials.createInsecure());
    try {
      const call = raw.backup({ conninfo: 'host=/nonexistent port=1', checkpoint: 'slow' });
      const err = await new Promise<grpc.ServiceError>((resolve) => {
        call.on('error', resolve);
        call.on('data', () => undefined);
      });
      assert.equal(err.code, grpc.status.INVALID_ARGUMENT);
      const back = fromServiceError(err, address);
      assert.ok(back instanceof InvalidOptionError);
      assert.equal(back.message, 'invalid checkpoint argument "slow", must be "fast" or "spread"');
    } finally {
      raw.close();
    }
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
