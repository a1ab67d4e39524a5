// pgfleet-agent restore refuses or undoes what would damage data, black box, on PostgreSQL 15:
//  - a non-empty data directory or tablespace target is refused, with a HINT, and left as it
//    was; so is a tablespace's ORIGINAL location when no -T moves it (the source's, here);
//  - a corrupted archive is detected (checksum against backup_manifest) before anything is
//    started, and nothing is left behind; so is a damaged WAL record for --mode promote
//    (standby and none only warn: the copy may get the WAL from a primary or an archive);
//  - archive members that escape their root ("../x", absolute names, a symbolic link anywhere
//    but pg_tblspc/<oid>) are rejected with nothing written outside the target;
//  - a restore killed with SIGKILL leaves the target absent, its staging directory is clearly
//    named, and the next restore to the same target removes it and succeeds (then starts);
//  - a start that fails after the restore (port in use) says why, with the log's last lines;
//  - a backup of a cluster with group access (initdb -g) is restored 0750 and starts; a target
//    the PostgreSQL OS user could not reach is refused before anything is written.

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import tarStream from 'tar-stream';
import { makeTempDir, startCluster, type TestCluster } from '../harness/index.js';
import { agentRestore, connectStarted, entriesOf, hashTree, spawnAgent, stopStartedInstance } from './agent-support.js';
import {
  assertSucceeded, damageMiddleRecord, describeRun, flipByte, formatLsn, runBaseBackup, tarMemberLocations,
} from './support/index.js';

const PROMOTE_LINE = (dir: string): string =>
  `pgfleet-agent: restoring into "${dir}" as a new primary (--mode promote): once consistent it leaves recovery and accepts writes on a new timeline\n`;

/** A hand-made "backup" whose base.tar holds the given members (after PG_VERSION and backup_label). */
async function craftBackup(dir: string, members: Array<{ name: string; type?: 'file' | 'symlink'; linkname?: string; body?: string }>): Promise<void> {
  await mkdir(dir, { recursive: true });
  const pack = tarStream.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (b: unknown) => chunks.push(b as Buffer));
  const done = new Promise<void>((resolve, reject) => {
    pack.on('end', resolve);
    pack.on('error', reject);
  });
  const add = (header: Partial<tarStream.Header> & { name: string }, body?: string): Promise<void> =>
    new Promise((resolve, reject) => pack.entry(header, body ?? '', (err) => (err ? reject(err) : resolve())));
  await add({ name: 'PG_VERSION', mode: 0o600 }, '15\n');
  await add({ name: 'backup_label', mode: 0o600 }, 'START WAL LOCATION: 0/2000028 (file 000000010000000000000002)\n');
  for (const m of members) {
    if (m.type === 'symlink') await add({ name: m.name, type: 'symlink', linkname: m.linkname ?? '', mode: 0o777 });
    else await add({ name: m.name, mode: 0o600 }, m.body ?? 'evil\n');
  }
  pack.finalize();
  await done;
  await writeFile(path.join(dir, 'base.tar'), Buffer.concat(chunks));
}

