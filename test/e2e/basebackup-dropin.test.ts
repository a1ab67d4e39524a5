// pgfleet-basebackup installed under PostgreSQL's name: a symlink `pg_basebackup` to the
// installed command (packages/core/bin/pgfleet-basebackup.js), run side by side with the
// system pg_basebackup 15, same arguments, same server (PostgreSQL 15 initialised with group
// access, initdb -g, one tablespace):
//   - `--version` read as barman reads it (parenthesised parts dropped, second word) and as
//     Patroni reads it (third word) gives a major version of at least 18, the newest server;
//   - more than 25 invalid invocations (getopt's complaints, pg_basebackup's cross-checks, and
//     refusals from the server: unknown targets, bad target details, unknown checksum
//     algorithms) give the same exit status and the same stderr, line for line, once the
//     directory of argv[0] (which getopt prints) is taken out;
//   - `-t server:DIR -X fetch -v` and `-t blackhole -X fetch -v`: same stderr (LSNs taken out),
//     the same files in DIR with the same modes (0750 directory, 0640 files), nothing written
//     locally; the server-side backup restores, starts and holds the data;
//   - group access: plain and tar backups have the same modes as pg_basebackup's, 0750
//     directories and 0640 files, backup_manifest included;
//   - `-S SLOT -X stream` with a slot created without reserved WAL: afterwards its restart_lsn
//     is set, as after pg_basebackup (which reports its flush position at once);
//   - `-P`: "waiting for checkpoint" first, archives counted from 0 while they arrive, and the
//     last line counts them all, for both tools;
//   - `-v` for `-F t -X fetch` and `-F p -X none`: the same lines in the same order, LSNs
//     taken out.

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, readdir, stat, symlink } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  REPO_ROOT,
  chownOne,
  makeTempDir,
  restoreTarByHand,
  startCluster,
  startRestored,
  versionsUnderTest,
  type RunResult,
  type TestCluster,
} from '../harness/index.js';
import {
  assertSucceeded,
  binaryAt,
  describeRun,
  referenceBaseBackupBinary,
  startTool,
  type ToolBinary,
} from './support/index.js';

const skip = !versionsUnderTest().includes(15) && 'PostgreSQL 15 not selected (PGFLEET_TEST_VERSIONS)';

/** Every path below `dir` with its permission bits, e.g. "0640 base.tar", sorted. */
async function modes(dir: string): Promise<string[]> {
  const out: string[] = [`${((await stat(dir)).mode & 0o777).toString(8).padStart(4, '0')} .`];
  const walk = async (rel: string): Promise<void> => {
    for (const entry of await readdir(path.join(dir, rel), { withFileTypes: true })) {
      const name = rel === '' ? entry.name : `${rel}/${entry.name}`;
      const st = await stat(path.join(dir, name)).catch(() => null);
      if (st === null || entry.isSymbolicLink()) continue;
      out.push(`${(st.mode & 0o777).toString(8).padStart(4, '0')} ${name}`);
      if (entry.isDirectory()) await walk(name);
    }
  };
  await walk('');
  return out.sort();
}

/** The -v lines with LSNs and the slot's pid taken out. */
function milestones(stderr: string, dir: string): string[] {
  return stderr
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => (dir === '' ? line : line.replaceAll(dir, '<dir>')).replace(/\b[0-9A-F]+\/[0-9A-F]+\b/g, '<lsn>').replace(/pg_basebackup_\d+/, 'pg_basebackup_<pid>'));
}

