// pgfleet-receivewal next to PostgreSQL's pg_receivewal 15, same invocations, same server
// (PostgreSQL 15, 1 MB WAL segments, group access so that files are 0640), each tool through a
// symlink named pg_receivewal in a directory of its own (ours to the installed launcher,
// packages/core/bin/pgfleet-receivewal.js), started by its path:
//   - invalid invocations: the same exit status, stdout and stderr (getopt's lines, pg_receivewal's
//     errors and hints, and the server's refusals: a missing slot, a slot that exists, a slot
//     to drop that does not);
//   - side by side, uncompressed, gzip and lz4, each tool through its own slot made with
//     --create-slot: streaming, SIGKILL while WAL flows (twice),
//     started again, then -E at the end of WAL: the same file names (complete segments and
//     the .partial one), complete segments byte-identical (compressed ones: gzip -t / lz4 -t
//     accept ours, and both decompress to the same bytes), the .partial segments identical up
//     to the end position, the same file modes, both slots' restart_lsn at the same place;
//   - --synchronous, each tool as the server's synchronous standby: a COMMIT returns within a
//     second, not at the next 10 s status interval;
//   - 64 MB segments (initdb --wal-segsize=64): from reserved slots over two segment switches,
//     the same files, byte for byte.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  makeTempDir, REPO_ROOT, startCluster, systemBin, type RunResult, type TestCluster,
} from '../harness/index.js';
import { describeRun, startTool, waitFor, type RunningTool, type ToolBinary } from './support/index.js';

interface Tool {
  label: 'pg' | 'ours';
  binary: ToolBinary;
  /** The directory holding the tool's pg_receivewal symlink; the tool runs from there. */
  cwd: string;
}

const SEG = 1024 * 1024;

/** Both tools, each as a symlink named pg_receivewal in a directory of its own (ours to the installed launcher). */
async function makeTools(): Promise<[Tool, Tool]> {
  const root = await makeTempDir('pgfleet-receivewal-bins');
  const pgDir = path.join(root, 'pg');
  const oursDir = path.join(root, 'ours');
  mkdirSync(pgDir);
  mkdirSync(oursDir);
  symlinkSync(systemBin('pg_receivewal'), path.join(pgDir, 'pg_receivewal'));
  symlinkSync(path.join(REPO_ROOT, 'packages', 'core', 'bin', 'pgfleet-receivewal.js'), path.join(oursDir, 'pg_receivewal'));
  const common = { name: 'pg_receivewal', maxServerVersion: 15, referenceMajor: undefined, prefixArgs: [] };
  return [
    { label: 'pg', cwd: pgDir, binary: { ...common, command: path.join(pgDir, 'pg_receivewal'), isPgfleet: false } },
    { label: 'ours', cwd: oursDir, binary: { ...common, command: path.join(oursDir, 'pg_receivewal'), isPgfleet: true } },
  ];
}

function start(tool: Tool, args: string[], env: Record<string, string> = {}): RunningTool {
  return startTool(tool.binary, args, { cwd: tool.cwd, env, timeoutMs: 60_000 });
}

async function run(tool: Tool, args: string[], env: Record<string, string> = {}): Promise<RunResult> {
  return start(tool, args, env).result;
}


async function flushLsn(cluster: TestCluster): Promise<string> {
  return (await cluster.query<{ lsn: string }>('SELECT pg_current_wal_flush_lsn()::text AS lsn')).rows[0]!.lsn;
}

function lsnValue(text: string): bigint {
  const [hi, lo] = text.split('/');
  return (BigInt(`0x${hi}`) << 32n) | BigInt(`0x${lo}`);
}

/** A WAL file's bytes, decompressed; `strict` requires the tool's test to pass. */
function walBytes(file: string, strict: boolean): Buffer {
  const tool = file.includes('.gz') ? 'gzip' : file.includes('.lz4') ? 'lz4' : null;
  if (tool === null) return readFileSync(file);
  if (strict) {
    const check = spawnSync(tool, ['-t', file]);
    assert.equal(check.status, 0, `${tool} -t ${file}: ${check.stderr.toString()}`);
  }
  // A .partial of a killed run may end in the middle of the stream: take what decompresses.
  return spawnSync(tool, ['-dc', file], { maxBuffer: 256 * SEG }).stdout;
}

