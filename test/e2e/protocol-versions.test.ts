// Protocol versions across processes, with a real controller daemon and real agents (both
// in-process, plaintext, each told which version to speak, as a fleet upgraded host by host
// would be) and a PostgreSQL 15 cluster:
//  - minors differ, it works: a controller of agent protocol 2.3 backs up and restores through
//    an agent of 2.7, a controller of 2.9 (and controller protocol 1.9, used by a CLI of 1.1)
//    through an agent of 2.3, and a CLI of 1.8 talks to a controller of 1.1; both restored
//    copies start and hold the source's data;
//  - majors differ, it fails with one error on every side: IncompatibleVersionError (53),
//    "<peer> speaks protocol X.Y, this <self> speaks A.B" and a HINT naming the side to
//    upgrade: an agent of 3.0 refusing a controller of 2.3 (listed by `pgfleet agents`, and
//    the cluster's backup failing), an agent of 2.3 refusing a controller of 1.0, a controller
//    refusing a CLI of 2.0, a controller of 2.0 refusing today's CLI. (The side that learns the
//    other's version first refuses; a controller refusing an agent that did not check is in
//    proto/test/agent-client.test.ts.)
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { IncompatibleVersionError, PGFLEET_VERSION } from '@pgfleet/core';
import { AGENT_PROTOCOL_VERSION, CONTROLLER_PROTOCOL_VERSION } from '@pgfleet/proto';
import { parseAgentConfig } from '../../packages/agent/src/config.js';
import { AgentServer } from '../../packages/agent/src/grpc/server.js';
import { connectController } from '../../packages/controller/src/cli/client.js';
import { parseFleetConfig } from '../../packages/controller/src/config.js';
import { startDaemon, type RunningDaemon } from '../../packages/controller/src/daemon/daemon.js';
import { mainAgainst } from '../../packages/controller/test/support/in-process-cli.js';
import { binDir, chownOne, makeTempDir, startCluster, startRestored, type Snapshot, type TestCluster } from '../harness/index.js';

const silent = { info: () => undefined, error: () => undefined };

