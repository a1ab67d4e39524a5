// WalReceiver against real servers, alongside a real BASE_BACKUP, as pg_basebackup -X stream
// runs it. Clusters use 1 MB WAL segments (initdb --wal-segsize=1) so that a few MB of WAL
// written during the backup spans several segments.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { appendFileSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { chownOne, startCluster, systemBin, type TestCluster } from '../../../../test/harness/index.js';
import { ReplicationConnection } from '../../src/replication/connection.js';
import type { BaseBackupHandler, BaseBackupOptions, BackupEnd, BackupStart } from '../../src/replication/base-backup-events.js';
import { WalReceiver, type WalReceiverOptions, type WalReceiverResult } from '../../src/wal/receiver.js';
import { DirectoryWalSink, TarWalSink, type WalSink } from '../../src/wal/wal-sinks.js';
import { archiveStreamDeadlineMs } from '../../src/wal/slot-probe.js';
import { parseLsn, formatLsn } from '../../src/wal/lsn.js';
import { segmentNumber, walSegmentName } from '../../src/wal/segment.js';
import type { ChunkKind, Streamer, TarMember } from '../../src/archive/streamer.js';
import { ProtocolError } from '../../src/errors.js';

const SEG = 1024 * 1024;

const dirs: string[] = [];
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'pgfleet-receiver-'));
  dirs.push(d);
  return d;
}
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const backupOptions: BaseBackupOptions = {
  label: 'receiver test', progress: false, checkpoint: 'fast', wal: false, wait: false, maxRateKbPerSec: null,
  tablespaceMap: false, verifyChecksums: true, manifest: 'no', manifestChecksums: 'CRC32C', compression: null,
};

class Collector implements Streamer {
  chunks: Buffer[] = [];
  async content(_m: TarMember | null, data: Buffer, _k: ChunkKind): Promise<void> {
    this.chunks.push(Buffer.from(data));
  }
  async finalize(): Promise<void> {}
  async dispose(): Promise<void> {}
}

/** The segment names from the one holding `start` to the one holding `end`, on one timeline. */
function segmentsBetween(timeline: number, start: bigint, end: bigint): string[] {
  const names: string[] = [];
  for (let s = segmentNumber(start, SEG); s <= segmentNumber(end, SEG); s++) names.push(walSegmentName(timeline, s, SEG));
  return names;
}

async function waitFor(what: string, check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (await check()) return;
    await sleep(50);
  }
  assert.fail(`timed out waiting for ${what}`);
}

interface Run {
  start: BackupStart;
  end: BackupEnd;
  result: WalReceiverResult;
  receiver: WalReceiver;
  slotsDuringBackup: Array<{ slot_name: string; temporary: boolean; active: boolean }>;
}

/** A base backup (archives discarded) with a WAL receiver started from onStart, as pg_basebackup does. */
async function backupWithReceiver(cluster: TestCluster, sink: WalSink, extra: Partial<WalReceiverOptions> = {},
  whileRunning?: (receiver: WalReceiver, start: BackupStart) => Promise<void>): Promise<Run> {
  const conn = await ReplicationConnection.connect({ host: '127.0.0.1', port: cluster.port, user: 'postgres' });
  try {
    const system = await conn.identifySystem();
    let receiver: WalReceiver | null = null;
    let start: BackupStart | null = null;
    let end: BackupEnd | null = null;
    let slotsDuringBackup: Run['slotsDuringBackup'] = [];
    const handler: BaseBackupHandler = {
      onStart: async (s) => {
        start = s;
        receiver = await WalReceiver.start({
          connection: { host: '127.0.0.1', port: cluster.port, user: 'postgres' },
          sink,
          startLsn: s.startLsn,
          timeline: s.timeline,
          systemId: system.systemId,
          statusIntervalSec: 1,
          ...extra,
        });
        // WAL written while the backup runs: several 1 MB segments.
        await cluster.query("INSERT INTO filler SELECT g, repeat('x', 200) FROM generate_series(1, 12000) g");
        slotsDuringBackup = (await cluster.query<Run['slotsDuringBackup'][number]>(
          'SELECT slot_name, temporary, active FROM pg_replication_slots ORDER BY slot_name')).rows;
        await whileRunning?.(receiver, s);
      },
      onArchiveStart: () => undefined,
      onArchiveData: () => undefined,
      onArchiveEnd: () => undefined,
      onManifestStart: () => undefined,
      onManifestData: () => undefined,
      onManifestEnd: () => undefined,
      onProgress: () => undefined,
      onEnd: (e) => { end = e; },
    };
    await conn.baseBackup(backupOptions, handler);
    assert.ok(receiver !== null && start !== null && end !== null);
    const r = receiver as WalReceiver;
    const result = await r.stopAt(parseLsn((end as BackupEnd).endLsn), (end as BackupEnd).timeline);
    return { start, end, result, receiver: r, slotsDuringBackup };
  } finally {
    await conn.close();
  }
}

