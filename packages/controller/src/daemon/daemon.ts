/**
 * The controller daemon: `startDaemon(config)` cleans the repository of whatever an earlier
 * run left (staging and half-expired directories: a crash mid-backup never leaves a usable
 * backup nor partial files after the next start), binds the gRPC server (mutual TLS unless
 * `insecure`) and serves controller.proto, starts the HTTP listener when configured (metrics
 * and the status page) and the schedules (missed runs first). `reload()` takes a new
 * configuration without stopping anything that runs. `stop()` stops the schedules, aborts
 * running work (which removes its staging directories) and closes the servers and the agent
 * channels.
 */
import * as grpc from '@grpc/grpc-js';
import { ConnectError, createDaemonLog, errorFields, errorText, type DaemonLog, type PeerPolicy } from '@pgfleet/core';
import {
  AgentClient, CHANNEL_OPTIONS, CONTROLLER_PROTOCOL_VERSION, DaemonHealth, controllerService, guardHandlers, originSuffix, peerInterceptor, readTlsFiles,
  widenReceiveWindows,
  serverCredentials, walArchiveService, type TlsMaterial,
} from '@pgfleet/proto';
import type { FleetConfig } from '../config.js';
import { cleanupCluster } from '../repository/cleanup.js';
import { createControllerHandlers } from '../rpc/controller-service.js';
import { createWalArchiveHandlers } from '../rpc/wal-archive-service.js';
import type { ControllerState, DaemonLogger } from '../rpc/service-context.js';
import { PGFLEET_VERSION } from '../version.js';
import { FleetActivity } from './fleet-activity.js';
import { ClusterLocks } from './fleet-runner.js';
import { WalArchiver } from '../wal/wal-archiver.js';
import { WalStateRegistry } from '../wal/wal-state.js';
import { startHttpServer, type FleetHttpServer } from './http-server.js';
import { Scheduler } from './scheduler.js';
import type { WalArchiveStatusProvider } from './wal-archive-status.js';

export interface RunningDaemon {
  /** The bound port (useful with port 0). */
  port: number;
  address: string;
  /** The HTTP listener's "host:port" (metrics, status page); null when not configured. */
  httpAddress: string | null;
  /**
   * Takes a new configuration (SIGHUP): clusters, agents, schedules, retention, thresholds.
   * Running work goes on with what it started with. The listen addresses, repository and TLS
   * files stay as they were (a change is logged and needs a restart).
   */
  reload(config: FleetConfig): Promise<void>;
  stop(): Promise<void>;
}

export interface StartDaemonOptions {
  logger?: DaemonLogger;
  /**
   * The protocol versions the daemon speaks (default @pgfleet/proto's CONTROLLER_PROTOCOL_VERSION
   * towards CLIs, AGENT_PROTOCOL_VERSION towards agents); other values only to test negotiation.
   */
  protocolVersions?: { controller?: string; agent?: string };
  /** Pauses between WAL archive sessions (default 1 s doubling to 10 s); tests shorten them. */
  walRetryMs?: { min: number; max: number };
  /** The continuous WAL archive's state per cluster for checks and metrics (default: the daemon's own archivers'). */
  walArchive?: WalArchiveStatusProvider;
}

/** How to mend a TLS file that cannot be read. */
export const TLS_HINT = 'Run "pgfleet certs init DIR" to create a CA and certificates, or fix the path.';

/** The daemon's default log: text lines on stderr, info and above. */
export const stderrLogger: DaemonLog = createDaemonLog({ name: 'pgfleet', format: 'text', level: 'info' });

/** A caller's logger with every level (warn falls back to error, debug to nothing). */
function completeLog(logger: DaemonLogger): DaemonLog {
  return {
    info: (m, f) => logger.info(m, f),
    error: (m, f) => logger.error(m, f),
    warn: (m, f) => (logger.warn ?? logger.error).call(logger, m, f),
    debug: (m, f) => logger.debug?.call(logger, m, f),
  };
}

/**
 * Who may call the controller's API: the pgfleet CLI (role "cli"). Agents call only the WAL
 * archive service (walArchivePeerPolicy); an agent's certificate is refused everywhere else.
 */
export function controllerPeerPolicy(config: FleetConfig): PeerPolicy | null {
  if (config.tls === null) return null;
  return {
    self: 'controller',
    accept: ['cli'],
    allowedClients: config.tls.allowedClients ?? null,
    allowedClientsSource: `tls.allowedClients in "${config.path}"`,
    roleHint: 'Only the pgfleet command line calls the controller: use its certificate (cli.crt of "pgfleet certs init"); agents call only its WAL archive service.',
  };
}

