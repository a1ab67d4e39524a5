import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { createServer, type Socket } from 'node:net';
import path from 'node:path';
import { describe, test } from 'node:test';
import { CancelledError, InstanceError } from '@pgfleet/core';
import { resolveOwner } from '../../src/instance/owner.js';
import { START_LOG, configuredPort, startInstance } from '../../src/instance/start.js';
import { processAlive, readPostmasterPid } from '../../src/instance/status.js';
import { waitForPromotion, waitForStreaming } from '../../src/instance/wait.js';
import { makeDir } from '../helpers/fixtures.js';

/** A directory with a fake `pg_ctl` running `script` (sh), executable by the owner. */
async function fakePgCtl(script: string): Promise<string> {
  const bin = await makeDir();
  await writeFile(path.join(bin, 'pg_ctl'), `#!/bin/sh\n${script}\n`);
  await chmod(path.join(bin, 'pg_ctl'), 0o755);
  return bin;
}

describe('start helpers', () => {
  test('configuredPort: postgresql.auto.conf wins over postgresql.conf; 5432 by default', async () => {
    const dir = await makeDir();
    assert.equal(await configuredPort(dir), 5432);
    await writeFile(path.join(dir, 'postgresql.conf'), 'port = 5433\n');
    assert.equal(await configuredPort(dir), 5433);
    await writeFile(path.join(dir, 'postgresql.auto.conf'), "port = '5434'\n");
    assert.equal(await configuredPort(dir), 5434);
  });
  test('readPostmasterPid: pid, port, first socket directory, liveness', async () => {
    const dir = await makeDir();
    assert.equal(await readPostmasterPid(dir), null);
    await writeFile(path.join(dir, 'postmaster.pid'), `${process.pid}\n${dir}\n1700000000\n5999\n/tmp/sock\n127.0.0.1\n  1234  5678\nready   \n`);
    assert.deepEqual(await readPostmasterPid(dir), { pid: process.pid, port: 5999, socketDir: '/tmp/sock', alive: true });
    await writeFile(path.join(dir, 'postmaster.pid'), `999999999\n${dir}\n1700000000\n5999\n/tmp/sock\n`);
    assert.equal((await readPostmasterPid(dir))?.alive, false);
  });
});

describe('processAlive', () => {
  test('a zombie is not alive, though kill(pid, 0) succeeds on it', async () => {
    // The background job ends after its shell has become "sleep 5", which never reaps it.
    const parent = spawn('/bin/sh', ['-c', 'sleep 0.3 & echo $!; exec sleep 5'], { stdio: ['ignore', 'pipe', 'ignore'] });
    try {
      const pid = Number(await new Promise<string>((resolve) => parent.stdout.once('data', (b: Buffer) => resolve(b.toString()))));
      const deadline = Date.now() + 3000;
      while (Date.now() < deadline && processAlive(pid)) await new Promise((r) => setTimeout(r, 20));
      assert.doesNotThrow(() => process.kill(pid, 0), 'the zombie still has its pid');
      assert.equal(processAlive(pid), false);
      assert.equal(processAlive(process.pid), true);
      assert.equal(processAlive(999_999_999), false);
    } finally {
      parent.kill('SIGKILL');
    }
  });
});