describe('protocol versions between CLI, controller and agents', { timeout: 300_000 }, () => {
  let source: TestCluster;
  let expected: Snapshot;
  let work: string;
  let allowed: string;
  const agents = new Map<string, AgentServer>();
  const daemons = new Map<string, RunningDaemon>();

  /** An agent speaking `version` (default: today's). */
  async function agent(name: string, version?: string): Promise<void> {
    const config = parseAgentConfig({
      listen: '127.0.0.1:0', insecure: true, allowedRoots: [allowed], osUser: 'postgres', connectUser: 'postgres', pgBin: [binDir(15)],
    }, path.join(work, `${name}.yaml`), work);
    agents.set(name, await AgentServer.start(config, version ? { protocolVersion: version } : {}));
  }

  /** A controller with the given agents (cluster "c-<agent>" each) speaking the given versions. */
  async function daemon(name: string, agentNames: string[], versions: { controller?: string; agent?: string } = {}): Promise<void> {
    const conninfo = `host=${source.host} port=${source.port} user=postgres`;
    const config = parseFleetConfig([
      'listen: 127.0.0.1:0', `repository: ${path.join(work, `repo-${name}`)}`, 'insecure: true',
      `agents: [${agentNames.map((a) => `{ name: ${a}, address: "127.0.0.1:${agents.get(a)?.port}" }`).join(', ')}]`,
      `clusters: [${agentNames.map((a) => `{ name: c-${a}, agent: ${a}, conninfo: "${conninfo}", retention: { full: 2 } }`).join(', ')}]`,
    ].join('\n'), path.join(work, `${name}.yaml`));
    daemons.set(name, await startDaemon(config, { logger: silent, protocolVersions: versions }));
  }

  const cli = (daemonName: string, args: string[]) => mainAgainst(daemons.get(daemonName)?.port ?? 0, args);

  before(async () => {
    source = await startCluster({ version: 15, data: true, settings: ['autovacuum = off'] });
    expected = await source.snapshot();
    work = await makeTempDir('pgfleet-e2e-versions');
    allowed = path.join(work, 'allowed');
    await mkdir(allowed);
    await chownOne(allowed);
    await agent('newer', '2.7');
    await agent('today');
    await agent('future', '3.0');
    await daemon('today', ['newer', 'future']);
    await daemon('newer', ['today'], { controller: '1.9', agent: '2.9' });
    await daemon('past', ['today'], { agent: '1.0' });
    await daemon('next-major', [], { controller: '2.0' });
  });

  after(async () => {
    for (const d of daemons.values()) await d.stop();
    for (const a of agents.values()) await a.stop(1000);
    await source?.destroy();
  });

  test('minors differ: backups and restores go through, the copies hold the source\'s data', async () => {
    assert.equal(AGENT_PROTOCOL_VERSION, '2.3');
    assert.equal(CONTROLLER_PROTOCOL_VERSION, '1.6');
    // Controller 2.3 <- agent 2.7.
    const listed = JSON.parse((await cli('today', ['agents', '--json'])).stdout) as Array<{ name: string; compatible: boolean; protocolVersion: string }>;
    const newer = listed.find((a) => a.name === 'newer');
    assert.deepEqual([newer?.compatible, newer?.protocolVersion], [true, '2.7']);
    const viaNewerAgent = await cli('today', ['backup', 'c-newer']);
    assert.equal(viaNewerAgent.code, 0, viaNewerAgent.stderr);
    // Controller 2.9 (and 1.9 towards this CLI) -> agent 2.3.
    const viaNewerController = await cli('newer', ['backup', 'c-today']);
    assert.equal(viaNewerController.code, 0, viaNewerController.stderr);
    // A CLI of 1.8 and a controller of 1.1.
    const conn = await connectController({ controller: `127.0.0.1:${daemons.get('today')?.port}`, insecure: true, protocolVersion: '1.8' }, {});
    assert.equal(conn.info.protocolVersion, CONTROLLER_PROTOCOL_VERSION);
    conn.close();

    for (const [d, cluster, agentName] of [['today', 'c-newer', 'newer'], ['newer', 'c-today', 'today']] as const) {
      const dataDir = path.join(allowed, cluster, 'data');
      const restored = await cli(d, ['restore', cluster, '--agent', agentName, '-D', dataDir, '--mode', 'promote']);
      assert.equal(restored.code, 0, restored.stderr);
      const copy = await startRestored({ dataDir, version: 15, mode: 'promote' });
      try {
        assert.deepEqual(await copy.snapshot(), expected, `${cluster}: the copy holds the source's data`);
      } finally {
        await copy.destroy();
      }
    }
  });

  test('majors differ: IncompatibleVersionError (53) with a HINT, whichever side refuses', async () => {
    const client = `client "pgfleet-controller ${PGFLEET_VERSION}"`;
    // An agent of 3.0 refuses a controller of 2.3.
    const listed = JSON.parse((await cli('today', ['agents', '--json'])).stdout) as Array<{ name: string; compatible: boolean; error: { code: number; message: string; hint: string } | null }>;
    const future = listed.find((a) => a.name === 'future');
    assert.equal(future?.compatible, false);
    assert.deepEqual(future?.error && { code: future.error.code, message: future.error.message, hint: future.error.hint }, {
      code: 53, message: `${client} speaks protocol ${AGENT_PROTOCOL_VERSION}, this agent speaks 3.0`, hint: `Upgrade ${client} so that both have protocol major version 3.`,
    });
    const refusedByNewer = await cli('today', ['backup', 'c-future']);
    assert.equal(refusedByNewer.code, 53);
    assert.ok(refusedByNewer.stderr.includes(`pgfleet: error: cluster "c-future": backup failed: ${client} speaks protocol ${AGENT_PROTOCOL_VERSION}, this agent speaks 3.0\n` +
      `HINT: Upgrade ${client} so that both have protocol major version 3.\n`), refusedByNewer.stderr);

    // An agent of 2.3 refuses a controller of 1.0.
    const refusedByAgent = await cli('past', ['backup', 'c-today']);
    assert.equal(refusedByAgent.code, 53);
    assert.ok(refusedByAgent.stderr.includes(`pgfleet: error: cluster "c-today": backup failed: ${client} speaks protocol 1.0, this agent speaks ${AGENT_PROTOCOL_VERSION}\n` +
      `HINT: Upgrade ${client} so that both have protocol major version 2.\n`), refusedByAgent.stderr);

    // A controller of 1.1 refuses a CLI of 2.0.
    await assert.rejects(connectController({ controller: `127.0.0.1:${daemons.get('today')?.port}`, insecure: true, protocolVersion: '2.0' }, {}), (err: unknown) => {
      assert.ok(err instanceof IncompatibleVersionError, String(err));
      assert.deepEqual([err.code, err.message, err.hint], [53, `client "pgfleet ${PGFLEET_VERSION}" speaks protocol 2.0, this controller speaks ${CONTROLLER_PROTOCOL_VERSION}`,
        'Upgrade this controller so that both have protocol major version 2.']);
      return true;
    });
    // A controller of 2.0 refuses today's CLI.
    assert.deepEqual(await cli('next-major', ['clusters']), {
      code: 53, stdout: '',
      stderr: `pgfleet: error: client "pgfleet ${PGFLEET_VERSION}" speaks protocol ${CONTROLLER_PROTOCOL_VERSION}, this controller speaks 2.0\n` +
        `HINT: Upgrade client "pgfleet ${PGFLEET_VERSION}" so that both have protocol major version 2.\n`,
    });
  });
});
