/**
 * One physical streaming session (START_REPLICATION, CopyBoth), from CopyBothResponse to
 * ReadyForQuery. It hands each XLogData to the handler and awaits it before reading on
 * (backpressure), answers keepalives that ask for a reply, and sends a standby status update
 * as soon as streaming starts and then every `statusIntervalMs` (a timer, so a reply goes out
 * even while the handler is slow and the socket is paused); with statusAfterData also once the
 * XLogData that arrived together have been handled, before waiting for more. Status updates report write = the
 * end of the last XLogData the handler finished with, flush = what the caller set with
 * setFlushPosition, or what its flushPosition provider returns (never beyond write; only when
 * reportFlush, which defaults to "a slot is used", as in pg_basebackup), apply = 0. Before answering a keepalive that asks for a reply,
 * the handler's beforeReply() is awaited, so that it can make more WAL durable first (as
 * receivelog.c fsyncs the open file then). When nothing has arrived for `probeIdleMs`, a
 * status update asks the server for a reply: a quiet but healthy server then answers with a
 * keepalive at once, so the connection's no-progress deadline (which a server writing no WAL
 * would otherwise hit) only fails a server that stopped answering.
 *
 * Ending, as receivelog.c does it:
 * - the caller calls stop(): CopyDone is sent, XLogData still in flight is ignored, and the
 *   server answers CopyDone, CommandComplete(s), ReadyForQuery -> { reason: 'stopped' };
 * - the server ends a historic timeline: it sends CopyDone, we answer CopyDone, it sends a
 *   result set (next_tli, next_tli_startpos) -> { reason: 'end-of-timeline', ... };
 * - the server ends the stream otherwise (shutdown) -> { reason: 'server-ended' };
 * - an ErrorResponse -> `done` rejects with "unexpected termination of replication stream".
 */

import { ProtocolError } from '../errors.js';
import { formatLsn, tryParseLsn, type Lsn } from '../wal/lsn.js';
import type { BackendMessage, ServerNotice } from './backend-message.js';
import {
  pgProtocol, readResultSet, serverErrorFor, textValue, unexpectedMessage, ServerErrorReceived, type ProtocolIo,
} from './protocol-io.js';
import { encodeStandbyStatusUpdate, pgTimestampNow } from './standby-status.js';
import { decodeStreamingMessage, type PrimaryKeepalive, type XLogData } from './xlog-stream-messages.js';

export interface StartReplicationOptions {
  /** Stream through this existing physical slot (its restart_lsn then follows our flush). */
  slot?: string | null;
  /** Where to start; pg_basebackup always starts at a segment boundary. */
  startLsn: Lsn | string;
  timeline: number;
  /** Interval between standby status updates in ms; 0 = only when the server asks. Default 10 s
   * (pg_basebackup -s). */
  statusIntervalMs?: number;
  /** Report the flush position; default true when a slot is used. */
  reportFlush?: boolean;
  /** Where the flush position comes from when WAL is made durable elsewhere (e.g. a remote
   * repository that confirms it); replaces setFlushPosition. Clamped to the write position. */
  flushPosition?: () => Lsn;
  /** Ask the server for a reply after this long without a message (0: never). The connection
   * sets it from its no-progress deadline. */
  probeIdleMs?: number;
  /** Send a status update as soon as the XLogData that arrived together have been handled
   * (pg_receivewal --synchronous): a server waiting for this standby to flush a COMMIT then
   * waits for the flush itself, not for the next interval. Default false: between intervals a
   * busy stream would send one update per message for nothing. */
  statusAfterData?: boolean;
}

export interface ReplicationStreamHandler {
  /** One XLogData, contiguous with the previous one. `stream.stop()` may be called from here. */
  onXLogData(message: XLogData, stream: ReplicationStream): void | Promise<void>;
  onKeepalive?(message: PrimaryKeepalive, stream: ReplicationStream): void | Promise<void>;
  /** Awaited before a requested reply is sent (after it, the flush position is read). */
  beforeReply?(stream: ReplicationStream): Promise<void>;
}

export type ReplicationStreamEnd =
  | { reason: 'stopped'; position: Lsn }
  | { reason: 'end-of-timeline'; position: Lsn; nextTimeline: number; nextTimelineStart: Lsn }
  | { reason: 'server-ended'; position: Lsn };

