// The pgfleet-verifybackup command line, on a small synthetic plain backup (a real pg_control
// from initdb 15, one WAL segment with a valid first page holding the range's two records), in-process through main() and once
// as a real process.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import tarStream from 'tar-stream';
import { crc32c } from '@node-rs/crc32';
import { fileURLToPath } from 'node:url';
import { helpText, main, parseVerifyBackupArgs } from '../../src/bin/pgfleet-verifybackup.js';
import { ManifestWriter } from '../../src/manifest/writer.js';
import { computeChecksum } from '../../src/manifest/checksum.js';
import { PGFLEET_VERSION } from '../../src/version.js';

const HELP_TEXT = helpText('pgfleet-verifybackup');

const SEGMENT = '000000010000000000000002';
let dir: string;

function makeBackup(root: string): void {
  const fixture = JSON.parse(readFileSync(new URL('../manifest/fixtures/pg-control-13-18.json', import.meta.url), 'utf8')) as { files: Record<string, string> };
  const control = Buffer.alloc(8192);
  Buffer.from(fixture.files['15']!, 'hex').copy(control);
  const files: Record<string, Buffer> = {
    'PG_VERSION': Buffer.from('15\n'),
    'backup_label': Buffer.from('START WAL LOCATION: 0/2000028 (file 000000010000000000000002)\n'),
    'base/1/1259': Buffer.alloc(8192, 7),
    'base/1/1260': Buffer.alloc(100, 8),
    'global/pg_control': control,
  };
  const writer = new ManifestWriter();
  for (const [path, data] of Object.entries(files)) {
    mkdirSync(join(root, path, '..'), { recursive: true });
    writeFileSync(join(root, path), data);
    writer.addFile({ path, size: data.length, lastModified: new Date(0), checksumAlgorithm: 'CRC32C', checksum: computeChecksum('CRC32C', data) });
  }
  writeFileSync(join(root, 'backup_manifest'), writer.finish([{ timeline: 1, startLsn: 0x2000028n, endLsn: 0x2000100n }]));
  const segment = Buffer.alloc(16 * 1024 * 1024);
  segment.writeUInt16LE(0xD110, 0);
  segment.writeUInt16LE(0x0002, 2);
  segment.writeUInt32LE(1, 4);
  segment.writeBigUInt64LE(0x2000000n, 8);
  segment.writeBigUInt64LE(control.readBigUInt64LE(0), 24);
  segment.writeUInt32LE(16 * 1024 * 1024, 32);
  segment.writeUInt32LE(8192, 36);
  // the range's records: 0/2000028 (104 bytes) and 0/2000090 (112 bytes), ending at 0/2000100
  writeRecord(segment, 0x28, 104, 0x1FFFF80n);
  writeRecord(segment, 0x90, 112, 0x2000028n);
  mkdirSync(join(root, 'pg_wal', 'archive_status'), { recursive: true });
  writeFileSync(join(root, 'pg_wal', SEGMENT), segment);
}

/** A WAL record with a CRC computed as the server does (data first, then the header up to xl_crc). */
function writeRecord(segment: Buffer, offset: number, length: number, prev: bigint): void {
  const record = segment.subarray(offset, offset + length);
  record.writeUInt32LE(length, 0);
  record.writeBigUInt64LE(prev, 8);
  record[17] = 8; // RM_STANDBY_ID
  for (let i = 24; i < length; i++) record[i] = i;
  record.writeUInt32LE(crc32c(record.subarray(0, 20), crc32c(record.subarray(24))) >>> 0, 20);
}

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'verifybackup-cli-'));
  makeBackup(dir);
});

after(() => rmSync(dir, { recursive: true, force: true }));

async function cli(argv: string[], options: { isTty?: boolean; now?: () => number } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await main(argv, {
    stdout: (t) => { stdout += t; }, stderr: (t) => { stderr += t; }, isTty: options.isTty ?? false,
    ...(options.now ? { now: options.now } : {}),
  });
  return { code, stdout, stderr };
}

let saves = 0;

/** Replaces (or, with null, removes) a file for the duration of fn; the original waits outside the backup. */
async function withFile(path: string, data: Buffer | null, fn: () => Promise<void>): Promise<void> {
  const saved = `${dir}-saved-${saves++}`;
  renameSync(path, saved);
  try {
    if (data !== null) writeFileSync(path, data);
    await fn();
  } finally {
    rmSync(path, { force: true });
    renameSync(saved, path);
  }
}

