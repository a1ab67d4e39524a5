// VerifyBackup stops when its call is cancelled (the client, or the daemon's shutdown) and then
// records nothing: a verification that did not run to its end says nothing about the backup.
// The real handlers over a fabricated repository backup (a tar archive and its
// backup_manifest), in-process on port 0; the same backup verified to its end gets its verdict
// recorded, so the fixture itself is verifiable.
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { CancelledError, computeChecksum, silentLog, writeManifest } from '@pgfleet/core';
import { CONTROLLER_PROTOCOL_VERSION, controllerService, controllerServiceClient, fromServiceError, guardHandlers } from '@pgfleet/proto';
import { parseFleetConfig } from '../../src/config.js';
import { startDaemon } from '../../src/daemon/daemon.js';
import { FleetActivity } from '../../src/daemon/fleet-activity.js';
import { NO_WAL_ARCHIVE } from '../../src/daemon/wal-archive-status.js';
import { WalStateRegistry } from '../../src/wal/wal-state.js';
import { ClusterLocks } from '../../src/daemon/fleet-runner.js';
import { formatBackupMetadata } from '../../src/repository/backup-metadata.js';
import { backupDir } from '../../src/repository/layout.js';
import { createControllerHandlers } from '../../src/rpc/controller-service.js';
import { sampleMetadata, tempDir } from '../repository/fixtures.js';
import { mainAgainst } from '../support/in-process-cli.js';

const ID = '20250301T000000Z';
let repo: string;
let dir: string;
const logs: string[] = [];

/** A one-member ustar archive. */
function tar(name: string, body: Buffer): Buffer {
  const header = Buffer.alloc(512);
  header.write(name, 0);
  header.write('0000600\0', 100);
  header.write('0000000\0', 108);
  header.write('0000000\0', 116);
  header.write(`${body.length.toString(8).padStart(11, '0')}\0`, 124);
  header.write('00000000000\0', 136);
  header.write('0', 156);
  header.write('ustar\0', 257);
  header.write('00', 263);
  header.fill(' ', 148, 156);
  let sum = 0;
  for (const b of header) sum += b;
  header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
  const padding = Buffer.alloc((512 - (body.length % 512)) % 512);
  return Buffer.concat([header, body, padding, Buffer.alloc(1024)]);
}

before(async () => {
  repo = await tempDir();
  dir = backupDir(repo, 'v', ID);
  await mkdir(dir, { recursive: true });
  const body = Buffer.alloc(3 * 1024 * 1024, 7);
  const archive = tar('PG_VERSION', body);
  const manifest = writeManifest({
    version: 1, systemIdentifier: null, walRanges: [],
    files: [{ path: 'PG_VERSION', size: body.length, lastModified: null, checksumAlgorithm: 'CRC32C', checksum: computeChecksum('CRC32C', body) }],
  });
  await writeFile(join(dir, 'base.tar'), archive);
  await writeFile(join(dir, 'backup_manifest'), manifest);
  await writeFile(join(dir, 'backup.json'), formatBackupMetadata(sampleMetadata('v', ID, [
    { name: 'backup_manifest', size: manifest.length }, { name: 'base.tar', size: archive.length },
  ])));
});

const fleet = (): string => ['listen: 127.0.0.1:0', `repository: ${repo}`, 'insecure: true', 'clusters: [{ name: v, conninfo: "host=127.0.0.1 port=1", retention: { full: 1 } }]'].join('\n');

test('a verification whose call is cancelled stops, ends with CancelledError and records nothing', async () => {
  const before = await readFile(join(dir, 'backup.json'));
  // The daemon is shutting down as the call starts: the stream's signal is aborted from the first.
  const shutdown = new AbortController();
  shutdown.abort(new Error('daemon shutting down'));
  const server = new grpc.Server();
  server.addService(controllerService(), guardHandlers(createControllerHandlers({
    config: parseFleetConfig(fleet(), join(repo, 'fleet.yaml')), agents: new Map(), locks: new ClusterLocks(), inUse: new Map(),
    logger: { ...silentLog, info: (m) => logs.push(m), error: (m) => logs.push(`error: ${m}`) }, shutdown: shutdown.signal, protocolVersion: CONTROLLER_PROTOCOL_VERSION,
    activity: new FleetActivity(), nextRun: () => null, walArchive: NO_WAL_ARCHIVE, walReceivers: new WalStateRegistry(repo),
  }), () => {}));
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  const client = new (controllerServiceClient())(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  try {
    const call = client.verifyBackup({ cluster: 'v', backupId: ID });
    const kinds: string[] = [];
    const err = await new Promise<unknown>((resolve) => {
      call.on('data', (e: { kind: string }) => kinds.push(e.kind));
      call.on('error', resolve);
      call.on('end', () => resolve(null));
    });
    const back = fromServiceError(err, { peer: 'controller' });
    assert.ok(back instanceof CancelledError, String(back));
    assert.equal(back.message, `the verification of backup ${ID} was cancelled`);
    assert.equal(kinds.includes('DONE'), false);
    assert.deepEqual(await readFile(join(dir, 'backup.json')), before, 'no verdict recorded');
    assert.ok(logs.some((l) => l === `verification cancelled: the verification of backup ${ID} was cancelled`), logs.join('\n'));
  } finally {
    client.close();
    server.forceShutdown();
  }
});

test('the same backup verified to its end gets its verdict recorded', async () => {
  const daemon = await startDaemon(parseFleetConfig(fleet(), join(repo, 'fleet.yaml')), { logger: { info: () => {}, error: () => {} } });
  try {
    const r = await mainAgainst(daemon.port, ['verify', 'v', ID]);
    assert.equal(r.code, 0, r.stderr);
    const meta = JSON.parse(await readFile(join(dir, 'backup.json'), 'utf8')) as { status: string; verifiedAt: string };
    assert.equal(meta.status, 'ok');
    assert.notEqual(meta.verifiedAt, sampleMetadata('v', ID).verifiedAt, 'the verdict was recorded');
  } finally {
    await daemon.stop();
  }
});

