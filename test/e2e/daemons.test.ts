// What both daemons (`pgfleet-agent serve`, `pgfleet serve`) share, seen from outside, each a
// real process: grpc.health.v1 answers SERVING (asked by a client built from the standard
// health.proto); with `--log-format json` every line they write is a JSON object with its time
// and level (grpc-js's own output included), each event is logged once, passwords of
// conninfos stay masked and proto enum names never show. No PostgreSQL server is needed: the
// backups fail to connect (port 1), which is what makes the daemons log.

import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { AgentClient } from '@pgfleet/proto';
import { makeTempDir } from '../harness/index.js';
import { serveAgent, stopServedAgent, type ServedAgent } from './agent-support.js';
import { checkHealth } from './support/health.js';
import { runCli, startController, type ControllerProcess } from '../../packages/controller/test/support/fleet-processes.js';

const TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
const LEVELS = ['debug', 'info', 'warn', 'error'];

let work: string;
let agent: ServedAgent;
let controller: ControllerProcess;
let agentLog = '';
let controllerLog = '';
const health = new Map<string, string>();

/** The log's lines parsed, failing on any line that is not a JSON object with time and level. */
function events(log: string, who: string): Array<Record<string, unknown>> {
  const lines = log.split('\n').filter((l) => l !== '');
  assert.ok(lines.length > 0, `${who} logged nothing`);
  return lines.map((line) => {
    let e: Record<string, unknown>;
    try {
      e = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return assert.fail(`${who}: a line that is not JSON: ${line}`);
    }
    assert.match(String(e['time']), TIME, `${who}: time of ${line}`);
    assert.ok(LEVELS.includes(String(e['level'])), `${who}: level of ${line}`);
    return e;
  });
}

describe('both daemons', () => {
  before(async () => {
    work = await makeTempDir('pgfleet-daemons');
    agent = await serveAgent({ work, allowedRoot: path.join(work, 'allowed'), tls: false, args: ['--log-format', 'json'] });
    const fleet = path.join(work, 'fleet.yaml');
    await writeFile(fleet, [
      'listen: 127.0.0.1:0',
      'repository: repo',
      'insecure: true',
      'wal: { archive: none }', // these servers do not exist: only the backups' failures are logged here
      `agents: [{ name: db1, address: "${agent.address}" }]`,
      'clusters:',
      '  - { name: through-agent, agent: db1, conninfo: "host=127.0.0.1 port=1 user=u password=agent-secret", retention: { full: 1 } }',
      '  - { name: direct, conninfo: "postgresql://u:direct-secret@127.0.0.1:1/postgres", retention: { full: 1 } }',
      '',
    ].join('\n'));
    controller = await startController(fleet, {}, ['--log-format', 'json']);
    for (const [who, address, service] of [['agent', agent.address, 'pgfleet.v1.Agent'], ['controller', controller.address, 'pgfleet.v1.Controller']]) {
      for (const name of ['', service] as string[]) {
        const status = await checkHealth(address as string, name);
        health.set(`${who} "${name}"`, typeof status === 'string' ? status : `error ${status.code}: ${status.details}`);
      }
      const unknown = await checkHealth(address as string, 'pgfleet.v1.Nothing');
      health.set(`${who} unknown`, typeof unknown === 'string' ? unknown : `error ${unknown.code}`);
    }
    const cli = ['--controller', controller.address, '--insecure'];
    assert.equal((await runCli(['agents', ...cli])).code, 0);
    const backup = await runCli(['backup', '--all', ...cli]);
    assert.equal(backup.code, 40, backup.stderr);
    // A restore straight to the agent (as the controller would send it), refused outside allowedRoots.
    const client = new AgentClient({ address: agent.address, name: 'db1', client: 'test' }, null);
    await assert.rejects(client.restore({ dataDir: path.join(work, 'outside'), mode: 'RECOVERY_MODE_PROMOTE' }, []));
    client.close();
    await controller.stop();
    await stopServedAgent(agent.agent);
    agentLog = agent.agent.stderrSoFar();
    controllerLog = controller.log();
  });

  after(async () => {
    await controller?.kill();
  });

  test('grpc.health.v1 answers SERVING on both daemons, for the server and for its service', () => {
    assert.deepEqual(Object.fromEntries(health), {
      'agent ""': 'SERVING',
      'agent "pgfleet.v1.Agent"': 'SERVING',
      'agent unknown': `error ${grpc.status.NOT_FOUND}`,
      'controller ""': 'SERVING',
      'controller "pgfleet.v1.Controller"': 'SERVING',
      'controller unknown': `error ${grpc.status.NOT_FOUND}`,
    });
  });

  test('--log-format json: every line is a JSON object with time and level', () => {
    const agentEvents = events(agentLog, 'agent');
    const controllerEvents = events(controllerLog, 'controller');
    assert.ok(agentEvents.every((e) => e['name'] === 'pgfleet-agent'));
    assert.ok(controllerEvents.every((e) => e['name'] === 'pgfleet'));
    assert.ok(agentEvents.some((e) => /^listening on 127\.0\.0\.1:\d+ \(INSECURE/.test(String(e['msg']))));
    assert.ok(controllerEvents.some((e) => /^controller listening on 127\.0\.0\.1:\d+/.test(String(e['msg']))));
  });

  test('each failure is logged once, at level error, with its error as fields', () => {
    const controllerEvents = events(controllerLog, 'controller');
    for (const cluster of ['through-agent', 'direct']) {
      const failed = controllerEvents.filter((e) => String(e['msg']).startsWith(`cluster "${cluster}": backup failed: `));
      assert.equal(failed.length, 1, `${cluster}:\n${controllerLog}`);
      assert.equal(failed[0]?.['level'], 'error');
      assert.equal(failed[0]?.['cluster'], cluster);
      assert.equal((failed[0]?.['error'] as { code?: number } | undefined)?.code, 40);
    }
    const agentEvents = events(agentLog, 'agent');
    assert.equal(agentEvents.filter((e) => /^Backup from \S+ failed: /.test(String(e['msg']))).length, 1, agentLog);
    assert.equal(agentEvents.filter((e) => /^Restore from \S+ failed: /.test(String(e['msg']))).length, 1, agentLog);
    const messages = [...agentEvents, ...controllerEvents].map((e) => `${String(e['name'])} ${String(e['msg'])}`);
    assert.deepEqual(messages.filter((m, i) => messages.indexOf(m) !== i), [], 'no line logged twice');
  });

  test('passwords stay masked; proto enum names never show', () => {
    for (const log of [agentLog, controllerLog]) {
      assert.ok(!log.includes('agent-secret') && !log.includes('direct-secret'), log);
      assert.ok(!/RECOVERY_MODE_|ACTION_[A-Z]|KIND_[A-Z]/.test(log), log);
    }
    assert.match(agentLog, /Backup from \S+: host=127\.0\.0\.1 port=1 user=u password=\*{8} /);
    assert.match(agentLog, /Restore from \S+: \\"[^"]*outside\\" \(mode promote\)/);
  });
});
