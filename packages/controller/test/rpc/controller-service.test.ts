// The controller service in-process (insecure, port 0) with in-process agents: request
// validation and its error texts, protocol negotiation with the CLI, busy clusters, client
// cancellation, and the restore relay's stream handling (spec, file order and content, relayed
// plan/progress/report, agent errors). The CLI's own code (main) is used as the client.
import assert from 'node:assert/strict';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { DirectoryNotEmptyError } from '@pgfleet/core';
import { CONTROLLER_PROTOCOL_VERSION, controllerServiceClient, type RestoreRequest__Output } from '@pgfleet/proto';
import { startFakeAgent, type FakeAgent } from '../../../../proto/test/support/fake-agent.js';
import { parseFleetConfig } from '../../src/config.js';
import { startDaemon, type RunningDaemon } from '../../src/daemon/daemon.js';
import { formatBackupMetadata } from '../../src/repository/backup-metadata.js';
import { backupDir, backupsDir } from '../../src/repository/layout.js';
import { sampleMetadata, tempDir } from '../repository/fixtures.js';
import { mainAgainst, type MainResult } from '../support/in-process-cli.js';

let daemon: RunningDaemon;
let agent: FakeAgent;
let repo: string;
let releaseStall: (() => void) | null = null;
const received: { requests: RestoreRequest__Output[] } = { requests: [] };
let restoreFailure: Error | null = null;
const logs: string[] = [];

const FILES: Record<string, Buffer> = {
  'backup_manifest': Buffer.from('{"manifest": true}\n'),
  'base.tar': Buffer.alloc(300 * 1024, 7),
  '16400.tar': Buffer.from('tablespace archive'),
  'pg_wal.tar': Buffer.alloc(1024, 1),
};
const RESTORE_ID = '20250101T000000Z';

/** A TCP server that accepts connections and never answers (a hung or stopped server). */
const blackhole = { server: net.createServer(), port: 0, accepted: 0, sockets: [] as net.Socket[] };

before(async () => {
  blackhole.server.on('connection', (socket) => {
    blackhole.accepted += 1;
    blackhole.sockets.push(socket);
  });
  await new Promise<void>((resolve) => blackhole.server.listen(0, '127.0.0.1', resolve));
  blackhole.port = (blackhole.server.address() as net.AddressInfo).port;
  repo = await tempDir();
  const dir = backupDir(repo, 'r', RESTORE_ID);
  await mkdir(dir, { recursive: true });
  for (const [name, data] of Object.entries(FILES)) await writeFile(join(dir, name), data);
  const files = Object.entries(FILES).map(([name, data]) => ({ name, size: data.length })).sort((x, y) => x.name.localeCompare(y.name));
  await writeFile(join(dir, 'backup.json'), formatBackupMetadata({
    ...sampleMetadata('r', RESTORE_ID, files), tablespaces: [{ oid: 16400, location: '/old/ts', archive: '16400.tar' }],
  }));

  agent = await startFakeAgent({
    backup: async (_req, write, call) => {
      await write({ started: { startLsn: '0/1', timeline: 1, systemIdentifier: '1', serverVersionNum: 150000, tablespaces: [], estimatedBytes: '0' } });
      await new Promise<void>((resolve) => {
        releaseStall = resolve;
        call.on('cancelled', () => resolve());
      });
    },
    restore: async (call) => {
      // destroyOnReturn: false, or the end of the requests would destroy the whole duplex
      // call before the events below are written.
      for await (const req of call.iterator({ destroyOnReturn: false })) {
        const r = req as RestoreRequest__Output;
        received.requests.push(r);
        if (r.item === 'spec') {
          if (restoreFailure) throw restoreFailure;
          call.write({ plan: { mode: 'promote', statement: 'the copy will come up read-write on a new timeline', dataDir: r.spec?.dataDir ?? '' } });
        }
      }
      call.write({ progress: { phase: 'extract', file: 'base.tar', bytesDone: '10', bytesTotal: '10' } });
      call.write({
        report: {
          dataDir: '/new/data', mode: 'promote', major: 15, tablespaces: [{ oid: 16400, originalLocation: '/old/ts', location: '/new/ts' }],
          walDir: '', verify: { verified: true, filesChecked: 4, checksumAlgorithm: 'CRC32C' }, bytes: '307230', durationMs: '1200', warnings: [],
          instance: { dataDir: '/new/data', running: true, port: 5999, inRecovery: false, recoveryState: 'primary', timeline: 2, serverVersion: '15.8', tablespaces: [] },
        },
      });
    },
  });
  const config = parseFleetConfig([
    'listen: 127.0.0.1:0',
    `repository: ${repo}`,
    'insecure: true',
    'agents: [{ name: db1, address: "' + agent.address + '" }]',
    'clusters:',
    '  - { name: stall, agent: db1, retention: { full: 1 } }',
    '  - { name: r, agent: db1, retention: { full: 1 } }',
    '  - { name: ghost, conninfo: "host=127.0.0.1 port=1 user=postgres connect_timeout=2", retention: { full: 1 } }',
    `  - { name: blackhole, conninfo: "host=127.0.0.1 port=${blackhole.port} user=postgres", retention: { full: 1 } }`,
    'noProgressTimeoutSeconds: 2',
  ].join('\n'), join(repo, 'fleet.yaml'));
  daemon = await startDaemon(config, { logger: { info: (m) => logs.push(m), error: (m) => logs.push(`error: ${m}`) } });
});

