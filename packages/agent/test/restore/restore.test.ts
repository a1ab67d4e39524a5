// The restore engine in-process on crafted backups (no PostgreSQL: --start is covered by the
// end-to-end tests): layout of the result, tablespace relocation, recovery configuration,
// ownership and modes, manifest verification, and that every failure leaves nothing behind.

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, lstat, mkdir, readdir, readFile, readlink, stat, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, test } from 'node:test';
import {
  ArchiveFormatError, CancelledError, DirectoryNotEmptyError, InvalidOptionError, NotAllowedError, UnsafePathError, VerifyError, computeChecksum, readArchiveFile, writeManifest,
  type Streamer,
} from '@pgfleet/core';
import { openBackupDirectory } from '../../src/restore/layout.js';
import type { RestoreEvent, RestoreOptions } from '../../src/restore/options.js';
import { resolveOwner } from '../../src/instance/owner.js';
import { PROMOTE_BLOCK_BEGIN } from '../../src/restore/recovery.js';
import { restoreBackup } from '../../src/restore/restore.js';
import type { BackupSource } from '../../src/restore/source.js';
import { processAlive } from '../../src/instance/status.js';
import { BACKUP_LABEL, craftTarBackup, makeDir, makeTar } from '../helpers/fixtures.js';

const owner = resolveOwner(null);

async function restore(from: string, options: Omit<RestoreOptions, 'owner'>): Promise<Awaited<ReturnType<typeof restoreBackup>>> {
  return restoreBackup(await openBackupDirectory(from), { sync: false, owner: owner.name, ...options });
}

/** Everything in `dir` (names only, recursively), for "nothing was left" checks. */
async function listing(dir: string): Promise<string[]> {
  const out: string[] = [];
  const visit = async (p: string, rel: string): Promise<void> => {
    for (const name of (await readdir(p)).sort()) {
      const r = rel ? `${rel}/${name}` : name;
      out.push(r);
      const st = await lstat(path.join(p, name));
      if (st.isDirectory()) await visit(path.join(p, name), r);
    }
  };
  if (existsSync(dir)) await visit(dir, '');
  return out;
}

