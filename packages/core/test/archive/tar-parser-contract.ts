// TarParser's contract, shared by both tar parsers' tests: GNU, pax and ustar archives from GNU
// tar, PostgreSQL's server-style archives, chunk boundaries everywhere, errors, and a caller that
// reuses its buffer. Call parserContract() inside a describe(); it returns the fixtures for the
// caller's own tests.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import { ArchiveFormatError } from '../../src/errors.js';
import { TAR_END_OF_ARCHIVE, encodeTarHeader, tarPaddingFor } from '../../src/archive/tar-header.js';
import type { Streamer, TarMember } from '../../src/archive/streamer.js';
import { Recorder, feed, feedReusing, makeTree, patternBytes, removeDir, run, sha256, tempDir } from './helpers.js';

/** A tar parser's constructor: TarParser or SyncTarParser. */
export type ParserClass = new (next: Streamer, options?: { archiveName?: string }) => Streamer;

/** Builds an archive the way a PostgreSQL server does: tar.c headers, optionally no trailer. */
export function serverStyleTar(members: Array<{ m: TarMember; data?: Buffer }>, { terminated }: { terminated: boolean }): Buffer {
  const parts: Buffer[] = [];
  for (const { m, data } of members) {
    parts.push(encodeTarHeader(m));
    if (data) {
      parts.push(data, Buffer.alloc(tarPaddingFor(data.length)));
    }
  }
  if (terminated) parts.push(TAR_END_OF_ARCHIVE);
  return Buffer.concat(parts);
}

export function member(name: string, type: TarMember['type'], size = 0, extra: Partial<TarMember> = {}): TarMember {
  return { name, size, mode: type === 'directory' ? 0o700 : 0o600, uid: 26, gid: 26, mtime: new Date('2025-01-02T03:04:05Z'), type, linkname: null, ...extra };
}

export interface TarFixtures {
  readonly gnuTar: Buffer;
  readonly paxTar: Buffer;
  readonly ustarTar: Buffer;
  checkTree(rec: Recorder, label: string): void;
  parsed(rec: Recorder): unknown[];
}

