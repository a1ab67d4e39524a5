/**
 * Prometheus metrics (prom-client), computed when scraped from the fleet status (the
 * repository and the daemon's state) and from asking each agent for its GetInfo. Ages are
 * seconds, not timestamps, so that a dashboard needs no arithmetic. A figure that does not
 * exist has no sample (a cluster without a usable backup has no age; without a WAL archive
 * there are no pgfleet_wal_* samples; without drills no drill age): never a made-up value.
 * Beside them, prom-client's process_* and nodejs_* metrics of the daemon itself (its resident
 * memory, CPU, heap, event loop lag, garbage collections), under the names dashboards for
 * Node.js processes expect: a daemon that runs for months is watched for its memory too.
 */
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { ControllerState } from '../rpc/service-context.js';
import { OPERATION_KINDS } from './fleet-activity.js';
import { clusterStatus, repositorySpace } from './fleet-status.js';

export interface FleetMetrics {
  registry: Registry;
  /** The text exposition format of every metric, computed now. */
  render(): Promise<string>;
  contentType: string;
}

export function createFleetMetrics(state: ControllerState): FleetMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const gauge = (name: string, help: string, labelNames: string[]): Gauge => new Gauge({ name, help, labelNames, registers: [registry] });
  const cluster = ['cluster'];
  const lastAge = gauge('pgfleet_backup_last_success_age_seconds', 'Seconds since the newest usable backup of the cluster finished', cluster);
  const lastDuration = gauge('pgfleet_backup_last_duration_seconds', 'Duration of the newest usable backup of the cluster, in seconds', cluster);
  const lastSize = gauge('pgfleet_backup_last_size_bytes', 'Stored size of the newest usable backup of the cluster, in bytes', cluster);
  const failures = new Counter({
    name: 'pgfleet_backup_failures_total', help: 'Failed backups of the cluster since the daemon started', labelNames: cluster, registers: [registry],
  });
  const lagBytes = gauge('pgfleet_wal_archive_lag_bytes', 'Bytes of WAL the server has written that the archive does not hold yet', cluster);
  const lagSeconds = gauge('pgfleet_wal_archive_lag_seconds', 'Seconds the WAL archive is behind the server', cluster);
  const retained = gauge('pgfleet_wal_slot_retained_bytes', 'WAL kept on the server by the archive\'s replication slot, in bytes', cluster);
  const gaps = gauge('pgfleet_wal_gaps', 'Missing stretches of WAL in the archive', cluster);
  const window = gauge('pgfleet_restore_window_seconds', 'Length of the time span a restore can reach, in seconds', cluster);
  const drillAge = gauge('pgfleet_drill_last_success_age_seconds', 'Seconds since the last successful restore drill of the cluster', cluster);
  const agentUp = gauge('pgfleet_agent_up', '1 when the agent answers GetInfo with a compatible protocol, else 0', ['agent']);
  const freeBytes = gauge('pgfleet_repository_free_bytes', 'Free bytes on the repository\'s file system', []);
  const running = gauge('pgfleet_operations_running', 'Operations running now, by kind', ['kind']);

  const collect = async (): Promise<void> => {
    const { config } = state;
    for (const g of [lastAge, lastDuration, lastSize, lagBytes, lagSeconds, retained, gaps, window, drillAge, agentUp, running]) g.reset();
    failures.reset();
    const now = new Date();
    for (const c of config.clusters) {
      const s = await clusterStatus(state, c.name, now);
      const labels = { cluster: c.name };
      if (s.lastBackupId) {
        lastAge.set(labels, Number(s.lastBackupAgeSeconds ?? 0));
        lastDuration.set(labels, Number(s.lastBackupDurationSeconds ?? 0));
        lastSize.set(labels, Number(s.lastBackupSizeBytes ?? 0));
      }
      failures.inc(labels, state.activity.failureCount(c.name));
      const wal = s.wal;
      if (wal?.available) {
        lagBytes.set(labels, Number(wal.lagBytes ?? 0));
        lagSeconds.set(labels, Number(wal.lagSeconds ?? 0));
        retained.set(labels, Number(wal.slotRetainedBytes ?? 0));
        gaps.set(labels, wal.gaps ?? 0);
        if (wal.restoreFrom && wal.restoreTo) window.set(labels, (Date.parse(wal.restoreTo) - Date.parse(wal.restoreFrom)) / 1000);
      }
    }
    await Promise.all(config.agents.map(async (a) => {
      const client = state.agents.get(a.name);
      let up = 0;
      try {
        if (client) {
          await client.getInfo();
          up = 1;
        }
      } catch {
        up = 0;
      }
      agentUp.set({ agent: a.name }, up);
    }));
    const space = await repositorySpace(config.repository);
    if (space !== null) freeBytes.set(space.freeBytes);
    for (const kind of OPERATION_KINDS) running.set({ kind }, state.activity.runningCount(kind));
  };

  // Scrapes one at a time: each resets and refills the same metrics.
  let last: Promise<unknown> = Promise.resolve();
  return {
    registry,
    contentType: registry.contentType,
    render() {
      const next = last.catch(() => {}).then(async () => {
        await collect();
        return registry.metrics();
      });
      last = next;
      return next;
    },
  };
}
