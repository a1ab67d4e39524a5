import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { IoQueue } from '../../src/archive/io-queue.js';

describe('IoQueue', () => {
  it('runs jobs one at a time, in the order they were added, without making add() wait', async () => {
    const queue = new IoQueue();
    const log: string[] = [];
    let running = 0;
    for (let i = 0; i < 5; i++) {
      await queue.add(async () => {
        running++;
        assert.equal(running, 1, 'one job at a time');
        log.push(`start ${i}`);
        await sleep(5 - i);
        log.push(`end ${i}`);
        running--;
      });
    }
    assert.ok(!log.includes('end 0'), 'add() did not wait for a job to finish');
    await queue.drain();
    assert.deepEqual(log, [0, 1, 2, 3, 4].flatMap((i) => [`start ${i}`, `end ${i}`]));
  });

  it('after a failure: later jobs are skipped, their always() runs, and the first error is thrown', async () => {
    const queue = new IoQueue();
    const ran: number[] = [];
    const always: number[] = [];
    await queue.add(async () => { ran.push(1); }, () => always.push(1));
    await queue.add(async () => { throw new Error('disk full'); }, () => always.push(2));
    await queue.add(async () => { ran.push(3); }, () => always.push(3));
    await queue.settle();
    assert.deepEqual(ran, [1]);
    assert.deepEqual(always, [1, 2, 3]);
    assert.equal(queue.failed, true);
    assert.throws(() => queue.check(), { message: 'disk full' });
    await assert.rejects(queue.drain(), { message: 'disk full' });
    await assert.rejects(queue.add(async () => { ran.push(4); }), { message: 'disk full' });
    assert.deepEqual(ran, [1]);
  });

  it('add() waits while maxQueued jobs are waiting (backpressure), and progress() resolves as jobs end', async () => {
    const queue = new IoQueue(2);
    let release: (() => void) | null = null;
    const gate = new Promise<void>((resolve) => { release = resolve; });
    await queue.add(() => gate);
    await queue.add(async () => {});
    let third = false;
    const adding = queue.add(async () => {}).then(() => { third = true; });
    await sleep(10);
    assert.equal(third, false, 'the third add waits for room');
    const progressed = queue.progress();
    release!();
    await progressed;
    await adding;
    assert.equal(third, true);
    await queue.drain();
    await queue.progress();
  });

  it('close(): the running job finishes, queued ones and those added later (even by a waiting add()) never run', async () => {
    const queue = new IoQueue(2);
    const ran: string[] = [];
    const always: string[] = [];
    let release: (() => void) | null = null;
    await queue.add(() => new Promise<void>((resolve) => { ran.push('running'); release = resolve; }), () => always.push('running'));
    await queue.add(async () => { ran.push('queued'); }, () => always.push('queued'));
    const waiting = queue.add(async () => { ran.push('waiting'); }, () => always.push('waiting'));
    await sleep(1);
    const closed = queue.close();
    let closedYet = false;
    void closed.then(() => { closedYet = true; });
    await sleep(5);
    assert.equal(closedYet, false, 'close() waits for the running job');
    (release as unknown as () => void)();
    await closed;
    await waiting;
    await queue.add(async () => { ran.push('later'); }, () => always.push('later'));
    await queue.settle();
    assert.deepEqual(ran, ['running']);
    assert.deepEqual(always, ['running', 'queued', 'waiting', 'later']);
  });
});