describe('pgfleet-basebackup installed as pg_basebackup, next to pg_basebackup 15', { skip }, () => {
  let cluster: TestCluster;
  let work: string;
  let ours: ToolBinary;
  const reference = referenceBaseBackupBinary();

  before(async () => {
    cluster = await startCluster({ version: 15, tablespaces: 1, data: true, initdbArgs: ['-g'], settings: ['autovacuum = off'] });
    work = await makeTempDir('pgfleet-e2e-dropin');
    await chownOne(work);
    const bin = path.join(work, 'bin');
    await mkdir(bin);
    await symlink(path.join(REPO_ROOT, 'packages', 'core', 'bin', 'pgfleet-basebackup.js'), path.join(bin, 'pg_basebackup'));
    ours = binaryAt(path.join(bin, 'pg_basebackup'));
  });
  after(async () => {
    await cluster?.destroy();
  });

  const run = (tool: ToolBinary, args: string[], cwd = work): Promise<RunResult> => startTool(tool, args, { cwd }).result;

  test('--version reads as major 18 or newer by barman\'s and Patroni\'s rules, and says pgfleet', async () => {
    const result = await run(ours, ['--version']);
    assert.equal(result.code, 0, describeRun('--version', result));
    assert.match(result.stdout, /^pg_basebackup \(PostgreSQL\) \S+ \(pgfleet \d+\.\d+\.\d+\)\n$/);
    const barman = result.stdout.trim().replace(/\s*\([^)]*\)/g, '').split(/\s+/)[1] ?? '';
    const patroni = /^\S+ \S+ (\d+(?:\.\d+)*)/.exec(result.stdout)?.[1] ?? '';
    for (const version of [barman, patroni]) {
      assert.match(version, /^\d+\.\d+$/);
      assert.ok(Number(version.split('.')[0]) >= 18, `${version} < 18`);
    }
    // The same rules on PostgreSQL's own line give its version (the rules are the real ones).
    const pg = await run(reference, ['--version']);
    assert.match(pg.stdout, /^pg_basebackup \(PostgreSQL\) 15\./);
    assert.match(pg.stdout.trim().replace(/\s*\([^)]*\)/g, '').split(/\s+/)[1] ?? '', /^15\.\d+$/);
  });

  test('invalid invocations: same exit status and the same stderr, apart from the directory of argv[0]', async () => {
    const connect = (): string[] => ['-d', cluster.connectionString];
    const invocations: string[][] = [
      [], ['-x'], ['--x'], ['--x=1'], ['-D'], ['--pgdata'], ['--pgd'], ['--no-sync=1'], ['--no'], ['--ver'], ['--p=1'],
      ['-vx'], ['-D', 'x', '--help'], ['-D', 'x', '-?'], ['-D', 'x', '-V'], ['--versio'], ['-D', 'x', 'extra'], ['--', '-D', 'x'],
      ['-D', 'x', '-F', 'x'], ['-D', 'x', '-X', 'x'], ['-D', 'x', '-c', 'x'], ['-D', 'x', '-r', '1'], ['-D', 'x', '-r', '0'],
      ['-D', 'x', '-r', '10x'], ['-D', 'x', '-r', 'abc'], ['-D', 'x', '-r', '5000000000'], ['-D', 'x', '-s', 'x'],
      ['-D', 'x', '-s', '99999999'], ['-D', 'x', '-Z', '10'], ['-D', 'x', '-T', 'a'], ['-D', 'x', '-T', 'a=b'],
      ['-D', 'x', '-T', '/a=b'], ['-D', 'x', '-T', '/a=/b=/c'], ['-D', 'x', '-S', 's', '-X', 'fetch'], ['-D', 'x', '-t', 'blackhole'],
      ['-t', 'blackhole'], ['-t', 'client', '-X', 'none'], ['-D', '-', '-F', 't'], ['-D', 'x', '--no-slot', '-S', 's'],
      ['-D', 'x', '-C'], ['-D', 'x', '-C', '--no-slot', '-S', 's'], ['-D', 'x', '--waldir', 'y', '-F', 't'], ['-D', 'x', '--waldir', 'y'],
      ['-D', 'x', '-P', '--no-estimate-size'], ['-D', 'x', '--no-manifest', '--manifest-checksums', 'sha256'],
      ['-D', 'x', '--no-manifest', '--manifest-force-encode'], ['-D', 'x', '-z'], ['-D', 'x', '-Z', 'client-gzip'],
      ['-D', 'x', '-F', 't', '-Z', 'lz4:9999'], ['-D', 'x', '-F', 't', '-Z', 'bogus'], ['-D', 'x', '-F', 't', '-Z', 'client-none:1'],
      ['-D', 'x', '-F', 'p', '-t', 'blackhole'], ['-t', 'blackhole', '-F', 't', '-X', 'none'], ['-t', 'blackhole', '-z', '-X', 'none', '-Z', 'client-gzip'],
      ['-t', 'blackhole', '--waldir', '/x', '-X', 'none'], ['-D', 'x', '-p', 'abc'], ['-D', 'x', '-p', '99999'],
      // Refused by the server, in its words.
      ['-t', 'server:rel', '-X', 'none'], ['-t', 'server', '-X', 'none'], ['-t', 'bogus', '-X', 'none'], ['-t', 'blackhole:x', '-X', 'none'],
      ['-t', `server:${cluster.dataDir}`, '-X', 'none'],
    ];
    const differences: string[] = [];
    for (const args of invocations) {
      const full = [...args, ...connect()];
      const pg = await run(reference, full);
      const mine = await run(ours, full);
      const normalise = (r: RunResult, argv0: string) => `exit ${String(r.code)}\n${r.stderr.replaceAll(`${path.dirname(argv0)}/`, '')}`;
      const expected = normalise(pg, reference.command);
      const actual = normalise(mine, ours.command);
      assert.notEqual(pg.code, 0, `pg_basebackup ${full.join(' ')} is an invalid invocation`);
      if (actual !== expected) differences.push(`pg_basebackup ${args.join(' ')}\n--- pg_basebackup 15:\n${expected}--- ours:\n${actual}`);
      assert.ok(!existsSync(path.join(work, 'x')), `${args.join(' ')} left "x" behind`);
    }
    assert.ok(invocations.length >= 25);
    assert.deepEqual(differences, []);
  });

  test('-t server:DIR and -t blackhole: same messages and files as pg_basebackup 15, nothing local; the server-side backup restores', async () => {
    const expected = await cluster.snapshot();
    const targets: Record<'ours' | 'pg', string> = { ours: path.join(work, 'srv-ours'), pg: path.join(work, 'srv-pg') };
    const results: Record<string, RunResult> = {};
    for (const [who, tool] of [['pg', reference], ['ours', ours]] as const) {
      const args = ['-t', `server:${targets[who]}`, '-X', 'fetch', '-c', 'fast', '-v', '-d', cluster.connectionString];
      results[who] = await run(tool, args);
      assertSucceeded(`${who}: ${args.join(' ')}`, results[who]);
    }
    assert.deepEqual(milestones(results.ours!.stderr, targets.ours), milestones(results.pg!.stderr, targets.pg));
    const pgModes = await modes(targets.pg);
    assert.ok(['0750 .', '0640 backup_manifest', '0640 base.tar'].every((l) => pgModes.includes(l)), pgModes.join('\n'));
    assert.ok(pgModes.some((l) => /^0640 \d+\.tar$/.test(l)), `the tablespace's archive\n${pgModes.join('\n')}`);
    assert.deepEqual(await modes(targets.ours), pgModes);
    assert.deepEqual((await readdir(work)).filter((n) => !['bin', 'srv-ours', 'srv-pg'].includes(n)), [], 'nothing written locally');

    for (const tool of [reference, ours]) {
      const blackhole = await run(tool, ['-t', 'blackhole', '-X', 'fetch', '-c', 'fast', '-v', '-d', cluster.connectionString]);
      assertSucceeded('-t blackhole', blackhole);
      results[tool === ours ? 'oursBlackhole' : 'pgBlackhole'] = blackhole;
    }
    assert.deepEqual(milestones(results.oursBlackhole!.stderr, ''), milestones(results.pgBlackhole!.stderr, ''));

    const ts = cluster.tablespaces[0]!;
    const restored = await restoreTarByHand({
      backupDir: targets.ours, targetDir: path.join(work, 'restored'), tablespaceTargets: new Map([[ts.oid, path.join(work, 'restored-ts')]]),
    });
    const copy = await startRestored({ dataDir: restored.dataDir, version: 15, mode: 'promote' });
    try {
      assert.deepEqual(await copy.snapshot(), expected);
    } finally {
      await copy.destroy();
    }
  });

  test('group access (initdb -g): the same 0750/0640 modes as pg_basebackup 15, backup_manifest included', async () => {
    for (const format of ['t', 'p'] as const) {
      const dirs = { pg: path.join(work, `modes-${format}-pg`), ours: path.join(work, `modes-${format}-ours`) };
      for (const [who, tool] of [['pg', reference], ['ours', ours]] as const) {
        const ts = cluster.tablespaces[0]!;
        const args = ['-D', dirs[who], '-F', format, '-X', 'stream', '-c', 'fast', '-N', '-d', cluster.connectionString,
          ...(format === 'p' ? ['-T', `${ts.location}=${dirs[who]}-ts`] : [])];
        assertSucceeded(`${who}: ${args.join(' ')}`, await run(tool, args));
      }
      const pgModes = await modes(dirs.pg);
      assert.ok(pgModes.includes('0640 backup_manifest') && pgModes.includes('0750 .'), pgModes.join('\n'));
      // WAL segment names differ from one backup to the next, and whether a segment was
      // completed (archive_status/*.done) depends on timing.
      const shape = (lines: string[]) =>
        [...new Set(lines.filter((l) => !/archive_status\/.+\.done$/.test(l)).map((l) => l.replace(/[0-9A-F]{24}/, '<segment>')))].sort();
      assert.deepEqual(shape(await modes(dirs.ours)), shape(pgModes), `-F ${format}`);
    }
  });

  test('-S SLOT -X stream: the slot\'s restart_lsn is set afterwards, as pg_basebackup leaves it', async () => {
    for (const [who, tool] of [['pg', reference], ['ours', ours]] as const) {
      const slot = `dropin_${who}`;
      await cluster.query(`SELECT pg_create_physical_replication_slot('${slot}')`);
      const before = await cluster.query<{ lsn: string | null }>(`SELECT restart_lsn::text AS lsn FROM pg_replication_slots WHERE slot_name = '${slot}'`);
      assert.equal(before.rows[0]?.lsn, null, 'a slot created without reserving WAL has no restart_lsn');
      const dir = path.join(work, `slot-${who}`);
      const args = ['-D', dir, '-F', 't', '-X', 'stream', '-S', slot, '-c', 'fast', '-N', '-v', '-d', cluster.connectionString];
      const result = await run(tool, args);
      assertSucceeded(`${who}: ${args.join(' ')}`, result);
      const start = /write-ahead log start point: ([0-9A-F]+\/[0-9A-F]+)/.exec(result.stderr)?.[1];
      const after = await cluster.query<{ set: boolean; covers: boolean }>(
        `SELECT restart_lsn IS NOT NULL AS set, restart_lsn <= '${String(start)}'::pg_lsn AS covers FROM pg_replication_slots WHERE slot_name = '${slot}'`,
      );
      assert.deepEqual(after.rows[0], { set: true, covers: true }, `${who}: restart_lsn after the backup\n${result.stderr}`);
      await cluster.query(`SELECT pg_drop_replication_slot('${slot}')`);
    }
  });

  test('-P: "waiting for checkpoint", then archives counted from 0 while they arrive, as pg_basebackup counts them', async () => {
    for (const [who, tool] of [['pg', reference], ['ours', ours]] as const) {
      const dir = path.join(work, `progress-${who}`);
      const result = await run(tool, ['-D', dir, '-F', 't', '-X', 'fetch', '-c', 'fast', '-N', '-P', '-d', cluster.connectionString]);
      assertSucceeded(`${who} -P`, result);
      const lines = result.stderr.split('\n').filter((l) => l !== '');
      assert.equal(lines[0], 'waiting for checkpoint', `${who}\n${result.stderr}`);
      const progress = lines.slice(1);
      for (const line of progress) assert.match(line, /^ *\d+\/\d+ kB \(\d+%\), [0-2]\/2 tablespaces$/, who);
      assert.match(progress[0] ?? '', /, 0\/2 tablespaces$/, `${who}: the first archive is number 0\n${result.stderr}`);
      assert.match(progress.at(-1) ?? '', /\(100%\), 2\/2 tablespaces$/, `${who}: the last line counts both\n${result.stderr}`);
    }
  });

  test('-v: the same lines in the same order for -F t -X fetch and -F p -X none', async () => {
    for (const flags of [['-F', 't', '-X', 'fetch'], ['-F', 'p', '-X', 'none']]) {
      const lines: Record<string, string[]> = {};
      for (const [who, tool] of [['pg', reference], ['ours', ours]] as const) {
        const dir = path.join(work, `verbose-${flags.join('')}-${who}`);
        const ts = cluster.tablespaces[0]!;
        const args = ['-D', dir, ...flags, '-c', 'fast', '-v', '-d', cluster.connectionString,
          ...(flags.includes('p') ? ['-T', `${ts.location}=${dir}-ts`] : [])];
        const result = await run(tool, args);
        assertSucceeded(`${who}: ${args.join(' ')}`, result);
        lines[who] = milestones(result.stderr, dir);
      }
      assert.ok(lines.pg!.includes('pg_basebackup: base backup completed'), lines.pg!.join('\n'));
      assert.deepEqual(lines.ours, lines.pg, flags.join(' '));
    }
  });
});
