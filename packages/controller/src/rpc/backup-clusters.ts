/**
 * BackupClusters: backs up the named clusters (or all), several at a time, and streams what
 * happens to each: queued, started, progress, verifying, completed or failed (one cluster's
 * failure never stops the others), then one FINISHED. Progress is coalesced per cluster while
 * the client is slow; a client that cancels stops every backup of the call (their staging
 * directories are removed).
 */
import type * as grpc from '@grpc/grpc-js';
import { InvalidOptionError } from '@pgfleet/core';
import { type BackupClustersEvent, type BackupClustersRequest__Output, type ControllerHandlers } from '@pgfleet/proto';
import type { ClusterBackupEvent } from '../daemon/cluster-backup.js';
import type { FleetEvent } from '../daemon/fleet-runner.js';
import { runClusterBackups } from '../daemon/run-backups.js';
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

/** A fleet event as the stream's event (null: nothing to tell the client); run-backups.ts logs. */
function toWire(e: FleetEvent<ClusterBackupEvent>): BackupClustersEvent | null {
  switch (e.kind) {
    case 'queued':
      return { kind: 'QUEUED', cluster: e.cluster };
    case 'job': {
      const ev = e.event;
      if (ev.kind === 'started') {
        return { kind: 'STARTED', cluster: ev.cluster, backupId: ev.backupId, via: ev.via };
      }
      if (ev.kind === 'completed') {
        return { kind: 'COMPLETED', cluster: ev.cluster, backupId: ev.backupId, backup: backupRecord(ev.metadata, ev.path) };
      }
      return {
        kind: ev.kind === 'progress' ? 'PROGRESS' : 'VERIFYING', cluster: ev.cluster, backupId: ev.backupId,
        doneBytes: String(Math.round(ev.doneBytes)), totalBytes: String(Math.round(ev.totalBytes)),
        rateBytesPerSecond: ev.rateBytesPerSecond, etaSeconds: ev.etaSeconds,
      };
    }
    case 'failed':
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
    const parallel = call.request.parallel > 0 ? call.request.parallel : state.config.parallel;
    state.logger.info(`backup of ${names.map((n) => `"${n}"`).join(', ')} requested (parallel ${parallel})`);
    runClusterBackups(state, names, parallel, 'request', stream.signal, (e) => {
      const event = toWire(e);
      if (event === null) return;
      const progress = event.kind === 'PROGRESS' || event.kind === 'VERIFYING';
      stream.send(event, progress ? `progress ${event.cluster}` : undefined);
    }).then(() => stream.end(), (err: unknown) => stream.fail(err));
  };
}
