import assert from 'node:assert/strict';
import { test } from 'node:test';
import { writeFile, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkFleetConfig, parseFleetConfig, parseListenAddress } from '../src/config.js';

const FILE = '/etc/pgfleet/fleet.yaml';

const GOOD = `
listen: 127.0.0.1:7400
repository: repo
tls: { ca: certs/ca.crt, cert: certs/controller.crt, key: /abs/controller.key }
parallel: 2
agents:
  - { name: db1, address: "db1.example.com:7401" }
clusters:
  - name: main
    agent: db1
    retention: { full: 3 }
  - name: direct
    conninfo: "host=10.0.0.5 user=backup password=secret"
    retention: { full: 7 }
    compression: client-gzip
    checkpoint: spread
    walMethod: fetch
    maxRate: 1024
`;

test('a complete fleet.yaml is read with defaults and paths relative to the file', () => {
  const c = parseFleetConfig(GOOD, FILE);
  assert.deepEqual(c, {
    path: FILE,
    listen: { host: '127.0.0.1', port: 7400 },
    repository: '/etc/pgfleet/repo',
    tls: { ca: '/etc/pgfleet/certs/ca.crt', cert: '/etc/pgfleet/certs/controller.crt', key: '/abs/controller.key', allowedClients: null },
    insecure: false,
    parallel: 2,
    noProgressTimeoutSeconds: 600,
    agents: [{ name: 'db1', address: 'db1.example.com:7401' }],
    clusters: [
      {
        name: 'main', agent: 'db1', conninfo: '', retention: { full: 3, days: null }, schedule: null, maxAgeSeconds: 93600,
        compression: 'none', checkpoint: 'fast', walMethod: 'stream', maxRateKb: null,
        wal: { archive: 'stream', slot: 'pgfleet_main', compression: 'lz4', synchronous: false, maxRetainedBytes: null },
      },
      {
        name: 'direct', agent: null, conninfo: 'host=10.0.0.5 user=backup password=secret', retention: { full: 7, days: null }, schedule: null, maxAgeSeconds: 93600,
        compression: 'client-gzip', checkpoint: 'spread', walMethod: 'fetch', maxRateKb: 1024,
        wal: { archive: 'stream', slot: 'pgfleet_direct', compression: 'lz4', synchronous: false, maxRetainedBytes: null },
      },
    ],
    checks: { maxAgeSeconds: 93600, minFreeBytes: 1e9, maxArchiveLagSeconds: 300 },
    http: null,
  });
});

test('insecure mode needs no tls; the listen address defaults', () => {
  const c = parseFleetConfig('repository: /r\ninsecure: true\n', FILE);
  assert.equal(c.insecure, true);
  assert.equal(c.tls, null);
  assert.deepEqual(c.listen, { host: '127.0.0.1', port: 7400 });
  assert.equal(c.parallel, 4);
});

function rejects(text: string, message: string, hint?: string): void {
  assert.throws(() => parseFleetConfig(text, FILE), (err: Error & { hint?: string; code?: number }) => {
    assert.equal(err.message, message);
    assert.equal(err.hint, hint);
    assert.equal(err.code, 31);
    return true;
  });
}

const P = `invalid configuration file "${FILE}"`;

