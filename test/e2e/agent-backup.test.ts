// The agent's Backup call, against a real `pgfleet-agent serve` process with mutual TLS and a
// PostgreSQL 15 cluster with a tablespace and data:
//  - Backup over the local Unix socket (client gzip, -X stream): the stream follows the
//    grammar (started first, result last, pg_wal.tar streamed alongside the data archives
//    under its own file id, nothing spooled in the agent's TMPDIR), the files written to a
//    directory are pg_basebackup's tar layout, verify against their manifest (WAL included),
//    and restore by hand (system tar, tablespace moved) into a copy that starts, is promoted
//    and holds the source's data; the result names the tablespace, LSNs, timeline, system id;
//    `started` already carries the system id, server version, timeline and start LSN;
//  - -X fetch with server-side zstd: the layout has no pg_wal.tar and still verifies;
//  - Backup of a data directory (connection taken from its postmaster.pid), rate-limited and
//    cancelled by the client after the first data chunk: the client gets CancelledError, the
//    server's WAL sender and temporary slot go away, and the agent's TMPDIR holds no spool;
//  - a server that cannot be reached: the agent's ConnectError (message and hint) is rethrown
//    client-side as the same class, and nothing is written;
//  - the agent's log of Backup calls whose conninfo carries passwords (keyword and URI forms)
//    holds none of them;
//  - a caller stopped mid-backup (SIGSTOP: alive, but reading nothing) makes an agent with a
//    short no-progress deadline abort the backup: its WAL sender and temporary slot disappear
//    from the server while the caller is still stopped.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { mkdir, readdir } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CancelledError, ConnectError, verifyBackup } from '@pgfleet/core';
import { REPO_ROOT, freePort, makeTempDir, restoreTarByHand, startCluster, startRestored, type TestCluster } from '../harness/index.js';
import { AgentClient, type BackupStarted__Output } from '@pgfleet/proto';
import { serveAgent, stopServedAgent, type ServedAgent } from './agent-support.js';
import type { RunningTool } from './support/index.js';