describe('start: every wait is bounded and cancellable', () => {
  const owner = resolveOwner(null);

  test('startInstance: pg_ctl giving up ("did not start in time") is an InstanceError naming the data directory, with the log', async () => {
    const dataDir = await makeDir();
    // pg_ctl's arguments: start -w -t T -D DIR -l LOGFILE ...: $8 is the log file.
    const bin = await fakePgCtl([
      'printf "LOG:  waiting for WAL to become available at 0/2000028\\n" >> "$8"',
      'echo "waiting for server to start.... stopped waiting"',
      'echo "pg_ctl: server did not start in time" >&2',
      'exit 1',
    ].join('\n'));
    const logFile = path.join(dataDir, START_LOG);
    await assert.rejects(startInstance({ dataDir, binDir: bin, owner, port: 5999, timeoutSeconds: 7 }), (err: unknown) => {
      assert.ok(err instanceof InstanceError, String(err));
      assert.equal(err.message, `the restored instance in "${dataDir}" did not accept connections within 7 seconds`);
      assert.equal(err.hint, 'It may still be starting (a standby that lacks WAL waits for its primary or archive), and it was left as it is. ' +
        `Its log "${logFile}" ends with:\nLOG:  waiting for WAL to become available at 0/2000028`);
      return true;
    });
  });

  test('startInstance: an abort kills pg_ctl at once (CancelledError)', async () => {
    const dataDir = await makeDir();
    const bin = await fakePgCtl('exec sleep 60');
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 200);
    const t0 = Date.now();
    await assert.rejects(startInstance({ dataDir, binDir: bin, owner, port: 5999, signal: controller.signal }),
      (err: unknown) => err instanceof CancelledError && err.message === `the start of the restored instance in "${dataDir}" was cancelled`);
    assert.ok(Date.now() - t0 < 3000, `${Date.now() - t0} ms`);
  });

  test('startInstance: a pg_ctl whose background job keeps its output open does not hold the result', async () => {
    const dataDir = await makeDir();
    // Exits at once, leaving a grandchild with its stdout: only the exit may count.
    const bin = await fakePgCtl('sleep 60 &\nexit 0');
    const t0 = Date.now();
    const started = await startInstance({ dataDir, binDir: bin, owner, port: 5999 });
    assert.equal(started.port, 5999);
    assert.ok(Date.now() - t0 < 5000, `${Date.now() - t0} ms`);
  });

  const promotion = async (timeoutMs: number, signal?: AbortSignal): Promise<unknown> => {
    const dataDir = await makeDir();
    // recovery.signal stays: the server never leaves recovery. No server is asked.
    await writeFile(path.join(dataDir, 'recovery.signal'), '');
    const logFile = path.join(dataDir, START_LOG);
    await mkdir(path.dirname(logFile));
    await writeFile(logFile, 'LOG:  entering standby mode\nLOG:  redo starts at 0/2000028\n');
    return waitForPromotion({
      dataDir, owner, target: { socketDir: dataDir, port: 5999, user: 'postgres' },
      deadline: Date.now() + timeoutMs, timeoutSeconds: timeoutMs / 1000, logFile, ...(signal ? { signal } : {}),
    }).catch((err: unknown) => ({ err, dataDir, logFile }));
  };

  test('waitForPromotion: still in recovery at the deadline is an InstanceError naming the data directory, with the log', async () => {
    const t0 = Date.now();
    const { err, dataDir, logFile } = await promotion(400) as { err: unknown; dataDir: string; logFile: string };
    assert.ok(Date.now() - t0 < 3000);
    assert.ok(err instanceof InstanceError, String(err));
    assert.equal(err.message, `the restored instance in "${dataDir}" did not leave recovery within 0.4 seconds`);
    assert.equal(err.hint, `It was left running, still in recovery. Its log "${logFile}" ends with:\nLOG:  entering standby mode\nLOG:  redo starts at 0/2000028`);
  });

  test('waitForPromotion: a report attempt cut short by the deadline fails as "did not leave recovery"', async () => {
    const dataDir = await makeDir();
    const logFile = path.join(dataDir, START_LOG);
    await mkdir(path.dirname(logFile));
    await writeFile(logFile, 'LOG:  redo done\n');
    // No recovery.signal, so the report is asked; the "server" accepts and never answers.
    const sockets: Socket[] = [];
    const server = createServer((s) => sockets.push(s));
    await new Promise<void>((resolve) => server.listen(path.join(dataDir, '.s.PGSQL.5999'), resolve));
    try {
      const err = await waitForPromotion({
        dataDir, owner: { ...owner, chown: false }, target: { socketDir: dataDir, port: 5999, user: 'postgres' },
        deadline: Date.now() + 400, timeoutSeconds: 0.4, logFile,
      }).catch((e: unknown) => e);
      assert.ok(err instanceof InstanceError, String(err));
      assert.equal(err.message, `the restored instance in "${dataDir}" did not leave recovery within 0.4 seconds`);
      assert.match(String((err.cause as Error | undefined)?.message), /did not answer the report query/);
    } finally {
      for (const s of sockets) s.destroy();
      server.close();
    }
  });

  test('waitForPromotion: an abort ends the wait at once (CancelledError)', async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 150);
    const t0 = Date.now();
    const { err, dataDir } = await promotion(60_000, controller.signal) as { err: unknown; dataDir: string };
    assert.ok(Date.now() - t0 < 2000, `${Date.now() - t0} ms`);
    assert.ok(err instanceof CancelledError, String(err));
    assert.equal(err.message, `the wait for the restored instance in "${dataDir}" to leave recovery was cancelled`);
  });

  test('waitForStreaming: no WAL receiver by the deadline is an InstanceError naming the data directory, with the log; an abort ends it at once', async () => {
    const dataDir = await makeDir();
    const logFile = path.join(dataDir, START_LOG);
    await mkdir(path.dirname(logFile));
    await writeFile(logFile, 'FATAL:  could not receive data from WAL stream: ERROR:  requested WAL segment 000000010000000000000008 has already been removed\n');
    // No server at all: every report attempt fails as "not there yet", which is waited out.
    const target = { socketDir: dataDir, port: 5999, user: 'postgres' };
    const t0 = Date.now();
    const err = await waitForStreaming({ dataDir, owner: { ...owner, chown: false }, target, deadline: Date.now() + 700, logFile }).catch((e: unknown) => e);
    assert.ok(Date.now() - t0 < 3000, `${Date.now() - t0} ms`);
    assert.ok(err instanceof InstanceError, String(err));
    assert.equal(err.message, `the restored standby in "${dataDir}" does not stream from its primary: after 0.7 seconds, no WAL receiver is running`);
    assert.equal(err.hint, 'It was left running, in recovery. The primary may no longer have the WAL the standby needs (restore a newer backup), ' +
      `or not accept its primary_conninfo. Its log "${logFile}" ends with:\n` +
      'FATAL:  could not receive data from WAL stream: ERROR:  requested WAL segment 000000010000000000000008 has already been removed');

    const controller = new AbortController();
    setTimeout(() => controller.abort(), 150);
    const t1 = Date.now();
    const cancelled = await waitForStreaming({ dataDir, owner: { ...owner, chown: false }, target, deadline: Date.now() + 60_000, logFile, signal: controller.signal })
      .catch((e: unknown) => e);
    assert.ok(Date.now() - t1 < 2000, `${Date.now() - t1} ms`);
    assert.ok(cancelled instanceof CancelledError, String(cancelled));
    assert.equal(cancelled.message, `the wait for the restored standby in "${dataDir}" to stream from its primary was cancelled`);
  });
});