describe('restoreBackup (tar layout)', () => {
  test('promote, two tablespaces mapped: files, links, rewritten map, WAL, recovery settings, owner, modes', async () => {
    const root = await makeDir();
    const backup = path.join(root, 'backup');
    const ts = new Map([[16384, '/old/ts1'], [16385, '/old/ts\\2']]);
    await craftTarBackup(backup, { tablespaces: ts, gzip: true });
    const target = path.join(root, 'restore');
    const dataDir = path.join(target, 'data');
    const events: RestoreEvent[] = [];
    const report = await restore(backup, {
      dataDir, mode: 'promote', sync: true,
      tablespaceMappings: [{ oldDir: '/old/ts1', newDir: path.join(target, 'ts1') }, { oldDir: '/old/ts\\2', newDir: path.join(target, 'ts2') }],
      onEvent: (e) => events.push(e),
    });
    assert.equal(events[0]?.type, 'plan');
    assert.deepEqual(report.tablespaces, [
      { oid: 16384, originalLocation: '/old/ts1', location: path.join(target, 'ts1') },
      { oid: 16385, originalLocation: '/old/ts\\2', location: path.join(target, 'ts2') },
    ]);
    assert.equal(report.major, 15);
    assert.equal(report.layout, 'tar');
    assert.deepEqual(report.verify, { verified: false, filesChecked: 0, checksumAlgorithm: null, walSegmentsChecked: 0 });
    assert.deepEqual(report.warnings, ['the backup has no backup_manifest: files are restored without checking them']);
    assert.equal(report.instance, null);

    assert.deepEqual(await readdir(target), ['data', 'ts1', 'ts2']);
    assert.equal(await readlink(path.join(dataDir, 'pg_tblspc', '16384')), path.join(target, 'ts1'));
    assert.equal(await readlink(path.join(dataDir, 'pg_tblspc', '16385')), path.join(target, 'ts2'));
    assert.equal(await readFile(path.join(dataDir, 'tablespace_map'), 'utf8'), `16384 ${path.join(target, 'ts1')}\n16385 ${path.join(target, 'ts2')}\n`);
    assert.equal(await readFile(path.join(target, 'ts2', 'PG_15_202209061', '1', '1234'), 'utf8'), 'relation of tablespace 16385\n');
    assert.deepEqual(await readdir(path.join(dataDir, 'pg_wal')), ['000000010000000000000002', 'archive_status']);
    assert.deepEqual(await readdir(path.join(dataDir, 'pg_wal', 'archive_status')), ['000000010000000000000002.done']);
    assert.ok(existsSync(path.join(dataDir, 'recovery.signal')));
    assert.ok(!existsSync(path.join(dataDir, 'standby.signal')), 'the -R standby.signal is gone');
    const autoConf = await readFile(path.join(dataDir, 'postgresql.auto.conf'), 'utf8');
    assert.ok(!autoConf.includes('primary_conninfo'));
    assert.ok(autoConf.includes(PROMOTE_BLOCK_BEGIN));
    for (const p of [dataDir, path.join(target, 'ts1'), path.join(target, 'ts2')]) {
      const st = await stat(p);
      assert.equal(st.mode & 0o777, 0o700, p);
      assert.equal(st.uid, owner.uid, p);
    }
    for (const rel of await listing(dataDir)) {
      assert.equal((await lstat(path.join(dataDir, rel))).uid, owner.uid, `owner of ${rel}`);
    }
  });

  test('--waldir: pg_wal is a link to it, WAL extracted there', async () => {
    const root = await makeDir();
    const backup = path.join(root, 'backup');
    await craftTarBackup(backup);
    const dataDir = path.join(root, 'data');
    const walDir = path.join(root, 'wal');
    const report = await restore(backup, { dataDir, walDir, mode: 'none' });
    assert.equal(report.walDir, walDir);
    assert.equal(await readlink(path.join(dataDir, 'pg_wal')), walDir);
    assert.deepEqual(await readdir(walDir), ['000000010000000000000002', 'archive_status']);
    assert.deepEqual((await readdir(root)).sort(), ['backup', 'data', 'wal']);
    // none: the backup's standby configuration is kept exactly
    assert.ok(existsSync(path.join(dataDir, 'standby.signal')));
    assert.match(await readFile(path.join(dataDir, 'postgresql.auto.conf'), 'utf8'), /primary_conninfo = 'host=src port=5432'/);
  });

  test('standby with --primary-conninfo replaces the backup\'s', async () => {
    const root = await makeDir();
    const backup = path.join(root, 'backup');
    await craftTarBackup(backup);
    const dataDir = path.join(root, 'data');
    await restore(backup, { dataDir, mode: 'standby', primaryConninfo: 'host=elsewhere port=6543' });
    assert.match(await readFile(path.join(dataDir, 'postgresql.auto.conf'), 'utf8'), /^primary_conninfo = 'host=elsewhere port=6543'$/m);
    assert.ok(existsSync(path.join(dataDir, 'standby.signal')));
  });

  test('a tablespace without -T goes to its original location when that is absent', async () => {
    const root = await makeDir();
    const backup = path.join(root, 'backup');
    const original = path.join(root, 'original-ts');
    await craftTarBackup(backup, { tablespaces: new Map([[16384, original]]) });
    const report = await restore(backup, { dataDir: path.join(root, 'data'), mode: 'none' });
    assert.deepEqual(report.tablespaces, [{ oid: 16384, originalLocation: original, location: original }]);
    assert.ok(existsSync(path.join(original, 'PG_15_202209061', '1', '1234')));
  });

  test('an old-style base.tar with pg_tblspc links and no tablespace_map: the links give the locations', async () => {
    const root = await makeDir();
    const backup = path.join(root, 'backup');
    await craftTarBackup(backup, {
      tablespaces: new Map([[16384, '/old/ts1']]), withMap: false,
      extra: [{ name: 'pg_tblspc/16384', type: 'symlink', linkname: '/old/ts1' }],
    });
    const dataDir = path.join(root, 'data');
    const report = await restore(backup, { dataDir, mode: 'none', tablespaceMappings: [{ oldDir: '/old/ts1', newDir: path.join(root, 'ts1') }] });
    assert.equal(report.tablespaces[0]?.location, path.join(root, 'ts1'));
    assert.equal(await readlink(path.join(dataDir, 'pg_tblspc', '16384')), path.join(root, 'ts1'));
    assert.ok(!existsSync(path.join(dataDir, 'tablespace_map')), 'no map is invented');
  });
});