after(async () => {
  for (const socket of blackhole.sockets) socket.destroy();
  blackhole.server.close();
  releaseStall?.();
  await daemon?.stop();
  agent?.kill();
});

const cli = (args: string[]): Promise<MainResult> => mainAgainst(daemon.port, args);

test('a client speaking another protocol major version is refused with a hint', async () => {
  const client = new (controllerServiceClient())(`127.0.0.1:${daemon.port}`, grpc.credentials.createInsecure());
  const err = await new Promise<grpc.ServiceError | null>((resolve) => client.getControllerInfo({ clientVersion: '2.3.0', clientProtocolVersion: '2.0' }, resolve));
  client.close();
  assert.equal(err?.details, `client "pgfleet 2.3.0" speaks protocol 2.0, this controller speaks ${CONTROLLER_PROTOCOL_VERSION}`);
  assert.equal(err?.metadata.get('pgfleet-error-id')[0], 'incompatible-version');
  assert.equal(err?.metadata.get('pgfleet-error-hint')[0], 'Upgrade this controller so that both have protocol major version 2.');
});

test('unknown names and bad requests are refused with the catalogue code as exit code', async () => {
  assert.deepEqual(await cli(['backups', 'nope']), {
    code: 74, stdout: '', stderr: 'pgfleet: error: cluster "nope" is not configured\nHINT: Configured clusters: "stall", "r", "ghost", "blackhole".\n',
  });
  assert.deepEqual(await cli(['backup']), {
    code: 31, stdout: '', stderr: 'pgfleet: error: no cluster to back up\nHINT: Name one or more clusters, or use --all.\n',
  });
  assert.deepEqual(await cli(['backup', '--all', 'r']), { code: 31, stdout: '', stderr: 'pgfleet: error: give cluster names or --all, not both\n' });
  assert.deepEqual(await cli(['backup', 'r', '--parallel', '0']), {
    code: 31, stdout: '', stderr: 'pgfleet: error: invalid value "0" for option --parallel\nHINT: Give a positive integer.\n',
  });
  assert.deepEqual(await cli(['verify', 'stall']), {
    code: 74, stdout: '', stderr: 'pgfleet: error: cluster "stall" has no usable backup\nHINT: Take one with "pgfleet backup stall".\n',
  });
  assert.deepEqual(await cli(['verify', 'r', '20200101T000000Z']), {
    code: 74, stdout: '', stderr: 'pgfleet: error: backup "20200101T000000Z" of cluster "r" not found\nHINT: List the backups with "pgfleet backups r".\n',
  });
  assert.deepEqual(await cli(['restore', 'r', '--agent', 'db9', '-D', '/x', '--mode', 'none']), {
    code: 74, stdout: '', stderr: 'pgfleet: error: agent "db9" is not configured\nHINT: Configured agents: "db1".\n',
  });
  assert.deepEqual(await cli(['restore', 'r', '--agent', 'db1', '-D', '/x']), {
    code: 31, stdout: '',
    stderr: 'pgfleet: error: a recovery mode is required\nHINT: Use --mode standby (read-only copy following a primary), promote (read-write on a new timeline) or none (files only).\n',
  });
  const usage = await cli(['restore', 'r']);
  assert.equal(usage.code, 31);
  assert.match(usage.stderr, /required option '--agent <name>' not specified/);
});

