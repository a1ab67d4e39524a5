// ArrivalVerifier on small hand-made archives: whatever the chunking of the arriving bytes and
// whatever the compression, finish() must report what verifyBackup reports for the same files
// stored in a directory (problems, in order, with their texts), without the archives being
// read again. The real-server cases (real archives, WAL, agents) are in cluster-backup.test.ts.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  ManifestWriter, computeChecksum, createCompressor, parseCompressionSpec, verifyBackup,
  type ChecksumAlgorithm, type Streamer, type VerifyProblem,
} from '../../src/index.js';
import { makeTempDir } from '../../../../test/harness/index.js';
import { ArrivalVerifier, WAL_SPOOL_DIR } from '../../src/verify/arrival-verifier.js';

const fixture = JSON.parse(readFileSync(new URL('../../../core/test/manifest/fixtures/pg-control-13-18.json', import.meta.url), 'utf8')) as
  { files: Record<string, string> };
const CONTROL = Buffer.alloc(8192);
Buffer.from(fixture.files['17']!, 'hex').copy(CONTROL);
const SYSID = CONTROL.readBigUInt64LE(0);

const BASE: Record<string, Buffer> = {
  'backup_label': Buffer.from('START WAL LOCATION: 0/2000028 (file 000000010000000000000002)\n'),
  'PG_VERSION': Buffer.from('17\n'),
  'base/1/1259': Buffer.from(Array.from({ length: 1500 }, (_, i) => (i * 7) & 0xff)),
  'global/pg_control': CONTROL,
};
const TABLESPACE: Record<string, Buffer> = { 'PG_17_202406281/5/16385': Buffer.alloc(700, 3) };

function tarHeader(name: string, size: number, type: '0' | '5'): Buffer {
  const h = Buffer.alloc(512);
  h.write(name, 0, 'latin1');
  h.write(`${(type === '5' ? 0o700 : 0o600).toString(8).padStart(7, '0')}\0`, 100, 'latin1');
  h.write('0000000\0', 108, 'latin1');
  h.write('0000000\0', 116, 'latin1');
  h.write(`${size.toString(8).padStart(11, '0')}\0`, 124, 'latin1');
  h.write(`${'0'.padStart(11, '0')}\0`, 136, 'latin1');
  h.write(type, 156, 'latin1');
  h.write('ustar\0' + '00', 257, 'latin1');
  h.fill(' ', 148, 156);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  return h;
}

