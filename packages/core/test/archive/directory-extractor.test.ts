import assert from 'node:assert/strict';
import { chmodSync, existsSync, rmSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { UnsafePathError } from '../../src/errors.js';
import { DirectoryExtractor } from '../../src/archive/directory-extractor.js';
import { TarParser } from '../../src/archive/tar-parser.js';
import { TAR_END_OF_ARCHIVE, encodeTarHeader, tarPaddingFor } from '../../src/archive/tar-header.js';
import type { TarMember } from '../../src/archive/streamer.js';
import { feed, feedReusing, makeTree, patternBytes, removeDir, run, tempDir } from './helpers.js';

function m(name: string, type: TarMember['type'], extra: Partial<TarMember> = {}): TarMember {
  return { name, size: 0, mode: type === 'directory' ? 0o750 : 0o640, uid: 0, gid: 0, mtime: new Date('2024-02-03T04:05:06Z'), type, linkname: null, ...extra };
}

/** A tar with arbitrary (even hostile) names, written header by header. */
function tarOf(entries: Array<{ member: TarMember; data?: string | Buffer }>): Buffer {
  const parts: Buffer[] = [];
  for (const { member, data } of entries) {
    const body = Buffer.from(data ?? '');
    const header = encodeTarHeaderUnchecked({ ...member, size: body.length });
    parts.push(header, body, Buffer.alloc(tarPaddingFor(body.length)));
  }
  parts.push(TAR_END_OF_ARCHIVE);
  return Buffer.concat(parts);
}

/**
 * encodeTarHeader refuses nothing about ".." or "/": those checks belong to the extractor. A
 * member of type "other" is written as a FIFO (typeflag '6'), which encodeTarHeader cannot write.
 */
function encodeTarHeaderUnchecked(member: TarMember): Buffer {
  if (member.type !== 'other') return encodeTarHeader(member);
  const h = encodeTarHeader({ ...member, type: 'file', size: 0 });
  h[156] = 0x36;
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (const byte of h) sum += byte;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  return h;
}

describe('DirectoryExtractor', () => {
  let dir: string;
  before(() => { dir = tempDir('extract'); });
  after(() => removeDir(dir));

  async function extract(tar: Buffer, root: string, options: Partial<ConstructorParameters<typeof DirectoryExtractor>[0]> = {}): Promise<void> {
    const extractor = new DirectoryExtractor({ root, ...options });
    const parser = new TarParser(extractor);
    try {
      await feed(parser, tar, 4096);
    } finally {
      await parser.dispose();
    }
  }

  it('extracts what tar -x extracts: contents, modes, mtimes, links', async () => {
    const tree = join(dir, 'tree');
    mkdirSync(tree);
    makeTree(tree);
    run('chmod', ['0750', join(tree, 'base')]);
    const tar = run('tar', ['-C', tree, '-cf', '-', '.']);
    mkdirSync(join(dir, 'by-tar'));
    run('tar', ['-C', join(dir, 'by-tar'), '-xpf', '-'], { input: tar });
    const files: string[] = [];
    await extract(tar, join(dir, 'ours'), { sync: true, onFile: (p) => files.push(p) });
    run('diff', ['-r', '--no-dereference', join(dir, 'by-tar'), join(dir, 'ours')]);
    const listing = (d: string): string => run('sh', ['-c', `cd ${d} && find . -mindepth 1 -printf '%p %y %m %s %T@ %l %n\\n' | sort`]).toString();
    assert.equal(listing(join(dir, 'ours')), listing(join(dir, 'by-tar')));
    assert.ok(files.includes(join(dir, 'ours', 'global', 'pg_control')));
  });

  for (const blocking of [false, true]) it(`many files across the write buffers, large ones, modes the umask would strip: same as tar -x${blocking ? ' (blocking)' : ''}`, async () => {
    const tree = join(dir, `many-${blocking}`);
    mkdirSync(join(tree, 'base/5'), { recursive: true });
    // 2.5 MB spans three write buffers; the small files share them.
    writeFileSync(join(tree, 'base/5/big'), patternBytes(2_500_000, 9));
    for (let i = 0; i < 300; i++) writeFileSync(join(tree, 'base/5', String(1000 + i)), patternBytes((i * 613) % 9000, i % 200));
    writeFileSync(join(tree, 'group-writable'), 'g');
    chmodSync(join(tree, 'group-writable'), 0o664);
    writeFileSync(join(tree, 'setgid'), 's');
    chmodSync(join(tree, 'setgid'), 0o2750);
    const when = new Date('2024-05-06T07:08:09Z');
    for (const f of readdirSync(join(tree, 'base/5'))) utimesSync(join(tree, 'base/5', f), when, when);
    const tar = run('tar', ['-C', tree, '-cf', '-', '.']);
    const byTar = join(dir, `many-by-tar-${blocking}`);
    mkdirSync(byTar);
    run('tar', ['-C', byTar, '-xpf', '-'], { input: tar });
    const root = join(dir, `many-ours-${blocking}`);
    const extractor = new DirectoryExtractor({ root, sync: true, blocking });
    const parser = new TarParser(extractor);
    try {
      await feed(parser, tar, 7777);
    } finally {
      await parser.dispose();
    }
    run('diff', ['-r', '--no-dereference', byTar, root]);
    const listing = (d: string): string => run('sh', ['-c', `cd ${d} && find . -mindepth 1 -printf '%p %y %m %s %T@ %l %n\\n' | sort`]).toString();
    assert.equal(listing(root), listing(byTar));
    assert.equal(statSync(join(root, 'group-writable')).mode & 0o7777, 0o664);
    assert.equal(statSync(join(root, 'setgid')).mode & 0o7777, 0o2750);
  });

  it('a failing file operation fails a later call and leaves no descriptor open', async () => {
    const root = join(dir, 'late-failure');
    mkdirSync(root);
    writeFileSync(join(root, 'taken'), 'old');
    const extractor = new DirectoryExtractor({ root });
    const before = readdirSync('/proc/self/fd').length;
    await extractor.content(m('a', 'file', { size: 3 }), Buffer.alloc(0), 'header');
    await extractor.content(m('a', 'file', { size: 3 }), Buffer.from('abc'), 'contents');
    await extractor.content(m('a', 'file', { size: 3 }), Buffer.alloc(0), 'trailer');
    // The open of "taken" fails in the background; the error comes with a later call.
    let failure: unknown = null;
    try {
      await extractor.content(m('taken', 'file', { size: 1 }), Buffer.alloc(0), 'header');
      await extractor.content(m('taken', 'file', { size: 1 }), Buffer.from('x'), 'contents');
      await extractor.content(m('taken', 'file', { size: 1 }), Buffer.alloc(0), 'trailer');
      await extractor.finalize();
    } catch (err) {
      failure = err;
    }
    assert.ok(failure instanceof Error);
    assert.equal(failure.message, `could not create file "${join(root, 'taken')}": file exists`);
    await extractor.dispose();
    assert.equal(readFileSync(join(root, 'a'), 'utf8'), 'abc');
    assert.equal(readFileSync(join(root, 'taken'), 'utf8'), 'old');
    assert.equal(readdirSync('/proc/self/fd').length, before);
  });

  it('syncCreated() fsyncs what it created, later, on request', async () => {
    const root = join(dir, 'sync-later');
    const extractor = new DirectoryExtractor({ root });
    const parser = new TarParser(extractor);
    await feed(parser, tarOf([{ member: m('d', 'directory') }, { member: m('d/f', 'file'), data: 'x' }]), 512);
    await extractor.syncCreated();
    // It goes through the files it created: one that vanished is an error naming it.
    rmSync(join(root, 'd/f'));
    await assert.rejects(extractor.syncCreated(), { message: `could not fsync "${join(root, 'd/f')}": no such file or directory` });
  });

  it('writeback: big files are fdatasynced in the background as they are written, and come out whole', async () => {
    const big = patternBytes(40 * 1024 * 1024, 7);
    const other = patternBytes(20 * 1024 * 1024, 8);
    const tar = tarOf([{ member: m('big', 'file'), data: big }, { member: m('small', 'file'), data: 'x' }, { member: m('other', 'file'), data: other }]);
    const fds = readdirSync('/proc/self/fd').length;
    const counts: Record<string, number> = {};
    const variants = [
      ['sync', { sync: true }], ['writeback', { writeback: true }], ['blocking', { writeback: true, blocking: true }],
      ['neither', {}], ['sync-only', { sync: true, writeback: false }], ['blocking-neither', { blocking: true }],
    ] as const;
    for (const [name, options] of variants) {
      const root = join(dir, `writeback-${name}`);
      const extractor = new DirectoryExtractor({ root, ...options });
      await feed(new TarParser(extractor), tar, 256 * 1024);
      if (!('sync' in options)) await extractor.syncCreated();
      counts[name] = extractor.writebacks;
      assert.ok(readFileSync(join(root, 'big')).equals(big), name);
      assert.ok(readFileSync(join(root, 'other')).equals(other), name);
      assert.equal(readFileSync(join(root, 'small'), 'utf8'), 'x');
      rmSync(root, { recursive: true });
    }
    // One at a time, every 32 MiB of a file: one for 40 MiB, none for 20 MiB.
    for (const name of ['sync', 'writeback', 'blocking']) assert.equal(counts[name], 1, name);
    for (const name of ['neither', 'sync-only', 'blocking-neither']) assert.equal(counts[name], 0, name);
    assert.equal(readdirSync('/proc/self/fd').length, fds);
  });

  it('directIo: files of 1 MiB or more go past the page cache, the others buffered; every byte and size as tar -x writes them', async () => {
    const sizes: Array<[string, number]> = [
      ['empty', 0], ['a', 100], ['big-odd', 1024 * 1024 + 123], ['b', 5000], ['spans-buffers', 9 * 1024 * 1024 + 7],
      ['aligned', 2 * 1024 * 1024], ['c', 4096], ['just-under', 1024 * 1024 - 1], ['huge', 40 * 1024 * 1024 + 1], ['d', 1],
    ];
    const tree = join(dir, 'direct-tree');
    mkdirSync(tree);
    sizes.forEach(([name, size], i) => writeFileSync(join(tree, name), patternBytes(size, i + 1)));
    const tar = run('tar', ['-C', tree, '-cf', '-', ...sizes.map(([name]) => name)]);
    const fds = readdirSync('/proc/self/fd').length;
    for (const chunk of [65_537, 1024 * 1024]) {
      const root = join(dir, `direct-${chunk}`);
      const extractor = new DirectoryExtractor({ root, sync: true, directIo: true });
      await feed(new TarParser(extractor), tar, chunk);
      // big-odd, spans-buffers, aligned, huge; and no background fdatasync for the 40 MiB one.
      assert.equal(extractor.directFiles, 4);
      assert.equal(extractor.writebacks, 0);
      // The big files' full buffers were written two at a time, never more.
      assert.equal(extractor.mostDirectWritesAtOnce, 2);
      run('diff', ['-r', tree, root]);
      for (const [name, size] of sizes) assert.equal(statSync(join(root, name)).size, size, name);
    }
    assert.equal(readdirSync('/proc/self/fd').length, fds);
    const buffered = new DirectoryExtractor({ root: join(dir, 'direct-off'), sync: true });
    await feed(new TarParser(buffered), tar, 65_537);
    assert.equal(buffered.directFiles, 0);
    assert.equal(buffered.writebacks, 1);
  });

  it('directIo: a write that fails while another runs fails the extraction, naming the file, and leaves no descriptor open', () => {
    // File size limit 20 MiB: the 40 MiB file's writes past it fail (EFBIG; node ignores SIGXFSZ)
    // once several of its 4 MiB buffers are on their way at once.
    const root = join(dir, 'direct-efbig');
    const script = `
      import { DirectoryExtractor } from ${JSON.stringify(new URL('../../src/archive/directory-extractor.ts', import.meta.url).href)};
      import { TarParser } from ${JSON.stringify(new URL('../../src/archive/tar-parser.ts', import.meta.url).href)};
      import { readFileSync, readdirSync } from 'node:fs';
      const tar = readFileSync(0);
      const fds = readdirSync('/proc/self/fd').length;
      const extractor = new DirectoryExtractor({ root: ${JSON.stringify(root)}, sync: true, directIo: true });
      const parser = new TarParser(extractor);
      try {
        for (let off = 0; off < tar.length; off += 1 << 20) await parser.content(null, tar.subarray(off, off + (1 << 20)), 'unknown');
        await parser.finalize();
        console.log('extracted');
      } catch (err) {
        await parser.dispose();
        console.log(JSON.stringify({ message: err.message, atOnce: extractor.mostDirectWritesAtOnce, fdsLeft: readdirSync('/proc/self/fd').length - fds }));
      }
    `;
    const tar = tarOf([{ member: m('small', 'file'), data: 'x' }, { member: m('huge', 'file'), data: patternBytes(40 * 1024 * 1024, 3) }]);
    const out = run('prlimit', [`--fsize=${20 * 1024 * 1024}`, process.execPath, '--import', 'tsx', '--input-type=module', '-e', script], { input: tar });
    const result = JSON.parse(out.toString().trim()) as { message: string; atOnce: number; fdsLeft: number };
    assert.equal(result.message, `could not write to file "${join(root, 'huge')}": file too large`);
    assert.equal(result.atOnce, 2);
    assert.equal(result.fdsLeft, 0);
  });

  for (const blocking of [false, true]) it(`gives everything the requested owner${blocking ? ' (blocking)' : ''}`, async () => {
    const tar = tarOf([{ member: m('d', 'directory') }, { member: m('d/f', 'file'), data: 'x' }, { member: m('pg_tblspc/16384', 'symlink', { linkname: '/srv/ts' }) }]);
    const root = join(dir, `owned-${blocking}`);
    await extract(tar, root, { owner: { uid: 4321, gid: 4322 }, blocking });
    for (const p of ['d', 'd/f']) assert.deepEqual([statSync(join(root, p)).uid, statSync(join(root, p)).gid], [4321, 4322], p);
    assert.equal(lstatSync(join(root, 'pg_tblspc/16384')).uid, 4321);
    assert.equal(statSync(join(root, 'd')).mode & 0o7777, 0o750);
    assert.equal(statSync(join(root, 'd/f')).mode & 0o7777, 0o640);
  });

  for (const blocking of [false, true]) it(`gives the owner to the root and to parents the archive did not list${blocking ? ' (blocking)' : ''}`, async () => {
    // Made by mkdir -p: "owned-implicit", "owned-implicit/root", "x" and "x/y" (only "x/y/f" is listed).
    const root = join(dir, `owned-implicit-${blocking}`, 'root');
    const owner = { uid: 4321, gid: 4322 };
    const extractor = new DirectoryExtractor({ root, owner, blocking });
    await feed(new TarParser(extractor), tarOf([{ member: m('x/y/f', 'file'), data: 'x' }]), 512);
    for (const p of [join(dir, `owned-implicit-${blocking}`), root, join(root, 'x'), join(root, 'x/y'), join(root, 'x/y/f')]) {
      assert.deepEqual([statSync(p).uid, statSync(p).gid], [4321, 4322], p);
    }
    assert.notEqual(statSync(dir).uid, 4321, 'an existing parent keeps its owner');
    await extractor.syncCreated();
  });

  for (const blocking of [false, true]) it(`maps symlink targets and follows a symlink that was there before (pg_wal -> --waldir)${blocking ? ' (blocking)' : ''}`, async () => {
    const root = join(dir, `pgdata-${blocking}`);
    const waldir = join(dir, `waldir-${blocking}`);
    mkdirSync(root);
    mkdirSync(waldir);
    symlinkSync(waldir, join(root, 'pg_wal'));
    const tar = tarOf([
      { member: m('pg_wal', 'directory') },
      { member: m('./pg_wal/archive_status', 'directory') },
      { member: m('pg_wal/000000010000000000000001', 'file'), data: 'wal' },
      { member: m('pg_tblspc/16384', 'symlink', { linkname: '/old/location' }) },
    ]);
    await extract(tar, root, { blocking, mapLinkTarget: (t) => (t === '/old/location' ? '/new/location' : t) });
    assert.equal(readFileSync(join(waldir, '000000010000000000000001'), 'utf8'), 'wal');
    assert.ok(existsSync(join(waldir, 'archive_status')));
    assert.equal(readlinkSync(join(root, 'pg_tblspc/16384')), '/new/location');
  });

  const hostile: Array<[string, Array<{ member: TarMember; data?: string | Buffer }>, string]> = [
    ['../x', [{ member: m('../x', 'file'), data: 'evil' }], 'archive member "../x" has a ".." component in its name'],
    ['/etc/x', [{ member: m('/etc/x', 'file'), data: 'evil' }], 'archive member "/etc/x" has an absolute name'],
    ['a/../../x', [{ member: m('a', 'directory') }, { member: m('a/../../x', 'file'), data: 'evil' }], 'archive member "a/../../x" has a ".." component in its name'],
    ['symlink then write through', [
      { member: m('pg_tblspc/16384', 'symlink', { linkname: '../../outside' }) },
      { member: m('pg_tblspc/16384/x', 'file'), data: 'evil' },
    ], 'archive member "pg_tblspc/16384/x" would be written through symbolic link "pg_tblspc/16384"'],
    ['symlink then write onto it', [
      { member: m('pg_tblspc/16384', 'symlink', { linkname: '../../outside/victim' }) },
      { member: m('pg_tblspc/16384', 'file'), data: 'evil' },
    ], 'archive member "pg_tblspc/16384" would be written through symbolic link "pg_tblspc/16384"'],
    ['symlink then mkdir through', [
      { member: m('pg_tblspc/16384', 'symlink', { linkname: '../../outside' }) },
      { member: m('./pg_tblspc/16384/sub/', 'directory') },
    ], 'archive member "pg_tblspc/16384/sub" would be written through symbolic link "pg_tblspc/16384"'],
    ['hard link to ../', [{ member: m('h', 'link', { linkname: '../outside/victim' }) }], 'archive member "h" has a ".." component in its link target'],
    ['hard link to /etc/passwd', [{ member: m('h', 'link', { linkname: '/etc/passwd' }) }], 'archive member "h" has an absolute link target'],
    ['hard link to a symlink', [
      { member: m('pg_tblspc/16384', 'symlink', { linkname: '../../outside/victim' }) },
      { member: m('h', 'link', { linkname: 'pg_tblspc/16384' }) },
    ], 'archive member "h" would be written through symbolic link "pg_tblspc/16384"'],
    // The only links a base backup carries are pg_tblspc/<oid>: any other could make whoever
    // writes that file after the extraction (recovery.signal, as root) write outside the root.
    ['a symlink named like a file the restore writes', [
      { member: m('recovery.signal', 'symlink', { linkname: '../outside/victim' }) },
    ], 'archive member "recovery.signal" is a symbolic link outside pg_tblspc'],
    ['a symlink to an absolute path', [
      { member: m('postgresql.auto.conf', 'symlink', { linkname: '/etc/passwd' }) },
    ], 'archive member "postgresql.auto.conf" is a symbolic link outside pg_tblspc'],
    ['a symlink pg_tblspc itself', [{ member: m('pg_tblspc', 'symlink', { linkname: '../outside' }) }],
      'archive member "pg_tblspc" is a symbolic link outside pg_tblspc'],
    ['a symlink below a tablespace link name', [{ member: m('pg_tblspc/16384/x', 'symlink', { linkname: '/etc' }) }],
      'archive member "pg_tblspc/16384/x" is a symbolic link outside pg_tblspc'],
    ['a symlink with a non-numeric OID', [{ member: m('pg_tblspc/16384a', 'symlink', { linkname: '/etc' }) }],
      'archive member "pg_tblspc/16384a" is a symbolic link outside pg_tblspc'],
    ['a symlink with a leading zero OID', [{ member: m('pg_tblspc/0123', 'symlink', { linkname: '/etc' }) }],
      'archive member "pg_tblspc/0123" is a symbolic link outside pg_tblspc'],
    ['a symlink in a subdirectory', [{ member: m('base', 'directory') }, { member: m('base/l', 'symlink', { linkname: '../../outside' }) }],
      'archive member "base/l" is a symbolic link outside pg_tblspc'],
    ['a FIFO', [{ member: m('fifo', 'other') }], 'archive member "fifo" is not a regular file, directory or link'],
  ];

  for (const [what, entries, message] of hostile) for (const blocking of [false, true]) {
    it(`rejects ${what} and writes nothing outside the root${blocking ? ' (blocking)' : ''}`, async () => {
      const base = join(dir, `hostile-${what.replace(/\W+/g, '_')}-${blocking}`);
      const outside = join(base, 'outside');
      mkdirSync(outside, { recursive: true });
      writeFileSync(join(outside, 'victim'), 'safe');
      await assert.rejects(extract(tarOf(entries), join(base, 'root'), { blocking }), (err: unknown) => {
        assert.ok(err instanceof UnsafePathError, String(err));
        assert.equal(err.message, message);
        return true;
      });
      assert.deepEqual(readdirSync(outside), ['victim']);
      assert.equal(readFileSync(join(outside, 'victim'), 'utf8'), 'safe');
      assert.equal(existsSync(join(base, 'x')), false);
    });
  }

  for (const blocking of [false, true]) it(`refuses to overwrite an existing file${blocking ? ' (blocking)' : ''}`, async () => {
    const root = join(dir, `existing-${blocking}`);
    mkdirSync(root);
    writeFileSync(join(root, 'PG_VERSION'), 'old');
    await assert.rejects(extract(tarOf([{ member: m('PG_VERSION', 'file'), data: '15\n' }]), root, { blocking }), {
      message: `could not create file "${join(root, 'PG_VERSION')}": file exists`,
    });
    assert.equal(readFileSync(join(root, 'PG_VERSION'), 'utf8'), 'old');
  });
  it('blocking: a failing file operation fails the call that caused it and leaves no descriptor open', async () => {
    const root = join(dir, 'blocking-failure');
    mkdirSync(root);
    writeFileSync(join(root, 'taken'), 'old');
    const extractor = new DirectoryExtractor({ root, blocking: true });
    const before = readdirSync('/proc/self/fd').length;
    await extractor.content(m('a', 'file', { size: 3 }), Buffer.alloc(0), 'header');
    await extractor.content(m('a', 'file', { size: 3 }), Buffer.from('abc'), 'contents');
    // Written and closed when the call returns, not at finalize().
    assert.equal(readdirSync('/proc/self/fd').length, before + 1);
    await extractor.content(m('a', 'file', { size: 3 }), Buffer.alloc(0), 'trailer');
    assert.equal(readFileSync(join(root, 'a'), 'utf8'), 'abc');
    assert.equal(readdirSync('/proc/self/fd').length, before);
    await assert.rejects(extractor.content(m('taken', 'file', { size: 1 }), Buffer.alloc(0), 'header'), {
      message: `could not create file "${join(root, 'taken')}": file exists`,
    });
    await extractor.dispose();
    assert.equal(readFileSync(join(root, 'taken'), 'utf8'), 'old');
    assert.equal(readdirSync('/proc/self/fd').length, before);
  });

  it('blocking: dispose() in the middle of a file closes it', async () => {
    const root = join(dir, 'blocking-dispose');
    const extractor = new DirectoryExtractor({ root, blocking: true });
    const before = readdirSync('/proc/self/fd').length;
    await extractor.content(m('f', 'file', { size: 100_000 }), Buffer.alloc(0), 'header');
    await extractor.content(m('f', 'file', { size: 100_000 }), patternBytes(40_000, 1), 'contents');
    assert.equal(readdirSync('/proc/self/fd').length, before + 1);
    await extractor.dispose();
    assert.equal(readdirSync('/proc/self/fd').length, before);
  });

  it('blocking: writes 16 KiB pieces at 16 KiB offsets straight from the chunks, whatever their size; a chunk can be reused at once', async () => {
    const size = 5 * 16384 + 1234;
    const content = patternBytes(size, 5);
    const tar = tarOf([{ member: m('f', 'file'), data: content }, { member: m('g', 'file'), data: 'tail' }]);
    // Every chunk is overwritten right after content() returns: nothing may keep a reference.
    for (const step of [1, 100, 16383, 16384, 16385, 40_000, tar.length]) {
      const root = join(dir, `pieces-${step}`);
      const parser = new TarParser(new DirectoryExtractor({ root, blocking: true }));
      await feedReusing(parser, tar, step);
      await parser.dispose();
      assert.deepEqual(readFileSync(join(root, 'f')), content, `step ${step}`);
      assert.equal(readFileSync(join(root, 'g'), 'utf8'), 'tail', `step ${step}`);
    }
    // The write sizes and offsets themselves, as the kernel saw them.
    const root = join(dir, 'pieces-strace');
    const script = `
      import { DirectoryExtractor } from ${JSON.stringify(new URL('../../src/archive/directory-extractor.ts', import.meta.url).href)};
      import { TarParser } from ${JSON.stringify(new URL('../../src/archive/tar-parser.ts', import.meta.url).href)};
      import { readFileSync } from 'node:fs';
      const tar = readFileSync(0);
      const parser = new TarParser(new DirectoryExtractor({ root: ${JSON.stringify(root)}, blocking: true }));
      for (let off = 0; off < tar.length; off += 10_000) await parser.content(null, tar.subarray(off, off + 10_000), 'unknown');
      await parser.finalize();
    `;
    const traceFile = join(dir, 'pieces.strace');
    run('strace', ['-f', '-qq', '-e', 'trace=openat,write', '-e', 'signal=none', '-o', traceFile,
      process.execPath, '--import', 'tsx', '--input-type=module', '-e', script], { input: tar });
    const trace = readFileSync(traceFile, 'utf8');
    assert.deepEqual(readFileSync(join(root, 'f')), content);
    // Writes per file, in order (descriptors are reused: the latest open of a number wins).
    const writes = new Map<string, number[]>();
    const files = new Map<string, string>();
    for (const line of trace.split('\n')) {
      const open = /openat\(AT_FDCWD, "([^"]*)", [^)]*\)\s+=\s+(\d+)/.exec(line);
      if (open) files.set(open[2]!, open[1]!);
      const write = /write\((\d+), .*, \d+\)\s+=\s+(\d+)/.exec(line);
      const name = write ? files.get(write[1]!) : undefined;
      if (write && name !== undefined) writes.set(name, [...(writes.get(name) ?? []), Number(write[2])]);
    }
    const writesTo = (name: string): number[] | undefined => writes.get(join(root, name));
    assert.deepEqual(writesTo('f'), [16384, 16384, 16384, 16384, 16384, 1234]);
    assert.deepEqual(writesTo('g'), [4]);
  });
});
