/**
 * The Controller service (controller.proto) over a daemon's state. Handlers validate names
 * first (NotFoundError naming the cluster, agent or backup), then work; every failure ends the
 * call with the catalogue error (wire-errors.ts). Long calls stream events and stop their work
 * when the client cancels (a cancelled fleet backup removes its staging directories).
 */
import type * as grpc from '@grpc/grpc-js';
import {
  ArchiveFormatError, InvalidOptionError, ManifestError, NotFoundError, UnsafePathError, VerifyError, WalFormatError,
  WalMissingError, maskConninfo, verifyBackup,
} from '@pgfleet/core';
import type { ClusterConfig, FleetConfig } from '../config.js';
import type { AgentStatus } from '../gen/controller/pgfleet/v1/AgentStatus.js';
import type { BackupClustersEvent } from '../gen/controller/pgfleet/v1/BackupClustersEvent.js';
import type { ControllerHandlers } from '../gen/controller/pgfleet/v1/Controller.js';
import type { RestoreBackupEvent } from '../gen/controller/pgfleet/v1/RestoreBackupEvent.js';
import type { VerifyBackupEvent } from '../gen/controller/pgfleet/v1/VerifyBackupEvent.js';
import type { BackupMetadata } from '../repository/backup-metadata.js';
import { compareBackupIds } from '../repository/backup-id.js';
import { readClusterCatalog, type CatalogEntry } from '../repository/catalog.js';
import { expireCluster } from '../repository/expire.js';
import { BACKUP_METADATA_FILE } from '../repository/layout.js';
import { recordVerdict } from '../repository/verdict.js';
import {
  checkBackupClustersRequest, checkExpireBackupsRequest, checkGetControllerInfoRequest, checkListBackupsRequest,
  checkRestoreBackupRequest, checkVerifyBackupRequest,
} from '../rpc/request-limits.js';
import { asPgFleetError, toServiceError } from '../rpc/wire-errors.js';
import {
  CONTROLLER_CAPABILITIES, CONTROLLER_PROTOCOL_VERSION, PGFLEET_VERSION, checkProtocolCompatibility,
} from '../version.js';
import type { AgentClient } from './agent-client.js';
import { backupCluster, type ClusterBackupEvent } from './cluster-backup.js';
import { ClusterLocks, runFleet } from './fleet-runner.js';
import { backupRecord, damagedRecord, errorInfo } from './records.js';
import { parseRestoreMode, relayRestore } from './restore-relay.js';

export interface DaemonLogger {
  info(message: string): void;
  error(message: string): void;
}

export interface ControllerState {
  config: FleetConfig;
  agents: Map<string, AgentClient>;
  locks: ClusterLocks;
  /** Backups being read (verify, restore): "cluster/id" -> count. Expire skips them. */
  inUse: Map<string, number>;
  logger: DaemonLogger;
  /** Aborted when the daemon shuts down: running work stops and cleans up. */
  shutdown: AbortSignal;
}

/** What verifyBackup throws when the backup itself is bad (rather than the reading of it). */
const DAMAGE = [ArchiveFormatError, ManifestError, UnsafePathError, VerifyError, WalFormatError, WalMissingError];

/** A backup named by a call, usable or (verify) damaged. */
interface NamedBackup {
  id: string;
  path: string;
  /** backup.json, when it is valid. */
  metadata: BackupMetadata | null;
  /** Why it is damaged; null when usable. */
  damage: string | null;
}

