/**
 * The agent's StreamWal call (agent.proto, capability "wal-stream"): continuous WAL streaming
 * from a local server into the caller's archive, with core's WalReceiver and a RemoteWalSink
 * that turns the sink's calls into events on the call:
 *
 *     started (history | segment_begin | data | segment_end | sync_request | server_status)*
 *
 * The caller (the controller) initiates and owns the archive: it says where to start (what its
 * repository holds) and acknowledges with WalAck what it made durable (fsync of file and
 * directory). The receiver reports to the server as flushed only the acknowledged position
 * (WalReceiver's flushPosition), so the slot's restart_lsn never passes what the archive holds,
 * and the server keeps everything after it however long the archive is away. A sync() of the
 * sink (synchronous mode after every message, or before answering a keepalive that asks for a
 * reply) sends a sync_request and waits for the matching WalAck.
 *
 * Before streaming: the physical slot is created (RESERVE_WAL) when missing, or again when the
 * server invalidated it (core's prepareArchiveSlot), and the server is probed for the preflight
 * warnings sent in `started`; a session that fails because the server removed WAL the caller
 * asked for ends with WalRemovedError (core's archiveSessionError), so the caller can resume at
 * the server's position (an empty start); while streaming, a
 * server_status goes out every few seconds (the server's WAL end and time, and the bytes the
 * slot retains, probed every 30 s). The call ends when the caller cancels or half-closes it
 * (the receiver stops, the open segment stays incomplete), or with the receiver's error (server
 * gone, shut down or promoted: the caller reconnects).
 */

import { once } from 'node:events';
import type * as grpc from '@grpc/grpc-js';
import {
  CancelledError, InternalError, InvalidOptionError, ReplicationConnection, WalReceiver, archiveSessionError, archiveStreamDeadlineMs, formatLsn, parseLsn,
  parseWalSegmentName, pgTimestampToDate, prepareArchiveSlot, probeWalServer, segmentStartLsn, type Lsn, type ReplicationConnectOptions, type WalSink,
} from '@pgfleet/core';
import type { WalStreamEvent, WalStreamRequest__Output, WalStreamStart__Output } from '@pgfleet/proto';
import type { AgentConfig } from '../config.js';
import { backupConnection } from './backup.js';

export interface StreamWalContext {
  config: AgentConfig;
  log: (line: string) => void;
  signal: AbortSignal;
  /** The agent's protocol version, checked against the caller's. */
  checkProtocol: (theirs: string) => void;
}

const STATUS_INTERVAL_MS = 2000;
const PROBE_INTERVAL_MS = 30_000;

/** Writes events in order, waiting for 'drain'; a caller that takes nothing for `noProgressMs` ends the call. */
export class EventSender {
  private chain: Promise<void> = Promise.resolve();

  constructor(
    private readonly call: grpc.ServerDuplexStream<WalStreamRequest__Output, WalStreamEvent>,
    private readonly signal: AbortSignal,
    private readonly noProgressMs: number,
  ) {}

  send(event: WalStreamEvent): Promise<void> {
    const next = this.chain.then(() => this.write(event));
    this.chain = next.catch(() => undefined);
    return next;
  }

  private async write(event: WalStreamEvent): Promise<void> {
    if (this.signal.aborted || this.call.cancelled || this.call.writableEnded) throw new CancelledError('the WAL stream was cancelled');
    if (this.call.write(event)) return;
    const stalled = AbortSignal.timeout(this.noProgressMs);
    try {
      await once(this.call, 'drain', { signal: AbortSignal.any([this.signal, stalled]) });
    } catch {
      if (stalled.aborted && !this.signal.aborted) {
        throw new CancelledError(`the caller took no WAL for ${this.noProgressMs / 1000} s: it is gone or stuck`);
      }
      throw new CancelledError('the WAL stream was cancelled');
    }
  }
}

/**
 * The caller's messages, read through 'data' events. Not through the call's async iterator: an
 * iterator waiting for the next message when the call's error is emitted destroys the call, and
 * with an event still being written grpc-js then never sends the status: the caller would wait
 * for ever on a stream that ended (after a server crash, say) instead of reconnecting.
 */
class RequestReader {
  private readonly queue: WalStreamRequest__Output[] = [];
  private ended = false;
  private wake: (() => void) | null = null;

  constructor(private readonly call: grpc.ServerDuplexStream<WalStreamRequest__Output, WalStreamEvent>, private readonly signal: AbortSignal) {
    call.on('data', this.onData);
    call.on('end', this.onEnd);
    call.on('close', this.onEnd);
    signal.addEventListener('abort', this.onEnd);
  }

  /** The next message; null once the caller half-closed or the call ended. */
  async next(): Promise<WalStreamRequest__Output | null> {
    while (this.queue.length === 0 && !this.ended) await new Promise<void>((resolve) => { this.wake = resolve; });
    return this.queue.shift() ?? null;
  }

  /** Stops reading; the call itself is left alone. */
  close(): void {
    this.call.off('data', this.onData);
    this.call.off('end', this.onEnd);
    this.call.off('close', this.onEnd);
    this.signal.removeEventListener('abort', this.onEnd);
    this.onEnd();
  }

