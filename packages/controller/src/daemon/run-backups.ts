/**
 * Backups of some clusters, however they were asked for (a BackupClusters call, the
 * schedule): at most `parallel` at a time, each holding its cluster's lock (a busy cluster is
 * refused, never run twice), counted as running operations, failures counted per cluster and
 * recorded in the repository (cluster-backup.ts). Start, completion and failure are logged
 * here, once; `emit` gets every event for a caller that streams them.
 */
import { errorFields, errorText } from '@pgfleet/core';
import { originSuffix } from '@pgfleet/proto';
import type { BackupTrigger } from '../repository/attempts.js';
import { agentByName, clusterByName, type ControllerState } from '../rpc/service-context.js';
import { backupCluster, type ClusterBackupEvent } from './cluster-backup.js';
import { runFleet, type FleetEvent } from './fleet-runner.js';

export async function runClusterBackups(
  state: ControllerState, names: string[], parallel: number, trigger: BackupTrigger, signal: AbortSignal,
  emit: (e: FleetEvent<ClusterBackupEvent>) => void = () => {},
): Promise<{ completed: number; failed: number }> {
  const { logger } = state;
  return runFleet<ClusterBackupEvent>({
    clusters: names,
    parallel,
    locks: state.locks,
    job: async (name, jobEmit) => {
      const cluster = clusterByName(state, name);
      const agent = cluster.agent !== null ? agentByName(state, cluster.agent) : null;
      const { config } = state;
      await state.activity.during('backup', () => backupCluster({
        repository: config.repository, cluster, agent, signal, emit: jobEmit, noProgressTimeoutMs: config.noProgressTimeoutSeconds * 1000, trigger,
      }));
    },
    emit: (e) => {
      if (e.kind === 'job' && e.event.kind === 'started') {
        const ev = e.event;
        logger.info(`cluster "${ev.cluster}": backup ${ev.backupId} started (${ev.via}${trigger !== 'request' ? `, ${trigger === 'missed' ? 'missed run' : 'scheduled'}` : ''})`, {
          cluster: ev.cluster, backupId: ev.backupId, trigger,
        });
      } else if (e.kind === 'job' && e.event.kind === 'completed') {
        const ev = e.event;
        logger.info(`cluster "${ev.cluster}": backup ${ev.backupId} completed (${ev.metadata.sizeBytes} bytes)`, { cluster: ev.cluster, backupId: ev.backupId, trigger });
      } else if (e.kind === 'failed') {
        state.activity.backupFailed(e.cluster);
        logger.error(`cluster "${e.cluster}": backup failed: ${errorText(e.error)}${originSuffix(e.error)}`, { cluster: e.cluster, error: errorFields(e.error), trigger });
      }
      emit(e);
    },
  });
}
