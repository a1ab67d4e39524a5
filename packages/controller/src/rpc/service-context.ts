/**
 * What every handler of the Controller service works with: the daemon's configuration, its
 * agents, which clusters are busy and which backups are being read, its logger and its
 * shutdown signal; and the lookups every handler does first (a cluster, an agent or a backup
 * by name, each a NotFoundError naming it, with a HINT listing what exists).
 */
import { NotFoundError, VerifyError, type DaemonLog, type LogFields } from '@pgfleet/core';
import type { AgentClient } from '@pgfleet/proto';
import type { ClusterConfig, FleetConfig } from '../config.js';
import type { FleetActivity } from '../daemon/fleet-activity.js';
import type { ClusterLocks } from '../daemon/fleet-runner.js';
import type { WalArchiveStatusProvider } from '../daemon/wal-archive-status.js';
import type { BackupMetadata } from '../repository/backup-metadata.js';
import { readClusterCatalog } from '../repository/catalog.js';
import type { WalStateRegistry } from '../wal/wal-state.js';

/** What a caller of startDaemon() may give as its log: info and error at least (warn goes to error, debug nowhere when absent). */
export interface DaemonLogger {
  info(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  warn?(message: string, fields?: LogFields): void;
  debug?(message: string, fields?: LogFields): void;
}

export interface ControllerState {
  config: FleetConfig;
  agents: Map<string, AgentClient>;
  locks: ClusterLocks;
  /** Backups being read (verify, restore): "cluster/id" -> count. Expire skips them. */
  inUse: Map<string, number>;
  logger: DaemonLog;
  /** Aborted when the daemon shuts down: running work stops and cleans up. */
  shutdown: AbortSignal;
  /** The controller.proto version the daemon announces and checks. */
  protocolVersion: string;
  /** Operations running and failures since start (metrics, status). */
  activity: FleetActivity;
  /** When each cluster's next scheduled backup runs (null: none). */
  nextRun: (cluster: string) => Date | null;
  /** The continuous WAL archive's state of each cluster. */
  walArchive: WalArchiveStatusProvider;
  /** Each cluster's WAL archive receiver (wal/wal-state.ts): walState(cluster), walStates(), report(). */
  walReceivers: WalStateRegistry;
}

/** A backup named by a call, usable or (verify) damaged. */
export interface NamedBackup {
  id: string;
  path: string;
  /** backup.json, when it is valid. */
  metadata: BackupMetadata | null;
  /** Why it is damaged; null when usable. */
  damage: string | null;
}

export function clusterByName(state: ControllerState, name: string): ClusterConfig {
  const { clusters } = state.config;
  const c = clusters.find((x) => x.name === name);
  if (!c) {
    throw new NotFoundError(`cluster "${name}" is not configured`, {
      hint: clusters.length > 0 ? `Configured clusters: ${clusters.map((x) => `"${x.name}"`).join(', ')}.` : 'Add it under "clusters" in the configuration file.',
    });
  }
  return c;
}

export function agentByName(state: ControllerState, name: string): AgentClient {
  const a = state.agents.get(name);
  if (!a) {
    throw new NotFoundError(`agent "${name}" is not configured`, {
      hint: state.agents.size > 0 ? `Configured agents: ${[...state.agents.keys()].map((x) => `"${x}"`).join(', ')}.` : 'Add it under "agents" in the configuration file.',
    });
  }
  return a;
}

/**
 * The backup a call names: "latest" (or nothing) is the newest usable one; an id may name a
 * damaged one only where `damaged` is "accept" (verify), never for a restore.
 */
export async function backupOf(state: ControllerState, cluster: string, id: string, damaged: 'accept' | 'refuse'): Promise<NamedBackup> {
  const catalog = await readClusterCatalog(state.config.repository, cluster);
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
}

/** Marks a backup as being read by `kind` until the returned function is called (expire leaves it). */
export function useBackup(state: ControllerState, cluster: string, id: string, kind: 'verify' | 'restore'): () => void {
  const key = `${cluster}/${id}`;
  state.inUse.set(key, (state.inUse.get(key) ?? 0) + 1);
  const end = state.activity.begin(kind);
  return () => {
    end();
    const n = (state.inUse.get(key) ?? 1) - 1;
    if (n <= 0) state.inUse.delete(key);
    else state.inUse.set(key, n);
  };
}
