// Certificate roles: which client certificate may call which daemon. A real agent server and a
// real controller daemon, in-process on port 0 with mutual TLS and the certificates of
// `pgfleet certs init`, are called with every kind of client certificate:
//
//                      agent                  controller API         controller WAL archive
//   controller         accepted               refused (role)         refused (role)
//   cli                refused (role)         accepted               refused (role)
//   agent              refused (role)         refused (role)         accepted
//   foreign CA         refused (TLS)          refused (TLS)          refused (TLS)
//   expired            refused (TLS)          refused (TLS)          refused (TLS)
//   no extendedKeyUsage refused (clientAuth)  refused (clientAuth)   refused (clientAuth)
//   no role            refused (no role)      refused (no role)      refused (no role)
//
// grpc.health.v1 is the exception: any certificate the TLS handshake accepts may ask it,
// whatever its role or CN (a monitoring probe needs no certificate that could drive backups).
// A refusal by role is PERMISSION_DENIED with a NotAllowedError naming the role found and the
// one required, with a HINT; the odd certificates (foreign CA, expired, no extendedKeyUsage,
// no role) are made here with the controller's certificate writer. The CN allow-lists
// (tls.allowedClients) of both daemons are checked too. No PostgreSQL is needed.

import assert from 'node:assert/strict';
import { createPrivateKey, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { NotAllowedError, roleUri, type PeerRole } from '@pgfleet/core';
import {
  AGENT_PROTOCOL_VERSION, CONTROLLER_PROTOCOL_VERSION, agentServiceClient, controllerServiceClient, fromServiceError, walArchiveServiceClient,
} from '@pgfleet/proto';
import { parseAgentConfig } from '../../packages/agent/src/config.js';
import { AgentServer } from '../../packages/agent/src/grpc/server.js';
import { resolveOwner } from '../../packages/agent/src/instance/owner.js';
import { parseFleetConfig } from '../../packages/controller/src/config.js';
import { startDaemon, type RunningDaemon } from '../../packages/controller/src/daemon/daemon.js';
import { initCertificates } from '../../packages/core/src/tls/certs-init.js';
import { createCertificate } from '../../packages/core/src/tls/x509.js';
import { makeTempDir } from '../harness/index.js';
import { checkHealth } from './support/health.js';

type Outcome = 'accepted' | 'refused by TLS' | 'permission denied';

interface ClientCert {
  ca: Buffer;
  cert: Buffer;
  key: Buffer;
}

const silent = { info: () => undefined, error: () => undefined };

describe('certificate roles: every client certificate against the agent and the controller', () => {
  let work: string;
  let certs: string;
  const clients = new Map<string, ClientCert>();
  let agent: AgentServer;
  let restrictedAgent: AgentServer;
  let controller: RunningDaemon;
  let restrictedController: RunningDaemon;
  const agentLog: string[] = [];

  /** A leaf signed by `issuer` (directory with ca.crt/ca.key) with the given roles, usages and validity. */
  async function leaf(name: string, issuerDir: string, spec: { cn: string; roles: PeerRole[]; usages: Array<'server' | 'client'>; expired?: boolean }): Promise<void> {
    const caKey = createPrivateKey(await readFile(path.join(issuerDir, 'ca.key')));
    const pair = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const day = 86_400_000;
    const notBefore = new Date(Date.now() - (spec.expired ? 30 : 1) * day);
    const pem = createCertificate({
      subject: spec.cn, issuer: 'pgfleet CA', publicKey: pair.publicKey, signingKey: caKey, issuerPublicKey: createPublicKey(caKey),
      notBefore, notAfter: new Date(notBefore.getTime() + (spec.expired ? 2 : 30) * day), isCA: false,
      altNames: ['localhost', '127.0.0.1'], uris: spec.roles.map(roleUri), usages: spec.usages,
    });
    clients.set(name, {
      ca: await readFile(path.join(certs, 'ca.crt')),
      cert: Buffer.from(pem),
      key: Buffer.from(pair.privateKey.export({ type: 'pkcs8', format: 'pem' })),
    });
  }

  before(async () => {
    work = await makeTempDir('pgfleet-e2e-roles');
    certs = path.join(work, 'certs');
    const foreign = path.join(work, 'foreign');
    await initCertificates({ dir: certs, agents: ['db1'], tool: 'node' });
    await initCertificates({ dir: foreign, agents: ['db1'], tool: 'node' });
    const files = async (base: string): Promise<ClientCert> => ({
      ca: await readFile(path.join(certs, 'ca.crt')),
      cert: await readFile(path.join(certs, `${base}.crt`)),
      key: await readFile(path.join(certs, `${base}.key`)),
    });
    clients.set('controller', await files('controller'));
    clients.set('cli', await files('cli'));
    clients.set('agent', await files('agent-db1'));
    await leaf('foreign CA', foreign, { cn: 'pgfleet-controller', roles: ['controller', 'cli'], usages: ['client'] });
    await leaf('expired', certs, { cn: 'pgfleet-controller', roles: ['controller', 'cli'], usages: ['client'], expired: true });
    await leaf('no extendedKeyUsage', certs, { cn: 'pgfleet-controller', roles: ['controller', 'cli'], usages: [] });
    await leaf('no role', certs, { cn: 'pgfleet-controller', roles: [], usages: ['client'] });
    await leaf('controller "rogue"', certs, { cn: 'rogue', roles: ['controller', 'cli'], usages: ['client'] });

    const allowed = path.join(work, 'allowed');
    await mkdir(allowed);
    const tls = { ca: path.join(certs, 'ca.crt'), cert: path.join(certs, 'agent-db1.crt'), key: path.join(certs, 'agent-db1.key') };
    const osUser = resolveOwner(null).name;
    agent = await AgentServer.start(parseAgentConfig({ listen: '127.0.0.1:0', tls, allowedRoots: [allowed], osUser }, 'agent.yaml', work),
      { log: (line) => agentLog.push(line) });
    restrictedAgent = await AgentServer.start(parseAgentConfig({
      listen: '127.0.0.1:0', tls: { ...tls, allowedClients: ['pgfleet-controller'] }, allowedRoots: [allowed], osUser,
    }, path.join(work, 'restricted-agent.yaml'), work));

    const fleet = async (name: string, extra: string): Promise<RunningDaemon> => {
      const file = path.join(work, `${name}.yaml`);
      const text = `listen: 127.0.0.1:0\nrepository: ${path.join(work, 'repo')}\n` +
        `tls: { ca: certs/ca.crt, cert: certs/controller.crt, key: certs/controller.key${extra} }\n`;
      await writeFile(file, text);
      return startDaemon(parseFleetConfig(text, file), { logger: silent });
    };
    controller = await fleet('fleet', '');
    restrictedController = await fleet('restricted-fleet', ', allowedClients: [pgfleet-cli]');
  });

  after(async () => {
    await agent?.stop(1000);
    await restrictedAgent?.stop(1000);
    await controller?.stop();
    await restrictedController?.stop();
  });

  /** One call with a client certificate: how it ended, and the error as the client sees it. */
  async function callAgent(port: number, who: string): Promise<{ outcome: Outcome; error: unknown }> {
    const c = clients.get(who)!;
    const client = new (agentServiceClient())(`127.0.0.1:${port}`, grpc.credentials.createSsl(c.ca, c.key, c.cert));
    try {
      const err = await new Promise<grpc.ServiceError | null>((resolve) => {
        client.getInfo({ protocolVersion: AGENT_PROTOCOL_VERSION, client: 'test' }, { deadline: Date.now() + 20_000 }, (e) => resolve(e));
      });
      return { outcome: outcomeOf(err), error: err === null ? null : fromServiceError(err, { peer: 'agent "db1"' }) };
    } finally {
      client.close();
    }
  }

  async function callController(port: number, who: string): Promise<{ outcome: Outcome; error: unknown }> {
    const c = clients.get(who)!;
    const client = new (controllerServiceClient())(`127.0.0.1:${port}`, grpc.credentials.createSsl(c.ca, c.key, c.cert));
    try {
      const err = await new Promise<grpc.ServiceError | null>((resolve) => {
        client.listClusters({}, { deadline: Date.now() + 20_000 }, (e) => resolve(e));
      });
      return { outcome: outcomeOf(err), error: err === null ? null : fromServiceError(err, { peer: 'controller', tls: true }) };
    } finally {
      client.close();
    }
  }

  function outcomeOf(err: grpc.ServiceError | null): Outcome {
    if (err === null) return 'accepted';
    if (err.code === grpc.status.PERMISSION_DENIED) return 'permission denied';
    assert.equal(err.code, grpc.status.UNAVAILABLE, `unexpected status ${err.code}: ${err.details}`);
    return 'refused by TLS';
  }

  /** A GetWal of a cluster that does not exist: NOT_FOUND means the role was accepted. */
  async function callArchive(port: number, who: string): Promise<{ outcome: Outcome; error: unknown }> {
    const c = clients.get(who)!;
    const client = new (walArchiveServiceClient())(`127.0.0.1:${port}`, grpc.credentials.createSsl(c.ca, c.key, c.cert));
    try {
      const err = await new Promise<grpc.ServiceError | null>((resolve) => {
        const call = client.getWal({ file: { cluster: 'none', name: '000000010000000000000001', systemIdentifier: '', protocolVersion: CONTROLLER_PROTOCOL_VERSION } },
          { deadline: Date.now() + 20_000 });
        call.on('data', () => undefined);
        call.on('error', (e: grpc.ServiceError) => resolve(e));
        call.on('end', () => resolve(null));
      });
      return { outcome: err?.code === grpc.status.NOT_FOUND ? 'accepted' : outcomeOf(err), error: err === null ? null : fromServiceError(err, { peer: 'controller', tls: true }) };
    } finally {
      client.close();
    }
  }

  const matrix: Array<[string, Outcome, Outcome, Outcome]> = [
    ['controller', 'accepted', 'permission denied', 'permission denied'],
    ['cli', 'permission denied', 'accepted', 'permission denied'],
    ['agent', 'permission denied', 'permission denied', 'accepted'],
    ['foreign CA', 'refused by TLS', 'refused by TLS', 'refused by TLS'],
    ['expired', 'refused by TLS', 'refused by TLS', 'refused by TLS'],
    ['no extendedKeyUsage', 'permission denied', 'permission denied', 'permission denied'],
    ['no role', 'permission denied', 'permission denied', 'permission denied'],
  ];

  for (const [who, atAgent, atController, atArchive] of matrix) {
    test(`${who} certificate: agent ${atAgent}, controller ${atController}, WAL archive ${atArchive}`, async () => {
      assert.equal((await callAgent(agent.port, who)).outcome, atAgent, 'agent');
      assert.equal((await callController(controller.port, who)).outcome, atController, 'controller');
      assert.equal((await callArchive(controller.port, who)).outcome, atArchive, 'WAL archive');
    });
  }

  test('grpc.health.v1: any certificate the TLS handshake accepts is answered SERVING, whatever its role or CN', async () => {
    const health = async (port: number, who: string): Promise<string> => {
      const c = clients.get(who)!;
      const status = await checkHealth(`127.0.0.1:${port}`, '', grpc.credentials.createSsl(c.ca, c.key, c.cert));
      return typeof status === 'string' ? status : status.code === grpc.status.UNAVAILABLE ? 'refused by TLS' : `error ${status.code}`;
    };
    for (const [who, expected] of [
      ['controller', 'SERVING'], ['cli', 'SERVING'], ['no role', 'SERVING'], ['no extendedKeyUsage', 'SERVING'], ['controller "rogue"', 'SERVING'],
      ['agent', 'SERVING'], ['foreign CA', 'refused by TLS'], ['expired', 'refused by TLS'],
    ] as const) {
      for (const [daemon, port] of [['agent', agent.port], ['restricted agent', restrictedAgent.port], ['controller', controller.port], ['restricted controller', restrictedController.port]] as const) {
        assert.equal(await health(port, who), expected, `${who} at the ${daemon}`);
      }
    }
  });

  test('refusals name the role found and the role required, with a HINT', async () => {
    const cliAtAgent = (await callAgent(agent.port, 'cli')).error;
    assert.ok(cliAtAgent instanceof NotAllowedError);
    assert.equal(cliAtAgent.message, 'client certificate "pgfleet-cli" has role "cli"; the agent requires role "controller"');
    assert.equal(cliAtAgent.hint, 'Only the pgfleet controller calls agents: use its certificate (controller.crt of "pgfleet certs init" or "pgfleet-agent certs"), or go through the controller.');
    assert.equal(cliAtAgent.code, 72);

    const controllerAtController = (await callController(controller.port, 'controller')).error;
    assert.ok(controllerAtController instanceof NotAllowedError);
    assert.equal(controllerAtController.message, 'client certificate "pgfleet-controller" has role "controller"; the controller requires role "cli"');
    assert.equal(controllerAtController.hint, 'Only the pgfleet command line calls the controller: use its certificate (cli.crt of "pgfleet certs init"); agents call only its WAL archive service.');

    const noRole = (await callAgent(agent.port, 'no role')).error;
    assert.ok(noRole instanceof NotAllowedError);
    assert.equal(noRole.message, 'client certificate "pgfleet-controller" has no pgfleet role; the agent requires role "controller"');
    assert.equal(noRole.hint, 'Issue it with "pgfleet certs init", which writes the role as the subjectAltName URI "urn:pgfleet:role:<role>". Only the pgfleet controller calls agents: use its certificate (controller.crt of "pgfleet certs init" or "pgfleet-agent certs"), or go through the controller.');

    const noEku = (await callController(controller.port, 'no extendedKeyUsage')).error;
    assert.ok(noEku instanceof NotAllowedError);
    assert.equal(noEku.message, 'client certificate "pgfleet-controller" is not meant for client authentication (its extendedKeyUsage does not list clientAuth); the controller requires role "cli"');
    assert.equal(noEku.hint, 'Issue client certificates with extendedKeyUsage clientAuth, as "pgfleet certs init" does.');

    // The agent logs who it refused.
    assert.ok(agentLog.some((l) => /^call from .* failed: client certificate "pgfleet-cli" has role "cli"/.test(l)), agentLog.join('\n'));
  });

  test('tls.allowedClients: only the listed CNs are accepted, in each daemon', async () => {
    assert.equal((await callAgent(restrictedAgent.port, 'controller')).outcome, 'accepted');
    const rogue = await callAgent(restrictedAgent.port, 'controller "rogue"');
    assert.equal(rogue.outcome, 'permission denied');
    assert.ok(rogue.error instanceof NotAllowedError);
    assert.equal(rogue.error.message, 'client certificate "rogue" is not in the agent\'s list of allowed clients');
    assert.equal(rogue.error.hint, `Add "rogue" to tls.allowedClients in "${path.join(work, 'restricted-agent.yaml')}", or use a certificate whose CN is listed there.`);
    // Without a list, the role alone decides.
    assert.equal((await callAgent(agent.port, 'controller "rogue"')).outcome, 'accepted');

    assert.equal((await callController(restrictedController.port, 'cli')).outcome, 'accepted');
    const rogueCli = await callController(restrictedController.port, 'controller "rogue"');
    assert.equal(rogueCli.outcome, 'permission denied');
    assert.ok(rogueCli.error instanceof NotAllowedError);
    assert.equal(rogueCli.error.message, 'client certificate "rogue" is not in the controller\'s list of allowed clients');
  });
});
