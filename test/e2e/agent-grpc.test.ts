// The agent's gRPC service, against a real `pgfleet-agent serve` process on a local port with
// mutual TLS (certificates made at test time by `pgfleet-agent certs`, i.e. openssl), and a
// PostgreSQL 15 cluster with two tablespaces and data:
//  - GetInfo answers versions, capabilities, the PostgreSQL installations and allowed roots;
//  - Restore over the stream gives the same files and report as the local command; the copy
//    starts through the Instance call and holds the source's data;
//  - Restore with start: promoted, tablespaces at the new paths, source data (harness check);
//  - a client without a certificate the agent's CA signed, or without TLS, is refused; so is one
//    the same CA signed with role "cli" instead of "controller" (PERMISSION_DENIED);
//  - a restore whose start fails (port in use) gets its multi-line HINT with the server log
//    across the wire, and the agent goes on serving;
//  - a restore outside allowedRoots is refused with the catalogue error, rethrown client-side
//    as the same class, and nothing is written; so is a non-empty target (hint preserved);
//  - a restore the client cancels midway leaves nothing behind.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { lstat, mkdir, readdir, readFile, readlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { execFileSync } from 'node:child_process';
import { AuthenticationError, CancelledError, ConnectError, DirectoryNotEmptyError, InstanceError, NotAllowedError } from '@pgfleet/core';
import { binDir, chownOne, makeTempDir, startCluster, startRestored, type Snapshot, type TestCluster } from '../harness/index.js';
import { AGENT_PROTOCOL_VERSION, AgentClient, agentServiceClient } from '@pgfleet/proto';
import { agentRestore, entriesOf, runAgent, serveAgent, stopServedAgent, type ServedAgent } from './agent-support.js';
import { assertRestoredCopy, assertSucceeded, describeRun, runBaseBackup, type RunningTool } from './support/index.js';

/** Every file below `dir`: relative path -> sha256 (symlinks: "-> target"), paths rewritten by `normalize`. */
async function treeDigest(dir: string, normalize: (s: string) => string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const visit = async (p: string, rel: string): Promise<void> => {
    const st = await lstat(p);
    if (st.isSymbolicLink()) out[rel] = `-> ${normalize(await readlink(p))}`;
    else if (st.isFile()) out[rel] = `${(st.mode & 0o777).toString(8)} ${createHash('sha256').update(normalize((await readFile(p)).toString('latin1'))).digest('hex')}`;
    else if (st.isDirectory()) {
      out[`${rel}/`] = (st.mode & 0o777).toString(8);
      for (const name of await readdir(p)) await visit(path.join(p, name), rel === '' ? name : `${rel}/${name}`);
    }
  };
  await visit(dir, '');
  return out;
}