export function createControllerHandlers(state: ControllerState): ControllerHandlers {
  const { config, logger } = state;

  const clusterByName = (name: string): ClusterConfig => {
    const c = config.clusters.find((x) => x.name === name);
    if (!c) {
      throw new NotFoundError(`cluster "${name}" is not configured`, {
        hint: config.clusters.length > 0 ? `Configured clusters: ${config.clusters.map((x) => `"${x.name}"`).join(', ')}.` : 'Add it under "clusters" in the configuration file.',
      });
    }
    return c;
  };
  const agentByName = (name: string): AgentClient => {
    const a = state.agents.get(name);
    if (!a) {
      throw new NotFoundError(`agent "${name}" is not configured`, {
        hint: state.agents.size > 0 ? `Configured agents: ${[...state.agents.keys()].map((x) => `"${x}"`).join(', ')}.` : 'Add it under "agents" in the configuration file.',
      });
    }
    return a;
  };
  /**
   * The backup a call names: "latest" (or nothing) is the newest usable one; an id may name a
   * damaged one only where `damaged` is "accept" (verify), never for a restore.
   */
  const backupOf = async (cluster: string, id: string, damaged: 'accept' | 'refuse'): Promise<NamedBackup> => {
    const catalog = await readClusterCatalog(config.repository, cluster);
    if (id === '' || id === 'latest') {
      const latest = catalog.backups[catalog.backups.length - 1];
      if (!latest) {
        throw new NotFoundError(`cluster "${cluster}" has no usable backup`, {
          hint: `Take one with "pgfleet backup ${cluster}".${catalog.unusable.length > 0 ? ` "pgfleet backups ${cluster}" lists the damaged ones.` : ''}`,
        });
      }
      return { id: latest.metadata.id, path: latest.path, metadata: latest.metadata, damage: null };
    }
    const usable = catalog.backups.find((b) => b.metadata.id === id);
    if (usable) return { id, path: usable.path, metadata: usable.metadata, damage: null };
    const broken = catalog.unusable.find((u) => u.name === id);
    if (broken && damaged === 'accept') return { id, path: broken.path, metadata: broken.metadata, damage: broken.reason };
    if (broken) {
      throw new VerifyError(`backup "${id}" of cluster "${cluster}" is damaged: ${broken.reason}`, {
        hint: `Choose another backup ("pgfleet backups ${cluster}" lists them), or take a new one with "pgfleet backup ${cluster}".`,
      });
    }
    throw new NotFoundError(`backup "${id}" of cluster "${cluster}" not found`, { hint: `List the backups with "pgfleet backups ${cluster}".` });
  };
  const useBackup = (cluster: string, id: string): (() => void) => {
    const key = `${cluster}/${id}`;
    state.inUse.set(key, (state.inUse.get(key) ?? 0) + 1);
    return () => {
      const n = (state.inUse.get(key) ?? 1) - 1;
      if (n <= 0) state.inUse.delete(key);
      else state.inUse.set(key, n);
    };
  };
  /** An AbortSignal for one call: client cancellation or daemon shutdown. */
  const callSignal = (call: grpc.ServerWritableStream<unknown, unknown>): AbortSignal => {
    const ac = new AbortController();
    call.on('cancelled', () => ac.abort(new Error('cancelled by the client')));
    return AbortSignal.any([ac.signal, state.shutdown]);
  };
  const unary = <Req, Res>(fn: (req: Req) => Promise<Res>) =>
    (call: grpc.ServerUnaryCall<Req, Res>, callback: grpc.sendUnaryData<Res>): void => {
      fn(call.request).then((res) => callback(null, res), (err: unknown) => callback(toServiceError(err)));
    };
  const endWithError = (call: grpc.ServerWritableStream<unknown, unknown>, err: unknown): void => {
    call.emit('error', toServiceError(err));
  };

  return {
    GetControllerInfo: unary(async (req) => {
      checkGetControllerInfoRequest(req);
      if (req.clientProtocolVersion !== '') {
        checkProtocolCompatibility(CONTROLLER_PROTOCOL_VERSION, req.clientProtocolVersion, { peer: `client "pgfleet ${req.clientVersion}"`, self: 'controller' });
      }
      return {
        pgfleetVersion: PGFLEET_VERSION,
        protocolVersion: CONTROLLER_PROTOCOL_VERSION,
        capabilities: CONTROLLER_CAPABILITIES,
        repository: config.repository,
        parallel: config.parallel,
      };
    }),

    ListAgents: unary(async () => {
      const agents = await Promise.all(config.agents.map(async (a): Promise<AgentStatus> => {
        const client = agentByName(a.name);
        try {
          const info = await client.getInfo({ fresh: true });
          return {
            name: a.name, address: a.address, reachable: true, compatible: true,
            pgfleetVersion: info.agentVersion, protocolVersion: info.protocolVersion,
            capabilities: info.capabilities, hostname: info.hostname,
          };
        } catch (err) {
          const e = asPgFleetError(err);
          return { name: a.name, address: a.address, reachable: e.id === 'incompatible-version', compatible: false, error: errorInfo(e) };
        }
      }));
      return { agents };
    }),

    ListClusters: unary(async () => ({
      clusters: await Promise.all(config.clusters.map(async (c) => {
        const { backups } = await readClusterCatalog(config.repository, c.name);
        const latest = backups[backups.length - 1];
        return {
          name: c.name, agent: c.agent ?? '', conninfo: maskConninfo(c.conninfo), retentionFull: c.retention.full,
          compression: c.compression, backupCount: backups.length,
          latestBackupId: latest?.metadata.id ?? '', latestBackupFinishedAt: latest?.metadata.finishedAt ?? '',
          backupRunning: state.locks.isLocked(c.name),
        };
      })),
    })),

    BackupClusters: (call) => {
      const req = call.request;
      let names: string[];
      try {
        checkBackupClustersRequest(req);
        if (req.all && req.clusters.length > 0) throw new InvalidOptionError('give cluster names or --all, not both');
        names = req.all ? config.clusters.map((c) => c.name) : [...new Set(req.clusters)];
        if (names.length === 0) {
          throw new InvalidOptionError(req.all ? 'no clusters are configured' : 'no cluster to back up', {
            hint: req.all ? 'Add clusters to the configuration file.' : 'Name one or more clusters, or use --all.',
          });
        }
        for (const n of names) clusterByName(n);
        for (const n of names) {
          const agent = clusterByName(n).agent;
          if (agent !== null) agentByName(agent);
        }
      } catch (err) {
        endWithError(call, err);
        return;
      }
      const signal = callSignal(call);
      const send = (ev: BackupClustersEvent): void => {
        if (!call.cancelled && !call.writableEnded) call.write(ev);
      };
      const parallel = req.parallel > 0 ? req.parallel : config.parallel;
      logger.info(`backup of ${names.map((n) => `"${n}"`).join(', ')} requested (parallel ${parallel})`);
      runFleet<ClusterBackupEvent>({
        clusters: names,
        parallel,
        locks: state.locks,
        job: async (name, emit) => {
          const cluster = clusterByName(name);
          const agent = cluster.agent !== null ? agentByName(cluster.agent) : null;
          await backupCluster({
            repository: config.repository, cluster, agent, signal, emit, noProgressTimeoutMs: config.noProgressTimeoutSeconds * 1000,
          });
        },
        emit: (e) => {
          switch (e.kind) {
            case 'queued':
              send({ kind: 'QUEUED', cluster: e.cluster });
              break;
            case 'job': {
              const ev = e.event;
              if (ev.kind === 'started') {
                logger.info(`cluster "${ev.cluster}": backup ${ev.backupId} started (${ev.via})`);
                send({ kind: 'STARTED', cluster: ev.cluster, backupId: ev.backupId, via: ev.via });
              } else if (ev.kind === 'completed') {
                logger.info(`cluster "${ev.cluster}": backup ${ev.backupId} completed (${ev.metadata.sizeBytes} bytes)`);
                send({ kind: 'COMPLETED', cluster: ev.cluster, backupId: ev.backupId, backup: backupRecord(ev.metadata, ev.path) });
              } else {
                send({
                  kind: ev.kind === 'progress' ? 'PROGRESS' : 'VERIFYING', cluster: ev.cluster, backupId: ev.backupId,
                  doneBytes: String(Math.round(ev.doneBytes)), totalBytes: String(Math.round(ev.totalBytes)),
                  rateBytesPerSecond: ev.rateBytesPerSecond, etaSeconds: ev.etaSeconds,
                });
              }
              break;
            }
            case 'failed':
              logger.error(`cluster "${e.cluster}": backup failed: ${e.error.format().replace(/\n/g, ' ')}`);
              send({ kind: 'FAILED', cluster: e.cluster, error: errorInfo(e.error) });
              break;
            case 'finished':
              send({ kind: 'FINISHED', completed: e.completed, failed: e.failed });
              break;
            default:
              break;
          }
        },
      }).then(() => {
        if (!call.writableEnded) call.end();
      }, (err: unknown) => endWithError(call, err));
    },

    ListBackups: unary(async (req) => {
      checkListBackupsRequest(req);
      const names = req.cluster !== '' ? [clusterByName(req.cluster).name] : config.clusters.map((c) => c.name);
      const backups = [];
      for (const n of names) {
        const catalog = await readClusterCatalog(config.repository, n);
        const records = [
          ...catalog.backups.map((b) => backupRecord(b.metadata, b.path)),
          ...catalog.unusable.map((u) => damagedRecord(u, n)),
        ];
        backups.push(...records.sort((x, y) => compareBackupIds(x.id ?? '', y.id ?? '')));
      }
      return { backups };
    }),

    VerifyBackup: (call) => {
      const run = async (): Promise<void> => {
        checkVerifyBackupRequest(call.request);
        const cluster = clusterByName(call.request.cluster);
        const named = await backupOf(cluster.name, call.request.backupId, 'accept');
        const release = useBackup(cluster.name, named.id);
        try {
          const send = (ev: VerifyBackupEvent): void => { if (!call.cancelled) call.write(ev); };
          // A backup.json that cannot be read is the first problem; the files are checked anyway.
          if (named.metadata === null) send({ kind: 'PROBLEM', backupId: named.id, message: named.damage ?? 'backup.json is not usable' });
          let last = 0;
          // The verdict is remembered in backup.json (when there is a valid one to write it to).
          const remember = async (problems: string[]): Promise<void> => {
            if (named.metadata !== null) await recordVerdict(named.path, named.metadata, { problems, at: new Date() });
          };
          let result: Awaited<ReturnType<typeof verifyBackup>>;
          try {
            result = await verifyBackup(named.path, {
              format: 'tar',
              ignore: [BACKUP_METADATA_FILE], // ours, not the server's: not in the manifest
              onProblem: (p) => send({ kind: 'PROBLEM', backupId: named.id, message: p.message }),
              onProgress: (p) => {
                const now = Date.now();
                if (now - last < 500) return;
                last = now;
                send({ kind: 'PROGRESS', backupId: named.id, doneBytes: String(p.doneBytes), totalBytes: String(p.totalBytes) });
              },
            });
          } catch (err) {
            // A manifest or archive that cannot even be read is damage too; an I/O failure or a
            // cancellation says nothing about the backup and is not recorded.
            if (DAMAGE.some((cls) => err instanceof cls)) await remember([(err as Error).message]);
            throw err;
          }
          await remember(result.problems.map((p) => p.message));
          const ok = result.ok && named.metadata !== null;
          const problems = result.problems.length + (named.metadata === null ? 1 : 0);
          logger.info(`cluster "${cluster.name}": backup ${named.id} verified: ${ok ? 'ok' : `${problems} problems, recorded as damaged`}`);
          send({
            kind: 'DONE', backupId: named.id, ok, filesMatched: result.filesMatched,
            walSegments: result.walSegmentsChecked,
          });
        } finally {
          release();
        }
      };
      run().then(() => call.end(), (err: unknown) => endWithError(call, err));
    },

    RestoreBackup: (call) => {
      const run = async (): Promise<void> => {
        const req = call.request;
        checkRestoreBackupRequest(req);
        const cluster = clusterByName(req.cluster);
        const agent = agentByName(req.agent);
        const mode = parseRestoreMode(req.mode);
        if (req.pgdata === '') throw new InvalidOptionError('no target data directory given', { hint: 'Give one with -D.' });
        const named = await backupOf(cluster.name, req.backupId, 'refuse');
        const entry: CatalogEntry = { metadata: named.metadata as BackupMetadata, path: named.path };
        const release = useBackup(cluster.name, named.id);
        const signal = callSignal(call);
        const send = (ev: RestoreBackupEvent): void => { if (!call.cancelled) call.write(ev); };
        const id = entry.metadata.id;
        logger.info(`cluster "${cluster.name}": restore of backup ${id} to ${agent.peer} "${req.pgdata}" (${mode}) requested`);
        try {
          send({ kind: 'STARTED', backupId: id, agent: agent.name, totalBytes: String(entry.metadata.sizeBytes) });
          await relayRestore({
            agent, backup: entry, signal,
            target: {
              dataDir: req.pgdata,
              tablespaceMappings: req.tablespaceMappings.map((m) => ({ oldDir: m.oldDir, newDir: m.newDir })),
              mode, start: req.start, port: req.port, walDir: req.waldir, primaryConninfo: req.primaryConninfo,
            },
            emit: (ev) => {
              if (ev.kind === 'plan') {
                send({ kind: 'PLAN', backupId: id, agent: agent.name, mode: ev.mode, message: ev.statement, dataDirectory: ev.dataDir });
              } else if (ev.kind === 'progress') {
                send({
                  kind: 'PROGRESS', backupId: id, agent: agent.name, phase: ev.phase, file: ev.file,
                  doneBytes: String(Math.round(ev.doneBytes)), totalBytes: String(Math.round(ev.totalBytes)),
                  rateBytesPerSecond: ev.rateBytesPerSecond, etaSeconds: ev.etaSeconds,
                });
              } else {
                const r = ev.report;
                const inst = r.instance;
                send({
                  kind: 'DONE', backupId: id, agent: agent.name, mode: r.mode, dataDirectory: r.dataDir, major: r.major,
                  tablespaces: r.tablespaces.map((t) => ({ oid: t.oid, originalLocation: t.originalLocation, location: t.location })),
                  walDir: r.walDir, verified: r.verify?.verified ?? false, bytes: r.bytes, durationMs: r.durationMs,
                  warnings: r.warnings,
                  started: inst?.running ?? false, inRecovery: inst?.inRecovery ?? false, recoveryState: inst?.recoveryState ?? '',
                  timeline: inst?.timeline ?? 0, port: inst?.port ?? 0, serverVersion: inst?.serverVersion ?? '',
                });
                logger.info(`cluster "${cluster.name}": backup ${id} restored to ${agent.peer} "${r.dataDir}"`);
              }
            },
          });
        } finally {
          release();
        }
      };
      run().then(() => call.end(), (err: unknown) => {
        logger.error(`restore failed: ${asPgFleetError(err).format().replace(/\n/g, ' ')}`);
        endWithError(call, err);
      });
    },

    ExpireBackups: unary(async (req) => {
      checkExpireBackupsRequest(req);
      const clusters = req.cluster !== '' ? [clusterByName(req.cluster)] : config.clusters;
      const removed = [];
      const kept = [];
      for (const c of clusters) {
        // A backup in flight is not listed yet (staging): expire only ever counts committed
        // backups, so it need not wait for one.
        const plan = await expireCluster(config.repository, c.name, {
          keepFull: c.retention.full,
          dryRun: req.dryRun,
          inUse: (id) => state.inUse.has(`${c.name}/${id}`),
        });
        for (const b of plan.remove) removed.push({ cluster: c.name, backupId: b.metadata.id, finishedAt: b.metadata.finishedAt });
        for (const b of plan.keep) kept.push({ cluster: c.name, backupId: b.metadata.id, finishedAt: b.metadata.finishedAt });
        if (plan.remove.length > 0 && !req.dryRun) {
          logger.info(`cluster "${c.name}": expired ${plan.remove.map((b) => b.metadata.id).join(', ')}`);
        }
      }
      return { removed, kept };
    }),
  };
}

