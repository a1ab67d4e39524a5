/**
 * RestoreBackup: streams a stored backup to an agent's Restore (daemon/restore-relay.ts) and
 * relays what the agent says: STARTED, its PLAN before anything is written, PROGRESS (ours
 * "send", its "extract", "verify", ...; coalesced per phase while the client is slow), then
 * DONE with its report. A damaged backup is never restored. A client that cancels stops the
 * relay, and the agent undoes the restore.
 */
import type * as grpc from '@grpc/grpc-js';
import { InvalidOptionError, errorFields, errorText } from '@pgfleet/core';
import { asPgFleetError, originSuffix, type ControllerHandlers, type RestoreBackupEvent, type RestoreBackupRequest__Output, type RestoreReport__Output } from '@pgfleet/proto';
import type { BackupMetadata } from '../repository/backup-metadata.js';
import { parseRestoreMode, relayRestore, type RestoreRelayEvent } from '../daemon/restore-relay.js';
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

async function restoreBackup(state: ControllerState, req: RestoreBackupRequest__Output, stream: ServerStream<RestoreBackupEvent>): Promise<void> {
  checkRestoreBackupRequest(req);
  const cluster = clusterByName(state, req.cluster);
  const agent = agentByName(state, req.agent);
  const mode = parseRestoreMode(req.mode);
  if (req.pgdata === '') throw new InvalidOptionError('no target data directory given', { hint: 'Give one with -D.' });
  const named = await backupOf(state, cluster.name, req.backupId, 'refuse');
  const entry = { metadata: named.metadata as BackupMetadata, path: named.path };
  const release = useBackup(state, cluster.name, named.id, 'restore');
  const id = entry.metadata.id;
  state.logger.info(`cluster "${cluster.name}": restore of backup ${id} to ${agent.peer} "${req.pgdata}" (mode ${mode}) requested`, { cluster: cluster.name, backupId: id, agent: agent.name });
  try {
    stream.send({ kind: 'STARTED', backupId: id, agent: agent.name, totalBytes: String(entry.metadata.sizeBytes) });
    const report = await relayRestore({
      agent, backup: entry, signal: stream.signal,
      target: {
        dataDir: req.pgdata,
        tablespaceMappings: req.tablespaceMappings.map((m) => ({ oldDir: m.oldDir, newDir: m.newDir })),
        mode, start: req.start, port: req.port, walDir: req.waldir, primaryConninfo: req.primaryConninfo,
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
