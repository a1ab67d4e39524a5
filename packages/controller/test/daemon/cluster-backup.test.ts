// The controller's side of a backup taken through an agent, with real archives: an in-process
// agent runs core's base backup against a real PostgreSQL 15 server (no fake PostgreSQL) and
// streams the files as agent.proto's Backup says; the controller must store, verify and commit
// them, and leave nothing behind when the stream is corrupt or breaks off.
import assert from 'node:assert/strict';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { makeTempDir, startCluster, type TestCluster } from '../../../../test/harness/index.js';
import { parseCompressionSpec, parseLsn, segmentNumber, walSegmentName } from '@pgfleet/core';
import type { ClusterConfig } from '../../src/config.js';
import { runBaseBackup, type BaseBackupResult } from '../../src/core-api.js';
import { AgentClient } from '../../src/daemon/agent-client.js';
import { backupCluster, type ClusterBackupEvent } from '../../src/daemon/cluster-backup.js';
import type { BackupEvent } from '../../src/gen/agent/pgfleet/v1/BackupEvent.js';
import { readClusterCatalog } from '../../src/repository/catalog.js';
import { backupsDir } from '../../src/repository/layout.js';
import { startFakeAgent, type FakeAgent } from './fake-agent.js';

let pg: TestCluster;
let taken: { dir: string; result: BaseBackupResult };
const fakes: FakeAgent[] = [];
const clients: AgentClient[] = [];

before(async () => {
  pg = await startCluster({ version: 15, tablespaces: 1, data: { rows: 200 } });
  const dir = join(await makeTempDir('ctl-agent-src'), 'backup');
  const result = await runBaseBackup({
    connection: { connectionString: pg.connectionString }, passwordPrompt: 'never', pgdata: dir, format: 'tar',
    walMethod: 'stream', slot: null, createSlot: false, temporarySlot: true, compression: parseCompressionSpec('client-gzip'),
    writeRecoveryConf: false, tablespaceMappings: [], waldir: null, checkpoint: 'fast', label: 'agent side', noClean: false,
    sync: false, progress: false, estimateSize: true, maxRateKbPerSec: null, statusIntervalSec: 10, verbose: 0, manifest: true,
    manifestChecksums: 'CRC32C', manifestForceEncode: false, verifyChecksums: true,
  });
  taken = { dir, result };
});

after(async () => {
  for (const c of clients) c.close();
  for (const f of fakes) f.kill();
});

const cluster: ClusterConfig = {
  name: 'db1main', agent: 'db1', conninfo: '', retention: { full: 2 }, compression: 'client-gzip',
  checkpoint: 'fast', walMethod: 'stream', maxRateKb: null,
};

interface StreamOptions {
  /** Change a file's bytes before sending. */
  mangle?: (name: string, data: Buffer) => Buffer;
  /** Leave this file out (and out of the result's list). */
  skip?: string;
  /** Stop after this many bytes of base.tar.gz (the agent "dies"). */
  dieAfter?: number;
  onDie?: () => void;
}

/** The agent's Backup: the real backup's files, in 64 kB chunks, as agent.proto says. */
function streamTaken(options: StreamOptions = {}) {
  return async (_req: unknown, write: (e: BackupEvent) => Promise<void>): Promise<void> => {
    const r = taken.result;
    const tablespaces = r.tablespaces.map((t) => ({ oid: t.oid, location: t.location, archive: '' }));
    await write({ started: { startLsn: r.startLsn, timeline: r.timeline, systemIdentifier: r.systemIdentifier, serverVersionNum: r.serverVersionNum, tablespaces, estimatedBytes: String(r.bytes) } });
    let sent = 0;
    const files = r.files.filter((n) => n !== options.skip);
    for (const name of files) {
      let data: Buffer = await readFile(join(taken.dir, name));
      if (options.mangle) data = options.mangle(name, data);
      const oid = /^(\d+)\.tar/.exec(name)?.[1];
      const ts = oid ? r.tablespaces.find((t) => t.oid === Number(oid)) : undefined;
      await write({ fileBegin: { name, size: String(data.length), tablespaceOid: ts?.oid ?? 0, tablespaceLocation: ts?.location ?? '' } });
      for (let at = 0; at < data.length; at += 65536) {
        if (options.dieAfter !== undefined && name.startsWith('base.tar') && at >= options.dieAfter) {
          options.onDie?.();
          await new Promise(() => {}); // never returns: the server is being killed
        }
        await write({ data: data.subarray(at, at + 65536) });
        sent += Math.min(65536, data.length - at);
        await write({ progress: { doneBytes: String(sent), totalBytes: String(r.bytes) } });
      }
      await write({ fileEnd: {} });
    }
    await write({
      result: {
        systemIdentifier: r.systemIdentifier, serverVersionNum: r.serverVersionNum, timeline: r.timeline, startLsn: r.startLsn, endLsn: r.endLsn,
        tablespaces: r.tablespaces.map((t) => ({ oid: t.oid, location: t.location, archive: t.archive ?? '' })), files,
        bytes: String(r.bytes), startedAt: r.startedAt.toISOString(), finishedAt: r.finishedAt.toISOString(), compression: 'client-gzip', walMethod: 'stream',
      },
    });
  };
}

