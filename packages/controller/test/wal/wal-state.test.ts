// The WAL archive's state record as checks read it: the lag in seconds of an archive that does
// not stream counts from when it stopped streaming, through every reconnect attempt; a reload
// that switches the archive on or off is what the record then says.
import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { WalStateRegistry } from '../../src/wal/wal-state.js';

const init = (archive: 'stream' | 'none') => ({
  cluster: 'c', archive, via: 'direct', slot: 'pgfleet_c', applicationName: 'pgfleet_c', synchronous: false, compression: 'lz4', maxRetainedBytes: null,
});

async function lagSeconds(registry: WalStateRegistry): Promise<number> {
  const s = await registry.stateOf('c');
  assert.ok(s.available, JSON.stringify(s));
  return s.state.lagSeconds;
}

test('a stalled archive keeps its stall time across reconnect attempts', async () => {
  const registry = new WalStateRegistry(await mkdtemp(join(os.tmpdir(), 'wal-state-')));
  const record = registry.record('c', init('stream'));
  record.started({ systemIdentifier: '42', timeline: 1, startLsn: 0x3000000n, warnings: [] });
  record.setServer(0x3000000n, null);
  assert.equal(registry.walState('c')?.stalledSince, null);
  record.setState('failed', { message: 'could not connect', code: 40 });
  const stalledSince = registry.walState('c')?.stalledSince;
  assert.ok(stalledSince !== null && stalledSince !== undefined);
  await sleep(1200);
  // A retry, failing again at once: state and since change, the stall does not start again.
  record.setState('connecting');
  record.setState('failed', { message: 'could not connect', code: 40 });
  assert.equal(registry.walState('c')?.stalledSince, stalledSince);
  assert.ok(await lagSeconds(registry) >= 1.1, String(await lagSeconds(registry)));
  record.started({ systemIdentifier: '42', timeline: 1, startLsn: 0x3000000n, warnings: [] });
  assert.equal(registry.walState('c')?.stalledSince, null);
  assert.equal(await lagSeconds(registry), 0);
});

test('an archive switched on by a reload is reported as configured, one switched off as disabled', async () => {
  const registry = new WalStateRegistry(await mkdtemp(join(os.tmpdir(), 'wal-state-')));
  registry.record('c', init('none'));
  assert.deepEqual(await registry.stateOf('c'), { available: false, reason: 'not configured' });
  const record = registry.record('c', init('stream'));
  assert.deepEqual([registry.walState('c')?.archive, registry.walState('c')?.state], ['stream', 'connecting']);
  assert.deepEqual(await registry.stateOf('c'), { available: false, reason: 'not streaming yet' });
  record.started({ systemIdentifier: '42', timeline: 1, startLsn: 0x3000000n, warnings: [] });
  assert.equal((await registry.stateOf('c')).available, true);
  registry.record('c', init('none'));
  assert.deepEqual([registry.walState('c')?.state, registry.walState('c')?.stalledSince], ['disabled', null]);
  assert.deepEqual(await registry.stateOf('c'), { available: false, reason: 'not configured' });
});

test('a start on another timeline behind the old position reports the new timeline\'s positions, not the old ones', async () => {
  const registry = new WalStateRegistry(await mkdtemp(join(os.tmpdir(), 'wal-state-')));
  const record = registry.record('c', init('stream'));
  record.started({ systemIdentifier: '42', timeline: 2, startLsn: 0xA000000n, warnings: [] });
  record.setReceived(0xB060000n);
  record.setFlushed(0xB060000n);
  // A restart on the same timeline keeps what is durable.
  record.started({ systemIdentifier: '42', timeline: 2, startLsn: 0xB000000n, warnings: [] });
  assert.equal(registry.walState('c')?.flushedLsn, '0/B060000');
  // The new primary forked timeline 3 at 0/A000100: streaming starts again at 0/A000000.
  record.started({ systemIdentifier: '42', timeline: 3, startLsn: 0xA000000n, warnings: [] });
  assert.deepEqual([registry.walState('c')?.timeline, registry.walState('c')?.receivedLsn, registry.walState('c')?.flushedLsn], [3, '0/A000000', '0/A000000']);
  record.setFlushed(0xA010000n);
  assert.equal(registry.walState('c')?.flushedLsn, '0/A010000');
});
