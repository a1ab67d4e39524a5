/**
 * fleet.yaml: the controller daemon's configuration. `loadFleetConfig(path)` reads and
 * validates it; `parseFleetConfig(text, path)` validates text. Every problem is an
 * InvalidOptionError naming the file and the key ("clusters[1].retention.full"), so an operator
 * can fix it without reading code. Unknown keys are errors too: a misspelt "paralel" must not
 * be silently ignored. Relative paths (repository, TLS files) are relative to the file's
 * directory, so a config can be moved together with its certificates.
 *
 *   listen: 127.0.0.1:7400
 *   repository: /var/lib/pgfleet
 *   tls: { ca: ca.crt, cert: controller.crt, key: controller.key }   # or: insecure: true
 *   # tls.allowedClients: [pgfleet-cli]   optional: CNs of the CLI certificates accepted
 *   parallel: 4
 *   noProgressTimeoutSeconds: 600      # a server silent this long while a direct backup waits: fail
 *   agents:   [{ name: db1, address: db1.example.com:7401 }]
 *   clusters: [{ name: main, agent: db1, conninfo: "...", retention: { full: 7 } }]
 */
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { InvalidOptionError, fileError, parseCompressionSpec } from '@pgfleet/core';

export interface TlsFiles {
  ca: string;
  cert: string;
  key: string;
  /** Common names of the client (CLI) certificates accepted; null: any with role "cli". */
  allowedClients?: string[] | null;
}

export interface ListenAddress {
  host: string;
  port: number;
}

export interface AgentConfig {
  name: string;
  /** host:port of the agent's gRPC server. */
  address: string;
}

export interface RetentionConfig {
  /** Number of newest full backups kept by expire. */
  full: number;
}

export interface ClusterConfig {
  name: string;
  /** The agent that backs this cluster up on its host; null: direct replication connection. */
  agent: string | null;
  /** libpq connection string. Required without an agent; with one, passed to the agent
   * (empty: the agent's own local connection). */
  conninfo: string;
  retention: RetentionConfig;
  /** pg_basebackup -Z spec ("none", "client-gzip", "server-zstd:level=5", ...). */
  compression: string;
  checkpoint: 'fast' | 'spread';
  walMethod: 'stream' | 'fetch';
  /** pg_basebackup -r in kB/s, or null. */
  maxRateKb: number | null;
}

export interface FleetConfig {
  /** The file it was read from (absolute), for messages. */
  path: string;
  listen: ListenAddress;
  repository: string;
  tls: TlsFiles | null;
  insecure: boolean;
  parallel: number;
  /** Direct backups: a PostgreSQL connection fails when the server sends nothing for this long
   * while the controller waits for it (the start checkpoint included). */
  noProgressTimeoutSeconds: number;
  agents: AgentConfig[];
  clusters: ClusterConfig[];
}

/** Names become directory names in the repository: keep them portable and safe. */
const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

const TOP_KEYS = ['listen', 'repository', 'tls', 'insecure', 'parallel', 'noProgressTimeoutSeconds', 'agents', 'clusters'];
const TLS_KEYS = ['ca', 'cert', 'key', 'allowedClients'];
const AGENT_KEYS = ['name', 'address'];
const CLUSTER_KEYS = ['name', 'agent', 'conninfo', 'retention', 'compression', 'checkpoint', 'walMethod', 'maxRate'];
const RETENTION_KEYS = ['full'];

export const DEFAULT_LISTEN = '127.0.0.1:7400';
export const DEFAULT_PARALLEL = 4;
/** Longer than a spread checkpoint of a default configuration (checkpoint_timeout 5 min x 0.9). */
export const DEFAULT_NO_PROGRESS_TIMEOUT_SECONDS = 600;

/** Reads and validates fleet.yaml. */
export async function loadFleetConfig(path: string): Promise<FleetConfig> {
  const absolute = resolve(path);
  let text: string;
  try {
    text = await readFile(absolute, 'utf8');
  } catch (err) {
    throw fileError('could not read configuration file', absolute, err);
  }
  return parseFleetConfig(text, absolute);
}

