/**
 * RestoreBackup: streams a stored backup to an agent's Restore (daemon/restore-relay.ts) and
 * relays what the agent says: STARTED, its PLAN before anything is written, PROGRESS (ours
 * "send", its "extract", "verify", ...; coalesced per phase while the client is slow), then
 * DONE with its report. A damaged backup is never restored. With a recovery target the backup
 * is chosen for it and the WAL archive checked before anything is sent (wal/pitr-backup-choice.ts),
 * and STARTED carries that plan. A client that cancels stops the
 * relay, and the agent undoes the restore.
 */
import type * as grpc from '@grpc/grpc-js';
import { InvalidOptionError, errorFields, errorText, parseRecoveryTarget, type RecoveryTarget, type RecoveryTargetFlags } from '@pgfleet/core';
import { asPgFleetError, originSuffix, type RecoveryTargetSpec, type ControllerHandlers, type RestoreBackupEvent, type RestoreBackupRequest__Output, type RestoreReport__Output } from '@pgfleet/proto';
import type { BackupMetadata } from '../repository/backup-metadata.js';
import { parseRestoreMode, relayRestore, type RestoreRelayEvent } from '../daemon/restore-relay.js';
import { choosePitrBackup } from '../wal/pitr-backup-choice.js';
import { checkRestoreBackupRequest } from './request-limits.js';
import { ServerStream } from './server-stream.js';
import { agentByName, backupOf, clusterByName, useBackup, type ControllerState } from './service-context.js';

/** DONE: the agent's report. */
function doneEvent(backupId: string, agent: string, r: RestoreReport__Output): RestoreBackupEvent {
  const inst = r.instance;
  return {
    kind: 'DONE', backupId, agent, mode: r.mode, dataDirectory: r.dataDir, major: r.major,
    tablespaces: r.tablespaces.map((t) => ({ oid: t.oid, originalLocation: t.originalLocation, location: t.location })),
    walDir: r.walDir, verified: r.verify?.verified ?? false, bytes: r.bytes, durationMs: r.durationMs,
    warnings: r.warnings,
    started: inst?.running ?? false, inRecovery: inst?.inRecovery ?? false, recoveryState: inst?.recoveryState ?? '',
    timeline: inst?.timeline ?? 0, port: inst?.port ?? 0, serverVersion: inst?.serverVersion ?? '',
    ...(r.pointInTime ? { pointInTime: { ...r.pointInTime } } : {}),
  };
}

/** A relay event as the stream's event, with the key under which progress is coalesced. */
function relayed(backupId: string, agent: string, ev: RestoreRelayEvent): { event: RestoreBackupEvent; key?: string } {
  if (ev.kind === 'plan') {
    return { event: { kind: 'PLAN', backupId, agent, mode: ev.mode, message: ev.statement, dataDirectory: ev.dataDir } };
  }
  if (ev.kind === 'progress') {
    return {
      key: `progress ${ev.phase}`,
      event: {
        kind: 'PROGRESS', backupId, agent, phase: ev.phase, file: ev.file,
        doneBytes: String(Math.round(ev.doneBytes)), totalBytes: String(Math.round(ev.totalBytes)),
        rateBytesPerSecond: ev.rateBytesPerSecond, etaSeconds: ev.etaSeconds,
      },
    };
  }
  return { event: doneEvent(backupId, agent, ev.report) };
}

/** The request's point-in-time target, parsed as the command lines parse theirs; null without one. */
function recoveryTargetOf(req: RestoreBackupRequest__Output): RecoveryTarget | null {
  const t = req.recoveryTarget;
  if (!t || t.kind === '') return null;
  const value = { time: 'targetTime', lsn: 'targetLsn', xid: 'targetXid', name: 'targetName' }[t.kind];
  const flags: RecoveryTargetFlags = {
    ...(value ? { [value]: t.value } : { target: t.kind }),
    targetExclusive: t.exclusive,
    ...(t.timeline ? { targetTimeline: t.timeline } : {}),
    ...(t.action ? { targetAction: t.action } : {}),
  };
  return parseRecoveryTarget(flags);
}

async function restoreBackup(state: ControllerState, req: RestoreBackupRequest__Output, stream: ServerStream<RestoreBackupEvent>): Promise<void> {
  checkRestoreBackupRequest(req);
  const cluster = clusterByName(state, req.cluster);
  const agent = agentByName(state, req.agent);
  const target = recoveryTargetOf(req);
  const mode = parseRestoreMode(req.mode || (target ? 'promote' : ''));
  if (target && mode !== 'promote') {
    throw new InvalidOptionError(`recovery targets are not allowed with --mode ${mode}`, { hint: 'Restore to a point in time with --mode promote (the default with a target).' });
  }
  if (req.pgdata === '') throw new InvalidOptionError('no target data directory given', { hint: 'Give one with -D.' });
  // Point in time: the backup is chosen for the target, and the archive proven, before anything is sent.
  const pitr = target ? await choosePitrBackup(state.config.repository, cluster.name, target, req.backupId) : null;
  const named = await backupOf(state, cluster.name, pitr ? pitr.entry.metadata.id : req.backupId, 'refuse');
  const entry = { metadata: named.metadata as BackupMetadata, path: named.path };
  const release = useBackup(state, cluster.name, named.id, 'restore');
  const id = entry.metadata.id;
  const recoveryTarget: RecoveryTargetSpec | null = target && pitr ? {
    kind: target.kind, value: target.value, exclusive: !target.inclusive, timeline: String(target.timeline), action: target.action,
    cluster: cluster.name, backupId: id, targetTimeline: pitr.plan.targetTimeline, restoreCommand: '',
  } : null;
  state.logger.info(`cluster "${cluster.name}": restore of backup ${id} to ${agent.peer} "${req.pgdata}" (mode ${mode}) requested`, { cluster: cluster.name, backupId: id, agent: agent.name });
  try {
    stream.send({ kind: 'STARTED', backupId: id, agent: agent.name, totalBytes: String(entry.metadata.sizeBytes), pointInTimePlan: pitr?.statement ?? '' });
    const report = await relayRestore({
      agent, backup: entry, signal: stream.signal,
      target: {
        dataDir: req.pgdata,
        tablespaceMappings: req.tablespaceMappings.map((m) => ({ oldDir: m.oldDir, newDir: m.newDir })),
        mode, start: req.start, port: req.port, walDir: req.waldir, primaryConninfo: req.primaryConninfo,
        socketDir: req.socketDir, owner: req.owner, connectUser: req.connectUser, startTimeoutSeconds: req.startTimeoutSeconds,
        skipVerify: req.noVerify, recoveryTarget,
      },
      emit: (ev) => {
        const { event, key } = relayed(id, agent.name, ev);
        stream.send(event, key);
      },
    });
    state.logger.info(`cluster "${cluster.name}": backup ${id} restored to ${agent.peer} "${report.dataDir}"`, { cluster: cluster.name, backupId: id, agent: agent.name });
  } finally {
    release();
  }
}

export function restoreBackupHandler(state: ControllerState): ControllerHandlers['RestoreBackup'] {
  return (call: grpc.ServerWritableStream<RestoreBackupRequest__Output, RestoreBackupEvent>) => {
    const stream = new ServerStream(call, state.shutdown);
    restoreBackup(state, call.request, stream).then(() => stream.end(), (err: unknown) => {
      state.logger.error(`restore failed: ${errorText(asPgFleetError(err))}${originSuffix(err)}`, { cluster: call.request.cluster, error: errorFields(asPgFleetError(err)) });
      return stream.fail(err);
    });
  };
}