test('a good backup: exit 0 and the success line, nothing with -q', async () => {
  assert.deepEqual(await cli([dir]), { code: 0, stdout: 'backup successfully verified\n', stderr: '' });
  assert.deepEqual(await cli(['-q', dir]), { code: 0, stdout: '', stderr: '' });
});

test('problems: one error line each, exit 1; -e stops at the first', async () => {
  await withFile(join(dir, 'base/1/1259'), Buffer.alloc(8192, 9), async () => {
    await withFile(join(dir, 'base/1/1260'), Buffer.alloc(101, 8), async () => {
      assert.deepEqual(await cli([dir]), {
        code: 1, stdout: '',
        stderr: 'pgfleet-verifybackup: error: "base/1/1260" has size 101 on disk but size 100 in the manifest\n' +
          'pgfleet-verifybackup: error: checksum mismatch for file "base/1/1259"\n',
      });
      assert.deepEqual(await cli(['--exit-on-error', dir]), {
        code: 1, stdout: '', stderr: 'pgfleet-verifybackup: error: "base/1/1260" has size 101 on disk but size 100 in the manifest\n',
      });
      assert.deepEqual(await cli(['-s', '-i', 'base/1/1260', dir]), { code: 0, stdout: 'backup successfully verified\n', stderr: '' });
      assert.deepEqual(await cli(['--skip-checksums', '--ignore=base/1/1260', '-q', dir]), { code: 0, stdout: '', stderr: '' });
      assert.equal((await cli(['-i', 'base/1/1260', '-i', 'base/1/1259', dir])).code, 0);
    });
  });
});

test('WAL: missing segment, -n, and -w/--wal-directory elsewhere', async () => {
  const moved = join(dir, '..', `${dir.split('/').pop()}-wal`);
  renameSync(join(dir, 'pg_wal'), moved);
  try {
    mkdirSync(join(dir, 'pg_wal'));
    assert.deepEqual(await cli([dir]), {
      code: 1, stdout: '', stderr: `pgfleet-verifybackup: error: WAL segment "${SEGMENT}" is missing from "${join(dir, 'pg_wal')}"\n`,
    });
    assert.equal((await cli(['-n', dir])).code, 0);
    assert.equal((await cli(['--no-parse-wal', dir])).code, 0);
    assert.equal((await cli(['-w', moved, dir])).code, 0);
    assert.equal((await cli([`--wal-path=${moved}`, dir])).code, 0);
    assert.equal((await cli(['--wal-directory', moved, dir])).code, 0);
  } finally {
    rmSync(join(dir, 'pg_wal'), { recursive: true });
    renameSync(moved, join(dir, 'pg_wal'));
  }
});

test('-m reads the manifest from elsewhere; a missing or damaged manifest is fatal', async () => {
  const elsewhere = join(dir, '..', `${dir.split('/').pop()}-manifest`);
  renameSync(join(dir, 'backup_manifest'), elsewhere);
  try {
    assert.deepEqual(await cli([dir]), {
      code: 1, stdout: '',
      stderr: `pgfleet-verifybackup: error: could not open file "${join(dir, 'backup_manifest')}": no such file or directory\n`,
    });
    assert.equal((await cli(['-m', elsewhere, dir])).code, 0);
    writeFileSync(join(dir, 'copy'), readFileSync(elsewhere).toString('utf8').replace('"Size": 100', '"Size": 101'));
    assert.deepEqual(await cli(['--manifest-path', join(dir, 'copy'), dir]), {
      code: 1, stdout: '',
      stderr: `pgfleet-verifybackup: error: could not parse backup manifest "${join(dir, 'copy')}": manifest checksum mismatch\n` +
        'pgfleet-verifybackup: hint: The manifest was changed or damaged after the backup was taken.\n',
    });
  } finally {
    rmSync(join(dir, 'copy'), { force: true });
    renameSync(elsewhere, join(dir, 'backup_manifest'));
  }
});

test('-P prints progress on stderr (at most once a second, and a final line)', async () => {
  let clock = 0;
  const r = await cli(['-P', dir], { now: () => (clock += 600) });
  assert.equal(r.code, 0);
  const lines = r.stderr.split('\n').filter(Boolean);
  assert.ok(lines.length >= 2);
  for (const line of lines) assert.match(line, /^ *\d+\/\d+ kB \(\d+%\) verified$/);
  assert.equal(lines.at(-1), '16/16 kB (100%) verified');
  const tty = await cli(['-P', dir], { isTty: true });
  assert.match(tty.stderr, /^ *0\/16 kB \(0%\) verified\r16\/16 kB \(100%\) verified\n$/);
});