describe('pgfleet-receivewal next to pg_receivewal 15 (PostgreSQL 15, 1 MB segments)', () => {
  let cluster: TestCluster;
  let tools: [Tool, Tool];
  let base: string;
  before(async () => {
    cluster = await startCluster({ version: 15, initdbArgs: ['--wal-segsize=1', '-g'] });
    await cluster.query('CREATE TABLE f (id int, t text)');
    tools = await makeTools();
    base = await makeTempDir('pgfleet-receivewal-compat');
  });
  after(async () => {
    await cluster?.destroy();
  });

  test('--synchronous as the synchronous standby: a COMMIT returns within a second (the status interval is 10 s), as with pg_receivewal', async () => {
    for (const tool of tools) {
      const name = `sync_${tool.label}`;
      const dir = path.join(base, name);
      mkdirSync(dir);
      const receiver = start(tool, ['-D', dir, '--synchronous', '-d', `host=127.0.0.1 port=${cluster.port} user=postgres application_name=${name}`]);
      try {
        await waitFor(`${tool.label} to stream`, async () => (await cluster.query(
          `SELECT 1 FROM pg_stat_replication WHERE application_name = '${name}'`)).rows.length === 1, 30_000);
        // The harness runs with synchronous_commit off: a COMMIT would wait for no standby.
        await cluster.query(`ALTER SYSTEM SET synchronous_standby_names = '${name}'`);
        await cluster.query('ALTER SYSTEM SET synchronous_commit = on');
        await cluster.query('SELECT pg_reload_conf()');
        await waitFor(`${tool.label} to be the synchronous standby`, async () => (await cluster.query<{ s: string }>(
          `SELECT sync_state AS s FROM pg_stat_replication WHERE application_name = '${name}'`)).rows[0]?.s === 'sync', 30_000);
        const latencies: number[] = [];
        for (let i = 0; i < 5; i++) {
          const t0 = performance.now();
          await cluster.query("INSERT INTO f VALUES ($1, 'sync')", [i]);
          latencies.push(Math.round(performance.now() - t0));
        }
        console.log(`# ${tool.label}: COMMIT latencies with pg_receivewal --synchronous as synchronous standby: ${latencies.join(', ')} ms`);
        assert.ok(Math.max(...latencies) < 1000, `${tool.label}: ${latencies.join(', ')} ms`);
      } finally {
        // Releases a COMMIT still waiting, should the assertion have failed.
        await cluster.query('ALTER SYSTEM RESET synchronous_standby_names');
        await cluster.query('ALTER SYSTEM RESET synchronous_commit');
        await cluster.query('SELECT pg_reload_conf()');
        receiver.child.kill('SIGINT');
        await receiver.result;
      }
    }
  });

  test('invalid invocations: the same exit status and output through a symlink named pg_receivewal', async () => {
    const dir = path.join(base, 'invalid');
    mkdirSync(dir);
    const file = path.join(base, 'a-file');
    writeFileSync(file, '');
    const missing = path.join(base, 'missing');
    const [pg] = tools;
    const created = await run(pg, ['--create-slot', '-S', 'taken'], cluster.env);
    assert.equal(created.code, 0, describeRun('--create-slot', created));
    const cases: string[][] = [
      [], ['--bogus'], ['--bogus=1'], ['-x'], ['-D'], ['--directory'], ['--dir'], ['--no'], ['--no=x'], ['--no-loop=1'], ['--s'],
      ['--d'], ['-D', dir, 'extra'], ['-D', dir, '--', '-n'], ['-', '-D', dir], ['--create-slot', '--drop-slot'], ['--create-slot'],
      ['--drop-slot', '-D', dir], ['-D', dir, '--if-not-exists', '--create-slot'], ['--synchronous', '--no-sync', '-D', dir],
      ['-E', 'foo', '-D', dir], ['-E', '0 /1', '-D', dir], ['-E', '', '-D', dir], ['-E', '/', '-D', dir],
      ['-s', 'x', '-D', dir], ['-s', '-1', '-D', dir], ['-s', '2147484', '-D', dir], ['-s', '5x', '-D', dir], ['-s', '+', '-D', dir],
      ['-Z', 'zstd', '-D', dir], ['-Z', 'foo', '-D', dir], ['-Z', 'gzip:level=10', '-D', dir], ['-Z', '10', '-D', dir],
      ['-Z', 'lz4:foo', '-D', dir], ['-Z', 'none:1', '-D', dir], ['-Z', 'client-gzip', '-D', dir], ['-Z', 'gzip:workers=2', '-D', dir],
      ['-Z', 'gzip:', '-D', dir], ['-Z', ':', '-D', dir], ['-Z', 'lz4:level=13', '-D', dir], ['-Z', 'gzip:level', '-D', dir],
      ['-Z', 'gzip:level=x', '-D', dir], ['-Z', 'zstd:level=100', '-D', dir], ['-Z', 'ZSTD', '-D', dir], ['-Z', 'gzip', '-Z', 'zstd', '-D', dir],
      ['-D', missing], ['-D', file], ['-D', ''], ['-p', 'abc', '-D', missing], ['-s', '3', '-Z', '0', '-D', missing], ['-nvD', missing],
      ['-vV'], ['-D', dir, '-V'], ['-D', dir, '--help'], ['-D', dir, '--version'], ['-D', dir, '-?'], ['--vers'],
      ['-E', 'foo', '--bogus'], ['--bogus', '-E', 'foo'], ['extra', '--bogus'],
      // Refused by the server.
      ['-D', dir, '-S', 'nosuch', '-n'], ['--create-slot', '-S', 'taken'], ['--drop-slot', '-S', 'nosuch'],
    ];
    const differences: string[] = [];
    for (const args of cases) {
      const [a, b] = await Promise.all(tools.map((t) => run(t, args, cluster.env)));
      // getopt's lines name the program as started: each tool's own directory is taken out.
      const show = (r: RunResult, tool: Tool) => JSON.stringify({
        code: r.code, signal: r.signal, stdout: r.stdout, stderr: r.stderr.replaceAll(`${tool.cwd}/`, ''),
      });
      if (show(a!, tools[0]) !== show(b!, tools[1])) {
        differences.push(`${JSON.stringify(args)}\n  pg_receivewal 15: ${show(a!, tools[0])}\n  pgfleet:          ${show(b!, tools[1])}`);
      }
      assert.notEqual(a!.code, 0, `${JSON.stringify(args)} is refused`);
    }
    assert.deepEqual(differences, [], differences.join('\n'));
    assert.equal(readdirSync(dir).length, 0, 'nothing written');
  });

  for (const compression of ['none', 'gzip', 'lz4'] as const) {
    test(`side by side, ${compression}: SIGKILL mid-stream, started again, stopped at -E: the same files`, async () => {
      const zargs = compression === 'none' ? [] : ['-Z', compression];
      const dirs = new Map<Tool, string>();
      for (const tool of tools) {
        const dir = path.join(base, `${compression}-${tool.label}`);
        mkdirSync(dir);
        dirs.set(tool, dir);
        const created = await run(tool, ['--create-slot', '-S', `${tool.label}_${compression}`], cluster.env);
        assert.equal(created.code, 0, describeRun(`${tool.label} --create-slot`, created));
      }
      const slots = async () => (await cluster.query<{ slot_name: string; restart_lsn: string | null }>(
        `SELECT slot_name, restart_lsn::text FROM pg_replication_slots WHERE slot_name LIKE '%\\_${compression}' ORDER BY slot_name`)).rows;
      assert.deepEqual((await slots()).map((s) => s.restart_lsn), [null, null], '--create-slot reserves no WAL');
      const args = (tool: Tool) => ['-D', dirs.get(tool)!, '-S', `${tool.label}_${compression}`, '-v', ...zargs];
      for (let round = 0; round < 2; round++) {
        const running = tools.map((t) => start(t, args(t), cluster.env));
        await waitFor('both to stream', () => running.every((r) => r.stderrSoFar().includes('starting log streaming at ')));
        await cluster.query(`INSERT INTO f SELECT g, repeat(md5(g::text), 4) FROM generate_series(1, 15000) g`);
        // Killed while streaming, once the server has sent both everything the INSERT wrote and
        // both have held the same segments for a moment: where each resumes then depends on the
        // tool, not on which one the machine's load let run ahead (a segment completed by one
        // between the check and the kill changed where it resumed).
        const files = (tool: Tool) => readdirSync(dirs.get(tool)!).sort().join(' ');
        const written = await flushLsn(cluster);
        let held = '';
        let heldSince = 0;
        await waitFor('both to be sent all WAL and hold the same segments', async () => {
          const sent = (await cluster.query<{ n: number }>(
            `SELECT count(*)::int AS n FROM pg_replication_slots s JOIN pg_stat_replication r ON r.pid = s.active_pid
              WHERE s.slot_name LIKE '%\\_${compression}' AND r.sent_lsn >= '${written}'::pg_lsn`)).rows[0]!.n === 2;
          const now = files(tools[0]!);
          if (!sent || now !== files(tools[1]!)) return (held = '', false);
          if (now !== held) [held, heldSince] = [now, Date.now()];
          return Date.now() - heldSince >= 300;
        });
        for (const r of running) r.killGroup();
        for (const r of running) assert.equal((await r.result).signal, 'SIGKILL');
      }
      await cluster.query(`INSERT INTO f SELECT g, 'tail' FROM generate_series(1, 3000) g`);
      const end = await flushLsn(cluster);
      const finals = await Promise.all(tools.map((t) => run(t, [...args(t), '-n', '-E', end], cluster.env)));
      for (const [i, r] of finals.entries()) assert.equal(r.code, 0, describeRun(tools[i]!.label, r));
      // The same -v lines; where streaming stopped depends on how far the server had flushed.
      const lines = (r: RunResult) => r.stderr.replace(/stopped log streaming at \S+/g, 'stopped log streaming at X');
      assert.equal(lines(finals[1]!), lines(finals[0]!), 'the same -v lines');

      const [pgDir, oursDir] = tools.map((t) => dirs.get(t)!);
      const names = readdirSync(pgDir!).sort();
      assert.deepEqual(readdirSync(oursDir!).sort(), names);
      const suffix = compression === 'gzip' ? '.gz' : compression === 'lz4' ? '.lz4' : '';
      const complete = names.filter((n) => n.endsWith(suffix) && !n.endsWith('.partial'));
      const partial = names.filter((n) => n.endsWith('.partial'));
      assert.ok(complete.length >= 3, names.join(' '));
      assert.equal(partial.length, 1, names.join(' '));
      for (const name of complete) {
        const ours = path.join(oursDir!, name);
        if (compression === 'none') assert.ok(readFileSync(ours).equals(readFileSync(path.join(pgDir!, name))), `${name} byte for byte`);
        const bytes = walBytes(ours, true);
        assert.equal(bytes.length, SEG, name);
        assert.ok(bytes.equals(walBytes(path.join(pgDir!, name), false)), `${name} decompresses to the same bytes`);
      }
      const upTo = Number(lsnValue(end) % BigInt(SEG)) + 1;
      const [mine, theirs] = [walBytes(path.join(oursDir!, partial[0]!), false), walBytes(path.join(pgDir!, partial[0]!), false)];
      assert.ok(mine.length >= upTo && mine.subarray(0, upTo).equals(theirs.subarray(0, upTo)), `${partial[0]} up to the end position`);
      if (compression === 'none') assert.equal(mine.length, SEG, 'an uncompressed .partial is full size');
      for (const name of names) {
        assert.equal(statSync(path.join(oursDir!, name)).mode & 0o777, statSync(path.join(pgDir!, name)).mode & 0o777, name);
      }
      assert.equal(statSync(path.join(oursDir!, names[0]!)).mode & 0o777, 0o640, 'group access, as the server has it');
      const [ourSlot, pgSlot] = await slots();
      assert.ok(pgSlot!.restart_lsn !== null);
      assert.equal(ourSlot!.restart_lsn, pgSlot!.restart_lsn, 'both slots retain WAL from the same place');
    });
  }
});