test('every invalid key is named in the error', () => {
  rejects('insecure: true\n', `${P}: "repository" is required`, 'Set "repository" to the directory that holds the backups.');
  rejects('repository: /r\n', `${P}: "tls" is required`, 'Set "tls" (ca, cert, key) for mutual TLS, or "insecure: true" for a local demo without TLS.');
  rejects('repository: /r\ninsecure: true\nparalel: 3\n', `${P}: "paralel" is not a known key`,
    'Did you mean "parallel"? Known keys here: "listen", "repository", "tls", "insecure", "parallel", "noProgressTimeoutSeconds", "agents", "clusters", "schedule", "retention", "checks", "http", "wal".');
  rejects('repository: /r\ninsecure: true\nnoProgressTimeoutSeconds: 0\n', `${P}: "noProgressTimeoutSeconds" must be an integer from 1 to 86400 (seconds), not 0`);
  rejects('repository: /r\ninsecure: true\nnoProgressTimeoutSeconds: 86401\n', `${P}: "noProgressTimeoutSeconds" must be an integer from 1 to 86400 (seconds), not 86401`);
  rejects('repository: /r\ntls: { ca: a, cert: b, key: c, allowedClients: [] }\n', `${P}: "tls.allowedClients" must be a non-empty list of certificate common names`,
    'Remove it to accept any client certificate of the CA with role "cli".');
  rejects('repository: /r\ntls: { ca: a, cert: b, key: c, allowedClients: pgfleet-cli }\n', `${P}: "tls.allowedClients" must be a non-empty list of certificate common names`,
    'Remove it to accept any client certificate of the CA with role "cli".');
  rejects('repository: /r\ntls: { ca: a, cert: b, key: c, allowedClients: [x, x] }\n', `${P}: "tls.allowedClients" lists "x" twice`);
  rejects('repository: /r\ninsecure: yes\n', `${P}: "insecure" must be true or false`);
  rejects('repository: /r\ninsecure: true\nlisten: nowhere\n', `${P}: "listen" must be HOST:PORT, not "nowhere"`);
  rejects('repository: /r\ninsecure: true\nparallel: 0\n', `${P}: "parallel" must be a positive integer, not 0`);
  rejects('repository: /r\ntls: { ca: a, cert: b }\n', `${P}: "tls.key" is required`, 'Run "pgfleet certs init DIR" to create a CA and certificates.');
  rejects('repository: /r\ninsecure: true\ntls: { ca: a, cert: b, key: c }\n', `${P}: "insecure" cannot be combined with "tls"`, 'Remove one of them.');
  rejects('repository: /r\ninsecure: true\nagents: [{ name: a }]\n', `${P}: "agents[0].address" is required`);
  rejects('repository: /r\ninsecure: true\nagents: [{ name: a, address: "x:1" }, { name: a, address: "y:1" }]\n', `${P}: "agents[1].name" repeats agent name "a"`);
  rejects('repository: /r\ninsecure: true\nagents: [{ name: "../x", address: "x:1" }]\n', `${P}: "agents[0].name" is not a valid name: "../x"`,
    'Use letters, digits, ".", "_" and "-" (at most 63), starting with a letter or digit.');
  rejects('repository: /r\ninsecure: true\nclusters: [{ name: Main, conninfo: x, retention: { full: 1 } }, { name: main, conninfo: y, retention: { full: 1 } }]\n',
    `${P}: "clusters[1].name" "main" differs from cluster "Main" only in case`, 'Give clusters names that differ in more than case.');
  rejects('repository: /r\ninsecure: true\nclusters: [{ name: main, conninfo: x, retention: { full: 1 } }, { name: main, conninfo: y, retention: { full: 1 } }]\n',
    `${P}: "clusters[1].name" repeats cluster name "main"`);
  rejects('repository: /r\ninsecure: true\nclusters: [{ name: c, agent: db9, retention: { full: 1 } }]\n', `${P}: "clusters[0].agent" names unknown agent "db9"`, 'Declare the agent under "agents".');
  rejects('repository: /r\ninsecure: true\nclusters: [{ name: c, retention: { full: 1 } }]\n', `${P}: "clusters[0].conninfo" is required for a cluster without an agent`,
    'Give a connection string the controller can use for replication, or an "agent".');
  rejects('repository: /r\ninsecure: true\nclusters: [{ name: c, conninfo: "x", retention: {} }]\n', `${P}: "clusters[0].retention" must say "full" or "days" (or both)`,
    'E.g. "retention: { full: 7 }" keeps the newest 7 full backups.');
  rejects('repository: /r\ninsecure: true\nschedule: { full: "0 25 * * *" }\n', `${P}: "schedule.full" is not a valid cron expression: "0 25 * * *" (invalid value for hour: 25)`,
    'Use 5 fields (minute hour day month weekday), e.g. "0 3 * * *", or 6 with seconds first.');
  rejects('repository: /r\ninsecure: true\nschedule: { full: "0 3 * * *", timezone: Mars/Olympus }\n', `${P}: "schedule.timezone" is not a known time zone: "Mars/Olympus"`,
    'Use an IANA name such as "UTC" or "Europe/Berlin".');
  rejects('repository: /r\ninsecure: true\nchecks: { maxAge: 3 hours }\n', `${P}: "checks.maxAge" must be a duration, not "3 hours"`,
    'Write a number with a unit: "90s", "30m", "26h", "7d".');
  rejects('repository: /r\ninsecure: true\nchecks: { minFreeSpace: lots }\n', `${P}: "checks.minFreeSpace" must be a size, not "lots"`,
    'Write a number of bytes or a number with a unit: "500MB", "1GiB".');
  rejects('repository: /r\ninsecure: true\nhttp: { listen: "127.0.0.1:99999" }\n', `${P}: "http.listen" must have a port from 0 to 65535, not 99999`);
  rejects('repository: /r\ninsecure: true\nclusters: [{ name: c, conninfo: "x", retention: { full: 1.5 } }]\n', `${P}: "clusters[0].retention.full" must be a positive integer, not 1.5`);
  rejects('repository: /r\ninsecure: true\nclusters: [{ name: c, conninfo: "x", retention: { full: 1, diff: 2 } }]\n', `${P}: "clusters[0].retention.diff" is not a known key`, 'Known keys here: "full", "days".');
  rejects('repository: /r\ninsecure: true\nclusters: [{ name: c, conninfo: "x", retention: { full: 1 }, compression: "client-brotli" }]\n',
    `${P}: "clusters[0].compression" is invalid: unrecognized compression algorithm: "brotli"`);
  rejects('repository: /r\ninsecure: true\nclusters: [{ name: c, conninfo: "x", retention: { full: 1 }, maxRate: 8 }]\n', `${P}: "clusters[0].maxRate" must be an integer from 32 to 1048576 (kB/s), not 8`);
  rejects('repository: /r\ninsecure: true\nclusters: [{ name: c, conninfo: "x", retention: { full: 1 }, walMethod: none }]\n', `${P}: "clusters[0].walMethod" must be "stream" or "fetch", not "none"`);
  rejects('- a\n- b\n', `${P}: the document must be a mapping of keys`);
  rejects('repository: [\n', `${P}: flow sequence in block collection must be sufficiently indented and end with a ] at line 2, column 1`);
});

