// The pgfleet CLI as a process: a command whose call never completes, or ends without its
// result, exits with an error (it used to print nothing and exit 0), and oversized arguments
// are refused by the daemon with a short error naming the field instead of breaking the call.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { parseFleetConfig } from '../../src/config.js';
import { startDaemon, type RunningDaemon } from '../../src/daemon/daemon.js';
import { controllerDefinition, serviceDefinition } from '../../src/rpc/proto.js';
import { CONTROLLER_CAPABILITIES, CONTROLLER_PROTOCOL_VERSION, PGFLEET_VERSION } from '../../src/version.js';
import { tempDir } from '../repository/fixtures.js';
import { REPO, spawnCli } from '../support/fleet-processes.js';

describe('pgfleet (process): no silent exit 0', { timeout: 120_000 }, () => {
  let fake: grpc.Server;
  let fakePort = 0;
  let daemon: RunningDaemon;

  before(async () => {
    // A controller whose streams end with status OK but without the event carrying the result.
    fake = new grpc.Server();
    fake.addService(serviceDefinition(controllerDefinition(), 'pgfleet.v1.Controller'), {
      GetControllerInfo: (_call: unknown, cb: grpc.sendUnaryData<unknown>) => cb(null, {
        pgfleetVersion: PGFLEET_VERSION, protocolVersion: CONTROLLER_PROTOCOL_VERSION, capabilities: CONTROLLER_CAPABILITIES, repository: '/r', parallel: 1,
      }),
      VerifyBackup: (call: grpc.ServerWritableStream<unknown, unknown>) => {
        call.write({ kind: 'PROGRESS', backupId: 'x', doneBytes: '1', totalBytes: '2' });
        call.end();
      },
      RestoreBackup: (call: grpc.ServerWritableStream<unknown, unknown>) => call.end(),
      BackupClusters: (call: grpc.ServerWritableStream<unknown, unknown>) => {
        call.write({ kind: 'QUEUED', cluster: 'main' });
        call.end();
      },
    } as grpc.UntypedServiceImplementation);
    fakePort = await new Promise<number>((resolve, reject) => fake.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
    const repo = await tempDir();
    daemon = await startDaemon(parseFleetConfig([
      'listen: 127.0.0.1:0', `repository: ${repo}`, 'insecure: true',
      'agents: [{ name: db1, address: "127.0.0.1:1" }]',
      'clusters: [{ name: main, conninfo: "host=127.0.0.1 port=1", retention: { full: 1 } }]',
    ].join('\n'), join(repo, 'fleet.yaml')), { logger: { info: () => {}, error: () => {} } });
  });
  after(async () => {
    fake?.forceShutdown();
    await daemon?.stop();
  });

  test('a stream that ends without its result is an error (exit 50), for verify, restore and backup', async () => {
    const env = { PGFLEET_CONTROLLER: `127.0.0.1:${fakePort}`, PGFLEET_INSECURE: '1' };
    const verify = await spawnCli(['verify', 'main', 'x'], env, 60_000).done;
    assert.deepEqual(verify, {
      code: 50, stdout: '',
      stderr: 'verifying x: 1 bytes of 2 bytes (50%)\n' +
        `pgfleet: error: the VerifyBackup call to controller "127.0.0.1:${fakePort}" ended without a result\nHINT: The controller stopped the call early; check its log, and run the command again.\n`,
    });
    const restore = await spawnCli(['restore', 'main', '--agent', 'db1', '-D', '/x', '--mode', 'none'], env, 60_000).done;
    assert.equal(restore.code, 50, restore.stderr);
    assert.match(restore.stderr, /^pgfleet: error: the RestoreBackup call to controller "[^"]+" ended without a result: the restore may not have happened\n/);
    const backup = await spawnCli(['backup', 'main'], env, 60_000).done;
    assert.equal(backup.code, 50, backup.stderr);
    assert.match(backup.stderr, /pgfleet: error: the BackupClusters call to controller "[^"]+" ended without its final summary: some backups may not have run\n/);
  });

  test('verify and restore with a 100 KB argument: the field is refused (exit 31), nothing breaks', async () => {
    const env = { PGFLEET_CONTROLLER: `127.0.0.1:${daemon.port}`, PGFLEET_INSECURE: '1' };
    const verify = await spawnCli(['verify', 'main', 'x'.repeat(100_000)], env, 60_000).done;
    assert.deepEqual(verify, { code: 31, stdout: '', stderr: 'pgfleet: error: request field "VerifyBackupRequest.backup_id" is too long (100000 bytes, at most 255)\n' });
    const restore = await spawnCli(['restore', 'main', '--backup', 'y'.repeat(100_000), '--agent', 'db1', '-D', '/x', '--mode', 'none'], env, 60_000).done;
    assert.deepEqual(restore, { code: 31, stdout: '', stderr: 'pgfleet: error: request field "RestoreBackupRequest.backup_id" is too long (100000 bytes, at most 255)\n' });
    // The daemon still answers.
    const clusters = await spawnCli(['clusters', '--json'], env, 60_000).done;
    assert.equal(clusters.code, 0, clusters.stderr);
  });

  test('a command still waiting when the process runs out of work exits 40 with an error, not 0 in silence', async () => {
    const script = `import { runCli } from ${JSON.stringify(join(REPO, 'packages/controller/src/cli/run-cli.ts'))};\n` +
      'runCli([], () => new Promise(() => {}));\n';
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    assert.deepEqual({ code, stdout, stderr }, {
      code: 40, stdout: '',
      stderr: 'pgfleet: error: the command ended without an answer: its call to the controller stopped without a status\n' +
        'HINT: The connection to the controller was lost; check that it is running (its log may say why) and run the command again.\n',
    });
  });
});