describe('pgfleet-receivewal next to pg_receivewal 15 with 64 MB segments', () => {
  test('two segment switches from reserved slots: the same files, byte for byte', async () => {
    const cluster = await startCluster({ version: 15, initdbArgs: ['--wal-segsize=64'] });
    try {
      const tools = await makeTools();
      const base = await makeTempDir('pgfleet-receivewal-64');
      await cluster.query('CREATE TABLE f (id int)');
      for (const tool of tools) {
        mkdirSync(path.join(base, tool.label));
        await cluster.query(`SELECT pg_create_physical_replication_slot('${tool.label}', true)`);
      }
      for (let i = 0; i < 2; i++) {
        await cluster.query('INSERT INTO f SELECT generate_series(1, 1000)');
        await cluster.query('SELECT pg_switch_wal()');
      }
      await cluster.query('INSERT INTO f SELECT generate_series(1, 1000)');
      const end = await flushLsn(cluster);
      const results = await Promise.all(tools.map((t) => run(t, ['-D', path.join(base, t.label), '-S', t.label, '-n', '-E', end], cluster.env)));
      for (const [i, r] of results.entries()) assert.equal(r.code, 0, describeRun(tools[i]!.label, r));
      const names = readdirSync(path.join(base, 'pg')).sort();
      assert.deepEqual(readdirSync(path.join(base, 'ours')).sort(), names);
      assert.equal(names.filter((n) => !n.endsWith('.partial')).length, 2, names.join(' '));
      for (const name of names) {
        const ours = readFileSync(path.join(base, 'ours', name));
        assert.equal(ours.length, 64 * SEG, name);
        const theirs = readFileSync(path.join(base, 'pg', name));
        if (!name.endsWith('.partial')) {
          assert.ok(ours.equals(theirs), `${name} byte for byte`);
          continue;
        }
        // Both stop once they have received -E; the message that carries it may hold a few
        // more bytes the server flushed meanwhile (a background record), differently for each
        // tool: the segment is the same up to the end position.
        const upTo = Number(lsnValue(end) % BigInt(64 * SEG));
        assert.ok(ours.subarray(0, upTo).equals(theirs.subarray(0, upTo)), `${name} byte for byte up to ${end}`);
      }
    } finally {
      await cluster.destroy();
    }
  });
});
