// AgentClient against a fake agent (an in-process gRPC server with a scripted Restore): what the
// client makes of a call that ends in an error after the report had arrived.

import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { CancelledError } from '@pgfleet/core';
import { AgentClient } from '../../src/grpc/client.js';
import { agentProto } from '../../src/grpc/proto.js';
import { makeDir } from '../helpers/fixtures.js';

type RestoreCall = grpc.ServerDuplexStream<unknown, unknown>;

describe('AgentClient.restore', () => {
  let server: grpc.Server;
  let address: string;
  let backup: string;
  /** What the fake agent does once the client's first message arrived. */
  let script: (call: RestoreCall) => void = () => undefined;

  before(async () => {
    backup = await makeDir();
    await writeFile(path.join(backup, 'base.tar'), Buffer.alloc(1024));
    server = new grpc.Server();
    server.addService(agentProto().pgfleet.v1.Agent.service, {
      restore: (call: RestoreCall) => {
        call.once('data', () => script(call));
        call.on('data', () => undefined);
      },
    });
    const port = await new Promise<number>((resolve, reject) => {
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p)));
    });
    address = `127.0.0.1:${port}`;
  });
  after(() => {
    server.forceShutdown();
  });

  const report = { report: { dataDir: '/srv/pg/copy', mode: 'promote', layout: 'tar', major: 15 } };

  test('a report followed by a CANCELLED status: the report is returned (the restore is done)', async () => {
    script = (call) => {
      call.write(report);
      setTimeout(() => call.emit('error', { code: grpc.status.CANCELLED, details: 'cancelled after the report' }), 50);
    };
    const client = await AgentClient.connect({ address, tls: null });
    try {
      const got = await client.restore({ dataDir: '/srv/pg/copy' }, backup);
      assert.equal(got.dataDir, '/srv/pg/copy');
      assert.equal(got.major, 15);
    } finally {
      client.close();
    }
  });

  test('the client cancels after the report arrived, before the call ended: the report is returned', async () => {
    let finish: (() => void) | undefined;
    script = (call) => {
      call.write(report);
      finish = () => call.end(); // never called before the cancel
    };
    const controller = new AbortController();
    const client = await AgentClient.connect({ address, tls: null });
    try {
      const got = await client.restore({ dataDir: '/srv/pg/copy' }, backup, {
        signal: controller.signal,
        onEvent: (e) => { if (e.report) controller.abort(); },
      });
      assert.equal(got.dataDir, '/srv/pg/copy');
      assert.equal(finish !== undefined, true);
    } finally {
      client.close();
    }
  });

  test('CANCELLED before any report is a CancelledError', async () => {
    script = (call) => {
      call.write({ plan: { mode: 'promote', statement: 'x', dataDir: '/srv/pg/copy' } });
      setTimeout(() => call.emit('error', { code: grpc.status.CANCELLED, details: 'the restore was cancelled' }), 50);
    };
    const client = await AgentClient.connect({ address, tls: null });
    try {
      await assert.rejects(client.restore({ dataDir: '/srv/pg/copy' }, backup), (err: unknown) => err instanceof CancelledError);
    } finally {
      client.close();
    }
  });
});