describe('WalReceiver on PostgreSQL 15', () => {
  let cluster: TestCluster;
  before(async () => {
    cluster = await startCluster({ version: 15, initdbArgs: ['--wal-segsize=1'] });
    await cluster.query('CREATE TABLE filler (id int, t text)');
  });
  after(async () => {
    await cluster?.destroy();
  });

  test('directory sink: the segments covering the backup, .done for complete ones, pg_waldump reads them', async () => {
    const walDir = join(tmp(), 'pg_wal');
    const created: string[] = [];
    const run = await backupWithReceiver(cluster, new DirectoryWalSink({ directory: walDir, segmentSize: SEG, sync: false }), {
      onSlotCreated: (name, temporary) => created.push(`${name} ${temporary}`),
    });
    const startLsn = parseLsn(run.start.startLsn);
    const endLsn = parseLsn(run.end.endLsn);
    const expected = segmentsBetween(1, startLsn, endLsn);
    assert.ok(expected.length >= 3, `the backup spans ${expected.length} segments`);
    assert.deepEqual(run.result.segments, expected);
    assert.equal(run.result.startLsn, startLsn - (startLsn % BigInt(SEG)));
    assert.ok(run.result.endLsn >= endLsn);
    assert.equal(run.result.timeline, 1);

    // The temporary slot pg_basebackup would have made, active while the backup ran.
    assert.equal(created.length, 1);
    assert.match(created[0]!, /^pg_basebackup_\d+ true$/);
    assert.equal(run.result.slotName, created[0]!.split(' ')[0]);
    assert.deepEqual(run.slotsDuringBackup, [{ slot_name: run.result.slotName, temporary: true, active: true }]);

    const files = readdirSync(walDir).sort();
    assert.deepEqual(files, [...expected, 'archive_status'].sort());
    for (const name of expected) assert.equal(statSync(join(walDir, name)).size, SEG, `${name} is full size`);
    const last = expected.at(-1)!;
    const lastComplete = run.result.endLsn % BigInt(SEG) === 0n;
    const done = expected.filter((n) => n !== last || lastComplete).map((n) => `${n}.done`);
    assert.deepEqual(readdirSync(join(walDir, 'archive_status')).sort(), done);
    assert.equal(run.result.completeSegments, done.length);

    // PostgreSQL's own WAL reader accepts every record from the backup start to its end.
    execFileSync(systemBin('pg_waldump'), ['--quiet', `--path=${walDir}`, '--timeline=1', `--start=${run.start.startLsn}`, `--end=${run.end.endLsn}`]);

    // The temporary slot is gone with the receiver's connection.
    for (let i = 0; i < 50 && (await cluster.query('SELECT 1 FROM pg_replication_slots')).rowCount !== 0; i++) await sleep(20);
    assert.equal((await cluster.query('SELECT 1 FROM pg_replication_slots')).rowCount, 0);
  });

  test('a permanent slot created with createSlot follows the reported flush position', async () => {
    const out = new Collector();
    const slotState = async () => (await cluster.query<{ temporary: boolean; restart_lsn: string }>(
      "SELECT temporary, restart_lsn::text FROM pg_replication_slots WHERE slot_name = 'pgfleet_receiver'")).rows[0]!;
    const run = await backupWithReceiver(cluster, new TarWalSink({ segmentSize: SEG, next: out }), {
      slot: 'pgfleet_receiver', createSlot: true, statusIntervalSec: 0.1,
    }, async (receiver, backupStart) => {
      // restart_lsn moves past the start once the flush position of closed segments is reported.
      const start = parseLsn(backupStart.startLsn) - (parseLsn(backupStart.startLsn) % BigInt(SEG));
      await waitFor('restart_lsn to pass the start', async () => receiver.durablePosition > start &&
        parseLsn((await slotState()).restart_lsn) > start && parseLsn((await slotState()).restart_lsn) <= receiver.durablePosition);
    });
    assert.equal(run.result.slotName, 'pgfleet_receiver');
    assert.equal((await slotState()).temporary, false);
    assert.ok(parseLsn((await slotState()).restart_lsn) > run.result.startLsn);
    await cluster.query("SELECT pg_drop_replication_slot('pgfleet_receiver')");
  });

  test('no slot at all (--no-slot)', async () => {
    const run = await backupWithReceiver(cluster, new TarWalSink({ segmentSize: SEG, next: new Collector() }), { temporarySlot: false });
    assert.equal(run.result.slotName, null);
    assert.deepEqual(run.slotsDuringBackup, []);
  });

  test('a different system identifier is refused before streaming, and everything is released', async () => {
    let disposed = 0;
    const sink = new TarWalSink({ segmentSize: SEG, next: { ...new Collector(), content: async () => undefined, finalize: async () => undefined, dispose: async () => { disposed++; } } });
    await assert.rejects(WalReceiver.start({
      connection: { host: '127.0.0.1', port: cluster.port, user: 'postgres' },
      sink, startLsn: '0/1000000', timeline: 1, systemId: '1',
    }), (err: unknown) => {
      assert.ok(err instanceof ProtocolError);
      assert.equal(err.message, 'system identifier does not match between base backup and streaming connection');
      return true;
    });
    assert.equal(disposed, 1);
    await assert.rejects(WalReceiver.start({
      connection: { host: '127.0.0.1', port: cluster.port, user: 'postgres' },
      sink: new TarWalSink({ segmentSize: SEG, next: new Collector() }), startLsn: '0/1000000', timeline: 7,
    }), { name: 'WalMissingError', message: 'starting timeline 7 is not present in the server' });
  });

  test('a broken receiver connection surfaces to the caller at once and fails stopAt', async () => {
    const id = await (await cluster.query<{ lsn: string }>('SELECT pg_current_wal_flush_lsn()::text AS lsn')).rows[0]!.lsn;
    const errors: Error[] = [];
    const receiver = await WalReceiver.start({
      connection: { host: '127.0.0.1', port: cluster.port, user: 'postgres' },
      sink: new DirectoryWalSink({ directory: join(tmp(), 'pg_wal'), segmentSize: SEG, sync: false }),
      startLsn: id, timeline: 1, onError: (e) => errors.push(e),
    });
    const pid = Number(receiver.slotName!.replace('pg_basebackup_', ''));
    await cluster.query('SELECT pg_terminate_backend($1)', [pid]);
    for (let i = 0; i < 100 && errors.length === 0; i++) await sleep(20);
    assert.equal(errors.length, 1);
    assert.equal(receiver.failure, errors[0]);
    assert.match(errors[0]!.message, /terminating connection due to administrator command|lost connection/);
    await assert.rejects(receiver.stopAt(parseLsn(id) + 100n), (err: unknown) => err === errors[0]);
  });
});

