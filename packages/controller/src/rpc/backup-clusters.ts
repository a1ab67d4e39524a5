/**
 * BackupClusters: backs up the named clusters (or all), several at a time, and streams what
 * happens to each: queued, started, progress, verifying, completed or failed (one cluster's
 * failure never stops the others), then one FINISHED. Progress is coalesced per cluster while
 * the client is slow; a client that cancels stops every backup of the call (their staging
 * directories are removed).
 */
import type * as grpc from '@grpc/grpc-js';
import { InvalidOptionError, errorFields, errorText } from '@pgfleet/core';
import { originSuffix, type BackupClustersEvent, type BackupClustersRequest__Output, type ControllerHandlers } from '@pgfleet/proto';
import { backupCluster, type ClusterBackupEvent } from '../daemon/cluster-backup.js';
import { runFleet, type FleetEvent } from '../daemon/fleet-runner.js';
import { backupRecord, errorInfo } from '../daemon/records.js';
import { checkBackupClustersRequest } from './request-limits.js';
import { ServerStream } from './server-stream.js';
import { agentByName, clusterByName, type ControllerState } from './service-context.js';

/** The clusters a request names, all configured (and their agents too). */
function clustersOf(state: ControllerState, req: BackupClustersRequest__Output): string[] {
  checkBackupClustersRequest(req);
  if (req.all && req.clusters.length > 0) throw new InvalidOptionError('give cluster names or --all, not both');
  const names = req.all ? state.config.clusters.map((c) => c.name) : [...new Set(req.clusters)];
  if (names.length === 0) {
    throw new InvalidOptionError(req.all ? 'no clusters are configured' : 'no cluster to back up', {
      hint: req.all ? 'Add clusters to the configuration file.' : 'Name one or more clusters, or use --all.',
    });
  }
  for (const n of names) {
    const agent = clusterByName(state, n).agent;
    if (agent !== null) agentByName(state, agent);
  }
  return names;
}

/** A fleet event as the stream's event (null: nothing to tell the client), logging what matters. */
function toWire(state: ControllerState, e: FleetEvent<ClusterBackupEvent>): BackupClustersEvent | null {
  const { logger } = state;
  switch (e.kind) {
    case 'queued':
      return { kind: 'QUEUED', cluster: e.cluster };
    case 'job': {
      const ev = e.event;
      if (ev.kind === 'started') {
        logger.info(`cluster "${ev.cluster}": backup ${ev.backupId} started (${ev.via})`, { cluster: ev.cluster, backupId: ev.backupId });
        return { kind: 'STARTED', cluster: ev.cluster, backupId: ev.backupId, via: ev.via };
      }
      if (ev.kind === 'completed') {
        logger.info(`cluster "${ev.cluster}": backup ${ev.backupId} completed (${ev.metadata.sizeBytes} bytes)`, { cluster: ev.cluster, backupId: ev.backupId });
        return { kind: 'COMPLETED', cluster: ev.cluster, backupId: ev.backupId, backup: backupRecord(ev.metadata, ev.path) };
      }
      return {
        kind: ev.kind === 'progress' ? 'PROGRESS' : 'VERIFYING', cluster: ev.cluster, backupId: ev.backupId,
        doneBytes: String(Math.round(ev.doneBytes)), totalBytes: String(Math.round(ev.totalBytes)),
        rateBytesPerSecond: ev.rateBytesPerSecond, etaSeconds: ev.etaSeconds,
      };
    }
    case 'failed':
      logger.error(`cluster "${e.cluster}": backup failed: ${errorText(e.error)}${originSuffix(e.error)}`, { cluster: e.cluster, error: errorFields(e.error) });
      return { kind: 'FAILED', cluster: e.cluster, error: errorInfo(e.error) };
    case 'finished':
      return { kind: 'FINISHED', completed: e.completed, failed: e.failed };
    default:
      return null;
  }
}

export function backupClusters(state: ControllerState): ControllerHandlers['BackupClusters'] {
  return (call: grpc.ServerWritableStream<BackupClustersRequest__Output, BackupClustersEvent>) => {
    const stream = new ServerStream(call, state.shutdown);
    let names: string[];
    try {
      names = clustersOf(state, call.request);
    } catch (err) {
      void stream.fail(err);
      return;
    }
    const { config } = state;
    const parallel = call.request.parallel > 0 ? call.request.parallel : config.parallel;
    state.logger.info(`backup of ${names.map((n) => `"${n}"`).join(', ')} requested (parallel ${parallel})`);
    runFleet<ClusterBackupEvent>({
      clusters: names,
      parallel,
      locks: state.locks,
      job: async (name, emit) => {
        const cluster = clusterByName(state, name);
        const agent = cluster.agent !== null ? agentByName(state, cluster.agent) : null;
        await backupCluster({
          repository: config.repository, cluster, agent, signal: stream.signal, emit, noProgressTimeoutMs: config.noProgressTimeoutSeconds * 1000,
        });
      },
      emit: (e) => {
        const event = toWire(state, e);
        if (event === null) return;
        const progress = event.kind === 'PROGRESS' || event.kind === 'VERIFYING';
        stream.send(event, progress ? `progress ${event.cluster}` : undefined);
      },
    }).then(() => stream.end(), (err: unknown) => stream.fail(err));
  };
}