test('a cluster that cannot be reached fails with its connection error, and leaves nothing', async () => {
  const r = await cli(['backup', 'ghost']);
  assert.equal(r.code, 40, r.stderr);
  assert.match(r.stderr, /^cluster "ghost": backup \S+ started \(direct\)\npgfleet: error: cluster "ghost": backup failed: could not connect /);
  assert.match(r.stderr, /\n0 of 1 cluster backed up, 1 failed\n$/);
  assert.deepEqual(await readdir(backupsDir(repo, 'ghost')), []);
});

test('a direct backup of a server that accepts TCP and never answers fails within the no-progress deadline; the cluster is busy meanwhile', { timeout: 30_000 }, async () => {
  const started = Date.now();
  const first = cli(['backup', 'blackhole']);
  for (let i = 0; i < 300 && blackhole.accepted === 0; i += 1) await new Promise((res) => setTimeout(res, 10));
  assert.equal(blackhole.accepted, 1, 'the backup connected');
  // From its start, the backup holds the cluster: a second one is refused, and the listing says so.
  const second = await cli(['backup', 'blackhole', '--json']);
  assert.equal(second.code, 75);
  assert.equal(JSON.parse(second.stdout).failures[0].error.message, 'a backup of cluster "blackhole" is already running');
  const clusters = JSON.parse((await cli(['clusters', '--json'])).stdout) as Array<{ name: string; backupRunning: boolean }>;
  assert.deepEqual(clusters.map((c) => [c.name, c.backupRunning]).filter(([n]) => n === 'blackhole' || n === 'ghost'),
    [['ghost', false], ['blackhole', true]]);
  const r = await first;
  const seconds = (Date.now() - started) / 1000;
  assert.equal(r.code, 40, r.stderr);
  assert.match(r.stderr, new RegExp(`pgfleet: error: cluster "blackhole": backup failed: could not connect for replication to "127\\.0\\.0\\.1:${blackhole.port}": timeout expired\n`));
  assert.ok(seconds >= 1.9 && seconds < 15, `failed after ${seconds} s`);
  assert.deepEqual(await readdir(backupsDir(repo, 'blackhole')), []);
  const after = JSON.parse((await cli(['clusters', '--json'])).stdout) as Array<{ name: string; backupRunning: boolean }>;
  assert.equal(after.find((c) => c.name === 'blackhole')?.backupRunning, false);
});

test('a second backup of a busy cluster is refused; cancelling the first stops the agent and removes its staging', async () => {
  const first = (async () => cli(['backup', 'stall']))();
  for (let i = 0; i < 200 && releaseStall === null; i += 1) await new Promise((res) => setTimeout(res, 10));
  assert.ok(releaseStall, 'the agent got the first backup');
  const second = await cli(['backup', 'stall', '--json']);
  assert.equal(second.code, 75);
  assert.deepEqual(JSON.parse(second.stdout), {
    backups: [],
    failures: [{ cluster: 'stall', error: { id: 'busy', code: 75, message: 'a backup of cluster "stall" is already running', hint: 'Wait for it to finish.' } }],
  });
  // The daemon shutting down aborts the first backup like a cancelled client would.
  const staging = await readdir(backupsDir(repo, 'stall'));
  assert.equal(staging.length, 1);
  assert.match(staging[0] as string, /^\.tmp-/);
  await daemon.stop();
  const firstResult = await first;
  assert.notEqual(firstResult.code, 0);
  for (let i = 0; i < 200 && !agent.cancelled; i += 1) await new Promise((res) => setTimeout(res, 10));
  assert.equal(agent.cancelled, true, 'the agent saw the Backup call cancelled');
  assert.deepEqual(await readdir(backupsDir(repo, 'stall')), []);
  // Back in service for the other tests.
  daemon = await startDaemon(parseFleetConfig([
    'listen: 127.0.0.1:0', `repository: ${repo}`, 'insecure: true',
    'agents: [{ name: db1, address: "' + agent.address + '" }]',
    'clusters:', '  - { name: r, agent: db1, retention: { full: 1 } }',
  ].join('\n'), join(repo, 'fleet.yaml')), { logger: { info: () => {}, error: () => {} } });
});

