import assert from 'node:assert/strict';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ArchiveFormatError, InternalError } from '../../src/errors.js';
import { TarArchiver } from '../../src/archive/tar-archiver.js';
import { TarParser } from '../../src/archive/tar-parser.js';
import { encodeTarHeader } from '../../src/archive/tar-header.js';
import { ChainedStreamer } from '../../src/archive/chained-streamer.js';
import type { ChunkKind, TarMember } from '../../src/archive/streamer.js';
import { Recorder, feed, makeTree, removeDir, run, tempDir } from './helpers.js';

/** Doubles the content of one member, editing only the TarMember, as injectors do. */
class Doubler extends ChainedStreamer {
  private member: TarMember | null = null;
  private parts: Buffer[] = [];
  constructor(next: ConstructorParameters<typeof ChainedStreamer>[0], private readonly target: string) { super(next); }
  async content(member: TarMember | null, data: Buffer, kind: ChunkKind): Promise<void> {
    if (member?.name !== this.target || kind === 'archive-trailer') return this.next.content(member, data, kind);
    if (kind === 'header') {
      this.member = { ...member, size: member.size * 2 };
      this.parts = [];
      return this.next.content(this.member, Buffer.alloc(0), 'header');
    }
    if (kind === 'contents') {
      this.parts.push(Buffer.from(data));
      return this.next.content(this.member, data, 'contents');
    }
    await this.next.content(this.member, Buffer.concat(this.parts), 'contents');
    return this.next.content(this.member, data, 'trailer');
  }
}

describe('TarArchiver', () => {
  let dir: string;
  let original: Buffer;

  before(() => {
    dir = tempDir('tar-archiver');
    const tree = join(dir, 'tree');
    run('mkdir', [tree]);
    makeTree(tree);
    // Named entries (not ".") so that names need no normalization and listings compare as is.
    original = run('tar', ['-C', tree, '-cf', '-', ...readdirSync(tree).sort()]);
  });

  after(() => removeDir(dir));

  it('round trip parse -> archive lists and extracts identically with tar', async () => {
    const out = new Recorder();
    await feed(new TarParser(new TarArchiver(out)), original, 321);
    const rewritten = out.rawBytes();
    assert.equal(rewritten.length % 512, 0);
    assert.deepEqual(rewritten.subarray(-1024), Buffer.alloc(1024));
    writeFileSync(join(dir, 'orig.tar'), original);
    writeFileSync(join(dir, 'ours.tar'), rewritten);
    const list = (f: string): string => run('tar', ['-tvf', join(dir, f)]).toString();
    assert.equal(list('ours.tar'), list('orig.tar'));
    for (const name of ['orig', 'ours']) {
      run('mkdir', [join(dir, `x-${name}`)]);
      run('tar', ['-C', join(dir, `x-${name}`), '-xf', join(dir, `${name}.tar`)]);
    }
    run('diff', ['-r', '--no-dereference', join(dir, 'x-orig'), join(dir, 'x-ours')]);
    const stat = (d: string): string => run('sh', ['-c', `cd ${d} && find . -mindepth 1 -printf '%p %y %m %s %T@ %l %n\\n' | sort`]).toString();
    assert.equal(stat(join(dir, 'x-ours')), stat(join(dir, 'x-orig')));
  });

  it('regenerates header and padding of a member whose size an injector changed', async () => {
    const out = new Recorder();
    await feed(new TarParser(new Doubler(new TarArchiver(out), 'base/1/513')), original);
    const file = join(dir, 'doubled.tar');
    writeFileSync(file, out.rawBytes());
    const content = run('tar', ['-xOf', file, 'base/1/513']);
    const expected = run('tar', ['-xOf', '-', 'base/1/513'], { input: original });
    assert.deepEqual(content, Buffer.concat([expected, expected]));
    // The member after it is intact, so padding was right.
    assert.deepEqual(run('tar', ['-xOf', file, 'global/pg_control']), run('tar', ['-xOf', '-', 'global/pg_control'], { input: original }));
  });

  it('passes a header chunk that carries bytes through unchanged', async () => {
    const out = new Recorder();
    const archiver = new TarArchiver(out);
    const header = Buffer.alloc(512, 7);
    const m: TarMember = { name: 'x', size: 3, mode: 0o600, uid: 0, gid: 0, mtime: new Date(0), type: 'file', linkname: null };
    await archiver.content(m, header, 'header');
    await archiver.content(m, Buffer.from('abc'), 'contents');
    await archiver.content(m, Buffer.alloc(509, 1), 'trailer');
    await archiver.content(null, Buffer.alloc(0), 'archive-trailer');
    await archiver.finalize();
    assert.deepEqual(out.rawBytes(), Buffer.concat([header, Buffer.from('abc'), Buffer.alloc(509, 1), Buffer.alloc(1024)]));
  });

  it('refuses names longer than 99 bytes', async () => {
    const archiver = new TarArchiver(new Recorder());
    const m: TarMember = { name: 'a'.repeat(100), size: 0, mode: 0o600, uid: 0, gid: 0, mtime: new Date(0), type: 'file', linkname: null };
    await assert.rejects(archiver.content(m, Buffer.alloc(0), 'header'), (err: unknown) => {
      assert.ok(err instanceof ArchiveFormatError);
      assert.equal(err.message, `tar member name "${'a'.repeat(100)}" is longer than 99 bytes`);
      assert.equal(err.hint, 'PostgreSQL reads only the 100-byte name field of a tar header, so longer names cannot be written.');
      return true;
    });
    // 99 bytes is fine.
    await archiver.content({ ...m, name: 'a'.repeat(99) }, Buffer.alloc(0), 'header');
  });

  it('refuses a regenerated member whose content does not match its size', async () => {
    const archiver = new TarArchiver(new Recorder());
    const m: TarMember = { name: 'x', size: 5, mode: 0o600, uid: 0, gid: 0, mtime: new Date(0), type: 'file', linkname: null };
    await archiver.content(m, Buffer.alloc(0), 'header');
    await archiver.content(m, Buffer.from('abc'), 'contents');
    await assert.rejects(archiver.content(m, Buffer.alloc(0), 'trailer'), (err: unknown) => {
      assert.ok(err instanceof InternalError);
      assert.equal(err.message, 'tar member "x" received 3 bytes but its header says 5');
      return true;
    });
  });
});