describe('restoreBackup: archives begun at once', () => {
  /**
   * The source `from`, except that stream() begins every archive at once: the engine's begin()
   * must hold back what may not be written yet. Logs when base.tar's chain is finalized and
   * when each other archive's begin() returned.
   */
  async function eagerSource(from: string, log: string[]): Promise<BackupSource> {
    const source = await openBackupDirectory(from);
    return {
      layout: source.layout, location: source.location, archives: source.archives,
      tablespaceLocations: source.tablespaceLocations, dataDirectoryMode: source.dataDirectoryMode,
      readManifest: () => source.readManifest(),
      async stream(begin) {
        const [base, ...rest] = source.archives;
        assert.ok(base);
        const baseChain = await begin(base);
        const logged: Streamer = {
          content: (member, data, kind) => baseChain.content(member, data, kind),
          finalize: async () => {
            await baseChain.finalize();
            log.push(`finalized ${base.name}`);
          },
          dispose: () => baseChain.dispose(),
        };
        await Promise.all([
          readArchiveFile(path.join(from, base.name), logged, { inPlace: true }),
          ...rest.map(async (info) => {
            const next = await begin(info);
            log.push(`begun ${info.name}`);
            await readArchiveFile(path.join(from, info.name), next, { inPlace: true });
          }),
        ]);
      },
    };
  }

  test('pg_wal.tar and an in-place tablespace archive begin only once base.tar is extracted; the restore is whole', async () => {
    const root = await makeDir();
    for (const inPlace of [false, true]) {
      const backup = path.join(root, `backup-${inPlace}`);
      await craftTarBackup(backup, { tablespaces: new Map([[16384, '/old/ts1']]), withMap: !inPlace });
      const dataDir = path.join(root, `data-${inPlace}`);
      const log: string[] = [];
      await restoreBackup(await eagerSource(backup, log), {
        sync: false, owner: owner.name, dataDir, mode: 'none',
        ...(inPlace ? {} : { tablespaceMappings: [{ oldDir: '/old/ts1', newDir: path.join(root, 'ts1') }] }),
      });
      const baseDone = log.indexOf('finalized base.tar');
      assert.ok(baseDone >= 0 && log.indexOf('begun pg_wal.tar') > baseDone, log.join(', '));
      if (inPlace) assert.ok(log.indexOf('begun 16384.tar') > baseDone, log.join(', '));
      assert.ok(existsSync(path.join(dataDir, 'pg_wal', '000000010000000000000002')));
      const tablespace = inPlace ? path.join(dataDir, 'pg_tblspc', '16384') : path.join(root, 'ts1');
      assert.equal(await readFile(path.join(tablespace, 'PG_15_202209061', '1', '1234'), 'utf8'), 'relation of tablespace 16384\n');
    }
  });
});

