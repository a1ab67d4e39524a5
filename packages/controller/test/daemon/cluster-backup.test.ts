// The controller's side of a backup taken through an agent, with real archives: an in-process
// agent runs core's base backup against a real PostgreSQL 15 server (no fake PostgreSQL) and
// streams the files as agent.proto's Backup says; the controller must store, verify and commit
// them, and leave nothing behind when the stream is corrupt or breaks off.
import assert from 'node:assert/strict';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { makeTempDir, startCluster, type TestCluster } from '../../../../test/harness/index.js';
import {
  createCompressor, parseCompressionSpec, parseLsn, segmentNumber, verifyBackup, walSegmentName, type Streamer,
} from '@pgfleet/core';
import type { ClusterConfig } from '../../src/config.js';
import { runBaseBackup, type BaseBackupResult } from '../../src/core-api.js';
import { AGENT_PROTOCOL_VERSION, AgentClient, type BackupEvent } from '@pgfleet/proto';
import { startFakeAgent, type FakeAgent } from '../../../../proto/test/support/fake-agent.js';
import { backupCluster, type ClusterBackupEvent } from '../../src/daemon/cluster-backup.js';
import { readClusterCatalog } from '../../src/repository/catalog.js';
import { backupsDir } from '../../src/repository/layout.js';

let pg: TestCluster;
let taken: { dir: string; result: BaseBackupResult };
/** The same server's backup without compression: its archives are changed and compressed by the tests. */
let raw: { dir: string; result: BaseBackupResult };
const fakes: FakeAgent[] = [];
const clients: AgentClient[] = [];

/** What an agent would send: a tar-format backup of `pg` by core, written to a directory. */
async function backupOnDisk(o: { compression: string; label: string; walMethod?: 'stream' | 'fetch' }): Promise<{ dir: string; result: BaseBackupResult }> {
  const dir = join(await makeTempDir('ctl-agent-src'), 'backup');
  const stream = (o.walMethod ?? 'stream') === 'stream';
  const result = await runBaseBackup({
    connection: { connectionString: pg.connectionString }, destination: { kind: 'directory', path: dir, format: 'tar', sync: false },
    walMethod: stream ? 'stream' : 'fetch', compression: parseCompressionSpec(o.compression), checkpoint: 'fast', label: o.label,
  });
  return { dir, result };
}

before(async () => {
  pg = await startCluster({ version: 15, tablespaces: 1, data: { rows: 200 } });
  taken = await backupOnDisk({ compression: 'client-gzip', label: 'agent side' });
  raw = await backupOnDisk({ compression: 'none', label: 'agent side, raw' });
});

after(async () => {
  for (const c of clients) c.close();
  for (const f of fakes) f.kill();
});

const cluster: ClusterConfig = {
  name: 'db1main', agent: 'db1', conninfo: '', retention: { full: 2, days: null }, schedule: null, maxAgeSeconds: 86400, compression: 'client-gzip',
  checkpoint: 'fast', walMethod: 'stream', maxRateKb: null,
  wal: { archive: 'none', slot: 'pgfleet_db1main', compression: 'lz4', synchronous: false, maxRetainedBytes: null },
};

interface StreamOptions {
  /** Change a file's bytes before sending. */
  mangle?: (name: string, data: Buffer) => Buffer;
  /** Leave this file out (and out of the result's list). */
  skip?: string;
  /** Stop after this many bytes of base.tar.gz (the agent "dies"). */
  dieAfter?: number;
  onDie?: () => void;
  /** The backup to send (default: `taken`, gzip-compressed). */
  source?: { dir: string; result: BaseBackupResult };
  /** Compress the source's data archives (after `mangle`) and name them so. */
  compress?: 'gzip' | 'lz4' | 'zstd';
  /** Called after a file's file_end was sent, with the file's size. */
  afterFile?: (name: string, size: number) => Promise<void>;
}