describe('pgfleet-agent serve: Backup', { timeout: 300_000 }, () => {
  let source: TestCluster;
  let work: string;
  let spool: string;
  let agent: RunningTool;
  let client: AgentClient;
  /** What the agent put in its TMPDIR (tsx, when it runs from source, keeps its cache there): there must be nothing. */
  const agentFiles = (names: string[]): string[] => names.filter((n) => !n.startsWith('tsx-'));
  const spooled = async (): Promise<string[]> => agentFiles(await readdir(spool));

  before(async () => {
    source = await startCluster({ version: 15, tablespaces: 1, data: true, settings: ['autovacuum = off'] });
    work = await makeTempDir('pgfleet-e2e-agent-backup');
    spool = path.join(work, 'tmp');
    await mkdir(spool);
    let address: string;
    let tls: ServedAgent['tls'];
    ({ agent, address, tls } = await serveAgent({ work, allowedRoot: source.baseDir, tls: true, env: { TMPDIR: spool } }));
    client = await AgentClient.connect({ address, tls });
  });

  after(async () => {
    client?.close();
    if (agent) await stopServedAgent(agent);
    await source?.destroy();
  });

  test('GetInfo announces "backup"', async () => {
    assert.ok((await client.getInfo()).capabilities.includes('backup'));
  });

  test('Backup over the local socket: the streamed files verify, restore, start and hold the source data', async () => {
    const expected = await source.snapshot();
    const dir = path.join(work, 'backup');
    const order: string[] = [];
    const names = new Map<number, string>();
    let started: BackupStarted__Output | null = null;
    /** The agent's TMPDIR while pg_wal.tar and base.tar.gz both stream. */
    let tmpWhileStreaming: string[] | null = null;
    const result = await client.backup({
      conninfo: `host=${source.host} port=${source.port} user=postgres dbname=postgres`,
      label: 'agent e2e', checkpoint: 'fast', walMethod: 'stream', compression: 'client-gzip',
    }, dir, {
      onEvent: (e) => {
        if (e.event === 'started') started = e.started ?? null;
        if (e.event === 'fileBegin') {
          names.set(e.fileBegin?.fileId ?? 0, e.fileBegin?.name ?? '');
          order.push(`begin ${e.fileBegin?.name}`);
        } else if (e.event === 'fileEnd') order.push(`end ${names.get(e.fileEnd?.fileId ?? 0)}`);
        else if (e.event === 'data' && tmpWhileStreaming === null && names.get(e.data?.fileId ?? 0) === 'base.tar.gz') {
          tmpWhileStreaming = agentFiles(readdirSync(spool));
        }
        else if (e.event !== 'data' && e.event !== 'progress') order.push(e.event ?? '');
      },
    });
    const oid = source.tablespaces[0]!.oid;
    // started first, result last; pg_wal.tar (written while the data archives arrive) begins
    // right after started and streams alongside them under its own file id, ending once the
    // backup's end point is in; the data archives come one after the other (the server sends
    // the tablespace before the main directory).
    assert.deepEqual(order, ['started', 'begin pg_wal.tar.gz', `begin ${oid}.tar.gz`, `end ${oid}.tar.gz`, 'begin base.tar.gz', 'end base.tar.gz',
      'begin backup_manifest', 'end backup_manifest', 'end pg_wal.tar.gz', 'result']);
    assert.deepEqual((await readdir(dir)).sort(), [`${oid}.tar.gz`, 'backup_manifest', 'base.tar.gz', 'pg_wal.tar.gz']);
    assert.deepEqual([...result.files].sort(), (await readdir(dir)).sort());
    assert.deepEqual(result.tablespaces.map((t) => ({ oid: t.oid, location: t.location, archive: t.archive })),
      [{ oid, location: source.tablespaces[0]!.location, archive: `${oid}.tar.gz` }]);
    const ids = await source.query<{ id: string; tli: number }>('SELECT system_identifier::text AS id, (SELECT timeline_id FROM pg_control_checkpoint()) AS tli FROM pg_control_system()');
    assert.equal(result.systemIdentifier, ids.rows[0]!.id);
    assert.equal(result.timeline, ids.rows[0]!.tli);
    assert.ok(result.serverVersionNum >= 150000 && result.serverVersionNum < 160000, String(result.serverVersionNum));
    const version = await source.query<{ num: string }>("SELECT current_setting('server_version_num') AS num");
    assert.equal(result.serverVersionNum, Number(version.rows[0]!.num));
    // `started` already says which server and where the backup starts: the same as `result`.
    const s = started as BackupStarted__Output | null;
    assert.deepEqual(
      s && { systemIdentifier: s.systemIdentifier, serverVersionNum: s.serverVersionNum, timeline: s.timeline, startLsn: s.startLsn },
      { systemIdentifier: ids.rows[0]!.id, serverVersionNum: result.serverVersionNum, timeline: result.timeline, startLsn: result.startLsn },
    );
    assert.deepEqual(s?.tablespaces.map((t) => [t.oid, t.location]), source.tablespaces.map((t) => [t.oid, t.location]));
    assert.ok(Number(s?.estimatedBytes) > 0, 'the size estimate');
    assert.match(result.startLsn, /^[0-9A-F]+\/[0-9A-F]+$/);
    assert.match(result.endLsn, /^[0-9A-F]+\/[0-9A-F]+$/);
    assert.ok(Number(result.bytes) > 0);
    assert.deepEqual(tmpWhileStreaming, [], 'nothing is spooled while the files stream');
    assert.deepEqual(await spooled(), [], 'nothing is left');

    const verified = await verifyBackup(dir);
    assert.deepEqual(verified.problems, []);
    assert.equal(verified.ok, true);
    assert.ok(verified.walSegmentsChecked.length > 0);

    const target = path.join(await makeTempDir('pgfleet-e2e-agent-backup-restore'), 'data');
    const newTs = path.join(await makeTempDir('pgfleet-e2e-agent-backup-ts'), 'ts');
    await restoreTarByHand({ backupDir: dir, targetDir: target, tablespaceTargets: new Map([[oid, newTs]]) });
    const copy = await startRestored({ dataDir: target, version: 15, mode: 'promote' });
    try {
      assert.deepEqual(await copy.snapshot(), expected);
      const loc = await copy.query<{ l: string }>('SELECT pg_tablespace_location($1) AS l', [oid]);
      assert.equal(loc.rows[0]!.l, newTs);
    } finally {
      await copy.destroy();
    }
  });

  test('Backup with -X fetch and server-side zstd: no pg_wal.tar, the WAL is in base.tar.zst, and the files verify', async () => {
    const dir = path.join(work, 'fetch-zstd');
    const kinds: string[] = [];
    const result = await client.backup({
      conninfo: `host=${source.host} port=${source.port} user=postgres`,
      checkpoint: 'fast', walMethod: 'fetch', compression: 'server-zstd',
    }, dir, { onEvent: (e) => { if (e.event === 'started' || e.event === 'result') kinds.push(e.event); } });
    const oid = source.tablespaces[0]!.oid;
    assert.deepEqual(kinds, ['started', 'result']);
    assert.deepEqual((await readdir(dir)).sort(), [`${oid}.tar.zst`, 'backup_manifest', 'base.tar.zst']);
    assert.equal(result.walMethod, 'fetch');
    assert.equal(result.compression, 'server-zstd');
    const verified = await verifyBackup(dir);
    assert.deepEqual(verified.problems, []);
    assert.ok(verified.walSegmentsChecked.length > 0);
  });

  test('a Backup the client cancels stops on the server and leaves nothing behind', async () => {
    const dir = path.join(work, 'cancelled');
    const controller = new AbortController();
    let data = 0;
    await assert.rejects(client.backup({
      dataDir: source.dataDir, label: 'agent e2e cancel', checkpoint: 'fast', walMethod: 'stream', maxRateKb: 32,
    }, dir, {
      signal: controller.signal,
      onEvent: (e) => {
        if (e.event === 'data' && ++data === 1) controller.abort();
      },
    }), (err: unknown) => err instanceof CancelledError);
    assert.equal(data, 1);
    const deadline = Date.now() + 20_000;
    let left: { senders: number; slots: number } = { senders: -1, slots: -1 };
    while (Date.now() < deadline) {
      const r = await source.query<{ senders: number; slots: number }>(
        'SELECT (SELECT count(*) FROM pg_stat_replication)::int AS senders, (SELECT count(*) FROM pg_replication_slots)::int AS slots');
      left = r.rows[0]!;
      if (left.senders === 0 && left.slots === 0 && (await spooled()).length === 0) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.deepEqual(left, { senders: 0, slots: 0 });
    assert.deepEqual(await spooled(), []);
    // The agent still serves.
    assert.ok((await client.getInfo()).capabilities.includes('backup'));
  });

  /** Waits until the source has no WAL sender and no replication slot left; returns what it saw last. */
  async function replicationGone(seconds: number): Promise<{ senders: number; slots: number }> {
    const deadline = Date.now() + seconds * 1000;
    let left: { senders: number; slots: number } = { senders: -1, slots: -1 };
    while (Date.now() < deadline) {
      const r = await source.query<{ senders: number; slots: number }>(
        'SELECT (SELECT count(*) FROM pg_stat_replication)::int AS senders, (SELECT count(*) FROM pg_replication_slots)::int AS slots');
      left = r.rows[0]!;
      if (left.senders === 0 && left.slots === 0) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    return left;
  }

  test('the agent logs no password of a Backup\'s conninfo, in keyword or URI form', async () => {
    const conninfos = [
      `host=${source.host} port=${source.port} user=postgres dbname=postgres password=secret2`,
      `postgresql://postgres:secret3@/postgres?host=${encodeURIComponent(source.host)}&port=${source.port}&password=secret4`,
    ];
    for (const [i, conninfo] of conninfos.entries()) {
      const controller = new AbortController();
      await assert.rejects(client.backup({ conninfo, label: 'passwords', checkpoint: 'fast', walMethod: 'stream', maxRateKb: 32 }, path.join(work, `pw${i}`), {
        signal: controller.signal,
        onEvent: (e) => { if (e.event === 'data') controller.abort(); },
      }), (err: unknown) => err instanceof CancelledError);
    }
    assert.deepEqual(await replicationGone(20), { senders: 0, slots: 0 });
    const log = agent.stderrSoFar();
    for (const secret of ['secret2', 'secret3', 'secret4']) assert.ok(!log.includes(secret), `"${secret}" in the agent's log:\n${log}`);
    assert.match(log, new RegExp(`Backup from \\S+: host=\\S+ port=${source.port} user=postgres dbname=postgres password=\\*{8} \\(passwords\\)`));
    assert.match(log, /Backup from \S+: postgresql:\/\/postgres:\*{8}@\/postgres\?host=\S+&password=\*{8} \(passwords\)/);
  });

  test('a caller stopped mid-backup (SIGSTOP) makes the agent abort within its no-progress deadline and drop the slot', async () => {
    const { agent: impatient, address, tls } = await serveAgent({
      work, name: 'impatient', allowedRoot: source.baseDir, tls: true, env: { TMPDIR: spool }, extraConfig: ['noProgressTimeoutSeconds: 2'],
    });
    // The caller is a process of its own, so that it can be stopped: it prints BEGIN once the
    // first file streams, then keeps reading (slowly, rate-limited at the server) until stopped.
    const script = [
      "import { AgentClient } from '@pgfleet/proto';",
      `const client = await AgentClient.connect({ address: ${JSON.stringify(address)}, tls: ${JSON.stringify(tls)} });`,
      `await client.backup({ dataDir: ${JSON.stringify(source.dataDir)}, label: 'stopped caller', checkpoint: 'fast', walMethod: 'stream', maxRateKb: 1024 },`,
      `  ${JSON.stringify(path.join(work, 'stopped'))}, { onEvent: (e) => { if (e.event === 'data') process.stdout.write('DATA\\n'); } });`,
    ].join('\n');
    const caller = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    caller.stdout.setEncoding('utf8').on('data', (d: string) => { out += d; });
    caller.stderr.setEncoding('utf8').on('data', (d: string) => { out += d; });
    try {
      const deadline = Date.now() + 60_000;
      while (!out.includes('DATA') && Date.now() < deadline && caller.exitCode === null) await new Promise((r) => setTimeout(r, 50));
      assert.ok(out.includes('DATA'), `the caller got data:\n${out}`);
      const before = await source.query<{ slots: number }>('SELECT count(*)::int AS slots FROM pg_replication_slots');
      assert.equal(before.rows[0]?.slots, 1, 'the backup holds its temporary slot');
      caller.kill('SIGSTOP');
      const stoppedAt = Date.now();
      // Still stopped: the agent gave up on its own, and the server is clean.
      assert.deepEqual(await replicationGone(40), { senders: 0, slots: 0 });
      assert.ok(Date.now() - stoppedAt < 40_000);
      assert.equal(caller.exitCode, null, 'the caller is still there (stopped)');
      assert.match(impatient.stderrSoFar(), /Backup from \S+ failed: the caller took nothing of the backup for 2 s: it is gone or stuck/);
      assert.deepEqual(await spooled(), []);
    } finally {
      caller.kill('SIGKILL');
      await stopServedAgent(impatient);
    }
  });

  test('a Backup whose server cannot be reached fails with the catalogue error, rethrown client-side', async () => {
    const port = await freePort();
    const dir = path.join(work, 'unreachable');
    const err = await client.backup({ conninfo: `host=127.0.0.1 port=${port} user=postgres`, checkpoint: 'fast' }, dir).then(
      () => assert.fail('the backup succeeded'), (e: unknown) => e);
    assert.ok(err instanceof ConnectError, String(err));
    assert.equal(err.message, `could not connect for replication to "127.0.0.1:${port}": connection refused`);
    assert.equal(err.hint, `Check that the server is running on host "127.0.0.1" and accepts TCP/IP connections on port ${port}.`);
    assert.deepEqual(await readdir(dir), []);
    assert.deepEqual(await spooled(), []);
  });
});