describe('restoreBackup: refusals and failures leave nothing behind', () => {
  async function expectNothingLeft(root: string, keep: string[]): Promise<void> {
    assert.deepEqual((await readdir(root)).sort(), keep.sort());
  }

  test('no recovery mode, -T matching nothing, overlapping targets, allowedRoots', async () => {
    const root = await makeDir();
    const backup = path.join(root, 'backup');
    await craftTarBackup(backup, { tablespaces: new Map([[16384, '/old/ts1']]) });
    const dataDir = path.join(root, 'data');
    await assert.rejects(restore(backup, { dataDir, mode: '' as never }), (err: unknown) =>
      err instanceof InvalidOptionError && err.format() === 'no recovery mode given\nHINT: Choose one with --mode standby, --mode promote or --mode none.');
    await assert.rejects(restore(backup, { dataDir, mode: 'none', tablespaceMappings: [{ oldDir: '/old/tsX', newDir: path.join(root, 'x') }] }),
      { message: 'tablespace mapping "/old/tsX" matches no tablespace in the backup' });
    await assert.rejects(restore(backup, { dataDir, mode: 'none', walDir: path.join(dataDir, 'wal') }),
      { message: `WAL directory "${path.join(dataDir, 'wal')}" lies within data directory "${dataDir}"` });
    await assert.rejects(restore(backup, { dataDir, mode: 'none', allowedRoots: [path.join(root, 'allowed')] }), (err: unknown) => err instanceof NotAllowedError);
    // Default location of the tablespace (/old/ts1) outside allowedRoots:
    await assert.rejects(restore(backup, { dataDir: path.join(root, 'allowed', 'data'), mode: 'none', allowedRoots: [path.join(root, 'allowed')] }),
      (err: unknown) => err instanceof NotAllowedError && err.message === 'directory of tablespace 16384 "/old/ts1" is outside the directories this agent may write to');
    await assert.rejects(restore(backup, { dataDir: path.join(backup, 'data'), mode: 'none' }),
      { message: `data directory "${path.join(backup, 'data')}" overlaps the backup "${backup}"` });
    await assert.rejects(restore(backup, { dataDir, mode: 'promote', primaryConninfo: 'host=x' }),
      { message: '--primary-conninfo is only allowed with --mode standby' });
    await expectNothingLeft(root, ['backup']);
  });

  test('a non-empty tablespace target found while the base archive streams: staging removed', async () => {
    const root = await makeDir();
    const backup = path.join(root, 'backup');
    const original = path.join(root, 'busy-ts');
    await mkdir(original);
    await writeFile(path.join(original, 'x'), '');
    await craftTarBackup(backup, { tablespaces: new Map([[16384, original]]) });
    await assert.rejects(restore(backup, { dataDir: path.join(root, 'data'), mode: 'none' }), (err: unknown) =>
      err instanceof DirectoryNotEmptyError &&
      err.format() === `original location of tablespace 16384 "${original}" exists but is not empty\nHINT: It may belong to the instance the backup was taken from; restore the tablespace elsewhere with -T "${original}=NEWDIR".`);
    await expectNothingLeft(root, ['backup', 'busy-ts']);
  });

  test('a damaged tablespace archive while the base archive streams beside it, or a damaged base archive while the tablespace archive waits: nothing left', async () => {
    const root = await makeDir();
    for (const damaged of ['16384.tar', 'base.tar']) {
      const backup = path.join(root, 'backup');
      await craftTarBackup(backup, { tablespaces: new Map([[16384, '/old/ts1']]) });
      // A tar header whose checksum is wrong, where the archive's first member should be.
      await writeFile(path.join(backup, damaged), Buffer.alloc(1024, 0x41));
      await assert.rejects(restore(backup, { dataDir: path.join(root, 'data'), mode: 'none', tablespaceMappings: [{ oldDir: '/old/ts1', newDir: path.join(root, 'ts1') }] }),
        (err: unknown) => err instanceof ArchiveFormatError && err.message.includes(`"${damaged}"`), damaged);
      await expectNothingLeft(root, ['backup']);
      const { rm } = await import('node:fs/promises');
      await rm(backup, { recursive: true });
    }
  });

  test('a tablespace archive missing, no backup_label, an escaping member', async () => {
    const root = await makeDir();
    const backup = path.join(root, 'backup');
    await craftTarBackup(backup, { tablespaces: new Map([[16384, '/old/ts1']]) });
    const { rm } = await import('node:fs/promises');
    await rm(path.join(backup, '16384.tar'));
    await assert.rejects(restore(backup, { dataDir: path.join(root, 'data'), mode: 'none', tablespaceMappings: [{ oldDir: '/old/ts1', newDir: path.join(root, 'ts1') }] }),
      (err: unknown) => err instanceof ArchiveFormatError && err.message === 'the backup has no archive for tablespace 16384 ("/old/ts1")');
    await expectNothingLeft(root, ['backup']);

    const nolabel = path.join(root, 'nolabel');
    await mkdir(nolabel);
    await writeFile(path.join(nolabel, 'base.tar'), await makeTar([{ name: 'PG_VERSION', body: '15\n' }]));
    await assert.rejects(restore(nolabel, { dataDir: path.join(root, 'data'), mode: 'none' }), { message: 'the backup has no backup_label' });
    await expectNothingLeft(root, ['backup', 'nolabel']);

    const evil = path.join(root, 'evil');
    await mkdir(evil);
    await writeFile(path.join(evil, 'base.tar'), await makeTar([{ name: 'backup_label', body: BACKUP_LABEL }, { name: 'a/../../../x', body: 'x' }]));
    await assert.rejects(restore(evil, { dataDir: path.join(root, 'data'), mode: 'none' }), (err: unknown) =>
      err instanceof UnsafePathError && err.message === 'archive member "a/../../../x" has a ".." component in its name');
    await expectNothingLeft(root, ['backup', 'evil', 'nolabel']);
  });

  test('a symbolic link in the base archive other than pg_tblspc/<oid> is refused before anything writes through it; nothing is created outside', async () => {
    const cases: Array<[string, 'promote' | 'standby' | 'none', string | null]> = [
      ['recovery.signal', 'promote', null],
      ['standby.signal', 'standby', 'host=primary'],
      ['postgresql.auto.conf', 'standby', 'host=primary'],
      ['log', 'none', null],
      ['pg_wal', 'promote', null],
      ['pg_tblspc', 'none', null],
    ];
    for (const [name, mode, primaryConninfo] of cases) {
      const root = await makeDir();
      const outside = path.join(root, 'outside');
      await mkdir(outside);
      await writeFile(path.join(outside, 'root-only'), 'root only\n', { mode: 0o600 });
      const backup = path.join(root, 'backup');
      await craftTarBackup(backup, {
        omit: [name],
        extra: [{ name, type: 'symlink', linkname: name === 'postgresql.auto.conf' ? path.join(outside, 'root-only') : path.join(outside, 'victim') }],
      });
      await assert.rejects(restore(backup, { dataDir: path.join(root, 'data'), mode, primaryConninfo }), (err: unknown) => {
        assert.ok(err instanceof UnsafePathError, `${name}: ${String(err)}`);
        assert.equal(err.message, `archive member "${name}" is a symbolic link outside pg_tblspc`, name);
        return true;
      });
      await expectNothingLeft(root, ['backup', 'outside']);
      assert.deepEqual(await readdir(outside), ['root-only'], name);
      assert.equal(await readFile(path.join(outside, 'root-only'), 'utf8'), 'root only\n', name);
    }
  });

  test('a --primary-conninfo with a newline is refused before anything is written', async () => {
    const root = await makeDir();
    const backup = path.join(root, 'backup');
    await craftTarBackup(backup);
    await assert.rejects(restore(backup, { dataDir: path.join(root, 'data'), mode: 'standby', primaryConninfo: "host=x\nrestore_command = 'touch /tmp/x'" }),
      (err: unknown) => err instanceof InvalidOptionError &&
        err.message === '--primary-conninfo contains a control character (newline), which postgresql.auto.conf cannot hold');
    await expectNothingLeft(root, ['backup']);
  });

  test('a data directory target that is a symbolic link to an empty directory is restored through it', async () => {
    const root = await makeDir();
    const backup = path.join(root, 'backup');
    await craftTarBackup(backup);
    await mkdir(path.join(root, 'real'));
    await symlink(path.join(root, 'real'), path.join(root, 'link'));
    const report = await restore(backup, { dataDir: path.join(root, 'link'), mode: 'none' });
    assert.equal(report.dataDir, path.join(root, 'real'));
    assert.ok(existsSync(path.join(root, 'real', 'PG_VERSION')));
    assert.ok((await lstat(path.join(root, 'link'))).isSymbolicLink());
  });
});