test('WAL: one byte changed in a record is an error naming the record and its segment; -n skips it', async () => {
  const path = join(dir, 'pg_wal', SEGMENT);
  const segment = readFileSync(path);
  segment[0x90 + 50]! ^= 1;
  await withFile(path, segment, async () => {
    assert.deepEqual(await cli([dir]), {
      code: 1, stdout: '',
      stderr: `pgfleet-verifybackup: error: WAL record at 0/2000090 in "${SEGMENT}" has an incorrect CRC\n`,
    });
    assert.equal((await cli(['-n', dir])).code, 0);
    assert.equal((await cli(['--no-parse-wal', dir])).code, 0);
  });
});

test('usage errors: pg_verifybackup\'s texts, getopt\'s complaints, the hint where it gives one', async () => {
  const hint = 'pgfleet-verifybackup: hint: Try "pgfleet-verifybackup --help" for more information.\n';
  assert.deepEqual(await cli([]), { code: 1, stdout: '', stderr: `pgfleet-verifybackup: error: no backup directory specified\n${hint}` });
  assert.deepEqual(await cli(['a', 'b']), { code: 1, stdout: '', stderr: `pgfleet-verifybackup: error: too many command-line arguments (first is "b")\n${hint}` });
  assert.deepEqual(await cli(['-x', dir]), { code: 1, stdout: '', stderr: `pgfleet-verifybackup: invalid option -- 'x'\n${hint}` });
  assert.deepEqual(await cli([dir, '-m']), { code: 1, stdout: '', stderr: `pgfleet-verifybackup: option requires an argument -- 'm'\n${hint}` });
  assert.deepEqual(await cli([dir, '--help']), { code: 1, stdout: '', stderr: `pgfleet-verifybackup: unrecognized option '--help'\n${hint}` });
  assert.deepEqual(await cli(['-P', '-q', dir]), { code: 1, stdout: '', stderr: 'pgfleet-verifybackup: error: cannot specify both -P/--progress and -q/--quiet\n' });
  assert.deepEqual(await cli(['-F', 'x', dir]), { code: 1, stdout: '', stderr: 'pgfleet-verifybackup: error: invalid backup format "x", must be "plain" or "tar"\n' });
});

test('--help, -?, --version, -V (as the first argument only), named after argv[0]', async () => {
  for (const flag of ['--help', '-?']) assert.deepEqual(await cli([flag]), { code: 0, stdout: HELP_TEXT, stderr: '' });
  for (const flag of ['--version', '-V']) {
    assert.deepEqual(await cli([flag]), { code: 0, stdout: `pgfleet-verifybackup (PostgreSQL) 18.0 (pgfleet ${PGFLEET_VERSION})\n`, stderr: '' });
  }
  let stderr = '';
  const code = await main(['-Q'], { stdout: () => undefined, stderr: (t) => { stderr += t; }, isTty: false }, { name: 'pg_verifybackup', argv0: '/opt/pg_verifybackup' });
  assert.equal(code, 1);
  assert.equal(stderr, "/opt/pg_verifybackup: invalid option -- 'Q'\npg_verifybackup: hint: Try \"pg_verifybackup --help\" for more information.\n");
});

test('a plain backup without PG_VERSION: pg_verifybackup\'s complaints about the top level, then one line and a hint to use -F p instead of one line per file', async () => {
  await withFile(join(dir, 'PG_VERSION'), null, async () => {
    const r = await cli(['-n', dir]);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, [
      'pgfleet-verifybackup: error: file "backup_label" is not expected in a tar format backup',
      'pgfleet-verifybackup: error: file "base" is not a regular file',
      'pgfleet-verifybackup: error: file "global" is not a regular file',
      `pgfleet-verifybackup: error: 5 files of the backup manifest are in no tar archive of "${dir}"`,
      `pgfleet-verifybackup: hint: "${join(dir, 'PG_VERSION')}" is missing, so the backup was read as a tar-format backup; if it is a plain-format backup, verify it with -F p.`,
      '',
    ].join('\n'));
    const plain = await cli(['-F', 'p', '-n', dir]);
    assert.deepEqual(plain, { code: 1, stdout: '', stderr: 'pgfleet-verifybackup: error: "PG_VERSION" is present in the manifest but not on disk\n' });
  });
});

