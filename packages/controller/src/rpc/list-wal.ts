/** ListWal: each cluster's continuous WAL archive (wal/wal-report.ts), for `pgfleet wal`. */
import type { ClusterWalStatus, ControllerHandlers } from '@pgfleet/proto';
import type { ClusterWalReport } from '../wal/wal-report.js';
import { clusterByName, type ControllerState } from './service-context.js';
import { unary } from './unary-call.js';

function toWire(r: ClusterWalReport): ClusterWalStatus {
  const num = (v: number | null): string => (v === null ? '-1' : String(Math.round(v)));
  return {
    cluster: r.cluster, archive: r.archive, via: r.via, state: r.state, since: r.since, stalledSince: r.stalledSince ?? '', reason: r.reason ?? '', reasonCode: r.reasonCode ?? 0,
    slot: r.slot, applicationName: r.applicationName, synchronous: r.synchronous, compression: r.compression,
    systemIdentifier: r.systemIdentifier ?? '', timeline: r.timeline ?? 0,
    receivedLsn: r.receivedLsn ?? '', flushedLsn: r.flushedLsn ?? '', serverLsn: r.serverLsn ?? '',
    lagBytes: num(r.lagBytes), lagSeconds: r.lagSeconds ?? -1, slotRetainedBytes: num(r.slotRetainedBytes), maxRetainedBytes: num(r.maxRetainedBytes),
    retainedOverLimit: r.retainedOverLimit, warnings: r.warnings, refusedPushes: r.refusedPushes.map((p) => `${p.at} ${p.message}`),
    lastAckAt: r.lastAckAt ?? '',
    timelines: r.timelines.map((t) => ({
      timeline: t.timeline, firstSegment: t.firstSegment, lastSegment: t.lastSegment, startLsn: t.startLsn, endLsn: t.endLsn ?? '',
      completeSegments: t.completeSegments, partial: t.partial ?? '', history: t.history, gaps: t.gaps,
    })),
    gaps: r.gaps,
    restoreFrom: r.restoreFrom === null ? null : { lsn: r.restoreFrom.lsn, time: r.restoreFrom.time ?? '', backupId: r.restoreFrom.backupId ?? '' },
    restoreTo: r.restoreTo === null ? null : { lsn: r.restoreTo.lsn, time: r.restoreTo.time ?? '', backupId: '' },
    removedWal: r.removedWal.map((n) => ({
      timeline: n.timeline, firstMissing: n.firstMissing, detectedAt: n.detectedAt, resumedAt: n.resumedAt ?? '', serverError: n.serverError,
      message: n.message, hint: n.hint,
    })),
  };
}

export function listWal(state: ControllerState): ControllerHandlers['ListWal'] {
  return unary(async (req) => {
    const names = req.cluster !== '' ? [clusterByName(state, req.cluster).name] : state.config.clusters.map((c) => c.name);
    const clusters: ClusterWalStatus[] = [];
    for (const name of names) {
      const report = await state.walReceivers.report(name);
      if (report !== null) clusters.push(toWire(report));
    }
    return { clusters };
  });
}
