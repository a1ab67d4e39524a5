import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, test } from 'node:test';
import { InvalidOptionError } from '@pgfleet/core';
import { checkAgentConfig, loadAgentConfig, parseAgentConfig } from '../src/config.js';
import { makeDir } from './helpers/fixtures.js';

const tls = { ca: 'ca.crt', cert: 'server.crt', key: 'server.key' };

function fails(doc: unknown, message: string, hint?: string, options: { insecure?: boolean } = {}): void {
  assert.throws(() => parseAgentConfig(doc, 'agent.yaml', '/etc/pgfleet', options), (err: unknown) => {
    assert.ok(err instanceof InvalidOptionError);
    assert.equal(err.message, `invalid configuration file "agent.yaml": ${message}`);
    assert.equal(err.hint, hint);
    return true;
  });
}

const KNOWN = 'Known keys here: "listen", "tls", "insecure", "allowedRoots", "pgBin", "osUser", "socketDir", "connectUser", "shutdownGraceSeconds", "noProgressTimeoutSeconds", "controller".';
const ROOTS_HINT = 'Name the directories restores may write into, e.g. allowedRoots: [/srv/postgres].';

describe('agent.yaml', () => {
  test('a full configuration; relative paths from the file\'s directory; defaults', () => {
    const c = parseAgentConfig({ listen: '0.0.0.0:7443', tls, allowedRoots: ['/srv/pg', 'rel'], pgBin: '/usr/lib/postgresql/16/bin' }, 'agent.yaml', '/etc/pgfleet');
    assert.deepEqual(c, {
      listen: '0.0.0.0:7443',
      tls: { ca: '/etc/pgfleet/ca.crt', cert: '/etc/pgfleet/server.crt', key: '/etc/pgfleet/server.key', allowedClients: null },
      insecure: false,
      allowedRoots: ['/srv/pg', '/etc/pgfleet/rel'],
      pgBin: ['/usr/lib/postgresql/16/bin'],
      osUser: 'postgres',
      socketDir: null,
      connectUser: null,
      controller: null,
      shutdownGraceSeconds: 30,
      noProgressTimeoutSeconds: 600,
      source: 'agent.yaml',
    });
  });
  test('insecure (in the file or from --insecure) drops TLS', () => {
    assert.equal(parseAgentConfig({ listen: ':1', insecure: true, allowedRoots: ['/a'] }, 'f', '/').tls, null);
    assert.equal(parseAgentConfig({ listen: ':1', tls, allowedRoots: ['/a'] }, 'f', '/', { insecure: true }).tls, null);
    assert.equal(parseAgentConfig({ listen: ':1', allowedRoots: '/a' }, 'f', '/', { insecure: true }).allowedRoots[0], '/a');
  });
  test('mistakes are refused with what is wrong, in the shape fleet.yaml\'s are', () => {
    fails([], 'the document must be a mapping of keys');
    fails({ listen: ':1', tls, allowedRoot: ['/a'] }, '"allowedRoot" is not a known key', `Did you mean "allowedRoots"? ${KNOWN}`);
    fails({ listen: ':1', tls, allowedRoots: ['/a'], colour: 'blue' }, '"colour" is not a known key', KNOWN);
    fails({ tls, allowedRoots: ['/a'] }, '"listen" is required', 'Say where to serve the controller, e.g. "listen: 0.0.0.0:7443".');
    fails({ listen: 'localhost', tls, allowedRoots: ['/a'] }, '"listen" must be HOST:PORT, not "localhost"');
    fails({ listen: '127.0.0.1:65536', tls, allowedRoots: ['/a'] }, '"listen" must have a port from 0 to 65535, not 65536');
    fails({ listen: ':1', allowedRoots: ['/a'] }, '"tls" is required',
      'Give tls: {ca, cert, key} ("pgfleet-agent certs" makes certificates), or run with --insecure for a local demo.');
    fails({ listen: ':1', tls: { ca: 'x', cert: 'y' }, allowedRoots: ['/a'] }, '"tls.key" is required', 'Make them with "pgfleet-agent certs" or "pgfleet certs init".');
    fails({ listen: ':1', tls }, '"allowedRoots" is required', ROOTS_HINT);
    fails({ listen: ':1', tls, allowedRoots: [] }, '"allowedRoots" must be a directory or a list of directories', ROOTS_HINT);
    fails({ listen: ':1', tls, allowedRoots: ['/'] }, '"allowedRoots" must not contain "/"');
    fails({ listen: ':1', tls, allowedRoots: [1] }, '"allowedRoots[0]" must be a string');
    for (const grace of [0, 1.5, '10', 3601]) {
      fails({ listen: ':1', tls, allowedRoots: ['/a'], shutdownGraceSeconds: grace }, `"shutdownGraceSeconds" must be an integer from 1 to 3600 (seconds), not ${JSON.stringify(grace)}`);
    }
    assert.equal(parseAgentConfig({ listen: ':1', tls, allowedRoots: ['/a'], shutdownGraceSeconds: 5 }, 'f', '/').shutdownGraceSeconds, 5);
    for (const seconds of [0, 2.5, '60', 86401]) {
      fails({ listen: ':1', tls, allowedRoots: ['/a'], noProgressTimeoutSeconds: seconds }, `"noProgressTimeoutSeconds" must be an integer from 1 to 86400 (seconds), not ${JSON.stringify(seconds)}`);
    }
    assert.equal(parseAgentConfig({ listen: ':1', tls, allowedRoots: ['/a'], noProgressTimeoutSeconds: 2 }, 'f', '/').noProgressTimeoutSeconds, 2);
    const cnHint = 'Remove it to accept any client certificate of the CA with role "controller".';
    fails({ listen: ':1', tls: { ...tls, allowedClients: [] }, allowedRoots: ['/a'] }, '"tls.allowedClients" must be a non-empty list of certificate common names', cnHint);
    fails({ listen: ':1', tls: { ...tls, allowedClients: ['a', ''] }, allowedRoots: ['/a'] }, '"tls.allowedClients[1]" must be a non-empty string');
    fails({ listen: ':1', tls: { ...tls, allowedClients: 'a' }, allowedRoots: ['/a'] }, '"tls.allowedClients" must be a non-empty list of certificate common names', cnHint);
    fails({ listen: ':1', tls: { ...tls, allowedClients: ['a', 'a'] }, allowedRoots: ['/a'] }, '"tls.allowedClients" lists "a" twice');
    fails({ listen: ':1', tls: { ...tls, ciphers: 'x' }, allowedRoots: ['/a'] }, '"tls.ciphers" is not a known key', 'Known keys here: "ca", "cert", "key", "allowedClients".');
    assert.deepEqual(parseAgentConfig({ listen: ':1', tls: { ...tls, allowedClients: ['pgfleet-controller'] }, allowedRoots: ['/a'] }, 'f', '/').tls?.allowedClients,
      ['pgfleet-controller']);
  });
  test('loadAgentConfig reads YAML; checkAgentConfig lists every problem', async () => {
    const dir = await makeDir();
    const file = path.join(dir, 'agent.yaml');
    await writeFile(file, 'listen: 127.0.0.1:0\ninsecure: true\nallowedRoots: [/srv]\nosUser: pg\n');
    const c = await loadAgentConfig(file);
    assert.equal(c.osUser, 'pg');
    assert.deepEqual((await checkAgentConfig(file)).problems, []);
    await writeFile(file, 'listen: [\n');
    await assert.rejects(loadAgentConfig(file), (err: unknown) => err instanceof InvalidOptionError && err.message.startsWith(`invalid configuration file "${file}": `));
    await assert.rejects(loadAgentConfig(path.join(dir, 'none.yaml')), { message: `could not read configuration file "${path.join(dir, 'none.yaml')}": no such file or directory` });
    await writeFile(file, 'listen: 127.0.0.1:99999\ninsecure: true\nallowedroots: [/srv]\n');
    assert.deepEqual((await checkAgentConfig(file)).problems.map((p) => `"${p.key}" ${p.reason}`), [
      '"allowedroots" is not a known key',
      '"listen" must have a port from 0 to 65535, not 99999',
      '"allowedRoots" is required',
    ]);
  });
});
