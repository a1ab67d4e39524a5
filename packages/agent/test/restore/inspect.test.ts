import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { TarParser } from '@pgfleet/core';
import { BaseArchiveInspector, type RememberedFile } from '../../src/restore/inspect.js';
import { makeTar, RecordingStreamer } from '../helpers/fixtures.js';

const MAP = '16384 /data/ts1\n16385 /data/ts\\\\2\n';

async function archive(): Promise<Buffer> {
  return makeTar([
    { name: 'backup_label', body: 'START WAL LOCATION: 0/2000028\n' },
    { name: 'tablespace_map', body: MAP },
    { name: 'global', type: 'directory', mode: 0o750 },
    { name: 'PG_VERSION', body: '16\n' },
    { name: 'pg_tblspc', type: 'directory' },
    { name: 'pg_tblspc/16384', type: 'symlink', linkname: '/data/ts1' },
    { name: 'pg_tblspc/99', type: 'directory' },
    { name: 'standby.signal', body: '' },
    { name: 'base/1/1', body: 'x'.repeat(1000) },
  ]);
}

/** Parses `tar` fed in the given pieces; returns what the inspector learned and what passed. */
async function run(tar: Buffer, cuts: number[]): Promise<{ inspector: BaseArchiveInspector; sink: RecordingStreamer; seen: RememberedFile[] }> {
  const sink = new RecordingStreamer();
  const seen: RememberedFile[] = [];
  const inspector = new BaseArchiveInspector(sink, async (name) => {
    seen.push(name);
  });
  const parser = new TarParser(inspector);
  let from = 0;
  for (const cut of [...cuts, tar.length]) {
    await parser.content(null, tar.subarray(from, cut), 'unknown');
    from = cut;
  }
  await parser.finalize();
  await parser.dispose();
  return { inspector, sink, seen };
}

describe('BaseArchiveInspector', () => {
  test('remembers tablespace_map, backup_label, PG_VERSION, links, signals and the group bits; withholds pg_tblspc links', async () => {
    const { inspector, sink, seen } = await run(await archive(), []);
    const f = inspector.facts;
    assert.equal(f.files.get('tablespace_map'), MAP);
    assert.equal(f.files.get('PG_VERSION'), '16\n');
    assert.equal(f.files.get('backup_label'), 'START WAL LOCATION: 0/2000028\n');
    assert.deepEqual([...f.tablespaceLinks], [[16384, '/data/ts1']]);
    assert.equal(f.globalDirMode, 0o750);
    assert.deepEqual([...f.signals], ['standby.signal']);
    assert.deepEqual(seen, ['backup_label', 'tablespace_map', 'PG_VERSION']);
    // Everything but the tablespace link reaches the extractor, unchanged.
    assert.deepEqual(sink.names, ['backup_label', 'tablespace_map', 'global', 'PG_VERSION', 'pg_tblspc', 'pg_tblspc/99', 'standby.signal', 'base/1/1']);
    assert.equal(sink.contents('base/1/1'), 'x'.repeat(1000));
    assert.equal(sink.finalized, 1);
  });

  test('the same at every split point of the archive', async () => {
    const tar = await archive();
    for (let cut = 1; cut < tar.length; cut += 1) {
      const { inspector, sink } = await run(tar, [cut]);
      assert.equal(inspector.facts.files.get('tablespace_map'), MAP, `cut at ${cut}`);
      assert.equal(sink.contents('base/1/1').length, 1000, `cut at ${cut}`);
    }
  });

  test('a remembered file larger than 1 MiB is refused', async () => {
    const tar = await makeTar([{ name: 'tablespace_map', body: Buffer.alloc(1024 * 1024 + 1, 0x41) }]);
    await assert.rejects(run(tar, []), { message: 'file "tablespace_map" in the base archive is larger than 1048576 bytes' });
  });
});