export class ReplicationStream {
  /** Settles when the session is over (after ReadyForQuery). Rejections are also thrown to
   * whoever awaits this; an unobserved rejection does not crash the process. */
  readonly done: Promise<ReplicationStreamEnd>;

  private written: Lsn;
  private flushed: Lsn;
  private clientDone = false;
  private serverDone = false;
  /** The server sent CopyDone before we did. */
  private endedByServer = false;
  private timer: NodeJS.Timeout | null = null;
  private probe: NodeJS.Timeout | null = null;
  private lastHeard = Date.now();
  private readonly reportFlush: boolean;
  private readonly flushProvider: (() => Lsn) | undefined;
  private readonly statusAfterData: boolean;
  /** XLogData were handled since the last status update (with statusAfterData). */
  private statusDue = false;

  constructor(
    private readonly io: ProtocolIo,
    options: StartReplicationOptions,
    private readonly handler: ReplicationStreamHandler,
    first: BackendMessage,
  ) {
    const start = typeof options.startLsn === 'bigint' ? options.startLsn : tryParseLsn(options.startLsn);
    if (start === null) throw new ProtocolError(`invalid start position "${String(options.startLsn)}"`);
    this.written = start;
    this.flushed = start;
    this.reportFlush = options.reportFlush ?? (options.slot !== undefined && options.slot !== null);
    this.flushProvider = options.flushPosition;
    this.statusAfterData = options.statusAfterData ?? false;
    const interval = options.statusIntervalMs ?? 10_000;
    if (first.kind === 'copyBothResponse' && interval > 0) {
      // The first update goes out at once, as receivelog.c sends it: a slot's restart_lsn then
      // moves to the start position even when streaming ends before the first interval.
      this.sendStatus(false);
      this.timer = setInterval(() => this.sendStatus(false), interval);
      this.timer.unref();
    }
    const probeIdle = options.probeIdleMs ?? 0;
    if (first.kind === 'copyBothResponse' && probeIdle > 0) {
      this.probe = setInterval(() => {
        if (Date.now() - this.lastHeard < probeIdle) return;
        this.lastHeard = Date.now();
        this.sendStatus(true);
      }, Math.max(50, Math.floor(probeIdle / 2)));
      this.probe.unref();
    }
    this.done = this.run(first).finally(() => {
      if (this.timer !== null) clearInterval(this.timer);
      if (this.probe !== null) clearInterval(this.probe);
      this.timer = null;
      this.probe = null;
    });
    this.done.catch(() => undefined);
  }

  /** End of the last XLogData the handler has finished with (the write position reported). */
  get position(): Lsn {
    return this.written;
  }

  /** True once CopyDone was sent (by stop() or in answer to the server's). */
  get stopping(): boolean {
    return this.clientDone;
  }

  /** Ends streaming: sends CopyDone; later XLogData are not passed to the handler. Idempotent. */
  stop(): void {
    if (this.clientDone) return;
    this.clientDone = true;
    this.io.send(pgProtocol().serialize.copyDone());
  }

  /** The position up to which WAL is durably stored, reported as flush (when reportFlush). */
  setFlushPosition(lsn: Lsn): void {
    if (lsn > this.flushed) this.flushed = lsn;
  }

  /** The flush position a status update reports now (0 when flush is not reported). */
  get reportedFlush(): Lsn {
    if (!this.reportFlush) return 0n;
    const flushed = this.flushProvider === undefined ? this.flushed : this.flushProvider();
    return flushed < this.written ? flushed : this.written;
  }

  /** Sends a standby status update now (never after CopyDone was sent). */
  sendStatus(replyRequested = false): void {
    if (this.clientDone) return;
    this.statusDue = false;
    const update = encodeStandbyStatusUpdate({
      write: this.written,
      flush: this.reportedFlush,
      apply: 0n,
      clientTime: pgTimestampNow(),
      replyRequested,
    });
    this.io.send(pgProtocol().serialize.copyData(update));
  }