  private readonly onData = (message: WalStreamRequest__Output): void => {
    this.queue.push(message);
    this.notify();
  };

  private readonly onEnd = (): void => {
    this.ended = true;
    this.notify();
  };

  private notify(): void {
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }
}

/** The receiver's sink: every call becomes an event; durability is the caller's WalAck. */
export class RemoteWalSink implements WalSink {
  private segment: { name: string; start: Lsn; written: number } | null = null;
  /** Everything before it is durable in the caller's archive. */
  acked: Lsn = 0n;
  private waiters: Array<{ lsn: Lsn; resolve: () => void; reject: (err: Error) => void }> = [];
  /** Set once no WalAck can come any more (the caller is gone or done): sync() fails with it. */
  private acksEnded: Error | null = null;

  constructor(readonly segmentSize: number, private readonly sender: EventSender) {}

  async open(name: string): Promise<void> {
    const id = parseWalSegmentName(name, this.segmentSize);
    if (id === null) throw new InternalError(`invalid WAL segment name "${name}"`);
    this.segment = { name, start: segmentStartLsn(id.segno, this.segmentSize), written: 0 };
    await this.sender.send({ segmentBegin: { name } });
  }

  async write(offset: number, data: Buffer): Promise<void> {
    if (this.segment === null) throw new InternalError('no WAL file is open');
    await this.sender.send({ data: { offset, data } });
    this.segment.written = offset + data.length;
  }

  /** Waits until the caller has acknowledged everything written so far. */
  async sync(): Promise<void> {
    if (this.segment === null) return;
    const position = this.segment.start + BigInt(this.segment.written);
    if (this.acked >= position) return;
    if (this.acksEnded !== null) throw this.acksEnded;
    const done = new Promise<void>((resolve, reject) => this.waiters.push({ lsn: position, resolve, reject }));
    await this.sender.send({ syncRequest: { position: formatLsn(position) } });
    await done;
  }

  async close(options: { complete: boolean }): Promise<void> {
    if (this.segment === null) throw new InternalError('no WAL file is open');
    this.segment = null;
    await this.sender.send({ segmentEnd: { complete: options.complete } });
  }

  async writeHistoryFile(name: string, content: Buffer): Promise<void> {
    await this.sender.send({ history: { name, content } });
  }

  async finish(): Promise<void> {}

  async dispose(): Promise<void> {
    this.failWaiters(new CancelledError('the WAL stream ended'));
  }

  /** A WalAck arrived. */
  ack(lsn: Lsn): void {
    if (lsn > this.acked) this.acked = lsn;
    const ready = this.waiters.filter((w) => w.lsn <= this.acked);
    this.waiters = this.waiters.filter((w) => w.lsn > this.acked);
    for (const w of ready) w.resolve();
  }

  /**
   * No acknowledgement will come any more: a sync() waiting for one fails now, and so does any
   * later one. Without this a receiver stopped in the middle of a sync() (synchronous mode) waits
   * for ever, and so does the call and the agent's shutdown.
   */
  endAcks(err: Error): void {
    this.acksEnded ??= err;
    this.failWaiters(err);
  }

  failWaiters(err: Error): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w.reject(err);
  }
}

/** The replication connection's keywords: the start's conninfo, else the server running in data_dir. */
async function connectionFor(start: WalStreamStart__Output, config: AgentConfig): Promise<ReplicationConnectOptions> {
  const base = await backupConnection({ conninfo: start.conninfo, dataDir: start.dataDir } as Parameters<typeof backupConnection>[0], config);
  return {
    ...base,
    passwordPrompt: 'never',
    noProgressTimeoutMs: archiveStreamDeadlineMs(config.noProgressTimeoutSeconds * 1000),
    ...(start.applicationName !== '' ? { application_name: start.applicationName } : {}),
    fallback_application_name: 'pgfleet-agent',
  };
}

/** Serves one StreamWal call; resolves when the call has ended. */
export async function serveStreamWalCall(
  call: grpc.ServerDuplexStream<WalStreamRequest__Output, WalStreamEvent>,
  context: StreamWalContext,
): Promise<void> {
  const messages = new RequestReader(call, context.signal);
  try {
    await streamWal(call, messages, context);
  } finally {
    messages.close();
  }
}