/** A sink into a directory in pg_receivewal's layout. */
function receivewalSink(dir: string, extra: Partial<ConstructorParameters<typeof DirectoryWalSink>[0]> = {}): DirectoryWalSink {
  return new DirectoryWalSink({ directory: dir, segmentSize: SEG, sync: true, markDone: false, partialFiles: true, ...extra });
}

async function flushLsn(cluster: TestCluster): Promise<bigint> {
  return parseLsn((await cluster.query<{ lsn: string }>('SELECT pg_current_wal_flush_lsn()::text AS lsn')).rows[0]!.lsn);
}

describe('WalReceiver as a continuous archive (PostgreSQL 15)', () => {
  let cluster: TestCluster;
  const connection = () => ({ host: '127.0.0.1', port: cluster.port, user: 'postgres' });
  before(async () => {
    cluster = await startCluster({ version: 15, initdbArgs: ['--wal-segsize=1'] });
    await cluster.query('CREATE TABLE filler (id int, t text)');
  });
  after(async () => {
    await cluster?.destroy();
  });

  test("no start given: the slot's restart_lsn, then the directory; onDurable follows closed segments", async () => {
    await cluster.query("SELECT pg_create_physical_replication_slot('archive', true)");
    const restart = parseLsn((await cluster.query<{ lsn: string }>(
      "SELECT restart_lsn::text AS lsn FROM pg_replication_slots WHERE slot_name = 'archive'")).rows[0]!.lsn);
    await cluster.query("INSERT INTO filler SELECT g, repeat('x', 200) FROM generate_series(1, 12000) g");
    const end = await flushLsn(cluster);
    const dir = tmp();
    const durable: bigint[] = [];
    const events: string[] = [];
    const receiver = await WalReceiver.start({
      connection: connection(), sink: receivewalSink(dir), slot: 'archive', temporarySlot: false, endLsn: end,
      onDurable: (p) => durable.push(p), onEvent: (e) => events.push(e.kind),
    });
    const result = await receiver.done;
    assert.equal(result.startLsn, restart - (restart % BigInt(SEG)), 'from the slot');
    assert.ok(result.endLsn >= end);
    assert.equal(events[0], 'streaming-started');
    assert.ok(events.includes('stopped'));
    assert.ok(result.completeSegments >= 2);
    assert.deepEqual(durable, [...durable].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)), 'durable positions only grow');
    assert.equal(durable.at(-1), result.endLsn);
    // Every segment before the last is complete on disk; the last is .partial unless the stop
    // point fell on a segment boundary.
    const names = readdirSync(dir).sort();
    const lastComplete = result.endLsn % BigInt(SEG) === 0n;
    assert.equal(events.at(-1), lastComplete ? 'stopped' : 'segment-incomplete');
    assert.deepEqual(names, lastComplete ? result.segments : [...result.segments.slice(0, -1), `${result.segments.at(-1)}.partial`]);

    // Again, with no start: the directory decides (the .partial segment is streamed again).
    await cluster.query("INSERT INTO filler SELECT g, 'y' FROM generate_series(1, 100) g");
    const again = await WalReceiver.start({
      connection: connection(), sink: receivewalSink(dir), slot: 'archive', temporarySlot: false, endLsn: await flushLsn(cluster),
    });
    const second = await again.done;
    assert.equal(second.startLsn, result.endLsn - (result.endLsn % BigInt(SEG)));
    await cluster.query("SELECT pg_drop_replication_slot('archive')");
  });

  test('a flushPosition provider decides what the slot may release, whatever the sink closed', async () => {
    await cluster.query("SELECT pg_create_physical_replication_slot('acked', true)");
    const dir = tmp();
    const start = await flushLsn(cluster);
    let acknowledged = start - (start % BigInt(SEG));
    const receiver = await WalReceiver.start({
      connection: connection(), sink: receivewalSink(dir, { sync: false }), slot: 'acked', temporarySlot: false,
      startLsn: start, timeline: 1, statusIntervalSec: 0.2, flushPosition: () => acknowledged,
    });
    await cluster.query("INSERT INTO filler SELECT g, repeat('x', 200) FROM generate_series(1, 12000) g");
    const end = await flushLsn(cluster);
    await waitFor('the receiver to get the WAL', async () => receiver.durablePosition >= end - (end % BigInt(SEG)));
    const restartLsn = async () => parseLsn((await cluster.query<{ lsn: string }>(
      "SELECT restart_lsn::text AS lsn FROM pg_replication_slots WHERE slot_name = 'acked'")).rows[0]!.lsn);
    await sleep(600);
    assert.equal(await restartLsn(), acknowledged, 'closed segments are not reported until acknowledged');
    acknowledged = end - (end % BigInt(SEG));
    await waitFor('the acknowledged position to reach the slot', async () => (await restartLsn()) === acknowledged);
    await receiver.stop();
    await cluster.query("SELECT pg_drop_replication_slot('acked')");
  });

  test('an archive\'s deadline: a quiet server answers the probes and streams on; a walsender that stopped answering fails the stream', async () => {
    await cluster.query("SELECT pg_create_physical_replication_slot('hung', true)");
    const deadlineMs = archiveStreamDeadlineMs(1500);
    assert.equal(deadlineMs, 1500);
    assert.equal(archiveStreamDeadlineMs(600_000), 60_000, 'never longer than wal_receiver_timeout\'s default');
    const receiver = await WalReceiver.start({
      connection: { ...connection(), application_name: 'hung_archive', noProgressTimeoutMs: deadlineMs },
      sink: receivewalSink(tmp(), { sync: false }), slot: 'hung', temporarySlot: false, startLsn: await flushLsn(cluster), timeline: 1,
    });
    // Twice the deadline without any WAL: the server's answers to the probes keep it alive.
    await sleep(3 * deadlineMs);
    assert.equal(receiver.failure, null, 'a quiet healthy server is not a hung one');
    const pid = (await cluster.query<{ pid: number }>("SELECT pid FROM pg_stat_replication WHERE application_name = 'hung_archive'")).rows[0]?.pid;
    assert.ok(pid !== undefined, 'the walsender is there');
    process.kill(pid, 'SIGSTOP');
    const stoppedAt = Date.now();
    try {
      await assert.rejects(receiver.done, /no data from .* for 1\.5 s: the server stopped answering/);
      const waited = Date.now() - stoppedAt;
      assert.ok(waited < 3 * deadlineMs, `failed after ${waited} ms`);
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    await waitFor('the walsender to end', async () => (await cluster.query(
      "SELECT 1 FROM pg_replication_slots WHERE slot_name = 'hung' AND active")).rowCount === 0);
    await cluster.query("SELECT pg_drop_replication_slot('hung')");
  });

  test('synchronous: without a slot, every write is flushed and reported at once', async () => {
    const dir = tmp();
    const start = await flushLsn(cluster);
    const stat = async () => (await cluster.query<{ write: string | null; flush: string | null }>(
      "SELECT write_lsn::text AS write, flush_lsn::text AS flush FROM pg_stat_replication WHERE application_name = 'sync_test'")).rows[0];
    const receiver = await WalReceiver.start({
      connection: { ...connection(), application_name: 'sync_test' }, sink: receivewalSink(dir), temporarySlot: false,
      startLsn: start, timeline: 1, statusIntervalSec: 100, synchronous: true,
    });
    await cluster.query("INSERT INTO filler SELECT g, 'z' FROM generate_series(1, 500) g");
    const end = await flushLsn(cluster);
    await waitFor('flush_lsn to reach the end of WAL', async () => {
      const s = await stat();
      return s?.flush !== null && s?.flush !== undefined && parseLsn(s.flush) >= end;
    });
    const result = await receiver.stop();
    assert.ok(result.endLsn >= end);
    // Without --synchronous and without a slot, flush is never reported (receivelog.c's rule).
    const plain = await WalReceiver.start({
      connection: { ...connection(), application_name: 'sync_test' }, sink: receivewalSink(tmp()), temporarySlot: false,
      startLsn: await flushLsn(cluster), timeline: 1, statusIntervalSec: 0.2,
    });
    await cluster.query("INSERT INTO filler SELECT g, 'z' FROM generate_series(1, 500) g");
    await waitFor('a status update', async () => (await stat())?.write !== null);
    await sleep(400);
    assert.equal((await stat())?.flush, null);
    await plain.stop();
  });

  // A synchronous standby is only usable when each flush is reported as soon as it happened:
  // a status update that waits for the next interval holds every COMMIT for up to that long.
  for (const mode of ['own sink', 'flushPosition provider'] as const) {
    test(`synchronous, ${mode}: as a synchronous standby, a COMMIT returns long before the next status interval`, async () => {
      const name = mode === 'own sink' ? 'sync_commit_own' : 'sync_commit_acked';
      const sink = receivewalSink(tmp());
      const start = await flushLsn(cluster);
      let durable = start;
      const receiver = await WalReceiver.start({
        connection: { ...connection(), application_name: name }, sink, temporarySlot: false,
        startLsn: start, timeline: 1, statusIntervalSec: 10, synchronous: true,
        // The agent's way: the position its sink's sync() made durable elsewhere.
        ...(mode === 'flushPosition provider' ? { flushPosition: () => durable, onDurable: (p: bigint) => { durable = p; } } : {}),
      });
      // The harness runs with synchronous_commit off: a COMMIT would not wait for any standby.
      await cluster.query(`ALTER SYSTEM SET synchronous_standby_names = '${name}'`);
      await cluster.query('ALTER SYSTEM SET synchronous_commit = on');
      await cluster.query('SELECT pg_reload_conf()');
      try {
        await waitFor('the receiver to be the synchronous standby', async () => (await cluster.query<{ s: string }>(
          `SELECT sync_state AS s FROM pg_stat_replication WHERE application_name = '${name}'`)).rows[0]?.s === 'sync');
        const latencies: number[] = [];
        for (let i = 0; i < 5; i++) {
          const t0 = performance.now();
          await cluster.query("INSERT INTO filler VALUES ($1, 'sync')", [i]);
          latencies.push(Math.round(performance.now() - t0));
        }
        console.log(`# ${mode}: commit latencies with the receiver as synchronous standby (status interval 10 s): ${latencies.join(', ')} ms`);
        assert.ok(Math.max(...latencies) < 1000, `every COMMIT returned within 1 s (got ${latencies.join(', ')} ms)`);
      } finally {
        await cluster.query('ALTER SYSTEM RESET synchronous_standby_names');
        await cluster.query('ALTER SYSTEM RESET synchronous_commit');
        await cluster.query('SELECT pg_reload_conf()');
        await receiver.stop();
      }
    });
  }
});