  private async run(first: BackendMessage): Promise<ReplicationStreamEnd> {
    let serverError: ServerNotice | null = null;
    let next: { timeline: number; start: Lsn } | null = null;
    let message: BackendMessage | null = first;
    if (first.kind === 'copyBothResponse') {
      message = null;
    } else {
      // A historic timeline requested exactly at its end: no COPY, straight to the result set.
      this.serverDone = true;
      this.clientDone = true;
    }
    for (;;) {
      let m: BackendMessage;
      if (message !== null) {
        m = message;
        message = null;
      } else {
        try {
          // A read often brings several messages: take those already here without a wait, and
          // report what they moved (receivelog.c's synchronous mode) only before waiting.
          m = this.io.receiveNow?.() ?? await this.statusThenReceive();
          this.lastHeard = Date.now();
        } catch (err) {
          if (serverError !== null) throw serverErrorFor('unexpected termination of replication stream', serverError);
          // The server ended the stream and then closed the connection (shutdown).
          if (this.endedByServer && next === null) return { reason: 'server-ended', position: this.written };
          throw err;
        }
      }
      if (serverError !== null && m.kind !== 'readyForQuery') continue;
      switch (m.kind) {
        case 'copyData':
          if (this.serverDone) throw unexpectedMessage(m, 'ending the replication stream');
          await this.onCopyData(m.data);
          break;
        case 'copyDone':
          if (this.serverDone) throw unexpectedMessage(m, 'ending the replication stream');
          this.serverDone = true;
          if (!this.clientDone) {
            // We did not ask for the end: answer CopyDone so the server can go on.
            this.clientDone = true;
            this.endedByServer = true;
            this.io.send(pgProtocol().serialize.copyDone());
          }
          break;
        case 'rowDescription': {
          if (!this.serverDone) throw unexpectedMessage(m, 'streaming');
          let set;
          try {
            set = await readResultSet(this.io, 'reading the end-of-timeline result', m);
          } catch (err) {
            if (err instanceof ServerErrorReceived) {
              serverError = err.notice;
              continue;
            }
            throw err;
          }
          next = parseNextTimeline(set.rows, set.fields.length);
          break;
        }
        case 'commandComplete':
          break;
        case 'errorResponse':
          serverError = m.notice;
          break;
        case 'readyForQuery':
          if (serverError !== null) throw serverErrorFor('unexpected termination of replication stream', serverError);
          if (next !== null) {
            return { reason: 'end-of-timeline', position: this.written, nextTimeline: next.timeline, nextTimelineStart: next.start };
          }
          return this.endedByServer
            ? { reason: 'server-ended', position: this.written }
            : { reason: 'stopped', position: this.written };
        default:
          throw unexpectedMessage(m, 'streaming');
      }
    }
  }

  private statusThenReceive(): Promise<BackendMessage> {
    if (this.statusDue) this.sendStatus(false);
    return this.io.receive();
  }

  private async onCopyData(payload: Buffer): Promise<void> {
    const message = decodeStreamingMessage(payload);
    if (message.type === 'keepalive') {
      if (message.replyRequested && !this.clientDone) {
        await this.handler.beforeReply?.(this);
        this.sendStatus(false);
      }
      if (this.handler.onKeepalive !== undefined && !this.clientDone) await this.handler.onKeepalive(message, this);
      return;
    }
    // Once we decided to stop, the rest is in flight only because the server has not seen our
    // CopyDone yet.
    if (this.clientDone) return;
    if (message.dataStart < this.written) {
      throw new ProtocolError(`received WAL at ${formatLsn(message.dataStart)}, before the position already received ${formatLsn(this.written)}`);
    }
    await this.handler.onXLogData(message, this);
    this.written = message.dataStart + BigInt(message.data.length);
    if (this.statusAfterData) this.statusDue = true;
  }
}

function parseNextTimeline(rows: Array<Array<Buffer | null>>, fields: number): { timeline: number; start: Lsn } {
  const row = rows[0];
  if (rows.length !== 1 || row === undefined || fields < 2) {
    throw new ProtocolError(`unexpected result set after end-of-timeline: got ${rows.length} rows and ${fields} fields, expected 1 rows and 2 fields`);
  }
  const timeline = Number(textValue(row, 0));
  const startText = textValue(row, 1) ?? '';
  const start = tryParseLsn(startText);
  if (!Number.isInteger(timeline) || timeline < 1) {
    throw new ProtocolError(`unexpected next timeline "${textValue(row, 0) ?? ''}" after end-of-timeline`);
  }
  if (start === null) throw new ProtocolError(`could not parse next timeline's starting point "${startText}"`);
  return { timeline, start };
}
