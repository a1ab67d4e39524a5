// What "the restored copy is right" means for every backup test: the copy opened read-write,
// holds exactly the source's data (harness snapshot), PostgreSQL reports every tablespace at its
// NEW location, the pg_tblspc symlinks point there, indexes and TOAST in the tablespaces work,
// and a write succeeds without reaching the source.

import assert from 'node:assert/strict';
import { readdir, readlink } from 'node:fs/promises';
import path from 'node:path';
import type { Snapshot, TestCluster } from '../../harness/index.js';

/** pg_tblspc/<oid> -> symlink target, for every entry. */
export async function tablespaceLinks(dataDir: string): Promise<Record<string, string>> {
  const links: Record<string, string> = {};
  for (const name of (await readdir(path.join(dataDir, 'pg_tblspc'))).sort()) {
    links[name] = await readlink(path.join(dataDir, 'pg_tblspc', name));
  }
  return links;
}

/** First column of the first row. */
export async function scalar(cluster: TestCluster, sql: string): Promise<unknown> {
  const result = await cluster.query(sql);
  const row = result.rows[0];
  assert.ok(row, `no row from ${sql}`);
  return Object.values(row)[0];
}

export interface RestoredCopyExpectation {
  copy: TestCluster;
  source: TestCluster;
  /** The source's snapshot taken before the backup. */
  expected: Snapshot;
  /** Where each source tablespace (by oid) must now be. */
  tablespaceTargets: Map<number, string>;
  /** Context for assertion messages (e.g. "PG 17 tar -X fetch"). */
  label: string;
}

/** Assert everything in the module comment; leaves the copy running. */
export async function assertRestoredCopy(e: RestoredCopyExpectation): Promise<void> {
  const { copy, source, label } = e;
  assert.equal(await scalar(copy, 'SELECT pg_is_in_recovery()'), false, `${label}: copy is read-write`);
  assert.deepEqual(await copy.snapshot(), e.expected, `${label}: copy has the source's data`);

  const expectedLocations = source.tablespaces.map((ts) => [ts.oid, e.tablespaceTargets.get(ts.oid)]);
  assert.deepEqual(
    copy.tablespaces.map((ts) => [ts.oid, ts.location]),
    expectedLocations,
    `${label}: pg_tablespace_location() names the new directories`,
  );
  assert.deepEqual(
    await tablespaceLinks(copy.dataDir),
    Object.fromEntries([...e.tablespaceTargets].sort(([a], [b]) => a - b).map(([oid, dir]) => [String(oid), dir])),
    `${label}: pg_tblspc symlinks point to the new directories`,
  );
  for (const ts of source.tablespaces) {
    assert.notEqual(e.tablespaceTargets.get(ts.oid), ts.location, `${label}: target differs from the source location`);
  }

  // Index and TOAST in a tablespace are readable.
  const client = await copy.connect();
  try {
    await client.query('SET enable_seqscan = off');
    const viaIndex = await client.query<{ id: number }>("SELECT id FROM t_ts2 WHERE label = 'row 77'");
    assert.deepEqual(viaIndex.rows, [{ id: 77 }], `${label}: index scan in tablespace ts2`);
  } finally {
    await client.end();
  }
  const toasted = await copy.query<{ len: number }>('SELECT length(big) AS len FROM t_ts1 WHERE id = 0');
  assert.deepEqual(toasted.rows, [{ len: 64000 }], `${label}: TOAST value in tablespace ts1`);

  // Writable, in the main directory and in a tablespace; the source does not see it.
  await copy.query("INSERT INTO t_main VALUES (900001, 'written after restore', NULL)");
  await copy.query("INSERT INTO t_ts1 VALUES (900001, 'written after restore', NULL)");
  await copy.query('CHECKPOINT');
  assert.equal(
    await scalar(copy, 'SELECT count(*)::int FROM t_ts1 WHERE id = 900001'),
    1,
    `${label}: the write is visible in the copy`,
  );
  assert.equal(
    await scalar(source, 'SELECT count(*)::int FROM t_ts1 WHERE id = 900001'),
    0,
    `${label}: the write did not reach the source`,
  );
}
