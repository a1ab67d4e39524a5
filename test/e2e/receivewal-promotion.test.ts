// pgfleet-receivewal follows a timeline switch: it streams from a standby (PostgreSQL 15,
// 1 MB segments) next to pg_receivewal 15; the standby is promoted and written to; both
// directories then hold the old timeline's segments, 00000002.history and the new timeline's
// segments, the same files with the same bytes, and pgfleet says it switched to timeline 2.

import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import {
  makeTempDir, preparePlainRestore, run, startCluster, startRestored, systemBin, type TestCluster,
} from '../harness/index.js';
import { binaryAt, describeRun, receiveWalBinary, startTool, waitFor, type RunningTool } from './support/index.js';


async function scalar<T>(cluster: TestCluster, sql: string): Promise<T> {
  return (await cluster.query<{ v: T }>(sql)).rows[0]!.v;
}

test('streaming from a standby that is promoted: both timelines and 00000002.history, as pg_receivewal writes them', async () => {
  const primary = await startCluster({ version: 15, initdbArgs: ['--wal-segsize=1'] });
  let standby: TestCluster | null = null;
  try {
    await primary.query('CREATE TABLE f (id int, t text)');
    const base = await makeTempDir('pgfleet-receivewal-promotion');
    const standbyDir = path.join(base, 'standby');
    const backup = await run(systemBin('pg_basebackup'), ['-D', standbyDir, '-F', 'p', '-X', 'stream', '-R', '-c', 'fast'], { env: primary.env });
    assert.equal(backup.code, 0);
    await preparePlainRestore({ dataDir: standbyDir });
    standby = await startRestored({ dataDir: standbyDir, version: 15, mode: 'standby' });
    const s = standby;
    await waitFor('the standby to stream', async () => (await scalar<string | null>(s, 'SELECT status AS v FROM pg_stat_wal_receiver')) === 'streaming');

    const tools = [binaryAt(systemBin('pg_receivewal')), receiveWalBinary()];
    const dirs = [path.join(base, 'pg'), path.join(base, 'ours')];
    for (const dir of dirs) await mkdir(dir);
    const running: RunningTool[] = tools.map((tool, i) => startTool(tool, ['-D', dirs[i]!, '-v'], { env: s.env }));
    await waitFor('both receivers to stream', () => running.every((r) => r.stderrSoFar().includes('starting log streaming at ')));

    // Timeline 1: WAL written on the primary, replayed by the standby, streamed from it.
    await primary.query("INSERT INTO f SELECT g, repeat(md5(g::text), 4) FROM generate_series(1, 10000) g");
    const switched = await scalar<string>(primary, 'SELECT pg_walfile_name(pg_switch_wal()) AS v');
    const hasFile = (name: string) => dirs.every((dir) => readdirSync(dir).includes(name));
    await waitFor(`${switched} from the standby`, () => hasFile(switched));

    // Promotion: timeline 2 begins; WAL written on it.
    assert.equal(await scalar<boolean>(s, 'SELECT pg_promote() AS v'), true);
    await s.query("INSERT INTO f SELECT g, 'after promotion' FROM generate_series(1, 5000) g");
    const onNewTimeline = await scalar<string>(s, 'SELECT pg_walfile_name(pg_switch_wal()) AS v');
    assert.match(onNewTimeline, /^00000002/);
    await waitFor(`${onNewTimeline} on timeline 2`, () => hasFile(onNewTimeline));

    for (const r of running) r.child.kill('SIGINT');
    const results = await Promise.all(running.map((r) => r.result));
    for (const [i, r] of results.entries()) assert.equal(r.code, 0, describeRun(tools[i]!.name, r));
    assert.match(results[1]!.stderr, /: switched to timeline 2 at [0-9A-F]+\/[0-9A-F]+\n/);

    const names = readdirSync(dirs[0]!).sort();
    assert.deepEqual(readdirSync(dirs[1]!).sort(), names);
    assert.ok(names.includes('00000002.history'), names.join(' '));
    assert.ok(names.some((n) => /^00000001[0-9A-F]{16}$/.test(n)), 'segments of timeline 1');
    assert.ok(names.some((n) => /^00000002[0-9A-F]{16}$/.test(n)), 'segments of timeline 2');
    for (const name of names.filter((n) => !n.endsWith('.partial'))) {
      assert.ok(readFileSync(path.join(dirs[1]!, name)).equals(readFileSync(path.join(dirs[0]!, name))), `${name} byte for byte`);
    }
    assert.match(readFileSync(path.join(dirs[1]!, '00000002.history'), 'utf8'), /^1\t[0-9A-F]+\/[0-9A-F]+\t/);
  } finally {
    await standby?.destroy();
    await primary.destroy();
  }
});