describe('pgfleet-agent restore: refusals and failures leave nothing behind', () => {
  let source: TestCluster;
  let backup: string;
  let work: string;

  before(async () => {
    source = await startCluster({ version: 15, tablespaces: 2, data: { rows: 100_000 }, settings: ['autovacuum = off'] });
    work = await makeTempDir('pgfleet-e2e-agent-safety');
    backup = path.join(work, 'backup');
    const args = ['-D', backup, '-F', 't', '-X', 'stream', '-c', 'fast', '-d', source.connectionString];
    assertSucceeded('pgfleet-basebackup', await runBaseBackup(args));
  });
  after(async () => {
    await source?.destroy();
  });

  const mappingsInto = (dir: string): Array<[string, string]> =>
    source.tablespaces.map((ts) => [ts.location, path.join(dir, `new-${ts.name}`)]);

  test('a non-empty data directory is refused and left untouched', async () => {
    const dir = path.join(work, 'nonempty');
    const dataDir = path.join(dir, 'data');
    await mkdir(dataDir, { recursive: true });
    await writeFile(path.join(dataDir, 'keep.txt'), 'precious\n');
    const parentBefore = await entriesOf(dir);
    const outcome = await agentRestore({ from: backup, dataDir, version: 15, mode: 'promote', mappings: mappingsInto(dir) });
    assert.equal(outcome.result.code, 70, describeRun('restore', outcome.result));
    assert.equal(outcome.result.stderr,
      PROMOTE_LINE(dataDir) +
      `pgfleet-agent: error: data directory "${dataDir}" exists but is not empty\n` +
      'HINT: Remove its contents or choose another directory; pgfleet-agent never restores over existing files.\n');
    // --json (as the helper runs it): the error as a document on stdout as well
    assert.deepEqual(JSON.parse(outcome.result.stdout), {
      error: {
        id: 'directory-not-empty', code: 70, message: `data directory "${dataDir}" exists but is not empty`,
        hint: 'Remove its contents or choose another directory; pgfleet-agent never restores over existing files.',
      },
    });
    assert.deepEqual(await entriesOf(dataDir), ['keep.txt']);
    assert.equal(await readFile(path.join(dataDir, 'keep.txt'), 'utf8'), 'precious\n');
    assert.deepEqual(await entriesOf(dir), parentBefore, 'no staging directory, no tablespace directory');
  });

  test('a non-empty tablespace target is refused; nothing is written', async () => {
    const dir = path.join(work, 'nonempty-ts');
    const dataDir = path.join(dir, 'data');
    const mappings = mappingsInto(dir);
    const busy = mappings[1]?.[1] as string;
    await mkdir(busy, { recursive: true });
    await writeFile(path.join(busy, 'other'), 'x');
    const outcome = await agentRestore({ from: backup, dataDir, version: 15, mode: 'promote', mappings });
    assert.equal(outcome.result.code, 70, describeRun('restore', outcome.result));
    assert.match(outcome.result.stderr, new RegExp(`error: tablespace directory "${busy}" exists but is not empty\\n`));
    assert.deepEqual(await entriesOf(dir), ['new-ts2']);
    assert.deepEqual(await entriesOf(busy), ['other']);
  });

  test('without -T, a tablespace whose original location is in use (the running source\'s) is refused', async () => {
    const dir = path.join(work, 'same-host');
    const dataDir = path.join(dir, 'data');
    await mkdir(dir);
    await source.query('CHECKPOINT');
    const before = await Promise.all(source.tablespaces.map((ts) => hashTree(ts.location)));
    const ts1 = source.tablespaces[0];
    assert.ok(ts1);
    // ts2 mapped, ts1 left at its original location
    const outcome = await agentRestore({ from: backup, dataDir, version: 15, mode: 'promote', mappings: mappingsInto(dir).slice(1) });
    assert.equal(outcome.result.code, 70, describeRun('restore', outcome.result));
    assert.equal(outcome.result.stderr,
      PROMOTE_LINE(dataDir) +
      `pgfleet-agent: error: original location of tablespace ${ts1.oid} "${ts1.location}" exists but is not empty\n` +
      `HINT: It may belong to the instance the backup was taken from; restore the tablespace elsewhere with -T "${ts1.location}=NEWDIR".\n`);
    assert.deepEqual(await entriesOf(dir), [], 'no data directory, no staging, no tablespace directory');
    await source.query('CHECKPOINT');
    assert.deepEqual(await Promise.all(source.tablespaces.map((ts) => hashTree(ts.location))), before);
  });

  test('a corrupted archive is detected before anything starts; nothing is left', async () => {
    const dir = path.join(work, 'corrupt');
    const copy = path.join(dir, 'backup');
    await mkdir(copy, { recursive: true });
    for (const name of await readdir(backup)) await copyFile(path.join(backup, name), path.join(copy, name));
    const members = await tarMemberLocations(path.join(copy, 'base.tar'));
    const victim = members.find((m) => /^base\/5\/[0-9]+$/.test(m.name) && m.size >= 8192);
    assert.ok(victim);
    await flipByte(path.join(copy, 'base.tar'), victim.dataOffset + 4000);
    const dataDir = path.join(dir, 'data');
    const outcome = await agentRestore({ from: copy, dataDir, version: 15, mode: 'promote', mappings: mappingsInto(dir), start: true });
    assert.equal(outcome.result.code, 81, describeRun('restore', outcome.result));
    assert.equal(outcome.result.stderr,
      PROMOTE_LINE(dataDir) +
      `pgfleet-agent: error: checksum mismatch for file "${victim.name}" in archive "base.tar"\n` +
      'HINT: The backup is damaged or incomplete; nothing was restored.\n');
    assert.deepEqual(await entriesOf(dir), ['backup'], 'no data directory, tablespace directory or staging left');
  });

  test('a WAL record damaged in pg_wal.tar: promote is refused before anything starts, nothing is left; --mode none only warns', async () => {
    const dir = path.join(work, 'wal-record');
    const copy = path.join(dir, 'backup');
    await mkdir(copy, { recursive: true });
    for (const name of await readdir(backup)) await copyFile(path.join(backup, name), path.join(copy, name));
    // Only the record's CRC covers this byte: pg_wal files are not in backup_manifest.
    const { lsn, segment } = await damageMiddleRecord(copy, 'pg_wal.tar');
    const problem = `WAL record at ${formatLsn(lsn)} in "${segment}" has an incorrect CRC`;

    const dataDir = path.join(dir, 'data');
    const outcome = await agentRestore({ from: copy, dataDir, version: 15, mode: 'promote', mappings: mappingsInto(dir), start: true });
    assert.equal(outcome.result.code, 81, describeRun('restore', outcome.result));
    assert.match(outcome.result.stderr, new RegExp(`error: the backup's WAL is not usable: [^\\n]*${problem.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\n`));
    assert.deepEqual(await entriesOf(dir), ['backup'], 'no data directory, tablespace directory or staging left');

    const filesOnly = await agentRestore({ from: copy, dataDir: path.join(dir, 'files'), version: 15, mode: 'none', mappings: mappingsInto(dir) });
    assert.equal(filesOnly.result.code, 0, describeRun('restore', filesOnly.result));
    assert.match(filesOnly.result.stderr, new RegExp(`warning: the backup's WAL is incomplete \\([^\\n]*${problem.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
  });

  test('members escaping the target ("../x", absolute, a symbolic link outside pg_tblspc) are rejected; nothing is written outside', async () => {
    const cases: Array<{ label: string; members: Parameters<typeof craftBackup>[1]; message: (dir: string) => string }> = [
      { label: 'dotdot', members: [{ name: '../x' }], message: () => 'archive member "../x" has a ".." component in its name' },
      { label: 'deep-dotdot', members: [{ name: 'base/../../x' }], message: () => 'archive member "base/../../x" has a ".." component in its name' },
      { label: 'absolute', members: [{ name: `${work}/x` }], message: () => `archive member "${work}/x" has an absolute name` },
      {
        // A base backup carries links only as pg_tblspc/<oid>: this one is refused itself,
        // before anything could be written through it.
        label: 'symlink',
        members: [{ name: 'evil', type: 'symlink', linkname: '..' }, { name: 'evil/x' }],
        message: () => 'archive member "evil" is a symbolic link outside pg_tblspc',
      },
    ];
    for (const c of cases) {
      const dir = path.join(work, `escape-${c.label}`);
      const from = path.join(dir, 'backup');
      await craftBackup(from, c.members);
      const dataDir = path.join(dir, 'data');
      const outcome = await agentRestore({ from, dataDir, version: 15, mode: 'none', extra: ['--no-verify'] });
      assert.equal(outcome.result.code, 61, `${c.label}: ${describeRun('restore', outcome.result)}`);
      assert.match(outcome.result.stderr, new RegExp(`error: ${c.message(dir).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\n`), c.label);
      assert.deepEqual(await entriesOf(dir), ['backup'], `${c.label}: nothing next to the target`);
      assert.ok(!existsSync(path.join(work, 'x')), `${c.label}: nothing above it`);
    }
  });

  test('a restore killed with SIGKILL leaves no target; the next restore cleans up and succeeds', async () => {
    const dir = path.join(work, 'killed');
    const dataDir = path.join(dir, 'data');
    await mkdir(dir);
    const mappings = mappingsInto(dir);
    const args = ['restore', '--from', backup, '-D', dataDir, '--mode', 'promote', '--owner', 'postgres', '--json'];
    for (const [o, n] of mappings) args.push('-T', `${o}=${n}`);
    const running = spawnAgent(args);
    // Kill once the data directory's staging directory has content.
    const deadline = Date.now() + 60_000;
    let staged: string[] = [];
    while (Date.now() < deadline) {
      staged = (await entriesOf(dir)).filter((n) => n.startsWith('.pgfleet-staging.data.'));
      if (staged.length === 1 && (await entriesOf(path.join(dir, staged[0] as string))).includes('base')) break;
      await new Promise((r) => setTimeout(r, 5));
    }
    running.killGroup();
    const killed = await running.result;
    assert.equal(killed.signal, 'SIGKILL', `killed while staging: ${describeRun('restore', killed)}`);
    assert.ok(!existsSync(dataDir), 'the target data directory does not exist');
    for (const [, n] of mappings) assert.ok(!existsSync(n), `tablespace target "${n}" does not exist`);
    assert.equal(staged.length, 1);
    assert.match(staged[0] as string, /^\.pgfleet-staging\.data\.[0-9]+\.[0-9a-f]{8}$/);

    const outcome = await agentRestore({ from: backup, dataDir, version: 15, mode: 'promote', mappings, start: true });
    assert.equal(outcome.result.code, 0, describeRun('second restore', outcome.result));
    assert.match(outcome.result.stderr, new RegExp(`warning: removed "${path.join(dir, staged[0] as string)}" left behind by an interrupted restore`));
    assert.deepEqual((await entriesOf(dir)).filter((n) => n.startsWith('.pgfleet-staging')), []);
    const client = await connectStarted(outcome.socketDir, outcome.port);
    try {
      const r = await client.query<{ n: number }>('SELECT count(*)::int AS n FROM t_ts2');
      assert.equal(r.rows[0]?.n, 100_001);
    } finally {
      await client.end();
    }
    await stopStartedInstance(dataDir);
  });

  test('a start that fails (port in use) is reported with the log and a HINT; the restored files stay', async () => {
    const dir = path.join(work, 'port-taken');
    const dataDir = path.join(dir, 'data');
    const outcome = await agentRestore({
      from: backup, dataDir, version: 15, mode: 'promote', mappings: mappingsInto(dir), extra: ['--start', '--port', String(source.port)],
    });
    assert.equal(outcome.result.code, 73, describeRun('restore', outcome.result));
    assert.match(outcome.result.stderr, new RegExp(`error: could not start the restored instance in "${dataDir}": pg_ctl exited with code 1\\n` +
      `HINT: Port ${source.port} is in use \\(the instance the backup came from\\?\\); choose another with --port\\. Its log ".*pgfleet-agent-start.log" ends with:\\n`));
    assert.match(outcome.result.stderr, /Address already in use/);
    assert.ok(existsSync(path.join(dataDir, 'PG_VERSION')), 'the restore itself is complete and kept');
  });

  test('a backup of a cluster with group access is restored 0750 and starts; a target its OS user cannot reach is refused first', async () => {
    const grouped = await startCluster({ version: 15, initdbArgs: ['-g'] });
    try {
      // pgfleet-basebackup (as root) creates "group" with the cluster's 0750: not searchable by others.
      const dir = path.join(work, 'group');
      const from = path.join(dir, 'backup');
      assertSucceeded('pgfleet-basebackup', await runBaseBackup(['-D', from, '-F', 't', '-X', 'stream', '-c', 'fast', '-d', grouped.connectionString]));
      assert.equal((await stat(dir)).mode & 0o007, 0);
      const unreachable = path.join(dir, 'data');
      const refused = await agentRestore({ from, dataDir: unreachable, version: 15, mode: 'promote', start: true });
      assert.equal(refused.result.code, 31, describeRun('restore', refused.result));
      assert.equal(refused.result.stderr,
        PROMOTE_LINE(unreachable) +
        `pgfleet-agent: error: OS user "postgres" cannot reach data directory "${unreachable}": directory "${dir}" is not searchable by it\n` +
        'HINT: Let "postgres" search that directory (chmod o+x or a group), or choose another location.\n');
      assert.deepEqual(await entriesOf(dir), ['backup']);

      const dataDir = path.join(work, 'group-data');
      const outcome = await agentRestore({ from, dataDir, version: 15, mode: 'promote', start: true });
      assert.equal(outcome.result.code, 0, describeRun('restore', outcome.result));
      assert.equal((await stat(dataDir)).mode & 0o777, 0o750);
      assert.equal(outcome.report?.instance?.recoveryState, 'primary');
      await stopStartedInstance(dataDir);
    } finally {
      await grouped.destroy();
    }
  });
});