/** A tar file of the given members, written with tar-stream. */
async function writeTar(path: string, members: Array<{ name: string; data: Buffer }>): Promise<void> {
  const pack = tarStream.pack();
  for (const m of members) pack.entry({ name: m.name, size: m.data.length, mode: 0o600 }, m.data);
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack) chunks.push(c as Buffer);
  writeFileSync(path, Buffer.concat(chunks));
}

test('tar format: detected without PG_VERSION, forced with -F t', async () => {
  const tarDir = `${dir}-tar`;
  mkdirSync(tarDir);
  try {
    const members = ['PG_VERSION', 'backup_label', 'base/1/1259', 'base/1/1260', 'global/pg_control']
      .map((name) => ({ name, data: readFileSync(join(dir, name)) }));
    await writeTar(join(tarDir, 'base.tar'), members);
    await writeTar(join(tarDir, 'pg_wal.tar'), [{ name: SEGMENT, data: readFileSync(join(dir, 'pg_wal', SEGMENT)) }]);
    writeFileSync(join(tarDir, 'backup_manifest'), readFileSync(join(dir, 'backup_manifest')));
    assert.deepEqual(await cli([tarDir]), { code: 0, stdout: 'backup successfully verified\n', stderr: '' });
    const progress = await cli(['-P', '--format=t', tarDir]);
    assert.equal(progress.code, 0);
    assert.match(progress.stderr, /^(\s*\d+\/\d+ kB \(\d+%\) verified\n)*(\d+)\/\2 kB \(100%\) verified\n$/);
    await writeTar(join(tarDir, 'pg_wal.tar'), []);
    assert.deepEqual(await cli([tarDir]), {
      code: 1, stdout: '', stderr: `pgfleet-verifybackup: error: WAL segment "${SEGMENT}" is missing from "pg_wal.tar"\n`,
    });
    rmSync(join(tarDir, 'pg_wal.tar'));
    rmSync(join(tarDir, 'base.tar'));
    assert.equal((await cli(['-n', tarDir])).code, 1); // every file is missing now
    assert.deepEqual((await cli([tarDir])).stderr.split('\n').slice(-3), [
      'pgfleet-verifybackup: error: WAL archive not found',
      'pgfleet-verifybackup: hint: Specify the correct path using the option -w/--wal-path. Or you must use -n/--no-parse-wal when verifying a tar-format backup.',
      '',
    ]);
  } finally {
    rmSync(tarDir, { recursive: true, force: true });
  }
  const forced = await cli(['-F', 't', '-n', dir]);
  assert.equal(forced.code, 1);
  assert.match(forced.stderr, /^pgfleet-verifybackup: error: file "PG_VERSION" is not expected in a tar format backup$/m);
  assert.match(forced.stderr, /^pgfleet-verifybackup: error: file "base" is not a regular file$/m);
});

test('parseVerifyBackupArgs maps options onto verifyBackup options', () => {
  assert.deepEqual(parseVerifyBackupArgs(['-e', '-Fp', '-i', './a/', '-i', 'b', '-m', 'M/', '-n', '-s', '-w', 'W//x', 'D/./']), {
    action: 'verify', backupDir: 'D', quiet: false, progress: false,
    options: { ignore: ['./a/', 'b'], skipChecksums: true, checkWal: false, exitOnError: true, format: 'plain', manifestPath: 'M', walPath: 'W/x' },
  });
  assert.deepEqual(parseVerifyBackupArgs(['--format=tar', 'D']), {
    action: 'verify', backupDir: 'D', quiet: false, progress: false,
    options: { ignore: [], skipChecksums: false, checkWal: true, exitOnError: false, format: 'tar' },
  });
});

test('runs as a program: exit status and output', async () => {
  const bin = fileURLToPath(new URL('../../src/bin/pgfleet-verifybackup.ts', import.meta.url));
  const run = promisify(execFile);
  const ok = await run(process.execPath, ['--import', 'tsx', bin, dir]);
  assert.equal(ok.stdout, 'backup successfully verified\n');
  await withFile(join(dir, 'base/1/1260'), null, async () => {
    await assert.rejects(run(process.execPath, ['--import', 'tsx', bin, dir]), (err: { code: number; stderr: string }) => {
      assert.equal(err.code, 1);
      assert.equal(err.stderr, 'pgfleet-verifybackup: error: "base/1/1260" is present in the manifest but not on disk\n');
      return true;
    });
  });
  assert.match(readFileSync(bin, 'utf8'), /^#!\/usr\/bin\/env node\n/);
});