/** An archive compressed as pgfleet-basebackup would have written it. */
async function compressed(method: 'gzip' | 'lz4' | 'zstd', data: Buffer): Promise<Buffer> {
  const out: Buffer[] = [];
  const collect: Streamer = {
    content: async (_m, chunk) => { out.push(Buffer.from(chunk)); },
    finalize: async () => {}, dispose: async () => {},
  };
  const compressor = createCompressor(parseCompressionSpec(`client-${method}`), collect);
  try {
    for (let at = 0; at < data.length; at += 100_000) await compressor.content(null, data.subarray(at, at + 100_000), 'unknown');
    await compressor.finalize();
  } finally {
    await compressor.dispose();
  }
  return Buffer.concat(out);
}

const SUFFIX = { gzip: '.gz', lz4: '.lz4', zstd: '.zst' } as const;
const isDataArchive = (name: string) => /^(base|\d+)\.tar$/.test(name);

/** The agent's Backup: the real backup's files, in 64 kB chunks, as agent.proto says. */
function streamTaken(options: StreamOptions = {}) {
  return async (_req: unknown, write: (e: BackupEvent) => Promise<void>): Promise<void> => {
    const source = options.source ?? taken;
    const r = source.result;
    const tablespaces = r.tablespaces.map((t) => ({ oid: t.oid, location: t.location, archive: '' }));
    await write({ started: { startLsn: r.startLsn, timeline: r.timeline, systemIdentifier: r.systemIdentifier, serverVersionNum: r.serverVersionNum, tablespaces, estimatedBytes: String(r.bytes) } });
    let sent = 0;
    const files: string[] = [];
    for (const stored of r.files.filter((n) => n !== options.skip)) {
      let data: Buffer = await readFile(join(source.dir, stored));
      if (options.mangle) data = options.mangle(stored, data);
      let name = stored;
      if (options.compress && isDataArchive(stored)) {
        data = await compressed(options.compress, data);
        name = stored + SUFFIX[options.compress];
      }
      files.push(name);
      const fileId = files.length;
      const oid = /^(\d+)\.tar/.exec(name)?.[1];
      const ts = oid ? r.tablespaces.find((t) => t.oid === Number(oid)) : undefined;
      await write({ fileBegin: { name, size: String(data.length), tablespaceOid: ts?.oid ?? 0, tablespaceLocation: ts?.location ?? '', fileId } });
      for (let at = 0; at < data.length; at += 65536) {
        if (options.dieAfter !== undefined && name.startsWith('base.tar') && at >= options.dieAfter) {
          options.onDie?.();
          await new Promise(() => {}); // never returns: the server is being killed
        }
        await write({ data: { fileId, chunk: data.subarray(at, at + 65536) } });
        sent += Math.min(65536, data.length - at);
        await write({ progress: { doneBytes: String(sent), totalBytes: String(r.bytes) } });
      }
      await write({ fileEnd: { fileId } });
      await options.afterFile?.(name, data.length);
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
  assert.equal(req.protocolVersion, AGENT_PROTOCOL_VERSION);

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

// Changing archives as they stream: the controller verifies the members as they arrive, and
// must say what verifyBackup says about the same files once stored.

interface RawMember { name: string; header: number; data: number; size: number; end: number }

/** The members of an uncompressed ustar archive, as PostgreSQL writes it. */
function tarMembers(tar: Buffer): RawMember[] {
  const members: RawMember[] = [];
  for (let at = 0; at + 512 <= tar.length && tar[at] !== 0;) {
    const field = (from: number, length: number) => tar.subarray(at + from, at + from + length).toString('latin1').replace(/\0.*$/s, '');
    const prefix = field(345, 155);
    const name = (prefix ? `${prefix}/` : '') + field(0, 100);
    const size = parseInt(field(124, 12).trim() || '0', 8);
    const end = at + 512 + Math.ceil(size / 512) * 512;
    members.push({ name: name.replace(/^\.\//, ''), header: at, data: at + 512, size, end });
    at = end;
  }
  return members;
}

/** The largest regular member under base/ (a relation file with rows in it). */
function bigRelation(tar: Buffer): RawMember {
  const candidates = tarMembers(tar).filter((m) => m.name.startsWith('base/') && m.size > 0).sort((a, b) => b.size - a.size);
  assert.ok(candidates[0]);
  return candidates[0];
}

function flipByte(tar: Buffer, member: RawMember): Buffer {
  const out = Buffer.from(tar);
  out[member.data + Math.floor(member.size / 2)]! ^= 0x01;
  return out;
}

function withoutMember(tar: Buffer, member: RawMember): Buffer {
  return Buffer.concat([tar.subarray(0, member.header), tar.subarray(member.end)]);
}

/** `tar` with a copy of `member` under another name, inserted before it. */
function withCopyOf(tar: Buffer, member: RawMember, name: string): Buffer {
  const copy = Buffer.from(tar.subarray(member.header, member.end));
  copy.fill(0, 0, 100);
  copy.fill(0, 345, 500);
  copy.write(name, 0, 'latin1');
  copy.fill(' ', 148, 156);
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += copy[i]!;
  copy.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  return Buffer.concat([tar.subarray(0, member.header), copy, tar.subarray(member.header)]);
}

/**
 * What verifyBackup says about the files the agent sends (written to a directory as the
 * controller would store them): the controller's message must be the same.
 */
async function verifyBackupSays(options: StreamOptions): Promise<string> {
  const dir = await makeTempDir('ctl-oracle');
  const source = options.source ?? taken;
  for (const stored of source.result.files.filter((n) => n !== options.skip)) {
    let data: Buffer = await readFile(join(source.dir, stored));
    if (options.mangle) data = options.mangle(stored, data);
    let name = stored;
    if (options.compress && isDataArchive(stored)) {
      data = await compressed(options.compress, data);
      name = stored + SUFFIX[options.compress];
    }
    await writeFile(join(dir, name), data);
  }
  const verified = await verifyBackup(dir, { format: 'tar' });
  const first = verified.problems[0];
  assert.ok(first, 'verifyBackup finds the problem too');
  const more = verified.problems.length > 1 ? ` (and ${verified.problems.length - 1} more problems)` : '';
  return `backup of cluster "db1main" does not match its manifest: ${first.message}${more}`;
}

/** The backup fails with `message` (a VerifyError) and nothing of it stays in the repository. */
async function rejectedWith(options: StreamOptions, message: string): Promise<void> {
  assert.equal(await verifyBackupSays(options), message, 'verifyBackup on the stored files says the same');
  const repo = await makeTempDir('ctl-repo');
  const { client } = await agentWith(streamTaken(options));
  await assert.rejects(backupCluster({ repository: repo, cluster, agent: client }), (err: Error & { code?: number }) => {
    assert.equal(err.message, message);
    assert.equal(err.code, 81);
    return true;
  });
  assert.deepEqual(await readdir(backupsDir(repo, 'db1main')), []);
}

for (const compress of [undefined, 'gzip', 'lz4', 'zstd'] as const) {
  const archive = `base.tar${compress ? SUFFIX[compress] : ''}`;
  test(`a byte changed in a member of ${archive} on its way is found as it arrives, and nothing is committed`, async () => {
    const base = await readFile(join(raw.dir, 'base.tar'));
    const victim = bigRelation(base);
    await rejectedWith({
      source: raw, ...(compress ? { compress } : {}),
      mangle: (name, data) => (name === 'base.tar' ? flipByte(data, victim) : data),
    }, `backup of cluster "db1main" does not match its manifest: checksum mismatch for file "${victim.name}" in archive "${archive}"`);
  });
}

for (const compress of [undefined, 'lz4'] as const) {
  const archive = `base.tar${compress ? SUFFIX[compress] : ''}`;
  test(`a member missing from ${archive} is found, and nothing is committed`, async () => {
    const base = await readFile(join(raw.dir, 'base.tar'));
    const victim = bigRelation(base);
    await rejectedWith({
      source: raw, ...(compress ? { compress } : {}),
      mangle: (name, data) => (name === 'base.tar' ? withoutMember(data, victim) : data),
    }, `backup of cluster "db1main" does not match its manifest: "${victim.name}" is present in the manifest but not on disk`);
  });

  test(`an extra member in ${archive} is found, and nothing is committed`, async () => {
    const base = await readFile(join(raw.dir, 'base.tar'));
    const victim = bigRelation(base);
    const extra = `${victim.name}.9`;
    await rejectedWith({
      source: raw, ...(compress ? { compress } : {}),
      mangle: (name, data) => (name === 'base.tar' ? withCopyOf(data, victim, extra) : data),
    }, `backup of cluster "db1main" does not match its manifest: file "${extra}" is present in archive "${archive}" but not in the manifest`);
  });
}

test('a member changed in a tablespace archive is named with its tablespace path', async () => {
  const oid = raw.result.tablespaces[0]?.oid;
  assert.ok(oid);
  const tablespaceTar = await readFile(join(raw.dir, `${oid}.tar`));
  const victim = tarMembers(tablespaceTar).filter((m) => m.size > 0).sort((a, b) => b.size - a.size)[0];
  assert.ok(victim);
  await rejectedWith({
    source: raw, compress: 'gzip',
    mangle: (name, data) => (name === `${oid}.tar` ? flipByte(data, victim) : data),
  }, `backup of cluster "db1main" does not match its manifest: checksum mismatch for file "pg_tblspc/${oid}/${victim.name}" in archive "${oid}.tar.gz"`);
});

test('a compressed archive damaged on its way cannot be read, as verifyBackup says, and nothing is committed', async () => {
  // A byte of gzip's CRC-32 trailer: every member decompresses, then the stream is bad.
  const mangle = (name: string, data: Buffer) => {
    if (name !== 'base.tar.gz') return data;
    const out = Buffer.from(data);
    out[out.length - 6]! ^= 0x01;
    return out;
  };
  const message = await verifyBackupSays({ mangle });
  assert.match(message, /^backup of cluster "db1main" does not match its manifest: could not read archive "base\.tar\.gz": /);
  await rejectedWith({ mangle }, message);
});

test('lz4 and zstd backups that match their manifest are committed', async () => {
  for (const compress of ['lz4', 'zstd'] as const) {
    const repo = await makeTempDir('ctl-repo');
    const { client } = await agentWith(streamTaken({ source: raw, compress }));
    const { path } = await backupCluster({ repository: repo, cluster, agent: client });
    const oid = raw.result.tablespaces[0]?.oid;
    assert.deepEqual((await readdir(path)).sort(), [`${oid}.tar${SUFFIX[compress]}`, 'backup.json', 'backup_manifest', `base.tar${SUFFIX[compress]}`, 'pg_wal.tar']);
  }
});

test('the stored archives are not read again: a byte changed on disk after base.tar arrived goes unnoticed', async () => {
  // Verification happened while base.tar.gz streamed in; only pg_wal.tar.gz and the manifest
  // are read after that. (verifyBackup, which reads every file again, would find this.)
  const repo = await makeTempDir('ctl-repo');
  let changed = false;
  const { client } = await agentWith(streamTaken({
    afterFile: async (name, size) => {
      if (name !== 'base.tar.gz') return;
      const [staging] = (await readdir(backupsDir(repo, 'db1main'))).filter((n) => n.startsWith('.tmp-'));
      assert.ok(staging);
      const path = join(backupsDir(repo, 'db1main'), staging, name);
      // file_end was sent, not yet written: the controller holds up to 4 MiB of a file until
      // its end (direct I/O), and pads its last block until it truncates the file to its size.
      const deadline = Date.now() + 10_000;
      while ((await stat(path)).size !== size) {
        assert.ok(Date.now() < deadline, `the controller never wrote "${name}" whole`);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      const data = await readFile(path);
      await writeFile(path, flipByte(data, { name, header: 0, data: 0, size: data.length, end: data.length }));
      changed = true;
    },
  }));
  const { path } = await backupCluster({ repository: repo, cluster, agent: client });
  assert.ok(changed);
  const reread = await verifyBackup(path, { format: 'tar', ignore: ['backup.json'] });
  assert.equal(reread.ok, false, '`pgfleet verify` (verifyBackup) still finds it');
});

test('a direct backup with -X fetch and lz4 is verified as it arrives (WAL from base.tar) and committed', async () => {
  const repo = await makeTempDir('ctl-repo');
  const direct: ClusterConfig = { ...cluster, agent: null, conninfo: pg.connectionString, compression: 'client-lz4', walMethod: 'fetch' };
  const events: ClusterBackupEvent[] = [];
  const { path, metadata } = await backupCluster({ repository: repo, cluster: direct, agent: null, emit: (e) => events.push(e), progressIntervalMs: 0 });
  const oid = pg.tablespaces[0]?.oid;
  assert.deepEqual((await readdir(path)).sort(), [`${oid}.tar.lz4`, 'backup.json', 'backup_manifest', 'base.tar.lz4']);
  assert.equal(metadata.via, 'direct');
  assert.deepEqual([...new Set(events.map((e) => e.kind))], ['started', 'progress', 'verifying', 'completed']);
  const reread = await verifyBackup(path, { format: 'tar', ignore: ['backup.json'] });
  assert.deepEqual(reread.problems, []);
  assert.ok(reread.walSegmentsChecked.length > 0);
});

test('-X fetch through an agent: a WAL segment in base.tar changed on its way is found (WAL spooled as it passes), nothing is committed', async () => {
  const fetched = await backupOnDisk({ compression: 'none', label: 'agent side, fetch', walMethod: 'fetch' });
  const dir = fetched.dir;
  const base = await readFile(join(dir, 'base.tar'));
  const segment = tarMembers(base).find((m) => /^pg_wal\/[0-9A-F]{24}$/.test(m.name));
  assert.ok(segment, 'base.tar holds the WAL');
  const fetchCluster: ClusterConfig = { ...cluster, walMethod: 'fetch' };

  // Unchanged, it is committed, and the spool is gone.
  const repo = await makeTempDir('ctl-repo');
  const { client } = await agentWith(streamTaken({ source: fetched, compress: 'gzip' }));
  const { path } = await backupCluster({ repository: repo, cluster: fetchCluster, agent: client });
  const oid = pg.tablespaces[0]?.oid;
  assert.deepEqual((await readdir(path)).sort(), [`${oid}.tar.gz`, 'backup.json', 'backup_manifest', 'base.tar.gz']);

  // The page magic of the segment's first page.
  const mangle = (name: string, data: Buffer) => {
    if (name !== 'base.tar') return data;
    const out = Buffer.from(data);
    out[segment.data + 1]! ^= 0x01;
    return out;
  };
  const options: StreamOptions = { source: fetched, compress: 'gzip', mangle };
  const message = await verifyBackupSays(options);
  assert.match(message, new RegExp(`^backup of cluster "db1main" does not match its manifest: .*"${segment.name.slice(7)}"`));
  const badRepo = await makeTempDir('ctl-repo');
  const bad = await agentWith(streamTaken(options));
  await assert.rejects(backupCluster({ repository: badRepo, cluster: fetchCluster, agent: bad.client }), (err: Error) => {
    assert.equal(err.message, message);
    return true;
  });
  assert.deepEqual(await readdir(backupsDir(badRepo, 'db1main')), []);
});