/** The call from its first message (the start) to the end of streaming. */
async function streamWal(
  call: grpc.ServerDuplexStream<WalStreamRequest__Output, WalStreamEvent>,
  messages: RequestReader,
  context: StreamWalContext,
): Promise<void> {
  const first = await messages.next();
  if (first === null || first.item !== 'start' || !first.start) {
    throw new InvalidOptionError('a WAL stream must start with its WalStreamStart');
  }
  const start = first.start;
  context.checkProtocol(start.protocolVersion);
  if (start.slot === '') throw new InvalidOptionError('a WAL stream needs a replication slot name', { hint: 'Set WalStreamStart.slot.' });
  if ((start.startLsn === '') !== (start.startTimeline === 0)) {
    throw new InvalidOptionError('a WAL stream start needs both start_lsn and start_timeline, or neither');
  }
  const startLsn = start.startLsn === '' ? null : parseLsn(start.startLsn);
  const options = await connectionFor(start, context.config);
  const sender = new EventSender(call, context.signal, context.config.noProgressTimeoutSeconds * 1000);

  const conn = await ReplicationConnection.connect({ ...options, signal: context.signal });
  let receiver: WalReceiver | null = null;
  let statusTimer: NodeJS.Timeout | undefined;
  try {
    const segmentSize = await conn.walSegmentSize();
    const system = await conn.identifySystem();
    const slot = await prepareArchiveSlot(conn, start.slot, options);
    const created = slot.created;
    if (slot.recreatedLost) context.log(slot.warnings[0] as string);
    else if (created) context.log(`created replication slot "${start.slot}"`);
    let probe = slot.probe;
    const sink = new RemoteWalSink(segmentSize, sender);
    let server: { lsn: Lsn; time: bigint } | null = null;
    let timeline = 0;
    // Acks arrive while the receiver streams; the end of the caller's side stops it.
    const readAcks = (async () => {
      for (;;) {
        const next = await messages.next();
        if (next === null) return;
        if (next.ack) sink.ack(parseLsn(next.ack.flushedLsn));
      }
    })();
    receiver = await WalReceiver.start({
      connect: async () => conn,
      sink,
      ...(startLsn !== null ? { startLsn, timeline: start.startTimeline } : {}),
      slot: start.slot,
      temporarySlot: false,
      statusIntervalSec: start.statusIntervalSeconds > 0 ? start.statusIntervalSeconds : start.synchronous ? 1 : 10,
      synchronous: start.synchronous,
      recordSegments: false,
      // A cluster restored from an older backup forks behind what the archive holds: follow it.
      resumeAtFork: true,
      flushPosition: () => sink.acked,
      onServerPosition: (lsn, time) => { server = { lsn, time }; },
      onEvent: (event) => {
        if (event.kind === 'streaming-started') {
          timeline = event.timeline;
          sink.acked = event.lsn;
          void sender.send({
            started: {
              startLsn: formatLsn(event.lsn), timeline: event.timeline, segmentSize, systemIdentifier: system.systemId,
              serverVersionNum: conn.serverVersionNum, slot: start.slot, slotCreated: created,
              warnings: slot.warnings,
            },
          }).catch(() => undefined);
          context.log(`streaming WAL from ${formatLsn(event.lsn)} (timeline ${event.timeline}) through slot "${start.slot}"`);
        } else if (event.kind === 'timeline-switched') {
          timeline = event.timeline;
          context.log(`WAL stream switched to timeline ${event.timeline} at ${formatLsn(event.lsn)}`);
        }
      },
    });
    const sendServerStatus = (s: { lsn: Lsn; time: Date }): void => {
      void sender.send({
        serverStatus: {
          serverLsn: formatLsn(s.lsn), serverTime: s.time.toISOString(),
          slotRetainedBytes: String(probe.slotRetainedBytes ?? -1n), timeline,
        },
      }).catch(() => undefined);
    };
    // The server accepted START_REPLICATION: say so at once (`started` went out before it, and
    // the caller counts the stream as running only from a message that follows acceptance).
    // Until the server reports a position, IDENTIFY_SYSTEM's is the best known.
    sendServerStatus(serverPosition(server as { lsn: Lsn; time: bigint } | null) ?? { lsn: parseLsn(system.xlogPos), time: new Date() });
    let lastProbe = Date.now();
    statusTimer = setInterval(() => {
      if (Date.now() - lastProbe >= PROBE_INTERVAL_MS) {
        lastProbe = Date.now();
        void probeWalServer(options, start.slot).then((p) => { probe = p; });
      }
      const known = serverPosition(server as { lsn: Lsn; time: bigint } | null);
      if (known !== null) sendServerStatus(known);
    }, STATUS_INTERVAL_MS);
    const running = receiver;
    const stop = (): void => {
      sink.endAcks(new CancelledError('the WAL stream ended before the caller acknowledged what was sent'));
      void running.stop().catch(() => undefined);
    };
    context.signal.addEventListener('abort', stop, { once: true });
    void readAcks.then(stop, stop);
    try {
      await running.done;
    } finally {
      context.signal.removeEventListener('abort', stop);
    }
    if (context.signal.aborted) throw new CancelledError('the WAL stream was cancelled');
    if (!call.writableEnded) call.end();
  } catch (err) {
    if (receiver !== null) await receiver.abort();
    else await conn.close().catch(() => undefined);
    // WAL the server removed before the archive had it: the caller resumes where the server is.
    throw archiveSessionError(err);
  } finally {
    clearInterval(statusTimer);
  }
}

/** The server's last reported position and its clock. */
function serverPosition(reported: { lsn: Lsn; time: bigint } | null): { lsn: Lsn; time: Date } | null {
  return reported === null ? null : { lsn: reported.lsn, time: pgTimestampToDate(reported.time) };
}
