// The controller, black box, with clusters it backs up directly over the replication protocol
// (no agent): real PostgreSQL servers, a `pgfleet serve` daemon and `pgfleet` CLI calls, each
// its own process, talking mutual TLS with certificates made by `pgfleet certs init`.
//
//   - backup of several clusters: each stored in pg_basebackup's tar layout + backup.json,
//     verified, listed by `backups --json` (exactly the usable ones), restorable by hand with
//     the system tar (tablespace relocated) into a server holding the source's data;
//   - a PostgreSQL server killed mid-backup: the controller reports which cluster failed and
//     why, the others of the fleet backup complete, nothing of the failed one is left;
//   - the controller SIGKILLed mid-backup: partial files stay until the next start, which
//     removes them; nothing is ever listed as usable;
//   - expire keeps exactly the newest N full backups; verify detects a damaged backup;
//   - a CLI without a valid certificate is refused (none, another CA's, an agent's).
//
// Server versions: 15 (with a tablespace) and 13 (the BASE_BACKUP syntax before 15); two more,
// rate-limited 15s for the kill tests. test/e2e/controller-fleet.test.ts adds a direct 17.

import assert from 'node:assert/strict';
import { open, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parseLsn } from '@pgfleet/core';
import {
  makeTempDir, restoreTarByHand, startCluster, startRestored, type TestCluster,
} from '../harness/index.js';
import {
  cliJson, listTree, runCli, spawnCli, stagingHasBytes, startController, waitFor, type ControllerProcess,
} from '../../packages/controller/test/support/fleet-processes.js';

interface BackupJson {
  id: string;
  cluster: string;
  status: string;
  type: string;
  startLsn: string;
  endLsn: string;
  timeline: number;
  systemIdentifier: string;
  serverVersionNum: number;
  tablespaces: Array<{ oid: number; location: string; archive: string }>;
  files: Array<{ name: string; size: number }>;
  via: string;
  compression: string;
  path: string;
  /** Why the backup is damaged (status "damaged"); null when it is usable. */
  damage: string | null;
  /** Listings only: from the backup's end to how far the WAL archive carries it. */
  recoverableWindow?: { from: { lsn: string }; to: { lsn: string } } | null;
}

interface BackupResultJson {
  backups: BackupJson[];
  failures: Array<{ cluster: string; error: { id: string; code: number; message: string; hint: string } }>;
}

let a: TestCluster;
let b: TestCluster;
let slow: TestCluster;
let victim: TestCluster;
let work: string;
let certs: string;
let repository: string;
let configFile: string;
let controller: ControllerProcess;
let env: NodeJS.ProcessEnv;

async function startDaemon(): Promise<void> {
  controller = await startController(configFile);
  env = { PGFLEET_CONTROLLER: controller.address, PGFLEET_CERTS: certs };
}

before(async () => {
  [a, b, slow, victim] = await Promise.all([
    startCluster({ version: 15, tablespaces: 1, data: { rows: 500 } }),
    startCluster({ version: 13, data: { rows: 300 } }),
    startCluster({ version: 15, data: { rows: 200 } }),
    startCluster({ version: 15, data: { rows: 200 } }),
  ]);
  work = await makeTempDir('ctl-e2e');
  certs = path.join(work, 'certs');
  const init = await runCli(['certs', 'init', certs, '--agent', 'db1']);
  assert.equal(init.code, 0, init.stderr);
  repository = path.join(work, 'repo');
  configFile = path.join(work, 'fleet.yaml');
  await writeFile(configFile, [
    'listen: 127.0.0.1:0',
    `repository: ${repository}`,
    `tls: { ca: ${certs}/ca.crt, cert: ${certs}/controller.crt, key: ${certs}/controller.key }`,
    'parallel: 3',
    'clusters:',
    `  - { name: a, conninfo: "${a.connectionString}", retention: { full: 2 }, compression: client-gzip }`,
    `  - { name: b, conninfo: "${b.connectionString}", retention: { full: 2 } }`,
    // About 25 MB at 1 MB/s: slow enough to be interrupted in the middle.
    `  - { name: slow, conninfo: "${slow.connectionString}", retention: { full: 1 }, maxRate: 1024 }`,
    `  - { name: victim, conninfo: "${victim.connectionString}", retention: { full: 1 }, maxRate: 1024 }`,
    '',
  ].join('\n'));
  await startDaemon();
});

