import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setImmediate as tick } from 'node:timers/promises';
import { YoungGarbageCollector, enableYoungGarbageCollection } from '../../src/archive/young-garbage.js';

/** Makes `mb` MiB of young garbage held outside V8's heap (array buffer backing stores). */
function makeGarbage(mb: number): void {
  for (let i = 0; i < mb; i++) Buffer.allocUnsafeSlow(1024 * 1024).fill(i);
}

async function arrayBuffersMb(): Promise<number> {
  // The sweeper frees backing stores in the background; give it a moment.
  for (let i = 0; i < 5; i++) await tick();
  return process.memoryUsage().arrayBuffers / (1024 * 1024);
}

describe('YoungGarbageCollector', () => {
  it('has V8 free young garbage once everyBytes of it were made', async () => {
    // A program opts in (a library never changes V8's flags for its host).
    assert.equal(enableYoungGarbageCollection(), true);
    // Below V8's own external-memory trigger (about 64 MB), so only the collector frees it.
    const collector = new YoungGarbageCollector(32 * 1024 * 1024);
    const base = await arrayBuffersMb();
    makeGarbage(24);
    collector.add(24 * 1024 * 1024);
    makeGarbage(8);
    collector.add(8 * 1024 * 1024);
    // V8's sweeper releases the backing stores in the background: poll briefly (500 ms is far
    // too short for V8 to collect this garbage by itself, so the bound still tests the collector).
    let after = await arrayBuffersMb();
    for (let waited = 0; after - base >= 8 && waited < 500; waited += 10) {
      await new Promise((r) => setTimeout(r, 10));
      after = await arrayBuffersMb();
    }
    assert.ok(after - base < 8, `garbage freed at the threshold (${after - base} MiB left)`);
    // The caller's global object is not changed.
    assert.equal(typeof (globalThis as { gc?: unknown }).gc, 'undefined');
  });
});