describe('restoreBackup: verification against backup_manifest', () => {
  async function backupWithManifest(dir: string, corrupt?: (files: Map<string, Buffer>) => void, walRanges: Array<{ timeline: number; startLsn: bigint; endLsn: bigint }> = []): Promise<void> {
    const files = new Map<string, Buffer>([
      ['backup_label', Buffer.from(BACKUP_LABEL)],
      ['PG_VERSION', Buffer.from('15\n')],
      ['base/1/1259', Buffer.alloc(16384, 9)],
    ]);
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, 'backup_manifest'), writeManifest({
      version: 1, systemIdentifier: null, walRanges,
      files: [...files].map(([p, data]) => ({ path: p, size: data.length, lastModified: null, checksumAlgorithm: 'CRC32C' as const, checksum: computeChecksum('CRC32C', data) })),
    }));
    corrupt?.(files);
    await writeFile(path.join(dir, 'base.tar'), await makeTar([...files].map(([name, body]) => ({ name, body }))));
  }

  test('a matching backup is verified file by file', async () => {
    const root = await makeDir();
    await backupWithManifest(path.join(root, 'backup'));
    const report = await restore(path.join(root, 'backup'), { dataDir: path.join(root, 'data'), mode: 'none' });
    assert.deepEqual(report.verify, { verified: true, filesChecked: 3, checksumAlgorithm: 'CRC32C', walSegmentsChecked: 0 });
  });

  test('a checksum mismatch, a size mismatch, a missing file and an extra file each fail; nothing is left', async () => {
    const cases: Array<[string, (f: Map<string, Buffer>) => void, string]> = [
      ['checksum', (f) => { (f.get('base/1/1259') as Buffer)[100] = 0; }, 'checksum mismatch for file "base/1/1259" in archive "base.tar"'],
      ['size', (f) => { f.set('base/1/1259', Buffer.alloc(100, 9)); }, 'file "base/1/1259" has size 100 in archive "base.tar" but size 16384 in the manifest'],
      ['missing', (f) => { f.delete('base/1/1259'); }, '"base/1/1259" is present in the manifest but not on disk'],
      ['extra', (f) => { f.set('base/1/9999', Buffer.from('?')); }, 'file "base/1/9999" is present in archive "base.tar" but not in the manifest'],
    ];
    for (const [label, corrupt, message] of cases) {
      const root = await makeDir();
      await backupWithManifest(path.join(root, 'backup'), corrupt);
      await assert.rejects(restore(path.join(root, 'backup'), { dataDir: path.join(root, 'data'), mode: 'none' }), (err: unknown) => {
        assert.ok(err instanceof VerifyError, `${label}: ${String(err)}`);
        assert.equal(err.message, message, label);
        return true;
      });
      assert.deepEqual(await readdir(root), ['backup'], label);
    }
  });

  test('WAL the manifest needs but the backup lacks: an error for promote, a warning otherwise', async () => {
    const root = await makeDir();
    await backupWithManifest(path.join(root, 'backup'), undefined, [{ timeline: 1, startLsn: 0x2000028n, endLsn: 0x2000100n }]);
    await assert.rejects(restore(path.join(root, 'backup'), { dataDir: path.join(root, 'data'), mode: 'promote' }), (err: unknown) => {
      assert.ok(err instanceof VerifyError);
      assert.equal(err.format(), 'the backup\'s WAL is not usable: WAL segment "000000010000000000000002" is missing from "pg_wal"\nHINT: A promoted copy needs the WAL of the backup to become consistent; take the backup with -X stream or -X fetch.');
      return true;
    });
    assert.deepEqual(await readdir(root), ['backup']);
    await writeFile(path.join(root, 'backup', 'postgresql.auto.conf'), '');
    const report = await restore(path.join(root, 'backup'), { dataDir: path.join(root, 'data'), mode: 'none' });
    assert.deepEqual(report.warnings, ['the backup\'s WAL is incomplete (WAL segment "000000010000000000000002" is missing from "pg_wal"); the copy needs it from its primary or a WAL archive']);
  });

  test('--no-verify (verify: false) skips the manifest', async () => {
    const root = await makeDir();
    await backupWithManifest(path.join(root, 'backup'), (f) => { (f.get('base/1/1259') as Buffer)[0] = 0; });
    const report = await restore(path.join(root, 'backup'), { dataDir: path.join(root, 'data'), mode: 'none', verify: false });
    assert.equal(report.verify.verified, false);
  });
});

