/**
 * Restore through an agent: streams a repository backup to the agent's Restore call
 * (agent.proto: one RestoreSpec, then each file as FileBegin, data chunks, FileEnd, in the
 * announced order: backup_manifest, base.tar, the <oid>.tar archives by OID, pg_wal.tar) and
 * relays what the agent says (its plan, its progress, its final report), adding our own
 * "send" progress. Files are read in 256 KiB chunks and written with backpressure (wait for
 * 'drain'). If the agent fails, sending stops at once and the agent's error is rethrown as the
 * same catalogue error; the agent guarantees nothing is left half-written on its side.
 */
import { createReadStream } from 'node:fs';
import { once } from 'node:events';
import { join } from 'node:path';
import { InvalidOptionError, ProtocolError, fileError } from '@pgfleet/core';
import type { RecoveryMode } from '../gen/agent/pgfleet/v1/RecoveryMode.js';
import type { RestoreEvent__Output } from '../gen/agent/pgfleet/v1/RestoreEvent.js';
import type { RestoreReport__Output } from '../gen/agent/pgfleet/v1/RestoreReport.js';
import type { RestoreRequest } from '../gen/agent/pgfleet/v1/RestoreRequest.js';
import type { CatalogEntry } from '../repository/catalog.js';
import { fromServiceError } from '../rpc/wire-errors.js';
import type { AgentClient } from './agent-client.js';
import { ProgressMeter, type ProgressReading } from './progress-meter.js';

const CHUNK_BYTES = 256 * 1024;

export type RestoreMode = 'standby' | 'promote' | 'none';