after(async () => {
  await controller?.stop();
});

/**
 * The daemon refused the CLI's certificate. With TLS 1.3 the client learns it either from the
 * server's alert during the handshake (41, "TLS handshake ... failed: ...alert...") or only as a
 * failed connection or a reset (40, with a hint about certificates), depending on timing: all are right.
 */
function assertRefusedByServer(r: { code: number; stderr: string }): void {
  assert.ok(r.code === 40 || r.code === 41, r.stderr);
  if (r.code === 40) {
    // The connection is dropped by the server's alert: grpc-js reports "failed to connect" or,
    // when the reset arrives first, "read ECONNRESET" (seen in CI); the HINT is the same.
    assert.match(r.stderr, /^pgfleet: error: could not connect to controller "127\.0\.0\.1:\d+": (failed to connect|read ECONNRESET)\nHINT: Check that it is running and listening on that address, and that it accepts this certificate/);
  } else {
    assert.match(r.stderr, /^pgfleet: error: TLS handshake with controller "127\.0\.0\.1:\d+" failed: .*(alert|certificate)/);
  }
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

async function listed(cluster?: string): Promise<BackupJson[]> {
  return cliJson<BackupJson[]>(['backups', ...(cluster ? [cluster] : [])], env);
}

describe('controller with direct clusters', () => {
  let first: BackupResultJson;

  test('backup of two clusters stores verified backups in the tar layout, and backups --json lists exactly them', async () => {
    first = await cliJson<BackupResultJson>(['backup', 'a', 'b'], env);
    assert.deepEqual(first.failures, []);
    assert.deepEqual(first.backups.map((x) => x.cluster).sort(), ['a', 'b']);
    const ba = first.backups.find((x) => x.cluster === 'a') as BackupJson;
    const bb = first.backups.find((x) => x.cluster === 'b') as BackupJson;
    const oid = a.tablespaces[0]?.oid as number;
    assert.deepEqual((await readdir(ba.path)).sort(), [`${oid}.tar.gz`, 'backup.json', 'backup_manifest', 'base.tar.gz', 'pg_wal.tar.gz']);
    assert.deepEqual((await readdir(bb.path)).sort(), ['backup.json', 'backup_manifest', 'base.tar', 'pg_wal.tar']);
    assert.equal(ba.path, path.join(repository, 'a', 'backups', ba.id));
    assert.deepEqual(ba.tablespaces, [{ oid, location: a.tablespaces[0]?.location, archive: `${oid}.tar.gz` }]);
    assert.equal(ba.via, 'direct');
    assert.equal(ba.status, 'ok');
    assert.equal(ba.serverVersionNum >= 150000 && ba.serverVersionNum < 160000, true);
    assert.equal(bb.serverVersionNum >= 130000 && bb.serverVersionNum < 140000, true);
    const system = await a.query('SELECT system_identifier::text AS id FROM pg_control_system()');
    assert.equal(ba.systemIdentifier, system.rows[0]?.id);

    // The listing is the backup's record plus how far the WAL archive carries it (the backup
    // command's own answer has no window: nothing has been archived after it yet).
    const all = await listed();
    assert.deepEqual(all.map((x) => `${x.cluster}/${x.id}`).sort(), [`a/${ba.id}`, `b/${bb.id}`]);
    const listedB = await listed('b');
    assert.equal(listedB.length, 1);
    for (const [entry, done] of [[all.find((x) => x.cluster === 'a'), ba], [listedB[0], bb]] as const) {
      assert.ok(entry !== undefined);
      assert.deepEqual({ ...entry, recoverableWindow: null }, done);
      const w = entry.recoverableWindow;
      assert.ok(w !== null && w !== undefined, `${entry.cluster}: the archive streams, so the backup has a recoverable window`);
      assert.equal(w.from.lsn, done.endLsn);
      assert.ok(parseLsn(w.to.lsn) >= parseLsn(w.from.lsn), JSON.stringify(w));
    }

    const clusters = await cliJson<Array<{ name: string; agent: string | null; conninfo: string; backups: number; latestBackup: string | null }>>(['clusters'], env);
    assert.deepEqual(clusters.map((c) => [c.name, c.agent, c.backups, c.latestBackup]), [
      ['a', null, 1, ba.id], ['b', null, 1, bb.id], ['slow', null, 0, null], ['victim', null, 0, null],
    ]);
    assert.equal(clusters[0]?.conninfo, a.connectionString);
  });

  test('a stored backup restores by hand (system tar, tablespace moved) into a server holding the source data', async () => {
    const ba = first.backups.find((x) => x.cluster === 'a') as BackupJson;
    const target = await makeTempDir('ctl-restore');
    const tsTarget = path.join(target, 'ts-moved');
    const oid = a.tablespaces[0]?.oid as number;
    const expected = await a.snapshot();
    const restored = await restoreTarByHand({ backupDir: ba.path, targetDir: path.join(target, 'data'), tablespaceTargets: new Map([[oid, tsTarget]]) });
    assert.deepEqual(restored.tablespaces, [{ oid, location: tsTarget }]);
    const copy = await startRestored({ dataDir: restored.dataDir, version: 15, mode: 'promote' });
    try {
      assert.deepEqual(await copy.snapshot(), expected);
      const loc = await copy.query('SELECT pg_tablespace_location($1::oid) AS loc', [oid]);
      assert.equal(loc.rows[0]?.loc, tsTarget);
      await copy.query('CREATE TABLE written_after_restore (x int)');
    } finally {
      await copy.destroy();
    }
  });

  test('verify passes on a stored backup and fails (exit 81) once a file is damaged', async () => {
    const ok = await cliJson<{ ok: boolean; problems: string[] }>(['verify', 'b'], env);
    assert.equal(ok.ok, true);
    const bb = first.backups.find((x) => x.cluster === 'b') as BackupJson;
    const file = await open(path.join(bb.path, 'base.tar'), 'r+');
    try {
      // Somewhere inside the first member's data (a tar header is 512 bytes).
      const buf = Buffer.alloc(1);
      await file.read(buf, 0, 1, 600);
      buf[0] = (buf[0] as number) ^ 0xff;
      await file.write(buf, 0, 1, 600);
    } finally {
      await file.close();
    }
    const bad = await runCli(['verify', 'b', bb.id], env);
    assert.equal(bad.code, 81, bad.stderr);
    assert.match(bad.stderr, /checksum mismatch for file/);
    assert.match(bad.stderr, new RegExp(`pgfleet: error: backup ${bb.id} of cluster "b" does not match its manifest \\(1 problems\\)`));
    // The verdict is remembered: listed as damaged with what verify found.
    const after = (await listed('b')).find((x) => x.id === bb.id);
    assert.equal(after?.status, 'damaged');
    assert.match(after?.damage ?? '', /^pgfleet verify found it damaged at \S+: checksum mismatch for file /);
  });

  test('a server killed mid-backup fails its cluster with the reason; the rest of the fleet backup completes; nothing is left', async (t) => {
    const run = spawnCli(['backup', 'a', 'b', 'victim', '--json'], env);
    await waitFor('the victim backup to be under way', () => stagingHasBytes(repository, 'victim', 256 * 1024));
    await victim.stop(); // fast shutdown: its walsenders are terminated mid-stream
    const result = await run.done;
    const parsed = JSON.parse(result.stdout) as BackupResultJson;
    assert.deepEqual(parsed.backups.map((x) => x.cluster).sort(), ['a', 'b']);
    assert.equal(parsed.failures.length, 1);
    const failure = parsed.failures[0];
    t.diagnostic(`reported: ${JSON.stringify(failure)}`);
    assert.equal(failure?.cluster, 'victim');
    assert.ok(failure && failure.error.message.length > 0);
    assert.equal(result.code, failure?.error.code, `exit code is the failed cluster's error code: ${JSON.stringify(failure)}`);
    assert.match(controller.log(), new RegExp(`cluster "victim": backup failed: ${escapeRegExp(failure?.error.message ?? '')}`));
    assert.deepEqual(await listTree(path.join(repository, 'victim', 'backups')), []);
    assert.deepEqual(await listed('victim'), []);
  });

  test('the controller killed mid-backup leaves no usable backup, and its partial files go at the next start', async (t) => {
    const run = spawnCli(['backup', 'slow'], env);
    await waitFor('the slow backup to be under way', () => stagingHasBytes(repository, 'slow', 256 * 1024));
    await controller.kill();
    const result = await run.done;
    assert.equal(result.code, 40, result.stderr);
    t.diagnostic(`CLI said: ${JSON.stringify(result.stderr)}`);
    assert.match(result.stderr, /pgfleet: error: lost the connection to controller "127\.0\.0\.1:\d+": \S.*\nHINT: Check whether it is still running; its log may say why\.\n$/);
    const left = await listTree(path.join(repository, 'slow', 'backups'));
    assert.ok(left.some((f) => /^\.tmp-[^/]+\/base\.tar$/.test(f)), `partial files are there before the restart: ${left.join(', ')}`);

    await startDaemon();
    assert.match(controller.log(), /removed leftover ".*\/slow\/backups\/\.tmp-/);
    assert.deepEqual(await listTree(path.join(repository, 'slow', 'backups')), []);
    assert.deepEqual(await listed('slow'), []);
  });

  test('expire keeps exactly the newest N full backups of each cluster', async () => {
    // b has two backups (first test, fleet backup); one more makes three, retention is 2.
    const third = await cliJson<BackupResultJson>(['backup', 'b'], env);
    assert.deepEqual(third.failures, []);
    const before = (await listed('b')).map((x) => x.id);
    assert.equal(before.length, 3);
    const dry = await cliJson<{ removed: Array<{ backupId: string }>; kept: Array<{ backupId: string }> }>(['expire', 'b', '--dry-run'], env);
    assert.deepEqual(dry.removed.map((x) => x.backupId), before.slice(0, 1));
    assert.equal((await listed('b')).length, 3);

    const done = await cliJson<{ removed: Array<{ cluster: string; backupId: string }>; kept: Array<{ backupId: string }> }>(['expire'], env);
    assert.deepEqual(done.removed.filter((x) => x.cluster === 'b').map((x) => x.backupId), before.slice(0, 1));
    assert.deepEqual((await listed('b')).map((x) => x.id), before.slice(1));
    assert.deepEqual(await readdir(path.join(repository, 'b', 'backups')), before.slice(1));
    // a had two backups with retention 2: untouched.
    assert.equal((await listed('a')).length, 2);
  });

  test('a CLI without a valid certificate is refused', async () => {
    const none = await runCli(['backups'], { PGFLEET_CONTROLLER: controller.address });
    assert.equal(none.code, 31);
    assert.equal(none.stderr, 'pgfleet: error: no client certificate configured\nHINT: Give --certs DIR (or PGFLEET_CERTS) with ca.crt, cli.crt and cli.key, or --ca, --cert and --key; --insecure only for a daemon running without TLS.\n');

    const rogue = path.join(work, 'rogue');
    assert.equal((await runCli(['certs', 'init', rogue, '--tool', 'node'])).code, 0);
    // Trusts the daemon (right CA) but presents a certificate of another CA.
    const refused = await runCli(['backups', '--ca', path.join(certs, 'ca.crt'), '--cert', path.join(rogue, 'cli.crt'), '--key', path.join(rogue, 'cli.key')], { PGFLEET_CONTROLLER: controller.address });
    assertRefusedByServer(refused);

    // An agent's certificate, signed by the fleet CA and usable as a client (agents call the
    // controller's WAL archive service), is refused by its role for the CLI's API.
    const agentCert = await runCli(['backups', '--ca', path.join(certs, 'ca.crt'), '--cert', path.join(certs, 'agent-db1.crt'), '--key', path.join(certs, 'agent-db1.key')], { PGFLEET_CONTROLLER: controller.address });
    assert.notEqual(agentCert.code, 0, agentCert.stderr);
    assert.match(agentCert.stderr, /^pgfleet: error: client certificate "db1" has role "agent"; the controller requires role "cli"/);

    const plaintext = await runCli(['backups', '--insecure'], { PGFLEET_CONTROLLER: controller.address });
    assert.equal(plaintext.code, 40, plaintext.stderr);

    // The daemon's certificate is checked too: a CLI trusting another CA refuses it.
    const distrust = await runCli(['backups', '--certs', rogue], { PGFLEET_CONTROLLER: controller.address });
    assert.equal(distrust.code, 41, distrust.stderr);
    assert.match(distrust.stderr, /^pgfleet: error: TLS handshake with controller "127\.0\.0\.1:\d+" failed: /);
  });
});