describe('TarArchiver member names', () => {
  let dir: string;
  before(() => { dir = tempDir('tar-archiver-names'); });
  after(() => removeDir(dir));

  it('regression: "./pg_wal/archive_status/" keeps its name when base.tar is re-archived (-R)', async () => {
    // The server names this directory with a leading "./"; re-archiving must not normalize it,
    // or the member list differs from pg_basebackup's.
    const src = join(dir, 'src');
    makeTree(src);
    const tarFile = join(dir, 'names.tar');
    run('tar', ['--format=ustar', '-cf', tarFile, '-C', src, '.']);
    const original = run('tar', ['-tf', tarFile]).toString().split('\n').filter(Boolean).sort();
    assert.ok(original.some((n) => n.startsWith('./')), 'fixture has "./" names');
    const out = new Recorder();
    const parser = new TarParser(new TarArchiver(out));
    await feed(parser, readFileSync(tarFile), 321);
    await parser.finalize();
    const copy = join(dir, 'copy.tar');
    writeFileSync(copy, Buffer.concat(out.raw));
    const copied = run('tar', ['-tf', copy]).toString().split('\n').filter(Boolean).sort();
    assert.deepEqual(copied, original);
  });
});

describe('encodeTarHeader names', () => {
  const base: TarMember = { name: 'x', size: 0, mode: 0o700, uid: 0, gid: 0, mtime: new Date(0), type: 'file', linkname: null };
  const nameField = (h: Buffer): string => h.subarray(0, 100).toString('latin1').replace(/\0.*$/s, '');

  it('writes a symlink back with the trailing "/" tar.c gave it, and directories always with one', () => {
    assert.equal(nameField(encodeTarHeader({ ...base, name: 'pg_tblspc/16384', rawName: 'pg_tblspc/16384/', type: 'symlink', linkname: '/srv/ts' })), 'pg_tblspc/16384/');
    assert.equal(nameField(encodeTarHeader({ ...base, name: 'pg_wal/archive_status', rawName: './pg_wal/archive_status/', type: 'directory' })), './pg_wal/archive_status/');
    assert.equal(nameField(encodeTarHeader({ ...base, name: 'base', type: 'directory' })), 'base/');
    assert.equal(nameField(encodeTarHeader({ ...base, name: '.', rawName: './', type: 'directory' })), './');
  });

  it('uses the new name when a stage renamed a member but left rawName behind', () => {
    assert.equal(nameField(encodeTarHeader({ ...base, name: 'renamed', rawName: './original' })), 'renamed');
  });
});
