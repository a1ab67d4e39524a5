/**
 * runBaseBackup's sinks destination (what the agent's Backup RPC streams through): every file of
 * pg_basebackup's tar layout goes to the caller's streamers, in order, and nothing is written
 * into pgdata. The files, put in a directory, are a backup: the hand restore of the harness
 * (system tar, tablespace_map rewritten) starts and holds the source's data.
 */
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runBaseBackup, type BackupStartInfo, type BaseBackupRunOptions } from '../src/basebackup.js';
import { parseCompressionSpec } from '../src/archive/compression-spec.js';
import type { ChunkKind, Streamer, TarMember } from '../src/archive/streamer.js';
import { InvalidOptionError } from '../src/errors.js';
import {
  makeTempDir, restoreTarByHand, startCluster, startRestored, type TestCluster,
} from '../../../test/harness/index.js';

class MemoryFile implements Streamer {
  readonly parts: Buffer[] = [];
  finalized = false;
  async content(_m: TarMember | null, data: Buffer, _k: ChunkKind): Promise<void> {
    this.parts.push(Buffer.from(data));
  }
  async finalize(): Promise<void> { this.finalized = true; }
  async dispose(): Promise<void> {}
}

function options(cluster: TestCluster, extra: Partial<BaseBackupRunOptions>): BaseBackupRunOptions {
  return {
    connection: { host: '127.0.0.1', port: cluster.port, user: 'postgres' },
    destination: { kind: 'sinks', createFile: async () => new MemoryFile() },
    walMethod: 'stream', checkpoint: 'fast', label: 'output seam', ...extra,
  };
}

describe('runBaseBackup with an output', () => {
  let source: TestCluster;
  before(async () => { source = await startCluster({ version: 15, tablespaces: 1, data: { rows: 300 } }); });
  after(async () => { await source?.destroy(); });

  it('streams every file of the tar layout to the caller; the files restore and start', async () => {
    const files = new Map<string, MemoryFile>();
    const events: string[] = [];
    let started: BackupStartInfo | null = null;
    const result = await runBaseBackup(options(source, {
      compression: parseCompressionSpec('gzip'),
      destination: { kind: 'sinks', createFile: async (name) => { events.push(`create ${name}`); const f = new MemoryFile(); files.set(name, f); return f; } },
    }), { info() {}, progress() {}, started: (info) => { events.push('started'); started = info; } });
    const oid = source.tablespaces[0]!.oid;
    // The reporter hears who and where before the first file exists: what the result says later.
    assert.equal(events[0], 'started');
    assert.equal(events.filter((e) => e === 'started').length, 1);
    assert.deepEqual(started, {
      systemIdentifier: result.systemIdentifier, serverVersionNum: result.serverVersionNum, timeline: result.timeline,
      startLsn: result.startLsn, tablespaces: [{ oid, location: source.tablespaces[0]!.location }],
      estimatedBytes: (started as BackupStartInfo | null)?.estimatedBytes,
    });
    const sysid = await source.query<{ id: string }>('SELECT system_identifier::text AS id FROM pg_control_system()');
    assert.equal(result.systemIdentifier, sysid.rows[0]!.id);
    assert.deepEqual([...files.keys()].sort(), [`${oid}.tar.gz`, 'backup_manifest', 'base.tar.gz', 'pg_wal.tar.gz'].sort());
    assert.ok([...files.values()].every((f) => f.finalized));
    assert.deepEqual([...result.files].sort(), [...files.keys()].sort());

    const dir = await makeTempDir('pgfleet-output-');
    for (const [name, f] of files) writeFileSync(join(dir, name), Buffer.concat(f.parts));
    const target = join(await makeTempDir('pgfleet-output-restore-'), 'data');
    const newTs = join(await makeTempDir('pgfleet-output-ts-'), 'ts');
    await restoreTarByHand({ backupDir: dir, targetDir: target, tablespaceTargets: new Map([[oid, newTs]]) });
    const copy = await startRestored({ dataDir: target, version: 15, mode: 'promote' });
    try {
      assert.deepEqual(await copy.snapshot(), await source.snapshot());
      const loc = await copy.query<{ l: string }>('SELECT pg_tablespace_location($1) AS l', [oid]);
      assert.equal(loc.rows[0]!.l, newTs);
    } finally {
      await copy.destroy();
    }
  });
});
