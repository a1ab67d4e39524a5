// Helpers of the pgfleet-agent end-to-end tests (agent-*.test.ts): running the agent's command
// line as a black box, restoring with it, serving it (`pgfleet-agent serve`), stopping the
// instances it started, hashing directories.
//
// The agent runs built when packages/agent/dist is current, else from its TypeScript sources
// through tsx (../harness/built-entry.ts), or as the script named by PGFLEET_AGENT_BIN. It is
// spawned as the current user (root in CI), like an administrator would run it, and makes the
// restored files belong to the harness's PostgreSQL OS user (--owner).
//
// Instances the agent starts (--start) are not harness clusters: every one is recorded here
// and stopped by stopStartedInstance(), by a root-level `after` hook, and (SIGQUIT to the
// recorded postmaster pid) when the process exits, so no server outlives a failed test.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { lstat, readdir, readFile, readlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after } from 'node:test';
import pg from 'pg';
import {
  binDir,
  freePort,
  makeTempDir,
  pgOsUser,
  runAs,
  type PgVersion,
  type RunResult,
} from '../harness/index.js';
import { commandArgv } from '../harness/built-entry.js';
import { binaryAt, describeRun, startTool, type RunningTool, type ToolBinary } from './support/index.js';

/** The agent command line under test. */
export function agentBinary(): ToolBinary {
  const override = process.env['PGFLEET_AGENT_BIN']?.trim();
  if (override) return binaryAt(override);
  return {
    name: 'pgfleet-agent',
    command: process.execPath,
    prefixArgs: commandArgv('agent', 'pgfleet-agent'),
    isPgfleet: true,
    maxServerVersion: 18,
    referenceMajor: undefined,
  };
}

export function spawnAgent(args: readonly string[], opts: { env?: Record<string, string>; timeoutMs?: number } = {}): RunningTool {
  return startTool(agentBinary(), args, { timeoutMs: opts.timeoutMs ?? 300_000, ...(opts.env ? { env: opts.env } : {}) });
}

export function runAgent(args: readonly string[], opts: { env?: Record<string, string>; timeoutMs?: number } = {}): Promise<RunResult> {
  return spawnAgent(args, opts).result;
}

// ---- instances started by the agent -------------------------------------------------------

interface StartedInstance {
  dataDir: string;
  version: PgVersion;
  pid: number;
}

const started = new Map<string, StartedInstance>();

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

process.on('exit', () => {
  for (const i of started.values()) {
    if (i.pid > 0 && isAlive(i.pid)) {
      try {
        process.kill(i.pid, 'SIGQUIT');
      } catch {
        // gone
      }
    }
  }
});

export function trackStartedInstance(dataDir: string, version: PgVersion, pid: number): void {
  started.set(dataDir, { dataDir, version, pid });
}

/** pg_ctl stop -m fast as the PostgreSQL OS user; idempotent. */
export async function stopStartedInstance(dataDir: string): Promise<void> {
  const i = started.get(dataDir);
  if (!i) return;
  started.delete(dataDir);
  const result = await runAs(path.join(binDir(i.version), 'pg_ctl'), ['stop', '-w', '-t', '60', '-m', 'fast', '-D', dataDir], {
    allowFailure: true,
  });
  if (result.code !== 0 && i.pid > 0 && isAlive(i.pid)) process.kill(i.pid, 'SIGQUIT');
}

after(async () => {
  for (const dataDir of [...started.keys()]) await stopStartedInstance(dataDir);
});

// ---- restore through the command line -----------------------------------------------------

/** The JSON report of `pgfleet-agent restore --json` (the fields the tests look at). */
export interface AgentRestoreReport {
  dataDir: string;
  mode: string;
  layout: 'tar' | 'plain';
  major: number;
  tablespaces: Array<{ oid: number; originalLocation: string; location: string }>;
  walDir: string | null;
  verify: { verified: boolean; filesChecked: number; checksumAlgorithm: string | null; walSegmentsChecked: number };
  bytes: number;
  warnings: string[];
  instance: null | {
    dataDir: string;
    pid: number;
    port: number;
    socketDir: string;
    serverVersion: string;
    inRecovery: boolean;
    recoveryState: 'primary' | 'standby';
    timeline: number | null;
    tablespaces: Array<{ name: string; oid: number; location: string }>;
    walReceiver: { status: string; senderHost: string; senderPort: number } | null;
  };
}

export interface AgentRestoreRequest {
  from: string;
  dataDir: string;
  version: PgVersion;
  mode: 'standby' | 'promote' | 'none';
  /** -T OLD=NEW */
  mappings?: Array<[string, string]>;
  start?: boolean;
  extra?: string[];
}

export interface AgentRestoreOutcome {
  result: RunResult;
  report: AgentRestoreReport | null;
  /** Socket directory and port the instance was started with (when start). */
  socketDir: string;
  port: number;
}

/**
 * `pgfleet-agent restore --json` with --owner (the harness OS user), --pg-bin for the version,
 * and with --start a free port and a fresh socket directory. A started instance is tracked.
 */