describe('pgfleet-agent serve: gRPC with mutual TLS', { timeout: 300_000 }, () => {
  let source: TestCluster;
  let expected: Snapshot;
  let work: string;
  let backup: string;
  let allowed: string;
  let agent: RunningTool;
  let address: string;
  let certs: string;
  let client: AgentClient;

  before(async () => {
    source = await startCluster({ version: 15, tablespaces: 2, data: true, settings: ['autovacuum = off'] });
    expected = await source.snapshot();
    work = await makeTempDir('pgfleet-e2e-agent-grpc');
    backup = path.join(work, 'backup');
    assertSucceeded('pgfleet-basebackup', await runBaseBackup(['-D', backup, '-F', 't', '-X', 'stream', '-z', '-c', 'fast', '-R', '-d', source.connectionString]));
    certs = path.join(work, 'certs');
    allowed = path.join(work, 'allowed');
    await mkdir(allowed);
    await chownOne(allowed);
    let tls: ServedAgent['tls'];
    ({ agent, address, tls } = await serveAgent({ work, allowedRoot: allowed, tls: true }));
    assert.deepEqual((await readdir(certs)).sort(), ['agent-db1.crt', 'agent-db1.key', 'ca.crt', 'ca.key', 'cli.crt', 'cli.key', 'controller.crt', 'controller.key']);
    client = await AgentClient.connect({ address, tls });
  });

  after(async () => {
    client?.close();
    if (agent) await stopServedAgent(agent);
    await source?.destroy();
  });

  test('GetInfo: versions, capabilities, PostgreSQL installations, allowed roots, disk space', async () => {
    const info = await client.getInfo();
    assert.equal(info.agentVersion, '0.1.0');
    assert.equal(info.protocolVersion, AGENT_PROTOCOL_VERSION);
    assert.ok(info.capabilities.includes('restore'));
    assert.ok(info.capabilities.includes('backup'));
    assert.ok(info.postgres.some((p) => p.major === 15 && p.binDir === binDir(15)), JSON.stringify(info.postgres));
    assert.deepEqual(info.allowedRoots, [allowed]);
    assert.equal(info.osUser, 'postgres');
    assert.equal(info.diskSpace.length, 1);
    assert.ok(Number(info.diskSpace[0]?.availableBytes) > 0);
  });

  test('Restore over the stream gives the same result as the local command; Instance starts and stops the copy', async () => {
    const grpcDir = path.join(allowed, 'grpc');
    const localDir = path.join(allowed, 'local');
    const mappings = (dir: string): Array<{ oldDir: string; newDir: string }> =>
      source.tablespaces.map((ts) => ({ oldDir: ts.location, newDir: path.join(dir, ts.name) }));
    const events: string[] = [];
    const remote = await client.restore(
      { dataDir: path.join(grpcDir, 'data'), tablespaceMappings: mappings(grpcDir), mode: 'RECOVERY_MODE_PROMOTE' },
      backup,
      { onEvent: (e) => events.push(e.event ?? '') },
    );
    assert.equal(events[0], 'plan', 'the plan comes first');
    assert.equal(events.at(-1), 'report');
    const local = await agentRestore({
      from: backup, dataDir: path.join(localDir, 'data'), version: 15, mode: 'promote',
      mappings: mappings(localDir).map((m) => [m.oldDir, m.newDir]),
    });
    assert.equal(local.result.code, 0, describeRun('local restore', local.result));
    const l = local.report;
    assert.ok(l);

    const fromLocal = (s: string): string => s.split(localDir).join('<dir>');
    const fromRemote = (s: string): string => s.split(grpcDir).join('<dir>');
    assert.deepEqual(
      { mode: remote.mode, major: remote.major, verify: remote.verify, tablespaces: remote.tablespaces.map((t) => ({ ...t, location: fromRemote(t.location) })) },
      {
        mode: l.mode, major: l.major,
        verify: { verified: l.verify.verified, filesChecked: l.verify.filesChecked, checksumAlgorithm: l.verify.checksumAlgorithm ?? '' },
        tablespaces: l.tablespaces.map((t) => ({ ...t, location: fromLocal(t.location) })),
      },
    );
    assert.deepEqual(await treeDigest(grpcDir, fromRemote), await treeDigest(localDir, fromLocal), 'same files, modes and contents');

    // Start the copy through the agent, query it, stop it.
    const dataDir = path.join(grpcDir, 'data');
    const socketDir = path.join(allowed, 'sock');
    let status = await client.instance({ action: 'ACTION_START', dataDir, socketDir });
    assert.equal(status.running, true);
    const deadline = Date.now() + 60_000;
    while (status.recoveryState !== 'primary' && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
      status = await client.instance({ action: 'ACTION_STATUS', dataDir });
    }
    assert.equal(status.recoveryState, 'primary', JSON.stringify(status));
    assert.equal(status.timeline, 2);
    assert.deepEqual(status.tablespaces.map((t) => t.location), source.tablespaces.map((ts) => path.join(grpcDir, ts.name)));
    status = await client.instance({ action: 'ACTION_STOP', dataDir });
    assert.equal(status.running, false);
  });

  test('Restore over the stream with start: promoted, new tablespace paths, the source\'s data', async () => {
    const dir = path.join(allowed, 'started');
    const targets = new Map(source.tablespaces.map((ts) => [ts.oid, path.join(dir, ts.name)]));
    const dataDir = path.join(dir, 'data');
    const report = await client.restore({
      dataDir, mode: 'RECOVERY_MODE_PROMOTE', start: true, socketDir: path.join(allowed, 'sock'),
      tablespaceMappings: source.tablespaces.map((ts) => ({ oldDir: ts.location, newDir: targets.get(ts.oid) as string })),
    }, backup);
    assert.ok(report.instance);
    assert.equal(report.instance.recoveryState, 'primary');
    assert.equal(report.instance.timeline, 2);
    assert.deepEqual(report.instance.tablespaces.map((t) => [t.oid, t.location]), [...targets]);
    const stopped = await client.instance({ action: 'ACTION_STOP', dataDir });
    assert.equal(stopped.running, false);
    const copy = await startRestored({ dataDir, version: 15, mode: 'promote' });
    try {
      await assertRestoredCopy({ copy, source, expected, tablespaceTargets: targets, label: 'gRPC restore' });
    } finally {
      await copy.destroy();
    }
  });

  test('a client without a certificate, with one from another CA, or without TLS is refused', async () => {
    const otherCerts = path.join(work, 'other-ca');
    assert.equal((await runAgent(['certs', '--out', otherCerts])).code, 0);
    const before = await entriesOf(allowed);
    const strangers = [
      await AgentClient.connect({ address, tls: { ca: path.join(certs, 'ca.crt'), cert: path.join(otherCerts, 'controller.crt'), key: path.join(otherCerts, 'controller.key') } }),
      await AgentClient.connect({ address, tls: null }),
    ];
    // The refused handshake reaches the client as a failed connection (40) or, when it reads
    // the TLS alert in time, as a failed handshake (41).
    const refused = (err: unknown): boolean => {
      assert.ok(err instanceof ConnectError || err instanceof AuthenticationError, String(err));
      assert.match(err.message, new RegExp(`^(could not connect to agent "${address}"|TLS handshake with agent "${address}" failed): `));
      return true;
    };
    for (const stranger of strangers) {
      try {
        await assert.rejects(stranger.getInfo(), refused);
        await assert.rejects(stranger.restore({ dataDir: path.join(allowed, 'stranger'), mode: 'RECOVERY_MODE_PROMOTE' }, backup), refused);
      } finally {
        stranger.close();
      }
    }
    // TLS with the right CA but no client certificate at all.
    const grpc = await import('@grpc/grpc-js');
    const raw = new (agentServiceClient())(address, grpc.credentials.createSsl(await readFile(path.join(certs, 'ca.crt'))));
    try {
      const err = await new Promise<{ code?: number } | null>((resolve) => raw.getInfo({ protocolVersion: AGENT_PROTOCOL_VERSION, client: 'no cert' }, (e) => resolve(e)));
      assert.equal(err?.code, grpc.status.UNAVAILABLE, 'refused during the TLS handshake');
    } finally {
      raw.close();
    }
    assert.deepEqual(await entriesOf(allowed), before, 'nothing was written');
  });

  test('a certificate of the same CA with role "cli" is refused on every call: PERMISSION_DENIED naming both roles', async () => {
    const dir = path.join(work, 'cli-role');
    await mkdir(dir);
    const ext = path.join(dir, 'cli.ext');
    await writeFile(ext, 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\nsubjectAltName=URI:urn:pgfleet:role:cli\n');
    execFileSync('openssl', ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', path.join(dir, 'cli.key'),
      '-out', path.join(dir, 'cli.csr'), '-subj', '/CN=pgfleet-cli'], { stdio: 'pipe' });
    execFileSync('openssl', ['x509', '-req', '-in', path.join(dir, 'cli.csr'), '-CA', path.join(certs, 'ca.crt'), '-CAkey', path.join(certs, 'ca.key'),
      '-set_serial', '4242', '-days', '1', '-extfile', ext, '-out', path.join(dir, 'cli.crt')], { stdio: 'pipe' });
    const before = await entriesOf(allowed);
    const cli = await AgentClient.connect({ address, tls: { ca: path.join(certs, 'ca.crt'), cert: path.join(dir, 'cli.crt'), key: path.join(dir, 'cli.key') } });
    try {
      const refused = (err: unknown): boolean => {
        assert.ok(err instanceof NotAllowedError, String(err));
        assert.equal(err.message, 'client certificate "pgfleet-cli" has role "cli"; the agent requires role "controller"');
        return true;
      };
      await assert.rejects(cli.getInfo(), refused);
      await assert.rejects(cli.restore({ dataDir: path.join(allowed, 'by-cli'), mode: 'RECOVERY_MODE_PROMOTE' }, backup), refused);
      await assert.rejects(cli.backup({ dataDir: source.dataDir, label: 'by cli' }, path.join(work, 'by-cli')), refused);
    } finally {
      cli.close();
    }
    assert.deepEqual(await entriesOf(allowed), before, 'nothing was written');
    assert.match(agent.stderrSoFar(), /call from \S+ failed: client certificate "pgfleet-cli" has role "cli"; the agent requires role "controller"/);
  });

  test('a restore whose start fails (port in use): the multi-line HINT crosses the wire, the agent keeps serving, the files stay', async () => {
    const dir = path.join(allowed, 'port-taken');
    const dataDir = path.join(dir, 'data');
    await assert.rejects(client.restore({
      dataDir, mode: 'RECOVERY_MODE_PROMOTE', start: true, port: source.port, socketDir: path.join(allowed, 'sock'),
      tablespaceMappings: source.tablespaces.map((ts) => ({ oldDir: ts.location, newDir: path.join(dir, ts.name) })),
    }, backup), (err: unknown) => {
      assert.ok(err instanceof InstanceError, String(err));
      assert.equal(err.message, `could not start the restored instance in "${dataDir}": pg_ctl exited with code 1`);
      assert.match(err.hint ?? '', new RegExp(`^Port ${source.port} is in use \\(the instance the backup came from\\?\\); choose another with --port\\. Its log ".*pgfleet-agent-start.log" ends with:\n`));
      assert.match(err.hint ?? '', /Address already in use/);
      return true;
    });
    assert.equal((await client.getInfo()).protocolVersion, AGENT_PROTOCOL_VERSION);
    assert.ok((await readdir(dataDir)).includes('PG_VERSION'), 'the restore itself is complete and kept');
  });

  test('a restore outside allowedRoots is refused (same error class client-side); nothing is written', async () => {
    const outside = path.join(work, 'outside');
    await assert.rejects(
      client.restore({ dataDir: path.join(outside, 'data'), mode: 'RECOVERY_MODE_PROMOTE' }, backup),
      (err: unknown) => {
        assert.ok(err instanceof NotAllowedError, String(err));
        assert.equal(err.message, `data directory "${path.join(outside, 'data')}" is outside the directories this agent may write to`);
        assert.equal(err.hint, `Choose a directory under "${allowed}", or add it to allowedRoots in agent.yaml.`);
        return true;
      },
    );
    // A tablespace mapped outside is refused just the same.
    await assert.rejects(
      client.restore({
        dataDir: path.join(allowed, 'ts-outside', 'data'), mode: 'RECOVERY_MODE_PROMOTE',
        tablespaceMappings: source.tablespaces.map((ts) => ({ oldDir: ts.location, newDir: path.join(outside, ts.name) })),
      }, backup),
      (err: unknown) => err instanceof NotAllowedError && /^tablespace directory ".*" is outside the directories this agent may write to$/.test(err.message),
    );
    // Without -T the original locations (the source's, outside allowedRoots) are refused too.
    await assert.rejects(
      client.restore({ dataDir: path.join(allowed, 'ts-default', 'data'), mode: 'RECOVERY_MODE_PROMOTE' }, backup),
      (err: unknown) => err instanceof NotAllowedError && /^directory of tablespace [0-9]+ ".*" is outside/.test(err.message),
    );
    assert.deepEqual(await entriesOf(outside), []);
    assert.deepEqual((await entriesOf(allowed)).filter((n) => n.startsWith('ts-') || n.startsWith('.pgfleet')), []);
  });

  test('a non-empty target is refused over the wire with its HINT', async () => {
    const dataDir = path.join(allowed, 'busy');
    await mkdir(dataDir);
    await writeFile(path.join(dataDir, 'keep'), 'x');
    await assert.rejects(client.restore({ dataDir, mode: 'RECOVERY_MODE_NONE' }, backup), (err: unknown) => {
      assert.ok(err instanceof DirectoryNotEmptyError, String(err));
      assert.equal(err.format(), `data directory "${dataDir}" exists but is not empty\nHINT: Remove its contents or choose another directory; pgfleet-agent never restores over existing files.`);
      return true;
    });
    assert.deepEqual(await entriesOf(dataDir), ['keep']);
  });

  test('a restore the client cancels midway leaves nothing behind', async () => {
    const dir = path.join(allowed, 'cancelled');
    const controller = new AbortController();
    const restoring = client.restore(
      { dataDir: path.join(dir, 'data'), mode: 'RECOVERY_MODE_PROMOTE', tablespaceMappings: source.tablespaces.map((ts) => ({ oldDir: ts.location, newDir: path.join(dir, ts.name) })) },
      backup,
      { onEvent: (e) => { if (e.event === 'progress') controller.abort(); }, signal: controller.signal },
    );
    await assert.rejects(restoring, (err: unknown) => err instanceof CancelledError && err.message === `the call to agent "${address}" was cancelled`);
    // The agent notices the cancellation and removes its staging directories.
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline && (await entriesOf(dir)).length > 0) await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(await entriesOf(dir), [], `the agent's log:\n${agent.stderrSoFar().slice(-4000)}`);
    const deadline2 = Date.now() + 5_000;
    while (Date.now() < deadline2 && !agent.stderrSoFar().includes('cancelled by the client')) await new Promise((r) => setTimeout(r, 50));
    assert.match(agent.stderrSoFar(), /Restore from .*: cancelled by the client/);
  });
});