/** Who may call the WAL archive service: agents (role "agent": archive-push, wal-get). */
export function walArchivePeerPolicy(config: FleetConfig): PeerPolicy | null {
  if (config.tls === null) return null;
  return {
    self: 'controller',
    accept: ['agent'],
    allowedClients: null,
    allowedClientsSource: `"${config.path}"`,
    roleHint: 'Only agents call the WAL archive service (pgfleet-agent archive-push and wal-get): use an agent certificate (agent-NAME.crt of "pgfleet certs init").',
  };
}

/** The policy of a call by its path: the WAL archive service answers agents, the rest the CLI. */
function peerPolicyOf(config: FleetConfig): (path: string) => PeerPolicy | null {
  const cli = controllerPeerPolicy(config);
  const agent = walArchivePeerPolicy(config);
  return (path) => (path.startsWith('/pgfleet.v1.WalArchive/') ? agent : cli);
}

/** What a cluster's archive session depends on: a change restarts it, nothing else does. */
function archiveSettings(config: FleetConfig, c: FleetConfig['clusters'][number]): string {
  const agent = c.agent === null ? null : config.agents.find((a) => a.name === c.agent)?.address ?? null;
  return JSON.stringify([c.conninfo, c.agent, agent, c.wal, config.noProgressTimeoutSeconds]);
}

/**
 * One archiver per cluster with `wal.archive: stream`; every cluster gets a state record.
 * `running` holds the archivers of the previous configuration: those whose settings are the
 * same keep streaming (a reload does not interrupt them), the others are stopped first.
 */
async function applyWalArchivers(config: FleetConfig, agents: Map<string, AgentClient>, wal: WalStateRegistry, logger: DaemonLog,
  retryMs: { min: number; max: number } | undefined, running: Map<string, { archiver: WalArchiver; settings: string }>): Promise<void> {
  const wanted = new Map(config.clusters.filter((c) => c.wal.archive === 'stream').map((c) => [c.name, archiveSettings(config, c)]));
  const stale = [...running].filter(([name, r]) => wanted.get(name) !== r.settings);
  await Promise.all(stale.map(([, r]) => r.archiver.stop()));
  for (const [name] of stale) running.delete(name);
  for (const c of config.clusters) {
    const record = wal.record(c.name, {
      cluster: c.name, archive: c.wal.archive, via: c.agent !== null ? `agent:${c.agent}` : 'direct', slot: c.wal.slot,
      applicationName: c.wal.slot, synchronous: c.wal.synchronous, compression: c.wal.compression, maxRetainedBytes: c.wal.maxRetainedBytes,
    });
    if (c.wal.archive !== 'stream' || running.has(c.name)) continue;
    const archiver = new WalArchiver({
      repository: config.repository, cluster: c, agent: c.agent !== null ? agents.get(c.agent) ?? null : null, record, logger,
      noProgressTimeoutMs: config.noProgressTimeoutSeconds * 1000, ...(retryMs !== undefined ? { retryMs } : {}),
    });
    archiver.start();
    running.set(c.name, { archiver, settings: wanted.get(c.name) as string });
  }
}