function tar(files: Record<string, Buffer>, directories: string[] = []): Buffer {
  const parts: Buffer[] = directories.map((d) => tarHeader(`${d}/`, 0, '5'));
  for (const [name, data] of Object.entries(files)) {
    parts.push(tarHeader(name, data.length, '0'), data, Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

function manifest(algorithm: ChecksumAlgorithm = 'CRC32C'): Buffer {
  const w = new ManifestWriter({ systemIdentifier: SYSID });
  const all = { ...BASE, ...Object.fromEntries(Object.entries(TABLESPACE).map(([n, d]) => [`pg_tblspc/16384/${n}`, d])) };
  for (const [path, data] of Object.entries(all)) {
    w.addFile({ path, size: data.length, lastModified: new Date(0), checksumAlgorithm: algorithm, checksum: computeChecksum(algorithm, data) });
  }
  return w.finish([{ timeline: 1, startLsn: 0x2000028n, endLsn: 0x2000100n }]);
}

async function compress(method: 'none' | 'gzip' | 'lz4' | 'zstd', data: Buffer): Promise<Buffer> {
  if (method === 'none') return data;
  const out: Buffer[] = [];
  const collect: Streamer = { content: async (_m, c) => { out.push(Buffer.from(c)); }, finalize: async () => {}, dispose: async () => {} };
  const c = createCompressor(parseCompressionSpec(`client-${method}`), collect);
  await c.content(null, data, 'unknown');
  await c.finalize();
  await c.dispose();
  return Buffer.concat(out);
}

const SUFFIX = { none: '', gzip: '.gz', lz4: '.lz4', zstd: '.zst' } as const;

/** The backup's files as they arrive: name -> stored bytes (manifest last). */
async function backupFiles(options: { method?: keyof typeof SUFFIX; base?: Buffer; algorithm?: ChecksumAlgorithm } = {}): Promise<Array<[string, Buffer]>> {
  const method = options.method ?? 'none';
  return [
    [`base.tar${SUFFIX[method]}`, await compress(method, options.base ?? tar(BASE, ['global', 'base', 'base/1']))],
    [`16384.tar${SUFFIX[method]}`, await compress(method, tar(TABLESPACE, ['PG_17_202406281']))],
    ['backup_manifest', manifest(options.algorithm)],
  ];
}

const show = (problems: VerifyProblem[]) => problems.map((p) => `${p.kind}${p.fatal ? ' FATAL' : ''}: ${p.message}`);

const written = new Set<string>();

/**
 * How the caller passes its chunks: views of the stored bytes; one buffer that it overwrites as
 * soon as content() returns (allowed by default); fresh buffers handed over (inputOwned).
 */
type Feeding = 'views' | 'reused' | 'owned';

/**
 * Streams the files through an ArrivalVerifier in `chunk`-byte pieces and stores them in a new
 * directory (or in `reuse`, where the same files were stored before).
 */
async function arrive(files: Array<[string, Buffer]>, chunk: (index: number) => number, reuse?: string, feeding: Feeding = 'views') {
  const dir = reuse ?? await makeTempDir('arrival');
  const verifier = new ArrivalVerifier({ dir, algorithm: 'CRC32C' });
  for (const [name, data] of files) {
    const observer = verifier.observe(name, feeding === 'owned' ? { inputOwned: true } : {});
    let scratch = Buffer.alloc(0);
    let i = 0;
    for (let at = 0; at < data.length; i++) {
      const n = Math.max(1, chunk(i));
      const piece = data.subarray(at, at + n);
      if (feeding === 'reused') {
        if (scratch.length < piece.length) scratch = Buffer.alloc(piece.length);
        piece.copy(scratch);
        await observer.content(null, scratch.subarray(0, piece.length), 'unknown');
        scratch.fill(0xa5);
      } else {
        await observer.content(null, feeding === 'owned' ? Buffer.from(piece) : piece, 'unknown');
      }
      at += n;
    }
    await observer.finalize();
    if (reuse === undefined || !written.has(`${dir}/${name}`)) await writeFile(join(dir, name), data);
    written.add(`${dir}/${name}`);
  }
  return { dir, result: await verifier.finish() };
}

/** verifyBackup on the same files, stored. */
async function stored(files: Array<[string, Buffer]>): Promise<VerifyProblem[]> {
  const dir = await makeTempDir('arrival-oracle');
  for (const [name, data] of files) await writeFile(join(dir, name), data);
  return (await verifyBackup(dir, { format: 'tar' })).problems;
}

// No WAL is sent: every case also ends with the WAL problem, which verifyBackup gives too.
const NO_WAL = 'wal: WAL segment "000000010000000000000002" is missing from "base.tar"';

test('an intact backup: only the (absent) WAL is reported, as verifyBackup reports it, for every compression', async () => {
  for (const method of ['none', 'gzip', 'lz4', 'zstd'] as const) {
    const files = await backupFiles({ method });
    const { result } = await arrive(files, () => 4096);
    assert.deepEqual(show(result.problems), [NO_WAL.replace('"base.tar"', `"base.tar${SUFFIX[method]}"`)], method);
    assert.deepEqual(show(result.problems), show(await stored(files)), method);
    assert.equal(result.onArrival, true);
    assert.equal(result.filesMatched, 5);
  }
});

test('chunk boundaries do not matter: chunks of 1 to 1100 bytes, and cut at every byte from the last directory header to the header of PG_VERSION', async () => {
  const base = Buffer.from(tar(BASE, ['global', 'base', 'base/1']));
  // A changed byte in base/1/1259, so that the checksums really are compared.
  const at = base.indexOf(BASE['base/1/1259']!) + 700;
  base[at]! ^= 0x10;
  const files = await backupFiles({ base });
  const expected = ['checksum: checksum mismatch for file "base/1/1259" in archive "base.tar"', NO_WAL];
  assert.deepEqual(show(await stored(files)), expected);
  const dir = await makeTempDir('arrival');
  for (let n = 1; n <= 1100; n += n < 64 ? 1 : 37) {
    const { result } = await arrive(files, () => n, dir);
    assert.deepEqual(show(result.problems), expected, `chunks of ${n}`);
  }
  for (let cut = 1024; cut < 2600; cut += 1) {
    const { result } = await arrive(files, (i) => (i === 0 ? cut : 1 << 20), dir);
    assert.deepEqual(show(result.problems), expected, `cut at ${cut}`);
  }
  const gzipped = await backupFiles({ base, method: 'gzip' });
  for (const n of [1, 7, 100, 511, 512, 513, 3000]) {
    const { result } = await arrive(gzipped, () => n);
    assert.deepEqual(show(result.problems), [expected[0]!.replace('"base.tar"', '"base.tar.gz"'), NO_WAL.replace('"base.tar"', '"base.tar.gz"')]);
  }
});

test('a caller that reuses its buffer, and one that hands its buffers over (inputOwned), get verifyBackup\'s result, for every compression', async () => {
  const base = Buffer.from(tar(BASE, ['global', 'base', 'base/1']));
  base[base.indexOf(BASE['base/1/1259']!) + 700]! ^= 0x10;
  for (const method of ['none', 'gzip', 'lz4', 'zstd'] as const) {
    const files = await backupFiles({ base, method });
    const expected = show(await stored(files));
    assert.equal(expected.length, 2, method);
    for (const feeding of ['reused', 'owned'] as const) {
      for (const n of [300, 4096]) {
        const { result } = await arrive(files, () => n, undefined, feeding);
        assert.deepEqual(show(result.problems), expected, `${method}, ${feeding} ${n}-byte chunks`);
        assert.equal(result.filesMatched, 5, `${method}, ${feeding} ${n}-byte chunks`);
      }
    }
  }
});

test('missing, extra and resized members, and pg_control checks, in verifyBackup\'s words and order', async () => {
  const { 'base/1/1259': _gone, ...withoutRelation } = BASE;
  const cases: Array<[string, Record<string, Buffer>, string[]]> = [
    ['missing', withoutRelation, ['missing: "base/1/1259" is present in the manifest but not on disk', NO_WAL]],
    ['extra', { ...BASE, 'base/1/99999': Buffer.alloc(3) },
      ['extra: file "base/1/99999" is present in archive "base.tar" but not in the manifest', NO_WAL]],
    ['resized', { ...BASE, 'base/1/1259': Buffer.alloc(1501) },
      ['size: file "base/1/1259" has size 1501 in archive "base.tar" but size 1500 in the manifest', NO_WAL]],
    ['pg_control', { ...BASE, 'global/pg_control': Buffer.concat([CONTROL.subarray(0, 20), Buffer.from([CONTROL[20]! ^ 0xff]), CONTROL.subarray(21)]) },
      ['checksum: checksum mismatch for file "global/pg_control" in archive "base.tar"',
        'control-file FATAL: control file "global/pg_control" in archive "base.tar": CRC is incorrect']],
  ];
  for (const [label, members, expected] of cases) {
    for (const method of ['none', 'lz4'] as const) {
      const files = await backupFiles({ method, base: tar(members, ['global', 'base', 'base/1']) });
      const { result } = await arrive(files, () => 1000);
      const suffixed = expected.map((e) => e.replaceAll('"base.tar"', `"base.tar${SUFFIX[method]}"`));
      assert.deepEqual(show(result.problems), suffixed, `${label} ${method}`);
      assert.deepEqual(show(result.problems), show(await stored(files)), `${label} ${method}`);
    }
  }
});

test('a truncated or corrupt archive does not stop the transfer and is reported as verifyBackup reports it', async () => {
  const whole = tar(BASE, ['global', 'base', 'base/1']);
  for (const [label, base] of [['truncated', whole.subarray(0, 2600)], ['corrupt gzip', null]] as const) {
    let files = await backupFiles({ base: base ?? whole, method: base === null ? 'gzip' : 'none' });
    if (base === null) {
      const gz = Buffer.from(files[0]![1]);
      gz[gz.length - 6]! ^= 1; // gzip's CRC-32 trailer
      files = [[files[0]![0], gz], ...files.slice(1)];
    }
    const { result } = await arrive(files, () => 300);
    const expected = show(await stored(files));
    assert.match(expected[0] ?? '', /^io FATAL: could not read archive "base\.tar(\.gz)?": /, label);
    assert.deepEqual(show(result.problems), expected, label);
  }
});

test('a manifest with other checksums than were computed: verifyBackup reads the stored files instead', async () => {
  const files = await backupFiles({ algorithm: 'SHA256' });
  const { result } = await arrive(files, () => 4096);
  assert.equal(result.onArrival, false);
  assert.deepEqual(show(result.problems), show(await stored(files)));
  assert.deepEqual(show(result.problems), [NO_WAL]);
});

test('an invalid manifest throws as verifyBackup does', async () => {
  const files = await backupFiles();
  const manifestText = Buffer.from(files[2]![1]);
  manifestText[manifestText.length - 10]! ^= 1;
  const broken: Array<[string, Buffer]> = [files[0]!, files[1]!, ['backup_manifest', manifestText]];
  const dir = await makeTempDir('arrival-oracle');
  for (const [name, data] of broken) await writeFile(join(dir, name), data);
  const oracle = await verifyBackup(dir, { format: 'tar' }).then(() => null, (err: Error) => err.message.replace(dir, 'DIR'));
  assert.equal(oracle, 'could not parse backup manifest "DIR/backup_manifest": manifest checksum mismatch');
  await assert.rejects(arrive(broken, () => 4096), (err: Error) => /^could not parse backup manifest "\/.*\/backup_manifest": manifest checksum mismatch$/.test(err.message));
});

test('-X fetch: the WAL segments of base.tar are spooled as they pass, checked from there, and the spool removed', async () => {
  // A segment that is not one: the WAL check must read it from the spool and say so.
  const segment = Buffer.alloc(8192, 0);
  const base = tar({ ...BASE, 'pg_wal/000000010000000000000002': segment }, ['global', 'base', 'base/1', 'pg_wal']);
  const files = await backupFiles({ base });
  const { dir, result } = await arrive(files, () => 1000);
  const expected = show(await stored(files));
  assert.match(expected[0] ?? '', /000000010000000000000002/);
  assert.deepEqual(show(result.problems), expected);
  assert.equal((await readdir(dir)).includes(WAL_SPOOL_DIR), false);
});

test('an archive in the directory that was not observed is a bug (InternalError), never taken as verified', async () => {
  const files = await backupFiles();
  const dir = await makeTempDir('arrival');
  const verifier = new ArrivalVerifier({ dir, algorithm: 'CRC32C' });
  for (const [name, data] of files) await writeFile(join(dir, name), data);
  await assert.rejects(verifier.finish(), (err: Error) => {
    assert.equal(err.constructor.name, 'InternalError');
    assert.equal(err.message, `archive "16384.tar" in "${dir}" was not observed as it arrived`);
    return true;
  });
});