/** Validates the text of a fleet.yaml that lives (or would live) at `path`. */
export function parseFleetConfig(text: string, path: string): FleetConfig {
  const file = resolve(path);
  const baseDir = dirname(file);
  const fail = (key: string, problem: string, hint?: string): never => {
    throw new InvalidOptionError(`invalid configuration file "${file}": "${key}" ${problem}`, hint ? { hint } : {});
  };

  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    // yaml's first line: "<problem> at line L, column C:" (the rest is a source excerpt).
    const detail = (err instanceof YAMLParseError ? err.message.split('\n')[0] ?? '' : String(err)).replace(/:$/, '');
    throw new InvalidOptionError(`invalid configuration file "${file}": ${detail.replace(/^./, (c) => c.toLowerCase())}`);
  }
  if (doc === null || doc === undefined) doc = {};
  if (!isPlainObject(doc)) {
    throw new InvalidOptionError(`invalid configuration file "${file}": the document must be a mapping of keys`);
  }

  checkKeys(doc, TOP_KEYS, '', fail);

  const listenText = optionalString(doc, 'listen', 'listen', fail) ?? DEFAULT_LISTEN;
  const listen = parseListenAddress(listenText) ?? fail('listen', `must be HOST:PORT, not "${listenText}"`);

  const repositoryText = optionalString(doc, 'repository', 'repository', fail)
    ?? fail('repository', 'is required', 'Set "repository" to the directory that holds the backups.');
  const repository = resolve(baseDir, repositoryText);

  const insecureValue = doc['insecure'];
  if (insecureValue !== undefined && typeof insecureValue !== 'boolean') fail('insecure', 'must be true or false');
  const insecure = insecureValue === true;

  let tls: TlsFiles | null = null;
  if (doc['tls'] !== undefined && doc['tls'] !== null) {
    const t = doc['tls'];
    if (!isPlainObject(t)) fail('tls', 'must be a mapping with "ca", "cert" and "key"');
    const tlsDoc = t as Record<string, unknown>;
    checkKeys(tlsDoc, TLS_KEYS, 'tls.', fail);
    const get = (k: string) => resolve(baseDir, optionalString(tlsDoc, k, `tls.${k}`, fail)
      ?? fail(`tls.${k}`, 'is required', 'Run "pgfleet certs init DIR" to create a CA and certificates.'));
    tls = { ca: get('ca'), cert: get('cert'), key: get('key'), allowedClients: null };
    const allowed = tlsDoc['allowedClients'];
    if (allowed !== undefined && allowed !== null) {
      if (!Array.isArray(allowed) || allowed.length === 0 || allowed.some((n) => typeof n !== 'string' || n === '')) {
        fail('tls.allowedClients', 'must be a non-empty list of certificate common names',
          'Remove it to accept any client certificate of the CA with role "cli".');
      }
      const names = allowed as string[];
      const repeated = names.find((n, i) => names.indexOf(n) !== i);
      if (repeated !== undefined) fail('tls.allowedClients', `lists "${repeated}" twice`);
      tls.allowedClients = names;
    }
  }
  if (tls !== null && insecure) fail('insecure', 'cannot be combined with "tls"', 'Remove one of them.');
  if (tls === null && !insecure) {
    fail('tls', 'is required', 'Set "tls" (ca, cert, key) for mutual TLS, or "insecure: true" for a local demo without TLS.');
  }

  const parallel = doc['parallel'] === undefined ? DEFAULT_PARALLEL : positiveInteger(doc['parallel'], 'parallel', fail);
  const noProgressTimeoutSeconds = doc['noProgressTimeoutSeconds'] === undefined
    ? DEFAULT_NO_PROGRESS_TIMEOUT_SECONDS
    : positiveInteger(doc['noProgressTimeoutSeconds'], 'noProgressTimeoutSeconds', fail);
  if (noProgressTimeoutSeconds > 86400) fail('noProgressTimeoutSeconds', 'must be at most 86400 (one day)');

  const agents: AgentConfig[] = [];
  for (const [i, a] of listOf(doc, 'agents', fail).entries()) {
    const key = `agents[${i}]`;
    if (!isPlainObject(a)) fail(key, 'must be a mapping with "name" and "address"');
    const entry = a as Record<string, unknown>;
    checkKeys(entry, AGENT_KEYS, `${key}.`, fail);
    const name = requiredName(entry, `${key}.name`, fail);
    if (agents.some((x) => x.name === name)) fail(`${key}.name`, `repeats agent name "${name}"`);
    const address = optionalString(entry, 'address', `${key}.address`, fail) ?? fail(`${key}.address`, 'is required');
    if (parseListenAddress(address) === null) fail(`${key}.address`, `must be HOST:PORT, not "${address}"`);
    agents.push({ name, address });
  }

  const clusters: ClusterConfig[] = [];
  for (const [i, c] of listOf(doc, 'clusters', fail).entries()) {
    const key = `clusters[${i}]`;
    if (!isPlainObject(c)) fail(key, 'must be a mapping with at least "name"');
    const entry = c as Record<string, unknown>;
    checkKeys(entry, CLUSTER_KEYS, `${key}.`, fail);
    const name = requiredName(entry, `${key}.name`, fail);
    const same = clusters.find((x) => x.name.toLowerCase() === name.toLowerCase());
    if (same?.name === name) fail(`${key}.name`, `repeats cluster name "${name}"`);
    if (same !== undefined) {
      // A cluster's name is its directory in the repository: on a file system that ignores
      // case, two such clusters would share their backups.
      fail(`${key}.name`, `"${name}" differs from cluster "${same.name}" only in case`, 'Give clusters names that differ in more than case.');
    }
    const agent = optionalString(entry, 'agent', `${key}.agent`, fail) ?? null;
    if (agent !== null && !agents.some((a) => a.name === agent)) {
      fail(`${key}.agent`, `names unknown agent "${agent}"`,
        agents.length === 0 ? 'Declare the agent under "agents".' : `Known agents: ${agents.map((a) => `"${a.name}"`).join(', ')}.`);
    }
    const conninfo = optionalString(entry, 'conninfo', `${key}.conninfo`, fail) ?? '';
    if (agent === null && conninfo === '') {
      fail(`${key}.conninfo`, 'is required for a cluster without an agent',
        'Give a connection string the controller can use for replication, or an "agent".');
    }
    let retention: RetentionConfig = { full: 0 };
    const r = entry['retention'];
    if (r === undefined || r === null) {
      fail(`${key}.retention`, 'is required', 'Say how many full backups to keep, e.g. "retention: { full: 7 }".');
    } else if (!isPlainObject(r)) {
      fail(`${key}.retention`, 'must be a mapping such as "{ full: 7 }"');
    } else {
      checkKeys(r, RETENTION_KEYS, `${key}.retention.`, fail);
      if (r['full'] === undefined) fail(`${key}.retention.full`, 'is required');
      retention = { full: positiveInteger(r['full'], `${key}.retention.full`, fail) };
    }
    const compression = optionalString(entry, 'compression', `${key}.compression`, fail) ?? 'none';
    try {
      parseCompressionSpec(compression);
    } catch (err) {
      fail(`${key}.compression`, `is invalid: ${err instanceof Error ? err.message : String(err)}`);
    }
    const checkpoint = optionalString(entry, 'checkpoint', `${key}.checkpoint`, fail) ?? 'fast';
    if (checkpoint !== 'fast' && checkpoint !== 'spread') fail(`${key}.checkpoint`, `must be "fast" or "spread", not "${checkpoint}"`);
    const walMethod = optionalString(entry, 'walMethod', `${key}.walMethod`, fail) ?? 'stream';
    if (walMethod !== 'stream' && walMethod !== 'fetch') fail(`${key}.walMethod`, `must be "stream" or "fetch", not "${walMethod}"`);
    let maxRateKb: number | null = null;
    if (entry['maxRate'] !== undefined && entry['maxRate'] !== null) {
      maxRateKb = positiveInteger(entry['maxRate'], `${key}.maxRate`, fail);
      // pg_basebackup's limits for -r, in kB/s.
      if (maxRateKb < 32 || maxRateKb > 1048576) fail(`${key}.maxRate`, 'must be between 32 and 1048576 (kB/s)');
    }
    clusters.push({
      name, agent, conninfo, retention, compression,
      checkpoint: checkpoint as 'fast' | 'spread', walMethod: walMethod as 'stream' | 'fetch', maxRateKb,
    });
  }

  return { path: file, listen, repository, tls, insecure, parallel, noProgressTimeoutSeconds, agents, clusters };
}

