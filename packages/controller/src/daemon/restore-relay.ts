/**
 * Restore through an agent: sends a repository backup to the agent's Restore call (the one
 * AgentClient of @pgfleet/proto: one RestoreSpec, then each file in agent.proto's order,
 * backup_manifest, base.tar, the <oid>.tar archives by OID, pg_wal.tar, read in 256 KiB chunks
 * and written with backpressure) and relays what the agent says (its plan, its progress, its
 * final report), adding our own "send" progress. If the agent fails, sending stops at once and
 * the agent's error is rethrown as the same catalogue error; the agent guarantees nothing is
 * left half-written on its side.
 */
import { join } from 'node:path';
import { InvalidOptionError, NotSupportedError } from '@pgfleet/core';
import { restoreFileOrder, speaksAtLeast, type AgentClient, type RecoveryTargetSpec, type RecoveryMode, type RestoreEvent__Output, type RestoreReport__Output } from '@pgfleet/proto';
import type { CatalogEntry } from '../repository/catalog.js';
import { ProgressMeter, type ProgressReading } from './progress-meter.js';

export type RestoreMode = 'standby' | 'promote' | 'none';

export interface RestoreTarget {
  dataDir: string;
  tablespaceMappings: Array<{ oldDir: string; newDir: string }>;
  mode: RestoreMode;
  start: boolean;
  port: number;
  walDir: string;
  primaryConninfo: string;
  socketDir?: string;
  owner?: string;
  connectUser?: string;
  startTimeoutSeconds?: number;
  skipVerify?: boolean;
  /** Point-in-time recovery: sent only to an agent of protocol 2.2 or later. */
  recoveryTarget?: RecoveryTargetSpec | null;
}

export type RestoreRelayEvent =
  | { kind: 'plan'; mode: string; statement: string; dataDir: string }
  | ({ kind: 'progress'; phase: string; file: string } & ProgressReading)
  | { kind: 'done'; report: RestoreReport__Output };

const MODES: Record<RestoreMode, RecoveryMode> = {
  standby: 'RECOVERY_MODE_STANDBY',
  promote: 'RECOVERY_MODE_PROMOTE',
  none: 'RECOVERY_MODE_NONE',
};

export function parseRestoreMode(text: string): RestoreMode {
  if (text === 'standby' || text === 'promote' || text === 'none') return text;
  throw new InvalidOptionError(
    text === '' ? 'a recovery mode is required' : `invalid recovery mode "${text}"`,
    { hint: 'Use --mode standby (read-only copy following a primary), promote (read-write on a new timeline) or none (files only).' },
  );
}

export interface RelayOptions {
  agent: AgentClient;
  backup: CatalogEntry;
  target: RestoreTarget;
  emit: (event: RestoreRelayEvent) => void;
  signal?: AbortSignal;
  progressIntervalMs?: number;
}

/** The agent's events as relay events, its progress throttled. */
function agentEvents(emit: (event: RestoreRelayEvent) => void, interval: number): (event: RestoreEvent__Output) => void {
  const meter = new ProgressMeter();
  let last = 0;
  return (event) => {
    if (event.event === 'plan' && event.plan) {
      emit({ kind: 'plan', mode: event.plan.mode, statement: event.plan.statement, dataDir: event.plan.dataDir });
    } else if (event.event === 'progress' && event.progress) {
      const p = event.progress;
      const now = Date.now();
      if (now - last >= interval || Number(p.bytesDone) >= Number(p.bytesTotal)) {
        last = now;
        emit({ kind: 'progress', phase: p.phase, file: p.file, ...meter.update(Number(p.bytesDone), Number(p.bytesTotal), now) });
      }
    }
  };
}

export async function relayRestore(options: RelayOptions): Promise<RestoreReport__Output> {
  const { agent, backup, target, emit } = options;
  const sizes = new Map(backup.metadata.files.map((f) => [f.name, f.size]));
  const files = restoreFileOrder(backup.metadata.files.map((f) => f.name))
    .map((name) => ({ name, size: sizes.get(name) ?? 0, path: join(backup.path, name) }));
  const totalBytes = backup.metadata.sizeBytes;
  const interval = options.progressIntervalMs ?? 500;
  const sendMeter = new ProgressMeter();
  let before = 0; // bytes of the files already sent
  let sent = 0;
  let lastSend = 0;
  const last = files[files.length - 1];
  let allSent = false;
  const sentAll = (): void => {
    if (allSent) return;
    allSent = true;
    emit({ kind: 'progress', phase: 'send', file: '', ...sendMeter.update(sent, totalBytes, Date.now()) });
  };
  if (target.recoveryTarget) {
    // An older agent would ignore the target and promote at the end of the backup.
    const info = await agent.getInfo();
    if (!speaksAtLeast(info.protocolVersion, '2.2')) {
      throw new NotSupportedError(`agent "${info.hostname}" speaks protocol ${info.protocolVersion}, which has no point-in-time recovery`, {
        hint: 'Upgrade the agent to a release with protocol 2.2 or later.',
      });
    }
  }
  const report = await agent.restore({
    socketDir: target.socketDir ?? '',
    connectUser: target.connectUser ?? '',
    owner: target.owner ?? '',
    startTimeoutSeconds: target.startTimeoutSeconds ?? 0,
    skipVerify: target.skipVerify ?? false,
    ...(target.recoveryTarget ? { recoveryTarget: target.recoveryTarget } : {}),
    dataDir: target.dataDir,
    tablespaceMappings: target.tablespaceMappings.map((m) => ({ oldDir: m.oldDir, newDir: m.newDir })),
    walDir: target.walDir,
    mode: MODES[target.mode],
    primaryConninfo: target.primaryConninfo,
    start: target.start,
    port: target.port,
  }, files, {
    ...(options.signal ? { signal: options.signal } : {}),
    onEvent: agentEvents(emit, interval),
    onSent: (file, bytes) => {
      if (bytes === 0) {
        before = sent;
        return;
      }
      sent = before + bytes;
      const now = Date.now();
      if (now - lastSend >= interval) {
        lastSend = now;
        emit({ kind: 'progress', phase: 'send', file, ...sendMeter.update(sent, totalBytes, now) });
      }
      if (file === last?.name && bytes === last.size) sentAll();
    },
  });
  sentAll();
  emit({ kind: 'done', report });
  return report;
}