export async function agentRestore(req: AgentRestoreRequest): Promise<AgentRestoreOutcome> {
  const port = await freePort();
  const socketDir = await makeTempDir('pgfleet-agent-sock');
  const args = ['restore', '--from', req.from, '-D', req.dataDir, '--mode', req.mode, '--json',
    '--owner', pgOsUser().name, '--pg-bin', binDir(req.version)];
  for (const [oldDir, newDir] of req.mappings ?? []) args.push('-T', `${oldDir}=${newDir}`);
  if (req.start) args.push('--start', '--port', String(port), '--socket-dir', socketDir, '--user', 'postgres');
  args.push(...(req.extra ?? []));
  const result = await runAgent(args);
  let report: AgentRestoreReport | null = null;
  if (result.code === 0) {
    report = JSON.parse(result.stdout) as AgentRestoreReport;
    if (report.instance) trackStartedInstance(req.dataDir, req.version, report.instance.pid);
  }
  return { result, report, socketDir, port };
}

/** A client on an agent-started instance (unix socket, role postgres). End it. */
export async function connectStarted(socketDir: string, port: number): Promise<pg.Client> {
  const client = new pg.Client({ host: socketDir, port, user: 'postgres', database: 'postgres' });
  client.on('error', () => undefined);
  await client.connect();
  return client;
}

// ---- directory hashing ----------------------------------------------------------------------

/**
 * One digest of a directory tree: every entry's relative path, type, mode, size, mtime and
 * content (symbolic links: their target). Any byte written, file added or removed, or
 * permission changed below `dir` changes it.
 */
export async function hashTree(dir: string): Promise<string> {
  const hash = createHash('sha256');
  const visit = async (p: string, rel: string): Promise<void> => {
    const st = await lstat(p);
    hash.update(`${rel}\0${st.mode}\0${st.size}\0${st.mtimeMs}\0`);
    if (st.isSymbolicLink()) hash.update(await readlink(p));
    else if (st.isFile()) hash.update(await readFile(p));
    else if (st.isDirectory()) {
      for (const name of (await readdir(p)).sort()) await visit(path.join(p, name), `${rel}/${name}`);
    }
  };
  await visit(dir, '.');
  return hash.digest('hex');
}

/** Entries of a directory (empty when it does not exist). */
export async function entriesOf(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).sort();
  } catch {
    return [];
  }
}

// ---- pgfleet-agent serve ------------------------------------------------------------------

export interface ServedAgent {
  agent: RunningTool;
  /** "127.0.0.1:PORT". */
  address: string;
  /** The controller's credentials (made by `pgfleet-agent certs --name db1` in <work>/certs); null when insecure. */
  tls: { ca: string; cert: string; key: string } | null;
}

export interface ServeAgentOptions {
  /** Directory for the configuration file (and the certificates). */
  work: string;
  /** Name of the configuration file, `<name>.yaml`. */
  name?: string;
  allowedRoot: string;
  /** Mutual TLS with certificates from `pgfleet-agent certs` (made once per work directory), or `insecure: true`. */
  tls: boolean;
  /** More agent.yaml lines. */
  extraConfig?: string[];
  env?: Record<string, string>;
  timeoutMs?: number;
  /** More `serve` options (e.g. --log-format json). */
  args?: string[];
}

/**
 * `pgfleet-agent serve` on a free local port for PostgreSQL 15, running instances as the OS user
 * `postgres`; resolves once the agent says it listens (with TLS: "(mutual TLS)").
 */
export async function serveAgent(options: ServeAgentOptions): Promise<ServedAgent> {
  const certs = path.join(options.work, 'certs');
  if (options.tls && !existsSync(certs)) {
    const made = await runAgent(['certs', '--out', certs, '--name', 'db1']);
    assert.equal(made.code, 0, describeRun('pgfleet-agent certs', made));
  }
  const config = path.join(options.work, `${options.name ?? 'agent'}.yaml`);
  await writeFile(config, [
    'listen: 127.0.0.1:0',
    ...(options.tls ? ['tls:', '  ca: certs/ca.crt', '  cert: certs/agent-db1.crt', '  key: certs/agent-db1.key'] : ['insecure: true']),
    `allowedRoots: [${JSON.stringify(options.allowedRoot)}]`,
    `pgBin: ${JSON.stringify(binDir(15))}`,
    'osUser: postgres',
    'connectUser: postgres',
    ...(options.extraConfig ?? []),
    '',
  ].join('\n'));
  const agent = spawnAgent(['serve', '--config', config, ...(options.args ?? [])], { timeoutMs: options.timeoutMs ?? 600_000, ...(options.env ? { env: options.env } : {}) });
  const listening = options.tls ? /listening on 127\.0\.0\.1:([0-9]+) \(mutual TLS\)/ : /listening on 127\.0\.0\.1:([0-9]+) /;
  const deadline = Date.now() + 30_000;
  let port = '';
  while (Date.now() < deadline && port === '') {
    port = listening.exec(agent.stderrSoFar())?.[1] ?? '';
    if (port === '') await new Promise((r) => setTimeout(r, 50));
  }
  if (port === '') {
    agent.killGroup();
    assert.fail(`agent did not start listening:\n${agent.stderrSoFar()}`);
  }
  return {
    agent,
    address: `127.0.0.1:${port}`,
    tls: options.tls ? { ca: path.join(certs, 'ca.crt'), cert: path.join(certs, 'controller.crt'), key: path.join(certs, 'controller.key') } : null,
  };
}

/** SIGTERM to a served agent; it must exit with status 0. */
export async function stopServedAgent(agent: RunningTool): Promise<void> {
  if (!agent.child.pid) return;
  process.kill(agent.child.pid, 'SIGTERM');
  const result = await agent.result;
  assert.equal(result.code, 0, describeRun('pgfleet-agent serve', result));
}
