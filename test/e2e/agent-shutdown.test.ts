// `pgfleet-agent serve` shuts down in bounded time, black box, against PostgreSQL 15. Each test
// runs its own agent (plaintext on a local port; TLS is covered by agent-grpc.test.ts) and
// sends it SIGTERM while a gRPC restore is in flight:
//  - while the restored copy has been started and pg_ctl start -w waits for a server that
//    cannot become ready (a standby whose backup has no WAL and whose primary is unreachable):
//    the agent stops that server, removes everything the restore wrote, tells the client why
//    (CancelledError "the agent is shutting down: ..."), and exits 0 well within its grace
//    period. Before the shutdown was bounded, the agent outlived the signal until pg_ctl's own
//    timeout (300 s), and the client got no answer;
//  - while the client stalls in the middle of its stream (the agent waits for the next
//    message): the same, before any server exists;
//  - during a (rate-limited) Backup: the client gets the same kind of error, the source
//    server's WAL sender and temporary slot go away, and the agent's spool stays empty.

import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { CancelledError } from '@pgfleet/core';
import { chownOne, freePort, makeTempDir, startCluster, type TestCluster } from '../harness/index.js';
import { AgentClient, agentServiceClient, fromServiceError } from '@pgfleet/proto';
import { entriesOf, serveAgent } from './agent-support.js';
import { assertSucceeded, describeRun, runBaseBackup, waitFor, type RunningTool } from './support/index.js';

const GRACE_SECONDS = 20;
const UNDONE_HINT = 'The restore was undone and nothing of it is left; run it again once the agent is back.';

/** A process that exists and is not a zombie (a postmaster whose pg_ctl was killed is reparented to PID 1, which may be slow to reap it). */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  const status = (() => {
    try {
      return readFileSync(`/proc/${pid}/status`, 'utf8');
    } catch {
      return '';
    }
  })();
  return !/^State:\s+Z/m.test(status);
}

interface ServedAgent {
  agent: RunningTool;
  address: string;
  allowed: string;
}