async function agentWith(backup: ReturnType<typeof streamTaken>): Promise<{ fake: FakeAgent; client: AgentClient }> {
  const fake = await startFakeAgent({ backup });
  fakes.push(fake);
  const client = new AgentClient({ name: 'db1', address: fake.address }, null);
  clients.push(client);
  return { fake, client };
}

test('a backup streamed by an agent is stored in the tar layout, verified and committed with its metadata', async () => {
  const repo = await makeTempDir('ctl-repo');
  const { fake, client } = await agentWith(streamTaken());
  const events: ClusterBackupEvent[] = [];
  const { metadata, path } = await backupCluster({ repository: repo, cluster, agent: client, emit: (e) => events.push(e), progressIntervalMs: 0 });

  const req = fake.requests[0];
  assert.ok(req);
  assert.equal(req.label, `pgfleet db1main ${metadata.id}`);
  assert.equal(req.compression, 'client-gzip');
  assert.equal(req.checkpoint, 'fast');
  assert.equal(req.walMethod, 'stream');
  assert.equal(req.manifestChecksums, 'CRC32C');
  assert.equal(req.protocolVersion, '1.0');

  const oid = pg.tablespaces[0]?.oid;
  assert.deepEqual((await readdir(path)).sort(), [`${oid}.tar.gz`, 'backup.json', 'backup_manifest', 'base.tar.gz', 'pg_wal.tar.gz']);
  for (const name of taken.result.files) assert.deepEqual(await readFile(join(path, name)), await readFile(join(taken.dir, name)), name);
  assert.equal(metadata.via, 'agent:db1');
  assert.equal(metadata.startLsn, taken.result.startLsn);
  assert.equal(metadata.endLsn, taken.result.endLsn);
  assert.equal(metadata.systemIdentifier, taken.result.systemIdentifier);
  assert.deepEqual(metadata.tablespaces, [{ oid, location: pg.tablespaces[0]?.location, archive: `${oid}.tar.gz` }]);
  assert.equal(metadata.sizeBytes, (await Promise.all(taken.result.files.map((f) => stat(join(taken.dir, f))))).reduce((s, st) => s + st.size, 0));
  assert.deepEqual(JSON.parse(await readFile(join(path, 'backup.json'), 'utf8')), metadata);
  assert.deepEqual((await readClusterCatalog(repo, 'db1main')).backups.map((b) => b.metadata.id), [metadata.id]);
  assert.deepEqual([...new Set(events.map((e) => e.kind))], ['started', 'progress', 'verifying', 'completed']);
  const lastProgress = events.filter((e) => e.kind === 'progress').at(-1);
  assert.ok(lastProgress && lastProgress.kind === 'progress' && lastProgress.doneBytes === taken.result.bytes);
});

test('a backup that does not match its manifest is not committed, and nothing of it stays', async () => {
  const repo = await makeTempDir('ctl-repo');
  const { client } = await agentWith(streamTaken({
    // A different but well-formed backup_manifest entry: flip a checksum digit.
    mangle: (name, data) => {
      if (name !== 'backup_manifest') return data;
      const text = data.toString('utf8');
      const at = text.indexOf('"Checksum": "') + 13;
      const flipped = text.slice(0, at) + (text[at] === '0' ? '1' : '0') + text.slice(at + 1);
      return Buffer.from(flipped);
    },
  }));
  await assert.rejects(backupCluster({ repository: repo, cluster, agent: client }), (err: Error & { code?: number }) => {
    assert.equal(err.code, 80, err.message); // the manifest's own checksum no longer matches
    return true;
  });
  assert.deepEqual(await readdir(backupsDir(repo, 'db1main')), []);
});

test('a backup without the WAL it needs fails verification naming the problem', async () => {
  const repo = await makeTempDir('ctl-repo');
  const { client } = await agentWith(streamTaken({ skip: 'pg_wal.tar.gz' }));
  await assert.rejects(backupCluster({ repository: repo, cluster, agent: client }), (err: Error & { code?: number }) => {
    assert.equal(err.code, 81);
    const segment = walSegmentName(taken.result.timeline, segmentNumber(parseLsn(taken.result.startLsn), 16 * 1024 * 1024), 16 * 1024 * 1024);
    assert.equal(err.message, `backup of cluster "db1main" does not match its manifest: WAL segment "${segment}" is missing from "base.tar.gz"`);
    return true;
  });
  assert.deepEqual(await readdir(backupsDir(repo, 'db1main')), []);
});

test('an agent that dies in the middle of an archive fails the backup and leaves no partial files', async () => {
  const repo = await makeTempDir('ctl-repo');
  let fake: FakeAgent | undefined;
  const agent = await agentWith(streamTaken({ dieAfter: 65536 * 2, onDie: () => setTimeout(() => fake?.kill(), 20) }));
  fake = agent.fake;
  await assert.rejects(backupCluster({ repository: repo, cluster, agent: agent.client }), (err: Error & { code?: number }) => {
    assert.equal(err.message, 'agent "db1" ended the call abruptly');
    assert.equal(err.code, 40);
    return true;
  });
  assert.deepEqual(await readdir(backupsDir(repo, 'db1main')), []);
});
