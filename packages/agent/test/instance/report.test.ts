// reportInstanceAs() is bounded and cancellable, in this process and through the child process
// run as the owner: against a unix socket that accepts connections and never answers (a
// server that does not complete the startup handshake), it fails after its timeout with an
// InstanceError naming the data directory, or at once with CancelledError when aborted.

import assert from 'node:assert/strict';
import { chmod } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CancelledError, InstanceError } from '@pgfleet/core';
import { isRoot, resolveOwner, type OsOwner } from '../../src/instance/owner.js';
import { reportInstanceAs, type ConnectTarget } from '../../src/instance/report.js';
import { makeDir } from '../helpers/fixtures.js';

const HINT = 'The server does not complete the connection or the queries; look at its log, and at pg_hba.conf for the role.';

describe('reportInstanceAs: bounded and cancellable', () => {
  let server: net.Server;
  let target: ConnectTarget;
  const held: net.Socket[] = [];
  const dataDir = '/srv/pg/copy';

  before(async () => {
    const dir = await makeDir();
    target = { socketDir: dir, port: 5999, user: 'postgres' };
    server = net.createServer((socket) => {
      held.push(socket);
      socket.on('error', () => undefined);
    });
    const socketPath = path.join(dir, '.s.PGSQL.5999');
    await new Promise<void>((resolve) => server.listen(socketPath, resolve));
    // The owner's child must be allowed to connect.
    await chmod(socketPath, 0o777);
  });
  after(async () => {
    for (const s of held) s.destroy();
    await new Promise((resolve) => server.close(resolve));
  });

  const me: OsOwner = { name: 'me', uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0, chown: false };
  const timedOut = (seconds: string) => (err: unknown): boolean => {
    assert.ok(err instanceof InstanceError, String(err));
    assert.equal(err.message, `the instance in "${dataDir}" did not answer the report query within ${seconds} seconds (socket "${target.socketDir}" port 5999 as role "postgres")`);
    assert.equal(err.hint, HINT);
    return true;
  };

  test('in this process: no answer within the timeout is an InstanceError naming the data directory', async () => {
    const t0 = Date.now();
    await assert.rejects(reportInstanceAs(me, target, { dataDir, timeoutMs: 300 }), timedOut('0.3'));
    const elapsed = Date.now() - t0;
    assert.ok(elapsed >= 280 && elapsed < 3000, `${elapsed} ms`);
  });

  test('in this process: an abort ends it at once with CancelledError', async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 100);
    const t0 = Date.now();
    await assert.rejects(reportInstanceAs(me, target, { dataDir, timeoutMs: 60_000, signal: controller.signal }),
      (err: unknown) => err instanceof CancelledError && err.message === `the report of the instance in "${dataDir}" was cancelled`);
    assert.ok(Date.now() - t0 < 2000, `${Date.now() - t0} ms`);
  });

  const asOwner = { skip: isRoot() ? false : 'needs root (the child runs as the postgres OS user)' };

  test('as the owner (child process): the child is killed after the timeout', asOwner, async () => {
    const t0 = Date.now();
    await assert.rejects(reportInstanceAs(resolveOwner(null), target, { dataDir, timeoutMs: 2500 }), timedOut('2.5'));
    const elapsed = Date.now() - t0;
    assert.ok(elapsed >= 2400 && elapsed < 6000, `${elapsed} ms`);
  });

  test('as the owner (child process): an abort kills the child at once', asOwner, async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 200);
    const t0 = Date.now();
    await assert.rejects(reportInstanceAs(resolveOwner(null), target, { dataDir, timeoutMs: 60_000, signal: controller.signal }),
      (err: unknown) => err instanceof CancelledError && err.message === `the report of the instance in "${dataDir}" was cancelled`);
    assert.ok(Date.now() - t0 < 3000, `${Date.now() - t0} ms`);
  });
});