export async function startDaemon(config: FleetConfig, options: StartDaemonOptions = {}): Promise<RunningDaemon> {
  const logger = completeLog(options.logger ?? stderrLogger);
  const tls: TlsMaterial | null = config.tls ? await readTlsFiles(config.tls, TLS_HINT) : null;

  for (const c of config.clusters) {
    const { removed, kept } = await cleanupCluster(config.repository, c.name);
    for (const r of removed) logger.info(`removed leftover "${r}"`);
    for (const k of kept) logger.warn(`unusable backup "${k.path}" left in place: ${k.reason}`, { cluster: c.name });
  }

  const agentVersion = options.protocolVersions?.agent;
  const newAgent = (a: FleetConfig['agents'][number]): AgentClient => new AgentClient({
    name: a.name, address: a.address, client: `pgfleet-controller ${PGFLEET_VERSION}`, self: 'controller',
    ...(agentVersion !== undefined ? { protocolVersion: agentVersion } : {}),
  }, tls);
  const agents = new Map(config.agents.map((a) => [a.name, newAgent(a)]));
  const shutdown = new AbortController();
  const walReceivers = new WalStateRegistry(config.repository);
  let scheduler: Scheduler | null = null;
  const state: ControllerState = {
    config, agents, locks: new ClusterLocks(), inUse: new Map(), logger, shutdown: shutdown.signal,
    protocolVersion: options.protocolVersions?.controller ?? CONTROLLER_PROTOCOL_VERSION,
    activity: new FleetActivity(),
    nextRun: (cluster) => scheduler?.nextRun(cluster) ?? null,
    walArchive: options.walArchive ?? walReceivers,
    walReceivers,
  };
  const describe = (err: unknown): string => errorText(err) + originSuffix(err);
  const server = new grpc.Server({
    ...CHANNEL_OPTIONS,
    interceptors: [peerInterceptor(peerPolicyOf(config), (peer, err) => logger.warn(`call from ${peer} refused: ${describe(err)}`, { peer, error: errorFields(err) }))],
  });
  const onError = (method: string, peer: string, err: unknown): void => logger.error(`${method} from ${peer} failed: ${describe(err)}`, { method, peer, error: errorFields(err) });
  server.addService(controllerService(), guardHandlers(createControllerHandlers(state), onError));
  server.addService(walArchiveService(), guardHandlers(createWalArchiveHandlers(state), onError));
  const health = new DaemonHealth('pgfleet.v1.Controller');
  health.addTo(server);
  const host = config.listen.host.includes(':') ? `[${config.listen.host}]` : config.listen.host;
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(`${host}:${config.listen.port}`, serverCredentials(tls), (err, bound) => {
      if (err) {
        reject(new ConnectError(`could not listen on "${config.listen.host}:${config.listen.port}": ${err.message}`, {
          hint: 'Is another pgfleet daemon running? Change "listen" or stop the other process.',
        }));
      } else {
        resolve(bound);
      }
    });
  });
  widenReceiveWindows(server);
  const address = `${config.listen.host}:${port}`;
  let http: FleetHttpServer | null = null;
  try {
    if (config.http !== null) http = await startHttpServer(state, config.http.listen);
  } catch (err) {
    server.forceShutdown();
    throw err;
  }
  health.serving();
  logger.info(`controller listening on ${address} (${tls ? 'mutual TLS' : 'INSECURE, no TLS'}), repository "${config.repository}"`, { port });
  if (http !== null) logger.info(`metrics and status page on http://${http.address}/`, { httpPort: http.port });
  scheduler = new Scheduler(state);
  await scheduler.start(config);
  const archivers = new Map<string, { archiver: WalArchiver; settings: string }>();
  await applyWalArchivers(config, agents, walReceivers, logger, options.walRetryMs, archivers);

  let stopped = false;
  return {
    port,
    address,
    httpAddress: http?.address ?? null,
    async reload(next: FleetConfig) {
      const kept = (['listen', 'repository', 'tls', 'insecure', 'http'] as const).filter((k) => JSON.stringify(next[k]) !== JSON.stringify(state.config[k]));
      if (kept.length > 0) logger.warn(`reload: ${kept.map((k) => `"${k}"`).join(', ')} changed; that takes a restart (the old value stays in use)`);
      const merged: FleetConfig = { ...next, listen: state.config.listen, repository: state.config.repository, tls: state.config.tls, insecure: state.config.insecure, http: state.config.http };
      for (const a of merged.agents) {
        const old = agents.get(a.name);
        if (old !== undefined && state.config.agents.find((x) => x.name === a.name)?.address === a.address) continue;
        old?.close();
        agents.set(a.name, newAgent(a));
      }
      for (const [name, client] of agents) {
        if (!merged.agents.some((a) => a.name === name)) {
          client.close();
          agents.delete(name);
        }
      }
      const previous = state.config;
      for (const c of merged.clusters) {
        // A cluster new to the daemon may have leftovers of an earlier life (never one that is busy).
        if (!state.locks.isLocked(c.name) && !previous.clusters.some((x) => x.name === c.name)) await cleanupCluster(merged.repository, c.name);
      }
      state.config = merged;
      await scheduler?.apply(merged);
      // Only the archives whose settings changed start again.
      await applyWalArchivers(merged, agents, walReceivers, logger, options.walRetryMs, archivers);
      logger.info(`configuration reloaded from "${merged.path}": ${merged.clusters.length} clusters, ${merged.agents.length} agents, ${merged.clusters.filter((c) => c.schedule !== null).length} scheduled`);
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      health.notServing();
      // No new scheduled runs; the running ones end through the shutdown signal.
      const schedulerStopped = scheduler?.stop().catch(() => {});
      await http?.close();
      shutdown.abort(new Error('daemon shutting down'));
      await schedulerStopped;
      await Promise.all([...archivers.values()].map((a) => a.archiver.stop()));
      // Let running work see the abort and clean up, then close.
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => { server.forceShutdown(); resolve(); }, 10_000);
        server.tryShutdown(() => { clearTimeout(timer); resolve(); });
      });
      for (const a of agents.values()) a.close();
    },
  };
}
