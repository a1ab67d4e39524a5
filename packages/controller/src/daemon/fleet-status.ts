/**
 * The fleet at a glance, read from the repository and the daemon's state (no agent or server
 * is asked, so it answers at once whatever is down): per cluster the newest usable backup
 * (age, size, duration), the last failed attempt, the next scheduled run, the WAL archive's
 * state and a state word:
 *   failed   no usable backup, or the newest is older than the cluster's maxAge
 *   warning  the newest attempt after it failed, or the WAL archive lags too far behind
 *   ok       otherwise
 * `pgfleet status`, /metrics and the status page all show this one computation.
 */
import { statfs } from 'node:fs/promises';
import type { ClusterStatus, FleetStatus } from '@pgfleet/proto';
import { formatDuration } from './age-text.js';
import { readAttempts } from '../repository/attempts.js';
import { compareBackupIds } from '../repository/backup-id.js';
import { readClusterCatalog } from '../repository/catalog.js';
import type { ControllerState } from '../rpc/service-context.js';
import type { WalArchiveStatusResult } from './wal-archive-status.js';

/** The text every reader shows while restore drills do not exist. */
export const NO_DRILLS = 'no drills configured';

export interface RepositorySpace {
  freeBytes: number;
  sizeBytes: number;
}

/** Free and total bytes of the repository's file system; null when it cannot be read. */
export async function repositorySpace(repository: string): Promise<RepositorySpace | null> {
  try {
    const s = await statfs(repository);
    return { freeBytes: s.bavail * s.bsize, sizeBytes: s.blocks * s.bsize };
  } catch {
    return null;
  }
}

function walStatus(wal: WalArchiveStatusResult): NonNullable<ClusterStatus['wal']> {
  if (!wal.available) return { available: false, reason: wal.reason };
  const s = wal.state;
  return {
    available: true, lagBytes: String(s.lagBytes), lagSeconds: s.lagSeconds, slotRetainedBytes: String(s.slotRetainedBytes), gaps: s.gaps,
    restoreFrom: s.restoreFrom?.toISOString() ?? '', restoreTo: s.restoreTo?.toISOString() ?? '', slotPresent: s.slotPresent, slotActive: s.slotActive,
  };
}

export async function clusterStatus(state: ControllerState, name: string, now: Date = new Date()): Promise<ClusterStatus> {
  const { config } = state;
  const cluster = config.clusters.find((c) => c.name === name);
  const maxAge = cluster?.maxAgeSeconds ?? config.checks.maxAgeSeconds;
  const catalog = await readClusterCatalog(config.repository, name);
  const attempts = await readAttempts(config.repository, name);
  const latest = catalog.backups[catalog.backups.length - 1];
  const lastFailure = attempts[attempts.length - 1];
  const wal = await state.walArchive.stateOf(name);
  const problems: string[] = [];
  let level = 0;
  const age = latest ? (now.getTime() - Date.parse(latest.metadata.finishedAt)) / 1000 : -1;
  if (!latest) {
    problems.push('no usable backup');
    level = 2;
  } else if (age > maxAge) {
    problems.push(`the newest usable backup is ${formatDuration(age)} old (maxAge ${formatDuration(maxAge)})`);
    level = 2;
  }
  if (lastFailure && (!latest || compareBackupIds(lastFailure.id, latest.metadata.id) > 0)) {
    problems.push(`the last backup attempt ${lastFailure.status === 'incomplete' ? 'was interrupted' : 'failed'}: ${lastFailure.error.message}`);
    level = Math.max(level, 1);
  }
  if (wal.available && wal.state.lagSeconds > config.checks.maxArchiveLagSeconds) {
    problems.push(`the WAL archive lags ${formatDuration(wal.state.lagSeconds)} behind`);
    level = Math.max(level, 1);
  }
  const cut = wal.available ? wal.state.newestBackupCut : null;
  if (cut !== null) {
    // As `pgfleet check`'s archive check: no point after the gap can be recovered yet.
    problems.push(`the newest backup ${cut.backupId} cannot be recovered past WAL segment ${cut.firstMissing}${cut.removedByServer ? ' (the server removed it before the archive received it)' : ''}`);
    level = Math.max(level, 1);
  }
  const next = state.nextRun(name);
  return {
    name,
    state: ['ok', 'warning', 'failed'][level] ?? 'failed',
    problems,
    lastBackupId: latest?.metadata.id ?? '',
    lastBackupFinishedAt: latest?.metadata.finishedAt ?? '',
    lastBackupAgeSeconds: age,
    lastBackupSizeBytes: String(latest?.metadata.sizeBytes ?? 0),
    lastBackupDurationSeconds: latest ? (Date.parse(latest.metadata.finishedAt) - Date.parse(latest.metadata.startedAt)) / 1000 : 0,
    backupCount: catalog.backups.length,
    schedule: cluster?.schedule ? `${cluster.schedule.full}${cluster.schedule.timezone ? ` (${cluster.schedule.timezone})` : ''}` : '',
    nextRunAt: next?.toISOString() ?? '',
    backupRunning: state.locks.isLocked(name),
    wal: walStatus(wal),
    lastFailureAt: lastFailure ? (lastFailure.endedAt || lastFailure.startedAt) : '',
    ...(lastFailure ? { lastFailure: { ...lastFailure.error, raisedFrom: '' } } : {}),
    failures: state.activity.failureCount(name),
    backups: catalog.backups.map((b) => ({ id: b.metadata.id, finishedAt: b.metadata.finishedAt, sizeBytes: String(b.metadata.sizeBytes) })),
    drill: NO_DRILLS,
    maxAgeSeconds: String(maxAge),
  };
}

export async function fleetStatus(state: ControllerState, now: Date = new Date()): Promise<FleetStatus> {
  const clusters = [];
  for (const c of state.config.clusters) clusters.push(await clusterStatus(state, c.name, now));
  const space = await repositorySpace(state.config.repository);
  return {
    clusters,
    generatedAt: now.toISOString(),
    repositoryFreeBytes: String(space?.freeBytes ?? 0),
    repositorySizeBytes: String(space?.sizeBytes ?? 0),
  };
}