test('listen addresses', () => {
  assert.deepEqual(parseListenAddress('[::1]:7400'), { host: '::1', port: 7400 });
  assert.deepEqual(parseListenAddress('localhost:0'), { host: 'localhost', port: 0 });
  assert.equal(parseListenAddress('localhost'), null);
  assert.equal(parseListenAddress('a:70000'), null);
});


test('ports are range-checked; a typo of a nested key gets "did you mean"', () => {
  rejects('repository: /r\ninsecure: true\nlisten: "127.0.0.1:70000"\n', `${P}: "listen" must have a port from 0 to 65535, not 70000`);
  rejects('repository: /r\ninsecure: true\nagents: [{ name: a, address: "db1:0" }]\n', `${P}: "agents[0].address" must have a port from 1 to 65535, not 0`);
  rejects('repository: /r\ninsecure: true\nagents: [{ name: a, address: "db1:99999" }]\n', `${P}: "agents[0].address" must have a port from 1 to 65535, not 99999`);
  rejects('repository: /r\ninsecure: true\nclusters: [{ name: c, conninfo: x, retention: { full: 1 }, walmethod: fetch }]\n', `${P}: "clusters[0].walmethod" is not a known key`,
    'Did you mean "walMethod"? Known keys here: "name", "agent", "conninfo", "retention", "schedule", "maxAge", "compression", "checkpoint", "walMethod", "maxRate", "wal".');
  // The typo is reported, not the correct spelling's absence it causes.
  rejects('repositroy: /r\ninsecure: true\n', `${P}: "repositroy" is not a known key`,
    'Did you mean "repository"? Known keys here: "listen", "repository", "tls", "insecure", "parallel", "noProgressTimeoutSeconds", "agents", "clusters", "schedule", "retention", "checks", "http", "wal".');
  rejects('repository: /r\ninsecure: true\ncolour: blue\n', `${P}: "colour" is not a known key`,
    'Known keys here: "listen", "repository", "tls", "insecure", "parallel", "noProgressTimeoutSeconds", "agents", "clusters", "schedule", "retention", "checks", "http", "wal".');
});

test('checkFleetConfig lists every problem of the file', async () => {
  const file = join(await mkdtemp(join(tmpdir(), 'fleet-config-')), 'fleet.yaml');
  await writeFile(file, 'insecure: true\nparalel: 2\nclusters: [{ name: c, retention: { full: 0 } }]\n');
  const { problems } = await checkFleetConfig(file);
  assert.deepEqual(problems.map((p) => `"${p.key}" ${p.reason}`), [
    '"paralel" is not a known key',
    '"repository" is required',
    '"clusters[0].retention.full" must be a positive integer, not 0',
  ]);
  await writeFile(file, GOOD);
  assert.deepEqual((await checkFleetConfig(file)).problems, []);
});

test('schedules, retention, checks and http: fleet-wide defaults, per-cluster overrides', () => {
  const c = parseFleetConfig([
    'repository: /r', 'insecure: true',
    'schedule: { full: "0 3 * * *", timezone: Europe/Berlin }',
    'retention: { days: 14 }',
    'checks: { maxAge: 2d, minFreeSpace: 20MiB, maxArchiveLag: 90s }',
    'http: { listen: "127.0.0.1:9187" }',
    'clusters:',
    '  - { name: a, conninfo: x }',
    '  - { name: b, conninfo: x, schedule: { full: "*/5 * * * * *", runMissed: false }, retention: { full: 2, days: 1 }, maxAge: 30m }',
    '',
  ].join('\n'), FILE);
  assert.deepEqual(c.clusters.map((x) => [x.name, x.schedule, x.retention, x.maxAgeSeconds]), [
    ['a', { full: '0 3 * * *', timezone: 'Europe/Berlin', runMissed: true }, { full: null, days: 14 }, 172800],
    ['b', { full: '*/5 * * * * *', timezone: null, runMissed: false }, { full: 2, days: 1 }, 1800],
  ]);
  assert.deepEqual(c.checks, { maxAgeSeconds: 172800, minFreeBytes: 20 * 1024 * 1024, maxArchiveLagSeconds: 90 });
  assert.deepEqual(c.http, { listen: { host: '127.0.0.1', port: 9187 } });
  // Without any: no schedule, the newest 7 full backups kept, no HTTP listener.
  const d = parseFleetConfig('repository: /r\ninsecure: true\nclusters: [{ name: a, conninfo: x }]\n', FILE);
  assert.deepEqual([d.clusters[0]?.schedule, d.clusters[0]?.retention, d.http], [null, { full: 7, days: null }, null]);
});