/** "host:port", "[v6]:port"; null when malformed. */
export function parseListenAddress(text: string): ListenAddress | null {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(text) ?? /^([^:\s]+):(\d+)$/.exec(text);
  if (!m) return null;
  const port = Number(m[2]);
  if (!Number.isInteger(port) || port < 0 || port > 65535) return null;
  return { host: m[1] as string, port };
}

type Fail = (key: string, problem: string, hint?: string) => never;

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function checkKeys(obj: Record<string, unknown>, known: string[], prefix: string, fail: Fail): void {
  for (const k of Object.keys(obj)) {
    if (!known.includes(k)) fail(`${prefix}${k}`, 'is not a known key', `Known keys here: ${known.map((x) => `"${x}"`).join(', ')}.`);
  }
}

function optionalString(obj: Record<string, unknown>, k: string, key: string, fail: Fail): string | undefined {
  const v = obj[k];
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'number' && k !== 'conninfo') return String(v);
  if (typeof v !== 'string') return fail(key, 'must be a string');
  return v;
}

function requiredName(obj: Record<string, unknown>, key: string, fail: Fail): string {
  const name = optionalString(obj, 'name', key, fail) ?? fail(key, 'is required');
  if (!NAME_PATTERN.test(name)) {
    fail(key, `is not a valid name: "${name}"`, 'Use letters, digits, ".", "_" and "-" (at most 63), starting with a letter or digit.');
  }
  return name;
}

function positiveInteger(v: unknown, key: string, fail: Fail): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) return fail(key, `must be a positive integer, not ${JSON.stringify(v)}`);
  return v;
}

function listOf(doc: Record<string, unknown>, k: string, fail: Fail): unknown[] {
  const v = doc[k];
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) return fail(k, 'must be a list');
  return v;
}