describe('restoreBackup: a backup copied from a running server', () => {
  test('postmaster.pid and postmaster.opts at the top level are never restored (a warning names each)', async () => {
    const root = await makeDir();
    await craftTarBackup(path.join(root, 'backup'), {
      extra: [
        { name: 'postmaster.pid', body: `${process.pid}\n/srv/pg/source\n1700000000\n5432\n/tmp\n` },
        { name: 'postmaster.opts', body: '/usr/lib/postgresql/15/bin/postgres "-D" "/srv/pg/source"\n' },
        { name: 'base', type: 'directory' },
        { name: 'base/postmaster.opts', body: 'not the server\'s: kept\n' },
      ],
    });
    const dataDir = path.join(root, 'data');
    const report = await restore(path.join(root, 'backup'), { dataDir, mode: 'none' });
    assert.ok(!existsSync(path.join(dataDir, 'postmaster.pid')));
    assert.ok(!existsSync(path.join(dataDir, 'postmaster.opts')));
    assert.ok(existsSync(path.join(dataDir, 'base', 'postmaster.opts')));
    assert.deepEqual(report.warnings.slice(1), [
      'the backup contains "postmaster.pid" (of the server it was copied from); it was not restored',
      'the backup contains "postmaster.opts" (of the server it was copied from); it was not restored',
    ]);
  });
});