/** Registers the contract's tests for `Parser`; returns the archives and helpers they use. */
export function parserContract(Parser: ParserClass): TarFixtures {
  let dir: string;
  let gnuTar: Buffer;
  let paxTar: Buffer;
  let ustarTar: Buffer;
  const expected = new Map<string, Buffer>();

  before(() => {
    dir = tempDir('tar-parser');
    const tree = join(dir, 'tree');
    run('mkdir', [tree]);
    makeTree(tree, { longName: true });
    run('tar', ['-C', tree, '-cf', join(dir, 'gnu.tar'), '.']);
    run('tar', ['-C', tree, '--format=pax', '-cf', join(dir, 'pax.tar'), '.']);
    // ustar cannot hold the 121-byte long name in 100 bytes without prefix: GNU tar splits it.
    run('tar', ['-C', tree, '--format=ustar', '-cf', join(dir, 'ustar.tar'), '.']);
    gnuTar = readFileSync(join(dir, 'gnu.tar'));
    paxTar = readFileSync(join(dir, 'pax.tar'));
    ustarTar = readFileSync(join(dir, 'ustar.tar'));
    for (const f of ['PG_VERSION', 'empty', 'base/1/511', 'base/1/512', 'base/1/513', 'global/pg_control', 'base/1/16384']) {
      expected.set(f, readFileSync(join(tree, f)));
    }
    expected.set(`${'d'.repeat(60)}/${'f'.repeat(60)}`, Buffer.from('long name\n'));
  });

  after(() => removeDir(dir));

  function checkTree(rec: Recorder, label: string): void {
    assert.equal(rec.archiveTrailers, 1, label);
    assert.equal(rec.finalized, true, label);
    for (const [name, data] of expected) {
      const m = rec.byName(name);
      assert.equal(m.member.type, 'file', `${label}: ${name}`);
      assert.equal(m.member.size, data.length, `${label}: ${name}`);
      assert.equal(sha256(m.data), sha256(data), `${label}: ${name}`);
      assert.equal(m.trailer.length, tarPaddingFor(data.length), `${label}: ${name}`);
    }
    assert.equal(rec.byName('global/pg_control').member.mode, 0o600);
    assert.equal(rec.byName('PG_VERSION').member.mtime.toISOString(), '2024-05-06T07:08:09.000Z');
    const root = rec.byName('.');
    assert.equal(root.member.type, 'directory');
    const wal = rec.byName('pg_wal/archive_status');
    assert.equal(wal.member.type, 'directory');
    const link = rec.byName('pg_tblspc/16384');
    assert.equal(link.member.type, 'symlink');
    assert.equal(link.member.linkname, '/tmp/somewhere/else');
    const hard = rec.members.find((m) => m.member.type === 'link');
    assert.ok(hard, `${label}: hard link`);
    assert.ok(['PG_VERSION', 'hardlink_to_version'].includes(hard.member.linkname ?? ''), label);
    assert.ok(rec.members.every((m) => !m.member.name.startsWith('./') && !m.member.name.endsWith('/')), label);
  }

  for (const [label, get] of [['GNU', () => gnuTar], ['pax', () => paxTar], ['ustar', () => ustarTar]] as const) {
    it(`parses a ${label} archive made by tar, whole and in 321-byte slices`, async () => {
      for (const slice of [undefined, 321]) {
        const rec = new Recorder();
        await feed(new Parser(rec), get(), slice);
        checkTree(rec, `${label}/${slice ?? 'whole'}`);
      }
    });
  }

  it('parses small GNU and pax archives split at every byte boundary', async () => {
    // A small tree with -b 1 (no 10 kB record padding) keeps this quick; a long name exercises
    // the GNU long-name and pax records at every cut.
    const small = join(dir, 'small');
    run('mkdir', ['-p', join(small, 'sub')]);
    run('sh', ['-c', `printf abc > ${small}/sub/a; head -c 700 /dev/zero > ${small}/b; printf x > ${small}/${'n'.repeat(110)}`]);
    for (const format of ['gnu', 'pax']) {
      const tar = run('tar', ['-C', small, `--format=${format}`, '-b', '1', '-cf', '-', '.']);
      const whole = new Recorder();
      await feed(new Parser(whole), tar);
      const names = whole.members.map((m) => m.member.name).sort();
      assert.deepEqual(names, ['.', 'b', 'n'.repeat(110), 'sub', 'sub/a']);
      for (let cut = 1; cut < tar.length; cut++) {
        const rec = new Recorder();
        const parser = new Parser(rec);
        await parser.content(null, tar.subarray(0, cut), 'unknown');
        await parser.content(null, tar.subarray(cut), 'unknown');
        await parser.finalize();
        assert.deepEqual(rec.members.map((m) => [m.member.name, m.data.length]), whole.members.map((m) => [m.member.name, m.data.length]), `${format} cut ${cut}`);
        assert.equal(rec.archiveTrailers, 1);
      }
    }
  });

  it('parses one byte at a time', async () => {
    const rec = new Recorder();
    await feed(new Parser(rec), gnuTar, 1);
    checkTree(rec, 'bytewise');
  });

  it('reads a server-style archive: "./" names, trailing slashes, no end-of-archive (<= 14)', async () => {
    const data = patternBytes(1000, 9);
    const tar = serverStyleTar([
      { m: member('backup_label', 'file', 5), data: Buffer.from('label') },
      { m: member('./pg_wal/archive_status', 'directory') },
      { m: member('pg_tblspc/16384', 'symlink', 0, { linkname: '/srv/ts' }) },
      { m: member('base/1/1259', 'file', data.length), data },
    ], { terminated: false });
    const rec = new Recorder();
    await feed(new Parser(rec), tar, 100);
    assert.deepEqual(rec.members.map((m) => [m.member.name, m.member.type]), [
      ['backup_label', 'file'], ['pg_wal/archive_status', 'directory'], ['pg_tblspc/16384', 'symlink'], ['base/1/1259', 'file'],
    ]);
    assert.equal(rec.byName('pg_tblspc/16384').member.linkname, '/srv/ts');
    assert.equal(rec.byName('base/1/1259').member.uname, 'postgres');
    assert.deepEqual(rec.byName('base/1/1259').data, data);
    assert.equal(rec.archiveTrailers, 1);
  });

  it('reads GNU base-256 numbers (uid beyond octal range)', async () => {
    const tar = serverStyleTar([{ m: member('f', 'file', 3, { uid: 0o77777777 }), data: Buffer.from('abc') }], { terminated: true });
    const rec = new Recorder();
    await feed(new Parser(rec), tar);
    assert.equal(rec.byName('f').member.uid, 0o77777777);
  });

  it('reports an archive that ends inside a member, naming it', async () => {
    const data = patternBytes(3000, 1);
    const tar = serverStyleTar([
      { m: member('a', 'file', 10), data: Buffer.alloc(10) },
      { m: member('base/1/2', 'file', data.length), data },
    ], { terminated: true });
    const inData = 512 + 512 + 512 + 100; // inside base/1/2's data
    const parser = new Parser(new Recorder(), { archiveName: 'base.tar' });
    await parser.content(null, tar.subarray(0, inData), 'unknown');
    await assert.rejects(parser.finalize(), (err: unknown) => {
      assert.ok(err instanceof ArchiveFormatError);
      assert.equal(err.message, 'tar archive "base.tar" ended before last file "base/1/2" was finished');
      return true;
    });
  });

  it('reports an archive that ends inside a header without a member name', async () => {
    const tar = serverStyleTar([
      { m: member('a', 'file', 10), data: Buffer.alloc(10) },
      { m: member('b', 'file', 0) },
    ], { terminated: true });
    const parser = new Parser(new Recorder());
    await parser.content(null, tar.subarray(0, 1024 + 200), 'unknown');
    await assert.rejects(parser.finalize(), { message: 'tar archive ended before last file was finished' });
  });

  it('accepts a cut at every member boundary and rejects every other cut', async () => {
    const tar = serverStyleTar([
      { m: member('a', 'file', 700), data: patternBytes(700, 3) },
      { m: member('d', 'directory') },
      { m: member('b', 'file', 512), data: patternBytes(512, 4) },
    ], { terminated: false });
    const boundaries = new Set([0, 512 + 1024, 512 + 1024 + 512, tar.length]);
    for (let cut = 0; cut <= tar.length; cut++) {
      const rec = new Recorder();
      const parser = new Parser(rec);
      const outcome = await feed(parser, tar.subarray(0, cut), 97).then(() => 'ok', (err: unknown) => err);
      if (boundaries.has(cut)) assert.equal(outcome, 'ok', `cut ${cut}`);
      else assert.ok(outcome instanceof ArchiveFormatError, `cut ${cut}`);
    }
  });

  it('rejects a header with a bad checksum, naming the header\'s offset (not how much was read)', async () => {
    const tar = Buffer.from(gnuTar);
    tar[0] = tar[0]! ^ 0x01;
    await assert.rejects(feed(new Parser(new Recorder(), { archiveName: 'x.tar' }), tar, 256 * 1024), (err: unknown) => {
      assert.ok(err instanceof ArchiveFormatError);
      assert.equal(err.message, 'tar archive "x.tar" has an invalid header at offset 0');
      assert.equal(err.hint, 'The file may be damaged, or compressed with a method its name does not say.');
      return true;
    });
    // The third header of a server-style tar, fed whole and in small slices.
    const members = serverStyleTar([
      { m: member('a', 'file', 700), data: patternBytes(700, 3) },
      { m: member('d', 'directory') },
      { m: member('b', 'file', 512), data: patternBytes(512, 4) },
    ], { terminated: true });
    const third = 512 + 1024 + 512;
    members[third + 3] = members[third + 3]! ^ 0x01;
    for (const chunk of [members.length, 97]) {
      await assert.rejects(feed(new Parser(new Recorder(), { archiveName: 'x.tar' }), members, chunk),
        { message: `tar archive "x.tar" has an invalid header at offset ${third}` }, `chunks of ${chunk}`);
    }
  });

  it('rejects a member with an empty name', async () => {
    const h = encodeTarHeader(member('x', 'file'));
    h[0] = 0;
    // Fix the checksum for the edited name byte ('x' = 0x78).
    const sum = parseInt(h.subarray(148, 155).toString('latin1'), 8) - 0x78;
    h.write(sum.toString(8).padStart(7, '0'), 148, 'latin1');
    await assert.rejects(feed(new Parser(new Recorder()), Buffer.concat([h, TAR_END_OF_ARCHIVE])), {
      message: 'tar member has empty name',
    });
  });

  /** Every member with its data and trailer, to compare two parses. */
  const parsed = (rec: Recorder): unknown[] => rec.members.map((m) => [m.member, sha256(m.data), m.trailer.length]);

  it('by default keeps a copy: a caller that reuses its buffer after content() returns corrupts nothing', async () => {
    // Also the members' data: a slow next streamer leaves tar-stream holding chunks longer.
    const data = patternBytes(300_000, 3);
    const big = serverStyleTar([{ m: member('big', 'file', data.length), data }], { terminated: true });
    for (const size of [321, 4096, 65536]) {
      const rec = new Recorder();
      await feedReusing(new Parser(rec), gnuTar, size);
      checkTree(rec, `reused ${size}-byte buffer`);
      const slow = new Recorder({ delay: () => new Promise((r) => setImmediate(r)) });
      await feedReusing(new Parser(slow), big, size);
      assert.equal(sha256(slow.byName('big').data), sha256(data), `reused ${size}-byte buffer, slow next streamer`);
    }
  });

  it('applies backpressure: content() waits for a slow next streamer', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => { release = resolve; });
    const rec = new Recorder({ delay: (kind) => (kind === 'contents' ? gate : Promise.resolve()) });
    const parser = new Parser(rec);
    const data = patternBytes(1 << 20, 7);
    const tar = serverStyleTar([{ m: member('big', 'file', data.length), data }], { terminated: true });
    let settled = false;
    const pending = parser.content(null, tar, 'unknown').then(() => { settled = true; });
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    assert.equal(settled, false, 'content() resolved while the next streamer was blocked');
    release();
    await pending;
    await parser.finalize();
    assert.deepEqual(rec.byName('big').data, data);
  });

  it('propagates an error of the next streamer and stops', async () => {
    const failing = new Recorder({ delay: async (kind) => { if (kind === 'contents') throw new Error('disk full'); } });
    await assert.rejects(feed(new Parser(failing), gnuTar, 4096), { message: 'disk full' });
  });

  it('disposes the next streamer once, even when disposed twice', async () => {
    const rec = new Recorder();
    const parser = new Parser(rec);
    await parser.content(null, gnuTar.subarray(0, 700), 'unknown');
    await parser.dispose();
    await parser.dispose();
    assert.equal(rec.disposed, 1);
  });

  it('dispose() returns only once the member being passed on has settled: nothing reaches the next streamer after it', async () => {
    const members = Array.from({ length: 20 }, (_, i) => ({ m: member(`f${i}`, 'file', 4), data: Buffer.from('data') }));
    const archive = serverStyleTar(members, { terminated: true });
    const calls: string[] = [];
    let disposed = false;
    const slow = {
      async content(m: TarMember | null, _data: Buffer, kind: string): Promise<void> {
        if (disposed) calls.push(`after dispose: ${kind} ${m?.name ?? ''}`);
        await new Promise((r) => setTimeout(r, 5));
      },
      async finalize(): Promise<void> {},
      async dispose(): Promise<void> { disposed = true; },
    };
    const parser = new Parser(slow);
    await parser.content(null, archive, 'unknown');
    await new Promise((r) => setTimeout(r, 12)); // the first members are being passed on
    await parser.dispose();
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(calls, []);
  });

  return {
    get gnuTar() { return gnuTar; },
    get paxTar() { return paxTar; },
    get ustarTar() { return ustarTar; },
    checkTree, parsed,
  };
}