test('restore streams the spec and the files in order to the agent and reports what the agent says', async () => {
  received.requests.length = 0;
  const r = await cli(['restore', 'r', '--agent', 'db1', '-D', '/new/data', '-T', '/old/ts=/new/ts', '--mode', 'promote', '--start', '--port', '5999', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const spec = received.requests[0]?.spec;
  assert.ok(spec);
  assert.equal(spec.dataDir, '/new/data');
  assert.deepEqual(spec.tablespaceMappings, [{ oldDir: '/old/ts', newDir: '/new/ts' }]);
  assert.equal(spec.mode, 'RECOVERY_MODE_PROMOTE');
  assert.equal(spec.start, true);
  assert.equal(spec.port, 5999);
  const order = ['backup_manifest', 'base.tar', '16400.tar', 'pg_wal.tar'];
  assert.deepEqual(spec.files.map((f) => [f.name, Number(f.size)]), order.map((n) => [n, FILES[n]?.length]));
  // Then FileBegin, data..., FileEnd per file, in that order, with the bytes of the stored files.
  const got = new Map<string, Buffer[]>();
  const begun: string[] = [];
  const names = new Map<number, string>();
  for (const req of received.requests.slice(1)) {
    if (req.item === 'fileBegin' && req.fileBegin) { names.set(req.fileBegin.fileId, req.fileBegin.name); begun.push(req.fileBegin.name); got.set(req.fileBegin.name, []); }
    else if (req.item === 'data' && req.data) got.get(names.get(req.data.fileId) ?? '')?.push(req.data.chunk);
  }
  assert.deepEqual(begun, order);
  for (const n of order) assert.deepEqual(Buffer.concat(got.get(n) ?? []), FILES[n], n);

  assert.deepEqual(JSON.parse(r.stdout), {
    cluster: 'r', backupId: RESTORE_ID, agent: 'db1', plan: 'the copy will come up read-write on a new timeline',
    dataDirectory: '/new/data', mode: 'promote', major: 15, walDir: null, verified: true, bytes: 307230, durationMs: 1200, warnings: [],
    tablespaces: [{ oid: 16400, originalLocation: '/old/ts', location: '/new/ts' }],
    instance: { inRecovery: false, recoveryState: 'primary', timeline: 2, port: 5999, serverVersion: '15.8' },
    pointInTime: null,
  });
  const human = await cli(['restore', 'r', '--agent', 'db1', '-D', '/new/data', '-T', '/old/ts=/new/ts', '--mode', 'promote', '--start']);
  assert.equal(human.stdout, [
    `restored backup ${RESTORE_ID} into "/new/data" on agent "db1" (mode promote, 300 kB in 1s)`,
    'tablespace 16400: "/new/ts" (was "/old/ts")',
    'server 15.8 running on port 5999: read-write (primary), timeline 2',
    '',
  ].join('\n'));
  const lines = human.stderr.split('\n');
  assert.equal(lines[0], 'restoring backup 20250101T000000Z of cluster "r" (301 kB) on agent "db1"');
  assert.ok(lines.includes('the copy will come up read-write on a new timeline'), human.stderr);
  assert.ok(lines.includes('send backup_manifest: 19 bytes of 301 kB (0%)'), human.stderr);
});

test('an error raised by the agent during restore reaches the CLI with its code and hint', async () => {
  restoreFailure = new DirectoryNotEmptyError('directory "/new/data" exists but is not empty', { hint: 'Restore into an empty or new directory.' });
  try {
    const r = await cli(['restore', 'r', '--agent', 'db1', '-D', '/new/data', '--mode', 'none']);
    assert.equal(r.code, 70);
    assert.match(r.stderr, /pgfleet: error: directory "\/new\/data" exists but is not empty\nHINT: Restore into an empty or new directory\.\n$/);
  } finally {
    restoreFailure = null;
  }
});

test('the restore file order is manifest, base, tablespaces by OID, WAL', async () => {
  const { restoreFileOrder } = await import('@pgfleet/proto');
  assert.deepEqual(restoreFileOrder(['pg_wal.tar.gz', '16500.tar.gz', 'base.tar.gz', '9000.tar.gz', 'backup_manifest']),
    ['backup_manifest', 'base.tar.gz', '9000.tar.gz', '16500.tar.gz', 'pg_wal.tar.gz']);
});

test('an agent that ends the restore early does not leave the controller waiting', async () => {
  const early = await startFakeAgent({
    restore: async (call) => {
      // Reads the spec only, then ends the call successfully without a report.
      for await (const _ of call.iterator({ destroyOnReturn: false })) break;
    },
  });
  try {
    const { AgentClient } = await import('@pgfleet/proto');
    const { relayRestore } = await import('../../src/daemon/restore-relay.js');
    const { readClusterCatalog } = await import('../../src/repository/catalog.js');
    const entry = (await readClusterCatalog(repo, 'r')).backups[0];
    assert.ok(entry);
    const client = new AgentClient({ name: 'early', address: early.address }, null);
    try {
      await assert.rejects(relayRestore({
        agent: client, backup: entry, emit: () => {},
        target: { dataDir: '/x', tablespaceMappings: [], mode: 'none', start: false, port: 0, walDir: '', primaryConninfo: '' },
      }), (err: Error & { code?: number }) => {
        assert.ok(err.code === 50, `${err.code} ${err.message}`);
        assert.match(err.message, /^(agent "early" ended the restore before all files were sent|restore stream from agent "early" ended without a report)$/);
        return true;
      });
    } finally {
      client.close();
    }
  } finally {
    early.kill();
  }
});

/** A 1 MB WAL segment whose first page names it (all the controller's archive check reads). */
function walSegment(segno: number): Buffer {
  const b = Buffer.alloc(1024 * 1024);
  b.writeUInt16LE(0xD110, 0);
  b.writeUInt16LE(0x0002, 2);
  b.writeUInt32LE(1, 4);
  b.writeBigUInt64LE(BigInt(segno) * 0x100000n, 8);
  b.writeUInt32LE(1024 * 1024, 32);
  return b;
}

test('point in time: the backup is chosen and the WAL archive checked before anything is sent; a gap refuses naming the segment', async () => {
  // The backup runs from 0/2000028 to 0/2000100: segment 32 of 1 MB ones; the archive holds 32..35 but not 34.
  const wal = join(repo, 'r', 'wal', '00000001');
  await mkdir(wal, { recursive: true });
  for (const segno of [32, 33, 35]) await writeFile(join(wal, `0000000100000000000000${segno.toString(16).toUpperCase()}`), walSegment(segno));
  received.requests.length = 0;
  const gap = await cli(['restore', 'r', '--agent', 'db1', '-D', '/new/pitr', '--target-lsn', '0/2300010']);
  assert.equal(gap.code, 82, gap.stderr);
  assert.ok(gap.stderr.includes(`pgfleet: error: WAL segment "000000010000000000000022" is missing from the WAL archive "${join(repo, 'r', 'wal')}"\n` +
    `HINT: Recovery from backup "${RESTORE_ID}" to 0/2300010 on timeline 1 reads every segment from 000000010000000000000020; restore the missing segment, or choose a target before it.\n`), gap.stderr);
  assert.equal(received.requests.length, 0, 'nothing sent to the agent');
  const early = await cli(['restore', 'r', '--agent', 'db1', '-D', '/new/pitr', '--target-time', '2024-12-31 23:00:00+00']);
  assert.equal(early.code, 74, early.stderr);
  assert.match(early.stderr, /error: cluster "r" has no usable backup that ended before time "2024-12-31 23:00:00\+00"/);
  const standby = await cli(['restore', 'r', '--agent', 'db1', '-D', '/new/pitr', '--mode', 'standby', '--target', 'latest']);
  assert.equal(standby.code, 31, standby.stderr);
  assert.match(standby.stderr, /error: recovery targets are not allowed with --mode standby/);

  await writeFile(join(wal, '000000010000000000000022'), walSegment(34));
  const ok = await cli(['restore', 'r', '--agent', 'db1', '-D', '/new/pitr', '--target-lsn', '0/2300010', '--target-exclusive', '--owner', 'pg', '-U', 'admin', '--socket-dir', '/run/x', '--start-timeout', '90', '--no-verify']);
  assert.equal(ok.code, 0, ok.stderr);
  assert.ok(ok.stderr.includes(`point-in-time recovery: backup ${RESTORE_ID} (timeline 1, 0/2000028 to 0/2000100, finished 2025-01-01T00:00:01.000Z), ` +
    'WAL archive checked from 000000010000000000000020 up to 000000010000000000000023, target lsn "0/2300010" (exclusive) on timeline latest, then promote (timeline 1)'), ok.stderr);
  const spec = received.requests[0]?.spec;
  assert.ok(spec);
  assert.equal(spec.mode, 'RECOVERY_MODE_PROMOTE');
  assert.deepEqual({ ...spec.recoveryTarget }, {
    kind: 'lsn', value: '0/2300010', exclusive: true, timeline: 'latest', action: 'promote', cluster: 'r', backupId: RESTORE_ID, targetTimeline: 1, restoreCommand: '',
  });
  assert.deepEqual([spec.owner, spec.connectUser, spec.socketDir, spec.startTimeoutSeconds, spec.skipVerify], ['pg', 'admin', '/run/x', 90, true]);
});