export interface RestoreTarget {
  dataDir: string;
  tablespaceMappings: Array<{ oldDir: string; newDir: string }>;
  mode: RestoreMode;
  start: boolean;
  port: number;
  walDir: string;
  primaryConninfo: string;
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

/** The order agent.proto asks for: backup_manifest, base.tar, tablespaces by OID, pg_wal.tar. */
export function restoreFileOrder(names: readonly string[]): string[] {
  const rank = (n: string): [number, number] => {
    if (n === 'backup_manifest') return [0, 0];
    if (n.startsWith('base.tar')) return [1, 0];
    if (n.startsWith('pg_wal.tar')) return [3, 0];
    return [2, Number.parseInt(n, 10)];
  };
  return [...names].sort((a, b) => {
    const [ra, oa] = rank(a);
    const [rb, ob] = rank(b);
    return ra - rb || oa - ob;
  });
}

export interface RelayOptions {
  agent: AgentClient;
  backup: CatalogEntry;
  target: RestoreTarget;
  emit: (event: RestoreRelayEvent) => void;
  signal?: AbortSignal;
  progressIntervalMs?: number;
}

export async function relayRestore(options: RelayOptions): Promise<RestoreReport__Output> {
  const { agent, backup, target, emit } = options;
  await agent.requireCapability('restore', 'restore backups', 'Upgrade the agent to a release with the Restore call.');
  const files = restoreFileOrder(backup.metadata.files.map((f) => f.name));
  const sizes = new Map(backup.metadata.files.map((f) => [f.name, f.size]));
  const totalBytes = backup.metadata.sizeBytes;
  const interval = options.progressIntervalMs ?? 500;
  const sendMeter = new ProgressMeter();
  const agentMeter = new ProgressMeter();
  let lastSend = 0;
  let lastAgent = 0;

  const call = agent.openRestore();
  const stop = new AbortController();
  const onAbort = (): void => {
    stop.abort();
    call.cancel();
  };
  options.signal?.addEventListener('abort', onAbort, { once: true });

  const write = async (message: RestoreRequest): Promise<void> => {
    if (stop.signal.aborted) throw stop.signal.reason;
    if (call.write(message)) return;
    try {
      await once(call, 'drain', { signal: stop.signal });
    } catch (err) {
      throw stop.signal.aborted ? stop.signal.reason : err;
    }
  };

  let sendDone = false;
  const sending = (async (): Promise<void> => {
    await write({
      spec: {
        dataDir: target.dataDir,
        tablespaceMappings: target.tablespaceMappings.map((m) => ({ oldDir: m.oldDir, newDir: m.newDir })),
        walDir: target.walDir,
        mode: MODES[target.mode],
        primaryConninfo: target.primaryConninfo,
        start: target.start,
        port: target.port,
        files: files.map((name) => ({ name, size: String(sizes.get(name) ?? 0) })),
      },
    });
    let sent = 0;
    for (const name of files) {
      const path = join(backup.path, name);
      await write({ fileBegin: { name, size: String(sizes.get(name) ?? 0) } });
      try {
        for await (const chunk of createReadStream(path, { highWaterMark: CHUNK_BYTES, signal: stop.signal })) {
          await write({ data: chunk as Buffer });
          sent += (chunk as Buffer).length;
          const now = Date.now();
          if (now - lastSend >= interval) {
            lastSend = now;
            emit({ kind: 'progress', phase: 'send', file: name, ...sendMeter.update(sent, totalBytes, now) });
          }
        }
      } catch (err) {
        if (stop.signal.aborted) throw stop.signal.reason;
        throw fileError('could not read file', path, err);
      }
      await write({ fileEnd: {} });
    }
    emit({ kind: 'progress', phase: 'send', file: '', ...sendMeter.update(sent, totalBytes, Date.now()) });
    sendDone = true;
    call.end();
  })();

  let report: RestoreReport__Output | null = null;
  let receivedEvents = 0;
  const receiving = (async (): Promise<void> => {
    try {
      for await (const ev of call as AsyncIterable<RestoreEvent__Output>) {
        receivedEvents += 1;
        const event = ev as RestoreEvent__Output;
        if (event.event === 'plan' && event.plan) {
          emit({ kind: 'plan', mode: event.plan.mode, statement: event.plan.statement, dataDir: event.plan.dataDir });
        } else if (event.event === 'progress' && event.progress) {
          const p = event.progress;
          const now = Date.now();
          if (now - lastAgent >= interval || Number(p.bytesDone) >= Number(p.bytesTotal)) {
            lastAgent = now;
            emit({ kind: 'progress', phase: p.phase, file: p.file, ...agentMeter.update(Number(p.bytesDone), Number(p.bytesTotal), now) });
          }
        } else if (event.event === 'report' && event.report) {
          report = event.report;
        }
      }
    } catch (err) {
      throw fromServiceError(err, { peer: agent.peer, method: 'Restore', tls: agent.usesTls, midCall: receivedEvents > 0 });
    }
    // An agent that ends the call while files are still being sent would leave the sender
    // waiting for 'drain' forever.
    if (!sendDone) stop.abort(new ProtocolError(`${agent.peer} ended the restore before all files were sent`));
  })();

  // Whichever side fails first stops the other. The agent's error explains more than ours
  // (a refused spec makes our writes fail too), unless we cancelled the call ourselves.
  let senderCancelled = false;
  const [sent, received] = await Promise.allSettled([
    sending.catch((err: unknown) => {
      if (!stop.signal.aborted) {
        senderCancelled = true;
        stop.abort(err);
        call.cancel();
      }
      throw err;
    }),
    receiving.catch((err: unknown) => {
      stop.abort(err);
      throw err;
    }),
  ]);
  options.signal?.removeEventListener('abort', onAbort);
  if (received.status === 'rejected' && !senderCancelled) throw received.reason;
  if (sent.status === 'rejected') throw sent.reason;
  if (received.status === 'rejected') throw received.reason;
  const finalReport = report as RestoreReport__Output | null;
  if (finalReport === null) throw new ProtocolError(`restore stream from ${agent.peer} ended without a report`);
  emit({ kind: 'done', report: finalReport });
  return finalReport;
}