describe('pgfleet-agent serve: SIGTERM during a call', { timeout: 240_000 }, () => {
  let source: TestCluster;
  let work: string;
  /** A tar backup without WAL (-X none): a standby made from it needs WAL from its primary. */
  let backup: string;
  const agents: RunningTool[] = [];

  before(async () => {
    source = await startCluster({ version: 15, tablespaces: 1, data: { rows: 1000 }, settings: ['autovacuum = off'] });
    work = await makeTempDir('pgfleet-e2e-agent-shutdown');
    backup = path.join(work, 'backup');
    assertSucceeded('pgfleet-basebackup', await runBaseBackup(['-D', backup, '-F', 't', '-X', 'none', '-c', 'fast', '-d', source.connectionString]));
  });
  after(async () => {
    for (const a of agents) {
      if (a.child.exitCode === null && a.child.signalCode === null) a.killGroup();
    }
    await source?.destroy();
  });

  async function serve(name: string, env: Record<string, string> = {}): Promise<ServedAgent> {
    const allowed = path.join(work, name);
    await mkdir(allowed);
    await chownOne(allowed);
    const served = await serveAgent({
      work, name, allowedRoot: allowed, tls: false, extraConfig: [`shutdownGraceSeconds: ${GRACE_SECONDS}`], env, timeoutMs: 200_000,
    });
    agents.push(served.agent);
    return { agent: served.agent, address: served.address, allowed };
  }

  /** SIGTERM; resolves with the agent's result and how long it took to exit. */
  async function terminate(agent: RunningTool): Promise<{ code: number | null; stderr: string; elapsedMs: number; text: string }> {
    const t0 = Date.now();
    process.kill(agent.child.pid as number, 'SIGTERM');
    const result = await agent.result;
    return { code: result.code, stderr: result.stderr, elapsedMs: Date.now() - t0, text: describeRun('pgfleet-agent serve', result) };
  }

  test('while the started copy waits for WAL it cannot get: the server is stopped, the restore undone, the agent exits in time', async () => {
    const { agent, address, allowed } = await serve('waiting-start');
    const client = await AgentClient.connect({ address, tls: null });
    const dir = path.join(allowed, 'standby');
    const dataDir = path.join(dir, 'data');
    const ts = source.tablespaces[0] as { location: string };
    const socketDir = path.join(allowed, 'sock');
    const deadPort = await freePort();
    let starting = false;
    try {
      const restoring = client.restore({
        dataDir, mode: 'RECOVERY_MODE_STANDBY', start: true, port: await freePort(), socketDir,
        primaryConninfo: `host=127.0.0.1 port=${deadPort} user=postgres`,
        tablespaceMappings: [{ oldDir: ts.location, newDir: path.join(dir, 'ts1') }],
      }, backup, { onEvent: (e) => { if (e.progress?.phase === 'start') starting = true; } });
      const outcome = restoring.then(() => null, (err: unknown) => err);

      // The server runs and pg_ctl start -w waits: the standby looks for WAL it cannot get.
      let pid = 0;
      await waitFor('the restored standby to run', async () => {
        if (!starting) return false;
        pid = Number((await readFile(path.join(dataDir, 'postmaster.pid'), 'utf8').catch(() => '')).split('\n')[0]);
        return pid > 0 && isAlive(pid);
      }, 90_000, () => agent.stderrSoFar());
      await waitFor('the standby to wait for WAL', async () =>
        /could not connect to the primary server|waiting for WAL/.test(await readFile(path.join(dataDir, 'log', 'pgfleet-agent-start.log'), 'utf8').catch(() => '')), 30_000,
      () => agent.stderrSoFar());
      assert.equal(await Promise.race([outcome.then(() => 'answered'), new Promise((r) => setTimeout(() => r('waiting'), 200))]), 'waiting');

      const stopped = await terminate(agent);
      assert.equal(stopped.code, 0, stopped.text);
      assert.ok(stopped.elapsedMs < GRACE_SECONDS * 1000, `exited after ${stopped.elapsedMs} ms (grace period ${GRACE_SECONDS} s)\n${stopped.text}`);
      assert.match(stopped.stderr, new RegExp(`SIGTERM received: shutting down \\(grace period ${GRACE_SECONDS} s\\)\\n`));
      assert.match(stopped.stderr, new RegExp(`cancelling 1 call\\(s\\) in flight: Restore from \\S+ into "${dataDir}"\\n`));
      assert.match(stopped.stderr, /: stopped\n$/);

      const err = await outcome;
      assert.ok(err instanceof CancelledError, String(err));
      assert.equal(err.message, `the agent is shutting down: the restore into "${dataDir}" was cancelled`);
      assert.equal(err.hint, UNDONE_HINT);

      assert.equal(isAlive(pid), false, 'the server the restore started is stopped');
      assert.ok(!existsSync(dir), 'no data directory, tablespace directory or staging directory is left');
      assert.deepEqual(await entriesOf(socketDir), [], 'no socket or lock file is left');
    } finally {
      client.close();
    }
  });

  test('while the client stalls in the middle of its stream: the restore is undone and the agent exits at once', async () => {
    const { agent, address, allowed } = await serve('stalled-client');
    const dataDir = path.join(allowed, 'copy', 'data');
    const base = await readFile(path.join(backup, 'base.tar'));
    const raw = new (agentServiceClient())(address, grpc.credentials.createInsecure());
    try {
      const call = raw.restore();
      const ended = new Promise<unknown>((resolve) => {
        call.on('data', () => undefined);
        call.on('error', resolve);
        call.on('end', () => resolve(null));
      });
      const ts = source.tablespaces[0] as { location: string };
      call.write({ spec: {
        dataDir, mode: 'RECOVERY_MODE_NONE', files: [{ name: 'base.tar', size: String(base.length) }],
        tablespaceMappings: [{ oldDir: ts.location, newDir: path.join(allowed, 'copy', 'ts1') }],
      } });
      call.write({ fileBegin: { name: 'base.tar', size: String(base.length), fileId: 1 } });
      call.write({ data: { fileId: 1, chunk: base.subarray(0, 256 * 1024) } });
      // ... and nothing more.
      await waitFor('the restore to stage files', async () =>
        (await entriesOf(path.join(allowed, 'copy'))).some((n) => n.startsWith('.pgfleet-staging.data.')), 30_000, () => agent.stderrSoFar());

      const stopped = await terminate(agent);
      assert.equal(stopped.code, 0, stopped.text);
      assert.ok(stopped.elapsedMs < 10_000, `exited after ${stopped.elapsedMs} ms\n${stopped.text}`);
      assert.match(stopped.stderr, new RegExp(`cancelling 1 call\\(s\\) in flight: Restore from \\S+ into "${dataDir}"\\n`));
      const err = fromServiceError(await ended, { peer: `agent "${address}"` });
      assert.ok(err instanceof CancelledError, String(err));
      assert.equal(err.message, `the agent is shutting down: the restore into "${dataDir}" was cancelled`);
      assert.equal(err.hint, UNDONE_HINT);
      assert.deepEqual(await entriesOf(allowed), [], 'nothing is left');
    } finally {
      raw.close();
    }
  });

  test('during a Backup: the backup is aborted on the server, nothing is kept, the client is told why', async () => {
    const spool = path.join(work, 'backup-tmp');
    await mkdir(spool);
    const { agent, address } = await serve('backup-agent', { TMPDIR: spool });
    const client = await AgentClient.connect({ address, tls: null });
    try {
      let data = 0;
      const backingUp = client.backup({
        conninfo: `host=${source.host} port=${source.port} user=postgres`, label: 'shutdown e2e', checkpoint: 'fast', walMethod: 'stream', maxRateKb: 32,
      }, path.join(work, 'backup-received'), { onEvent: (e) => { if (e.event === 'data') data += 1; } });
      const outcome = backingUp.then(() => null, (err: unknown) => err);
      await waitFor('the backup to send data', () => data > 0, 60_000, () => agent.stderrSoFar());

      const stopped = await terminate(agent);
      assert.equal(stopped.code, 0, stopped.text);
      assert.ok(stopped.elapsedMs < 10_000, `exited after ${stopped.elapsedMs} ms\n${stopped.text}`);
      assert.match(stopped.stderr, /cancelling 1 call\(s\) in flight: Backup from \S+ of host=/);
      const err = await outcome;
      assert.ok(err instanceof CancelledError, String(err));
      assert.equal(err.message, 'the agent is shutting down: the backup was cancelled');
      assert.equal(err.hint, 'The agent kept nothing of it; take the backup again once the agent is back.');
      assert.deepEqual((await entriesOf(spool)).filter((n) => !n.startsWith('tsx-')), [], 'nothing of the agent is left in its TMPDIR');
      let left = { senders: -1, slots: -1 };
      await waitFor('the WAL sender and the temporary slot to go', async () => {
        const r = await source.query<{ senders: number; slots: number }>(
          'SELECT (SELECT count(*) FROM pg_stat_replication)::int AS senders, (SELECT count(*) FROM pg_replication_slots)::int AS slots');
        left = r.rows[0] as { senders: number; slots: number };
        return left.senders === 0 && left.slots === 0;
      }, 20_000, () => JSON.stringify(left));
    } finally {
      client.close();
    }
  });
});
