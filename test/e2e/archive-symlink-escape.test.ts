// A backup whose base.tar carries a symbolic link where PostgreSQL's base backup never puts
// one (it keeps links only as pg_tblspc/<oid>), black box, PostgreSQL 15. The restore used to
// extract such a link and then write the recovery configuration through it, as root:
// `recovery.signal -> /anywhere/victim` created /anywhere/victim, and `postgresql.auto.conf ->
// /root-only-file` with a --primary-conninfo holding a newline appended lines of the caller's
// choosing to that file. The manifest check skipped links, so the backup even "verified".
//
// Each way in must now refuse it with nothing created or changed outside the target:
//  - `pgfleet-agent restore --from` (verified: the manifest check names the link; --no-verify:
//    the extractor refuses it), and a --primary-conninfo with a newline is refused up front;
//  - the agent's gRPC Restore (with and without a backup_manifest);
//  - a stored repository backup: `pgfleet verify` used to call it good and must report it
//    (exit 81), and `pgfleet restore` through an agent must refuse it.
// Also: `pgfleet-basebackup -R` refuses a connection option with a newline (from PGAPPNAME)
// instead of writing it into postgresql.auto.conf.
// The archives are real tars: the backup's own base.tar re-packed with tar-stream.

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { chmod, cp, mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import tarStream from 'tar-stream';
import { UnsafePathError, VerifyError } from '@pgfleet/core';
import { AgentClient } from '@pgfleet/proto';
import { chownOne, makeTempDir, startCluster, type TestCluster } from '../harness/index.js';
import { agentRestore, entriesOf, serveAgent, stopServedAgent, type ServedAgent } from './agent-support.js';
import { assertSucceeded, describeRun, runBaseBackup } from './support/index.js';
import { runCli, startController, type ControllerProcess } from '../../packages/controller/test/support/fleet-processes.js';

const ROOT_ONLY = 'root only\n';

/** base.tar of `dir` re-packed: members named in `drop` left out, `links` appended as symbolic links. */
async function plantLinks(dir: string, drop: string[], links: Array<{ name: string; target: string }>): Promise<void> {
  const file = path.join(dir, 'base.tar');
  const extract = tarStream.extract();
  const pack = tarStream.pack();
  const packed = (async () => {
    const chunks: Buffer[] = [];
    for await (const chunk of pack) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  })();
  Readable.from([await readFile(file)]).pipe(extract);
  for await (const entry of extract) {
    const parts: Buffer[] = [];
    for await (const chunk of entry) parts.push(chunk as Buffer);
    if (drop.includes(entry.header.name)) continue;
    pack.entry(entry.header, Buffer.concat(parts));
  }
  for (const link of links) pack.entry({ name: link.name, type: 'symlink', linkname: link.target, mode: 0o777 });
  pack.finalize();
  await writeFile(file, await packed);
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

describe('symbolic links in a backup\'s base.tar never make the restore write outside its target', { timeout: 600_000 }, () => {
  let source: TestCluster;
  let work: string;
  let outside: string;
  let victim: string;
  let rootOnly: string;
  let backup: string;
  /** recovery.signal -> <outside>/victim */
  let linkedSignal: string;
  /** postgresql.auto.conf (the backup's, dropped) -> <outside>/root-only */
  let linkedAutoConf: string;

  before(async () => {
    source = await startCluster({ version: 15, data: { rows: 200 }, settings: ['autovacuum = off'] });
    work = await makeTempDir('pgfleet-e2e-symlink-escape');
    outside = path.join(work, 'outside');
    await mkdir(outside, { mode: 0o700 });
    victim = path.join(outside, 'victim');
    rootOnly = path.join(outside, 'root-only');
    await writeFile(rootOnly, ROOT_ONLY, { mode: 0o600 });
    backup = path.join(work, 'backup');
    assertSucceeded('pgfleet-basebackup', await runBaseBackup(['-D', backup, '-F', 't', '-X', 'stream', '-c', 'fast', '-d', source.connectionString]));
    linkedSignal = path.join(work, 'linked-signal');
    await cp(backup, linkedSignal, { recursive: true });
    await plantLinks(linkedSignal, [], [{ name: 'recovery.signal', target: victim }]);
    linkedAutoConf = path.join(work, 'linked-auto-conf');
    await cp(backup, linkedAutoConf, { recursive: true });
    await plantLinks(linkedAutoConf, ['postgresql.auto.conf'], [{ name: 'postgresql.auto.conf', target: rootOnly }]);
  });
  after(async () => {
    await source?.destroy();
  });

  async function assertOutsideUntouched(what: string): Promise<void> {
    assert.deepEqual(await readdir(outside), ['root-only'], `${what}: nothing created outside the target`);
    assert.equal(await readFile(rootOnly, 'utf8'), ROOT_ONLY, `${what}: the root-only file is unchanged`);
    assert.equal((await stat(rootOnly)).mode & 0o777, 0o600, what);
  }

  test('pgfleet-agent restore --from: refused, verified or not; nothing is left, nothing outside is touched', async () => {
    const cases: Array<{ label: string; from: () => string; mode: 'promote' | 'standby'; extra: string[]; code: number; message: string }> = [
      {
        label: 'recovery.signal, verified', from: () => linkedSignal, mode: 'promote', extra: [], code: 81,
        message: 'file "recovery.signal" in archive "base.tar" is a symbolic link, not a regular file',
      },
      {
        label: 'recovery.signal, --no-verify', from: () => linkedSignal, mode: 'promote', extra: ['--no-verify'], code: 61,
        message: 'archive member "recovery.signal" is a symbolic link outside pg_tblspc',
      },
      {
        label: 'postgresql.auto.conf, verified', from: () => linkedAutoConf, mode: 'standby', extra: ['--primary-conninfo', 'host=elsewhere'], code: 81,
        message: 'file "postgresql.auto.conf" in archive "base.tar" is a symbolic link, not a regular file',
      },
      {
        label: 'postgresql.auto.conf, --no-verify', from: () => linkedAutoConf, mode: 'standby', extra: ['--primary-conninfo', 'host=elsewhere', '--no-verify'], code: 61,
        message: 'archive member "postgresql.auto.conf" is a symbolic link outside pg_tblspc',
      },
      {
        label: 'a --primary-conninfo with a newline', from: () => linkedAutoConf, mode: 'standby',
        extra: ['--primary-conninfo', "host=elsewhere\nrestore_command = 'touch /tmp/owned'", '--no-verify'], code: 31,
        message: '--primary-conninfo contains a control character (newline), which postgresql.auto.conf cannot hold',
      },
    ];
    for (const [i, c] of cases.entries()) {
      const target = path.join(work, `local-${i}`);
      const outcome = await agentRestore({ from: c.from(), dataDir: path.join(target, 'data'), version: 15, mode: c.mode, extra: c.extra });
      assert.equal(outcome.result.code, c.code, `${c.label}: ${describeRun('restore', outcome.result)}`);
      assert.match(outcome.result.stderr, new RegExp(`pgfleet-agent: error: ${escapeRegExp(c.message)}\n`), c.label);
      assert.deepEqual(await entriesOf(target), [], `${c.label}: nothing left next to the target`);
      await assertOutsideUntouched(c.label);
    }
  });

  test('the agent\'s gRPC Restore: refused with and without a backup_manifest; nothing is left, nothing outside is touched', async () => {
    const allowed = path.join(work, 'grpc-allowed');
    await mkdir(allowed);
    await chownOne(allowed);
    const unverified = path.join(work, 'linked-signal-no-manifest');
    await cp(linkedSignal, unverified, { recursive: true });
    await rm(path.join(unverified, 'backup_manifest'));
    let served: ServedAgent | null = null;
    let client: AgentClient | null = null;
    try {
      served = await serveAgent({ work, name: 'grpc-agent', allowedRoot: allowed, tls: false });
      client = await AgentClient.connect({ address: served.address, tls: null });
      const cases: Array<[string, string, (err: unknown) => boolean]> = [
        ['verified', linkedSignal, (err) => err instanceof VerifyError &&
          err.message === 'file "recovery.signal" in archive "base.tar" is a symbolic link, not a regular file'],
        ['no manifest', unverified, (err) => err instanceof UnsafePathError &&
          err.message === 'archive member "recovery.signal" is a symbolic link outside pg_tblspc'],
      ];
      for (const [label, from, expected] of cases) {
        await assert.rejects(client.restore({ dataDir: path.join(allowed, 'data'), mode: 'RECOVERY_MODE_PROMOTE' }, from), expected, label);
        assert.deepEqual(await entriesOf(allowed), [], `${label}: nothing left in the allowed root`);
        await assertOutsideUntouched(`gRPC ${label}`);
      }
    } finally {
      client?.close();
      if (served) await stopServedAgent(served.agent);
    }
  });

  test('a stored repository backup: pgfleet verify reports the link (exit 81), pgfleet restore through an agent refuses it', async () => {
    const allowed = path.join(work, 'repo-allowed');
    await mkdir(allowed);
    await chownOne(allowed);
    const served = await serveAgent({ work, name: 'repo-agent', allowedRoot: allowed, tls: false });
    let controller: ControllerProcess | null = null;
    try {
      const repository = path.join(work, 'repo');
      const config = path.join(work, 'fleet.yaml');
      await writeFile(config, [
        'listen: 127.0.0.1:0', `repository: ${repository}`, 'insecure: true',
        'agents:', `  - { name: db1, address: "${served.address}" }`,
        'clusters:', `  - { name: src, conninfo: "${source.connectionString}", retention: { full: 2 } }`, '',
      ].join('\n'));
      controller = await startController(config);
      const env = { PGFLEET_CONTROLLER: controller.address, PGFLEET_INSECURE: '1' };
      const made = await runCli(['backup', 'src', '--json'], env);
      assert.equal(made.code, 0, made.stderr);
      const stored = (JSON.parse(made.stdout) as { backups: Array<{ id: string; path: string }> }).backups[0]!;
      assert.equal((await runCli(['verify', 'src', stored.id], env)).code, 0, 'the stored backup verifies before it is altered');

      // Someone with write access to the repository plants the link and keeps backup.json
      // consistent with the new size, so that the backup stays listed.
      await plantLinks(stored.path, [], [{ name: 'recovery.signal', target: victim }]);
      const metaFile = path.join(stored.path, 'backup.json');
      const meta = JSON.parse(await readFile(metaFile, 'utf8')) as { files: Array<{ name: string; size: number }>; sizeBytes: number };
      const size = (await stat(path.join(stored.path, 'base.tar'))).size;
      for (const f of meta.files) if (f.name === 'base.tar') f.size = size;
      meta.sizeBytes = meta.files.reduce((n, f) => n + f.size, 0);
      await writeFile(metaFile, JSON.stringify(meta, null, 2));
      await chmod(metaFile, 0o644);

      const verify = await runCli(['verify', 'src', stored.id], env);
      assert.equal(verify.code, 81, verify.stderr);
      assert.match(verify.stderr, /file "recovery\.signal" in archive "base\.tar" is a symbolic link, not a regular file/);

      const restore = await runCli(['restore', 'src', '--backup', stored.id, '--agent', 'db1', '-D', path.join(allowed, 'data'), '--mode', 'promote'], env);
      assert.equal(restore.code, 81, restore.stderr);
      assert.match(restore.stderr, /file "recovery\.signal" in archive "base\.tar" is a symbolic link, not a regular file/);
      assert.deepEqual(await entriesOf(allowed), [], 'nothing left in the agent\'s allowed root');
      await assertOutsideUntouched('repository');
    } finally {
      await controller?.stop();
      await stopServedAgent(served.agent);
    }
  });

  test('pgfleet-basebackup -R refuses a connection option with a newline (PGAPPNAME) instead of writing it into postgresql.auto.conf', async () => {
    const dir = path.join(work, 'dash-r');
    const result = await runBaseBackup(['-D', dir, '-F', 't', '-R', '-c', 'fast', '-d', source.connectionString], {
      env: { PGAPPNAME: "app\nrestore_command = 'touch /tmp/owned'" },
    });
    assert.equal(result.code, 1, describeRun('pgfleet-basebackup', result));
    // The check needs the live connection's options, so it comes after -D was created: the
    // directory is removed again, and said so as pg_basebackup says it.
    assert.equal(result.stderr,
      `pgfleet-basebackup: removing data directory "${dir}"\n` +
      'pgfleet-basebackup: error: connection option "application_name" contains a control character (newline), which postgresql.auto.conf cannot hold\n' +
      'pgfleet-basebackup: hint: -R writes the connection\'s options into primary_conninfo: correct "application_name" in the connection string or in PGAPPNAME.\n');
    assert.equal(existsSync(dir), false, 'nothing was written');
  });
});