/**
 * Cancelled after the commit, while the (fake) server starts. The fake pg_ctl runs as the
 * owner: `start` writes postmaster.opts as PostgreSQL does and launches the fake postgres in the
 * data directory, then hangs until it is killed; `stop` kills the pid in postmaster.pid. The
 * fake postgres writes its pid to `<run>/pids`, waits DELAY seconds, then writes postmaster.pid.
 */
describe('restoreBackup: a cancelled start is undone', () => {
  async function fakeInstallation(run: string, options: { delay: number; startScript?: string }): Promise<string> {
    const bin = path.join(run, 'bin');
    await mkdir(bin, { recursive: true, mode: 0o755 });
    await writeFile(path.join(run, 'calls'), '');
    await writeFile(path.join(run, 'pids'), '');
    await chmod(path.join(run, 'calls'), 0o666);
    await chmod(path.join(run, 'pids'), 0o666);
    await writeFile(path.join(bin, 'postgres'), `#!/bin/sh
if [ "$1" = --version ]; then echo "postgres (PostgreSQL) 15.4"; exit 0; fi
echo $$ >> '${run}/pids'
sleep ${options.delay}
printf '%s\\n%s\\n0\\n5999\\n/tmp\\n' $$ "$PWD" > postmaster.pid
while :; do sleep 0.1; done
`);
    await writeFile(path.join(bin, 'pg_ctl'), `#!/bin/sh
echo "$1" >> '${run}/calls'
case "$1" in
start)
  D="$6"
  echo "postgres -D $D" > "$D/postmaster.opts"
  ${options.startScript ?? `(cd "$D" && '${bin}/postgres' </dev/null >/dev/null 2>&1 &)`}
  exec sleep 60 ;;
stop)
  D="$8"
  P=$(head -n 1 "$D/postmaster.pid")
  kill "$P"
  while kill -0 "$P" 2>/dev/null && [ "$(cut -d' ' -f3 /proc/$P/stat 2>/dev/null)" != Z ]; do sleep 0.05; done
  rm -f "$D/postmaster.pid"
  exit 0 ;;
esac
exit 1
`);
    await chmod(path.join(bin, 'postgres'), 0o755);
    await chmod(path.join(bin, 'pg_ctl'), 0o755);
    return bin;
  }

  /** Restores with start, cancelling `afterMs` after the start phase began; the error thrown. */
  async function cancelledStart(backup: string, dataDir: string, bin: string, afterMs: number): Promise<unknown> {
    const controller = new AbortController();
    return restore(backup, {
      dataDir, mode: 'none', start: true, pgBin: [bin], port: 5999, signal: controller.signal,
      onEvent: (e) => {
        if (e.type === 'progress' && e.phase === 'start') setTimeout(() => controller.abort(), afterMs);
      },
    }).then(() => assert.fail('the restore was not cancelled'), (err: unknown) => err);
  }

  async function killAll(run: string): Promise<void> {
    for (const pid of (await readFile(path.join(run, 'pids'), 'utf8')).split('\n').filter(Boolean).map(Number)) {
      try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
    }
  }

  test('into a mount point: everything the start wrote is removed too (postmaster.opts, log/), the mount point stays', async (t) => {
    const root = await makeDir();
    const run = path.join(root, 'run');
    const bin = await fakeInstallation(run, { delay: 0 });
    await craftTarBackup(path.join(root, 'backup'));
    const mnt = path.join(root, 'mnt');
    await mkdir(mnt);
    if (spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', mnt]).status !== 0) {
      t.skip('cannot mount a tmpfs here');
      return;
    }
    try {
      const err = await cancelledStart(path.join(root, 'backup'), mnt, bin, 500);
      assert.ok(err instanceof CancelledError, String(err));
      assert.equal(err.message, 'the restore was cancelled');
      assert.equal(err.hint, undefined);
      assert.deepEqual(await readdir(mnt), []);
      assert.deepEqual((await readFile(path.join(run, 'calls'), 'utf8')).split('\n').filter(Boolean), ['start', 'stop']);
      // Restoring there again works: nothing is in the way.
      const report = await restore(path.join(root, 'backup'), { dataDir: mnt, mode: 'none' });
      assert.equal(report.dataDir, mnt);
    } finally {
      await killAll(run);
      spawnSync('umount', ['-l', mnt]);
    }
  });

  test('a postmaster that writes its pid file only after pg_ctl was killed is waited for and stopped', async () => {
    const root = await makeDir();
    const run = path.join(root, 'run');
    const bin = await fakeInstallation(run, { delay: 2 });
    await craftTarBackup(path.join(root, 'backup'));
    const dataDir = path.join(root, 'data');
    try {
      const err = await cancelledStart(path.join(root, 'backup'), dataDir, bin, 200);
      assert.ok(err instanceof CancelledError, String(err));
      assert.equal(err.message, 'the restore was cancelled');
      assert.deepEqual(await readdir(root), ['backup', 'run']);
      assert.deepEqual((await readFile(path.join(run, 'calls'), 'utf8')).split('\n').filter(Boolean), ['start', 'stop']);
      const pids = (await readFile(path.join(run, 'pids'), 'utf8')).split('\n').filter(Boolean).map(Number);
      assert.equal(pids.length, 1);
      assert.equal(processAlive(pids[0] as number), false, 'the postmaster was stopped');
    } finally {
      await killAll(run);
    }
  });

  test('a postmaster.pid the start did not write is not acted on: its process is not stopped', async () => {
    const root = await makeDir();
    const run = path.join(root, 'run');
    // An unrelated live process, named in an old pid file that the "start" leaves behind.
    const other = spawn('sleep', ['60'], { stdio: 'ignore', cwd: root });
    try {
      const bin = await fakeInstallation(run, {
        delay: 0,
        startScript: `printf '%s\\n%s\\n0\\n5432\\n/tmp\\n' ${String(other.pid)} /srv/pg/source > "$D/postmaster.pid"; touch -d @1000000000 "$D/postmaster.pid"`,
      });
      await craftTarBackup(path.join(root, 'backup'));
      const dataDir = path.join(root, 'data');
      const err = await cancelledStart(path.join(root, 'backup'), dataDir, bin, 200);
      assert.ok(err instanceof CancelledError, String(err));
      assert.equal(err.message, 'the restore was cancelled');
      assert.deepEqual((await readFile(path.join(run, 'calls'), 'utf8')).split('\n').filter(Boolean), ['start']);
      assert.equal(processAlive(other.pid as number), true, 'the unrelated process still runs');
      assert.deepEqual(await readdir(root), ['backup', 'run']);
    } finally {
      other.kill('SIGKILL');
    }
  });

  test('an undo that fails names what it left (never "nothing is left")', async () => {
    const root = await makeDir();
    const run = path.join(root, 'run');
    const bin = await fakeInstallation(run, { delay: 0 });
    await craftTarBackup(path.join(root, 'backup'));
    const dataDir = path.join(root, 'data');
    const controller = new AbortController();
    // A file system mounted inside the restored directory: it cannot be removed (EBUSY).
    const busy = path.join(dataDir, 'log');
    let mounted = false;
    try {
      const err = await restore(path.join(root, 'backup'), {
        dataDir, mode: 'none', start: true, pgBin: [bin], port: 5999, signal: controller.signal,
        onEvent: (e) => {
          if (e.type !== 'progress' || e.phase !== 'start') return;
          setTimeout(() => {
            mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', busy]).status === 0;
            controller.abort();
          }, 300);
        },
      }).then(() => assert.fail('the restore was not cancelled'), (e: unknown) => e);
      if (!mounted) return; // no mounting here: nothing to show
      assert.ok(err instanceof CancelledError, String(err));
      assert.match(err.message, new RegExp(`^the restore into "${dataDir}" was cancelled, and undoing it failed: could not remove directory "${root}/\\.pgfleet-staging\\.data\\.\\d+\\.[0-9a-f]{8}": `));
      assert.match(err.hint ?? '', new RegExp(`^Left behind: "${root}/\\.pgfleet-staging\\.data\\.\\d+\\.[0-9a-f]{8}"; remove it by hand \\(a mount point itself stays\\) before restoring there again\\.$`));
    } finally {
      await killAll(run);
      if (mounted) {
        const staged = (await readdir(root)).filter((n) => n.startsWith('.pgfleet-staging.'));
        for (const n of staged) spawnSync('umount', ['-l', path.join(root, n, 'log')]);
        spawnSync('umount', ['-l', busy]);
      }
    }
  });
});
