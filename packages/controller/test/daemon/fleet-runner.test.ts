import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConnectError } from '@pgfleet/core';
import { ClusterLocks, runFleet, type FleetEvent } from '../../src/daemon/fleet-runner.js';

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => { resolve = r; });
  return { promise, resolve };
}

test('at most N jobs run at once; a failure does not stop the others', async () => {
  const gates = new Map(['a', 'b', 'c', 'd'].map((c) => [c, deferred()]));
  let running = 0;
  let peak = 0;
  const events: FleetEvent<string>[] = [];
  const run = runFleet<string>({
    clusters: ['a', 'b', 'c', 'd'],
    parallel: 2,
    locks: new ClusterLocks(),
    emit: (e) => events.push(e),
    job: async (cluster, emit) => {
      running += 1;
      peak = Math.max(peak, running);
      emit(`working on ${cluster}`);
      await gates.get(cluster)?.promise;
      running -= 1;
      if (cluster === 'b') throw new ConnectError('could not connect to server "b"');
    },
  });
  await new Promise((r) => setImmediate(r));
  assert.equal(running, 2, 'a and b started, c and d wait');
  for (const c of ['b', 'a', 'c', 'd']) {
    gates.get(c)?.resolve();
    await new Promise((r) => setImmediate(r));
  }
  assert.deepEqual(await run, { completed: 3, failed: 1 });
  assert.equal(peak, 2);
  const summary = events.map((e) => (e.kind === 'job' ? `${e.cluster}:${e.event}` : e.kind === 'failed' ? `${e.cluster}:failed:${e.error.message}` : e.kind === 'finished' ? `finished ${e.completed}/${e.failed}` : `${e.cluster}:${e.kind}`));
  assert.deepEqual(summary, [
    'a:queued', 'b:queued', 'c:queued', 'd:queued',
    'a:working on a', 'b:working on b',
    'b:failed:could not connect to server "b"', 'c:working on c',
    'a:done', 'd:working on d',
    'c:done', 'd:done',
    'finished 3/1',
  ]);
});

test('a cluster already locked fails with BusyError and is not run', async () => {
  const locks = new ClusterLocks();
  locks.tryLock('a');
  const events: FleetEvent<never>[] = [];
  const ran: string[] = [];
  await runFleet<never>({ clusters: ['a', 'b'], parallel: 4, locks, emit: (e) => events.push(e), job: async (c) => { ran.push(c); } });
  assert.deepEqual(ran, ['b']);
  const failed = events.find((e) => e.kind === 'failed');
  assert.ok(failed && failed.kind === 'failed');
  assert.equal(failed.error.message, 'a backup of cluster "a" is already running');
  assert.equal(failed.error.code, 75);
  assert.equal(locks.isLocked('a'), true, 'the other holder keeps its lock');
  assert.equal(locks.isLocked('b'), false, 'released after the job');
});

test('unexpected exceptions become internal errors', async () => {
  const events: FleetEvent<never>[] = [];
  await runFleet<never>({ clusters: ['a'], parallel: 1, locks: new ClusterLocks(), emit: (e) => events.push(e), job: async () => { throw new TypeError('boom'); } });
  const failed = events.find((e) => e.kind === 'failed');
  assert.ok(failed && failed.kind === 'failed');
  assert.equal(failed.error.message, 'unexpected error: boom');
  assert.equal(failed.error.code, 99);
});