describe('WalReceiver on PostgreSQL 14, tar sink', () => {
  let cluster: TestCluster;
  before(async () => {
    cluster = await startCluster({ version: 14, initdbArgs: ['--wal-segsize=1'] });
    await cluster.query('CREATE TABLE filler (id int, t text)');
  });
  after(async () => {
    await cluster?.destroy();
  });

  test('pg_wal.tar holds the segments covering the backup', async () => {
    const out = new Collector();
    const run = await backupWithReceiver(cluster, new TarWalSink({ segmentSize: SEG, next: out }));
    const expected = segmentsBetween(1, parseLsn(run.start.startLsn), parseLsn(run.end.endLsn));
    assert.deepEqual(run.result.segments, expected);
    const file = join(tmp(), 'pg_wal.tar');
    writeFileSync(file, Buffer.concat(out.chunks));
    const names = execFileSync('tar', ['-tf', file], { encoding: 'utf8' }).trim().split('\n');
    const lastComplete = run.result.endLsn % BigInt(SEG) === 0n;
    const members = expected.flatMap((n, i) => (i < expected.length - 1 || lastComplete ? [n, `archive_status/${n}.done`] : [n]));
    assert.deepEqual(names, members);
  });
});

describe('WalReceiver on timeline 2 (PostgreSQL 15)', () => {
  let cluster: TestCluster;
  let switchLsn: bigint;
  before(async () => {
    cluster = await startCluster({ version: 15, initdbArgs: ['--wal-segsize=1'] });
    await cluster.query('CREATE TABLE filler (id int, t text)');
    await cluster.stop();
    // Archive recovery with nothing to restore ends at once on a new timeline.
    const signal = join(cluster.dataDir, 'recovery.signal');
    writeFileSync(signal, '');
    await chownOne(signal);
    appendFileSync(join(cluster.dataDir, 'postgresql.conf'), "restore_command = 'false'\n");
    await cluster.start();
    for (let i = 0; i < 100; i++) {
      const r = await cluster.query<{ tli: number }>('SELECT timeline_id AS tli FROM pg_control_checkpoint()');
      if (r.rows[0]?.tli === 2 && !(await cluster.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r')).rows[0]?.r) break;
      await sleep(50);
    }
    const history = readFileSync(join(cluster.dataDir, 'pg_wal', '00000002.history'), 'utf8');
    switchLsn = parseLsn(history.split('\t')[1]!);
  });
  after(async () => {
    await cluster?.destroy();
  });

  // First: a backup's checkpoint would remove the old timeline's segments.
  test('streaming from timeline 1 follows the server onto timeline 2', async () => {
    const walDir = join(tmp(), 'pg_wal');
    const startLsn = switchLsn - (switchLsn % BigInt(SEG));
    const receiver = await WalReceiver.start({
      connection: { host: '127.0.0.1', port: cluster.port, user: 'postgres' },
      sink: new DirectoryWalSink({ directory: walDir, segmentSize: SEG, sync: false }),
      startLsn, timeline: 1,
    });
    await cluster.query("SET synchronous_commit = on; INSERT INTO filler SELECT g, 'x' FROM generate_series(1, 100) g");
    const flush = parseLsn((await cluster.query<{ lsn: string }>('SELECT pg_current_wal_flush_lsn()::text AS lsn')).rows[0]!.lsn);
    const result = await receiver.stopAt(flush);
    assert.equal(result.timeline, 2);
    assert.deepEqual(result.historyFiles, ['00000002.history']);
    const switchSegment = walSegmentName(1, segmentNumber(switchLsn, SEG), SEG);
    assert.equal(result.segments[0], switchSegment, 'the old timeline up to the switch');
    assert.equal(result.segments[1], walSegmentName(2, segmentNumber(switchLsn, SEG), SEG), 'the switch segment again, from timeline 2');
    assert.ok(!readdirSync(join(walDir, 'archive_status')).includes(`${switchSegment}.done`), 'the cut-off segment is incomplete');
    execFileSync(systemBin('pg_waldump'), ['--quiet', `--path=${walDir}`, '--timeline=2', `--start=${formatLsn(switchLsn)}`, `--end=${formatLsn(flush)}`]);
  });
  test('the history file is fetched and written with its .done', async () => {
    const walDir = join(tmp(), 'pg_wal');
    const run = await backupWithReceiver(cluster, new DirectoryWalSink({ directory: walDir, segmentSize: SEG, sync: false }));
    assert.equal(run.start.timeline, 2);
    assert.deepEqual(run.result.historyFiles, ['00000002.history']);
    assert.ok(readFileSync(join(walDir, '00000002.history'), 'utf8').startsWith(`1\t${formatLsn(switchLsn)}\t`));
    assert.ok(readdirSync(join(walDir, 'archive_status')).includes('00000002.history.done'));
    assert.ok(run.result.segments.every((n) => n.startsWith('00000002')));
    execFileSync(systemBin('pg_waldump'), ['--quiet', `--path=${walDir}`, '--timeline=2', `--start=${run.start.startLsn}`, `--end=${run.end.endLsn}`]);
  });
});
