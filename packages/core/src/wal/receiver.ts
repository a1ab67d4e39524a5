/**
 * The WAL receiver: one streaming session over a replication connection of its own, writing
 * what it receives through a WalSink. It serves pg_basebackup's `-X stream` (while BASE_BACKUP
 * runs on the main connection), pgfleet-receivewal (pg_receivewal), and any caller that keeps a
 * continuous archive (receivelog.c is the model for all three):
 *
 * 1. slot: an existing slot (`slot`), a permanent slot it creates first (`createSlot`, as
 *    pg_basebackup -C), by default a TEMPORARY slot named `pg_basebackup_<walsender pid>` (the
 *    name pg_basebackup uses, so operators recognise it; it disappears with the connection), or
 *    none (`temporarySlot` false). A backup makes the connection and its slot with reserve()
 *    BEFORE it sends BASE_BACKUP, and hands them to start(): the slot's RESERVE_WAL then holds
 *    WAL from a point before the backup's checkpoint, so no checkpoint (another backup's, say)
 *    can remove the segment the backup starts in before streaming begins. pg_basebackup makes
 *    the slot only after BASE_BACKUP started, and two backups of one server at once could fail
 *    with "requested WAL segment ... has already been removed";
 * 2. IDENTIFY_SYSTEM: the system identifier must match `systemId` when given, and an explicit
 *    start timeline must exist on the server;
 * 3. the start point: `startLsn`/`timeline` when given (a backup's start); otherwise, as
 *    pg_receivewal finds it, the sink's own (findStart: after the newest segment it already
 *    holds), else the slot's restart_lsn (READ_REPLICATION_SLOT, servers 15+), else the server's
 *    current WAL position. Streaming always starts at the beginning of that segment. For a
 *    timeline > 1 its history file is fetched and written first, unless the sink already has it;
 * 4. each XLogData is written into segment files (a message may span a segment boundary); a
 *    completed segment is closed as complete, and the session ends when it must:
 * 5. the stop test is "received position >= end LSN" (`endLsn`, or the LSN given to stopAt():
 *    a backup's end), or stop() was called; it runs after every XLogData, at every segment
 *    boundary and when stop()/stopAt() are called. Then the current, incomplete segment is
 *    closed as incomplete and CopyDone ends the stream;
 * 6. at the end of a historic timeline the receiver follows the server to the next one,
 *    restarting at the beginning of the segment holding the switch point.
 *
 * Feedback. The write position reported is what was handed to the sink; the flush position is
 * what the sink has made durable: a segment closed, or sync() (with `synchronous`, after every
 * XLogData, and before answering a keepalive that asks for a reply), never more. It is
 * reported when a slot is used or with `synchronous` (receivelog.c's rule); the server then
 * moves the slot's restart_lsn to it. With `synchronous` a status update also goes out as soon
 * as the XLogData that arrived together are durable, so a server that has this receiver as a
 * synchronous standby releases a COMMIT at once, not at the next status interval. A caller whose sink stores WAL elsewhere (a remote
 * repository that acknowledges later) gives `flushPosition` instead: the position it knows to
 * be durable. `onDurable` is told whenever the sink made more WAL durable.
 *
 * The receiver owns its connection and its sink for the session: it finishes and disposes the
 * sink, and closes the connection, on success and on failure. One session ends at its stop
 * point, or with an error (server gone, connection lost, disk error); a caller that streams
 * for ever starts a new receiver with a new sink after a failure (a DirectoryWalSink finds
 * where to resume by itself), after a pause of its choice. A failure is recorded at once:
 * `failure` returns it and `onError` is called, so a backup can fail at its next step instead
 * of hanging; `done`, stopAt() and stop() reject with it.
 */

import { InternalError, NotFoundError, ProtocolError, WalMissingError } from '../errors.js';
import { ReplicationConnection, type ReplicationConnectOptions } from '../replication/connection.js';
import type { ReplicationStream, ReplicationStreamEnd } from '../replication/replication-stream.js';
import type { XLogData } from '../replication/xlog-stream-messages.js';
import { formatLsn, parseLsn, tryParseLsn, type Lsn } from './lsn.js';
import {
  segmentNumber, segmentOffset, segmentStartLsn, timelineHistoryFileName, walSegmentName,
} from './segment.js';
import { parseTimelineHistory, resumeOnServerHistory } from './timeline.js';
import type { WalSink } from './wal-sinks.js';

/** What the receiver reports as it goes (pg_receivewal -v prints most of these). */
export type WalReceiverEvent =
  /** Streaming begins here (once per session, before the first START_REPLICATION). */
  | { kind: 'streaming-started'; lsn: Lsn; timeline: number }
  /** A segment was received completely and closed; `lsn` is its end. */
  | { kind: 'segment-finished'; segment: string; lsn: Lsn; timeline: number }
  /** A segment was closed before it was complete (it stays `.partial` in pg_receivewal's layout). */
  | { kind: 'segment-incomplete'; segment: string; lsn: Lsn; timeline: number }
  /** The server's timeline ended at `lsn`; streaming goes on on `timeline`. */
  | { kind: 'timeline-switched'; timeline: number; lsn: Lsn }
  /** The stop point was reached (`reason` end-position) or stop() was called (requested). */
  | { kind: 'stopped'; reason: 'end-position' | 'requested'; lsn: Lsn; timeline: number };

/**
 * A streaming connection with its slot made before BASE_BACKUP was sent (WalReceiver.reserve()).
 * Handed to WalReceiver.start() (`reservation`), which then owns it; release() closes it if it
 * never was (the backup failed first), dropping a temporary slot with it.
 */
export interface WalReservation {
  readonly connection: ReplicationConnection;
  /** The slot streamed through, or null (--no-slot). */
  readonly slot: string | null;
  /** The slot reserve() created, reported by start() through onSlotCreated (pg_basebackup -v's order). */
  readonly created: { name: string; temporary: boolean } | null;
  release(): Promise<void>;
}

export type WalReservationOptions = Pick<WalReceiverOptions, 'connect' | 'connection' | 'slot' | 'createSlot' | 'temporarySlot'>;

export interface WalReceiverOptions {
  /** The connection and slot made by reserve(); then connect/connection/slot options are not used. */
  reservation?: WalReservation;
  /** Opens the receiver's own replication connection; or give `connection`. */
  connect?: () => Promise<ReplicationConnection>;
  /** Connection options or a connection string, used when `connect` is not given. */
  connection?: ReplicationConnectOptions | string;
  sink: WalSink;
  /** Where to start (streaming starts at the beginning of its segment), with `timeline`.
   * Without it the start point is found as the module comment says. */
  startLsn?: string | Lsn;
  /** The start LSN's timeline; required with startLsn. */
  timeline?: number;
  /** Must equal sink.segmentSize; defaults to it. */
  segmentSize?: number;
  /** The streaming server must have this system identifier (a base backup's). */
  systemId?: string | null;
  /** Stream through this slot (pg_basebackup/pg_receivewal -S). */
  slot?: string | null;
  /** Create `slot` as a permanent physical slot first (pg_basebackup -C). */
  createSlot?: boolean;
  /** Without `slot`: create a temporary slot pg_basebackup_<pid> (default true; --no-slot = false). */
  temporarySlot?: boolean;
  /** Seconds between standby status updates (-s, default 10; 0 = only on request). */
  statusIntervalSec?: number;
  /** Stop once everything before this LSN was received (pg_receivewal -E X: X + 1). */
  endLsn?: string | Lsn;
  /** Make every write durable at once and report it (pg_receivewal --synchronous); reports
   * the flush position even without a slot. */
  synchronous?: boolean;
  /** When the server's timeline forked off the resume point's timeline before that point (a
   * cluster restored from an older backup and promoted), resume at the fork on the server's
   * timeline. Off by default: pg_receivewal stops there ("not in this server's history"), and
   * pgfleet-receivewal does as it does; the fleet's archive, which must follow its cluster, sets it. */
  resumeAtFork?: boolean;
  /** The flush position to report, for sinks whose durability is confirmed elsewhere; it must
   * never be beyond what is durably stored. Default: what the sink made durable. */
  flushPosition?: () => Lsn;
  /** Told each time the sink made WAL durable up to `position` (a segment closed, a sync). */
  onDurable?: (position: Lsn, timeline: number) => void;
  /** Progress (see WalReceiverEvent). */
  onEvent?: (event: WalReceiverEvent) => void;
  /** The server's WAL end and send time (microseconds since 2000-01-01), as each XLogData and
   * keepalive states them: how far behind the server the receiver is. */
  onServerPosition?: (walEnd: Lsn, sendTime: bigint) => void;
  /** Keep the names of the segments written for the result (default true); a receiver that
   * streams for months passes false. */
  recordSegments?: boolean;
  /** Told about a slot the receiver created (pg_basebackup -v prints it). */
  onSlotCreated?: (name: string, temporary: boolean) => void;
  /** Called once, as soon as the receiver fails. */
  onError?: (error: Error) => void;
}

export interface WalReceiverResult {
  /** Where streaming began (a segment boundary). */
  startLsn: Lsn;
  /** The position received when streaming stopped (>= the end LSN, when there was one). */
  endLsn: Lsn;
  /** The timeline streamed last. */
  timeline: number;
  /** Segment files written, in order (empty with recordSegments false). */
  segments: string[];
  /** How many segments were received completely. */
  completeSegments: number;
  /** History files written. */
  historyFiles: string[];
  /** The slot streamed through, or null. */
  slotName: string | null;
}

export class WalReceiver {
  private readonly sink: WalSink;
  private readonly segmentSize: number;
  private readonly statusIntervalMs: number;
  private readonly resumeAtFork: boolean;
  private slot: string | null = null;
  private timeline = 0;
  private streamStart: Lsn = 0n;
  /** Next byte expected; everything before it has been handed to the sink. */
  private position: Lsn = 0n;
  /** Everything before it is durable (closed or synced by the sink). */
  private durable: Lsn = 0n;
  private endLsn: Lsn | null;
  private stopRequested = false;
  private open: { name: string; segno: bigint } | null = null;
  private stream: ReplicationStream | null = null;
  private stopped = false;
  private aborted = false;
  private error: Error | null = null;
  private loop: Promise<WalReceiverResult> | null = null;
  /** Serialises sink work between the stream's handlers and stop()/stopAt(). */
  private lock: Promise<void> = Promise.resolve();
  /** Work given to serialised() that has not settled yet. */
  private queued = 0;
  private readonly segments: string[] = [];
  private completeSegments = 0;
  private readonly historyFiles: string[] = [];

  private constructor(private readonly conn: ReplicationConnection, private readonly options: WalReceiverOptions) {
    this.sink = options.sink;
    this.segmentSize = options.segmentSize ?? options.sink.segmentSize;
    if (this.segmentSize !== options.sink.segmentSize) {
      throw new InternalError(`WAL segment size ${this.segmentSize} differs from the sink's ${options.sink.segmentSize}`);
    }
    if ((options.startLsn === undefined) !== (options.timeline === undefined)) {
      throw new InternalError('a WAL receiver start needs both startLsn and timeline');
    }
    this.statusIntervalMs = Math.round((options.statusIntervalSec ?? 10) * 1000);
    this.resumeAtFork = options.resumeAtFork ?? false;
    this.endLsn = options.endLsn === undefined ? null : toLsn(options.endLsn);
  }

  /**
   * Connects, sets up the slot, checks the server, finds the start point and starts streaming
   * in the background. Resolves once the server accepted START_REPLICATION (or the stop point
   * was reached before it). On failure everything is released (the sink disposed, the
   * connection closed) and the error thrown.
   */
  static async start(options: WalReceiverOptions): Promise<WalReceiver> {
    let conn: ReplicationConnection;
    try {
      conn = options.reservation?.connection ?? await openConnection(options);
    } catch (err) {
      await options.sink.dispose().catch(() => undefined);
      throw err;
    }
    let receiver: WalReceiver;
    try {
      receiver = new WalReceiver(conn, options);
    } catch (err) {
      await options.sink.dispose().catch(() => undefined);
      await conn.close().catch(() => undefined);
      throw err;
    }
    try {
      await receiver.prepare();
    } catch (err) {
      await receiver.release();
      throw err;
    }
    const started = receiver.startLoop();
    try {
      await started;
    } catch (err) {
      await receiver.abort();
      throw err;
    }
    return receiver;
  }

  /** The slot streamed through (created or given), or null. */
  get slotName(): string | null {
    return this.slot;
  }

  /** The error that stopped the receiver, or null while it is healthy. */
  get failure(): Error | null {
    return this.error;
  }

  /** Next byte expected from the server. */
  get receivedPosition(): Lsn {
    return this.position;
  }

  /** Everything before this position has been made durable by the sink. */
  get durablePosition(): Lsn {
    return this.durable;
  }

  /** The timeline being streamed. */
  get currentTimeline(): number {
    return this.timeline;
  }

  /** Settles when the session is over: at the stop point, after stop(), or with its failure. */
  get done(): Promise<WalReceiverResult> {
    if (this.loop === null) throw new InternalError('the WAL receiver was not started');
    return this.loop;
  }

  private emit(event: WalReceiverEvent): void {
    try {
      this.options.onEvent?.(event);
    } catch {
      // A failing listener must not break streaming.
    }
  }

  /**
   * Opens the streaming connection and makes its slot, as start() would, but before the backup
   * has begun (see the module comment). The caller hands the result to start() or releases it.
   */
  static async reserve(options: WalReservationOptions): Promise<WalReservation> {
    const connection = await openConnection(options);
    let made: { slot: string | null; created: { name: string; temporary: boolean } | null };
    try {
      made = await makeSlot(connection, options);
    } catch (err) {
      await connection.close().catch(() => undefined);
      throw err;
    }
    return { connection, ...made, release: () => connection.close().catch(() => undefined) };
  }

  private async prepare(): Promise<void> {
    const o = this.options;
    const made = o.reservation ?? await makeSlot(this.conn, o);
    this.slot = made.slot;
    if (made.created !== null) o.onSlotCreated?.(made.created.name, made.created.temporary);
    const system = await this.conn.identifySystem();
    if (o.systemId !== undefined && o.systemId !== null && system.systemId !== o.systemId) {
      throw new ProtocolError('system identifier does not match between base backup and streaming connection', {
        hint: `The backup's server has system identifier ${o.systemId}, the streaming connection's has ${system.systemId}.`,
      });
    }
    let start: { lsn: Lsn; timeline: number };
    if (o.startLsn !== undefined && o.timeline !== undefined) {
      start = { lsn: toLsn(o.startLsn), timeline: o.timeline };
      if (start.timeline > system.timeline) {
        throw new WalMissingError(`starting timeline ${start.timeline} is not present in the server`);
      }
    } else {
      start = await this.findStart(system);
    }
    if (this.resumeAtFork && start.timeline < system.timeline) start = await this.onServerHistory(start, system.timeline);
    this.timeline = start.timeline;
    this.streamStart = segmentStartLsn(segmentNumber(start.lsn, this.segmentSize), this.segmentSize);
    this.position = this.streamStart;
    this.durable = this.streamStart;
    this.emit({ kind: 'streaming-started', lsn: this.streamStart, timeline: this.timeline });
  }

  /** The start moved back to where the server's history left its timeline, if that was before it. */
  private async onServerHistory(start: { lsn: Lsn; timeline: number }, serverTimeline: number): Promise<{ lsn: Lsn; timeline: number }> {
    const history = await this.conn.timelineHistory(serverTimeline);
    const switches = parseTimelineHistory(history.content.toString('utf8'), { source: history.filename });
    return resumeOnServerHistory(start, serverTimeline, switches, this.segmentSize);
  }

  /** pg_receivewal's order: what the sink holds, the slot's restart_lsn (15+), the server's position. */
  private async findStart(system: { timeline: number; xlogPos: string }): Promise<{ lsn: Lsn; timeline: number }> {
    const stored = await this.sink.findStart?.();
    if (stored !== undefined && stored !== null) return stored;
    return serverStreamingStart(this.conn, this.slot, system);
  }

  /**
   * Runs the streaming loop in the background; the returned promise settles once the first
   * START_REPLICATION was accepted (or failed).
   */
  private startLoop(): Promise<void> {
    let signalStarted!: () => void;
    let signalFailed!: (err: unknown) => void;
    const started = new Promise<void>((resolve, reject) => {
      signalStarted = resolve;
      signalFailed = reject;
    });
    this.loop = this.run(signalStarted).then(
      (result) => {
        signalStarted();
        return result;
      },
      async (err: unknown) => {
        const error = err instanceof Error ? err : new InternalError(String(err));
        this.fail(error);
        signalFailed(error);
        await this.release();
        throw error;
      },
    );
    this.loop.catch(() => undefined);
    return started;
  }

  private fail(error: Error): void {
    if (this.error !== null) return;
    this.error = error;
    this.stopped = true;
    if (this.aborted) return;
    try {
      this.options.onError?.(error);
    } catch {
      // A failing callback must not hide the receiver's own error.
    }
  }

  private async run(started: () => void): Promise<WalReceiverResult> {
    const fetchedHistory = new Set<number>();
    let switchedFrom: Lsn | null = null;
    for (;;) {
      if (this.timeline > 1 && !fetchedHistory.has(this.timeline)) {
        const name = timelineHistoryFileName(this.timeline);
        if (!(await this.sink.hasHistoryFile?.(name))) await this.writeHistory(this.timeline);
        fetchedHistory.add(this.timeline);
      }
      if (switchedFrom !== null) {
        this.emit({ kind: 'timeline-switched', timeline: this.timeline, lsn: switchedFrom });
        switchedFrom = null;
      }
      if (this.shouldStop()) {
        this.emitStopped();
        break;
      }
      if (this.stopped) break;
      const stream = await this.conn.startReplication({
        slot: this.slot,
        startLsn: this.position,
        timeline: this.timeline,
        statusIntervalMs: this.statusIntervalMs,
        reportFlush: this.slot !== null || (this.options.synchronous ?? false),
        statusAfterData: this.options.synchronous ?? false,
        ...(this.options.flushPosition !== undefined ? { flushPosition: this.options.flushPosition } : {}),
      }, {
        onXLogData: (message) => {
          this.serverPosition(message.walEnd, message.sendTime);
          return this.serialised(() => this.onXLogData(message));
        },
        onKeepalive: (message) => this.serverPosition(message.walEnd, message.sendTime),
        beforeReply: () => this.serialised(() => this.syncForReply()),
      });
      this.stream = stream;
      started();
      // stop() or stopAt() may have come while START_REPLICATION was on its way.
      await this.serialised(() => this.checkStop());
      let end: ReplicationStreamEnd;
      try {
        end = await stream.done;
      } finally {
        this.stream = null;
      }
      if (end.reason === 'stopped') break;
      // Whatever ended the stream, the segment in progress is incomplete.
      await this.serialised(() => this.closeSegment(false));
      if (end.reason === 'end-of-timeline') {
        if (end.nextTimeline <= this.timeline) {
          throw new ProtocolError(`server reported unexpected next timeline ${end.nextTimeline}, following timeline ${this.timeline}`);
        }
        if (end.nextTimelineStart > this.position) {
          throw new ProtocolError(`server stopped streaming timeline ${this.timeline} at ${formatLsn(this.position)}, but reported next timeline ${end.nextTimeline} to begin at ${formatLsn(end.nextTimelineStart)}`);
        }
        switchedFrom = this.position;
        this.timeline = end.nextTimeline;
        // Always restart at the beginning of a segment: the switch segment is streamed again
        // from the new timeline's file.
        this.position = segmentStartLsn(segmentNumber(end.nextTimelineStart, this.segmentSize), this.segmentSize);
        continue;
      }
      if (this.shouldStop()) break;
      throw new WalMissingError('replication stream was terminated before stop point', {
        hint: this.endLsn === null
          ? `The server ended the stream at ${formatLsn(this.position)} (shut down or promoted).`
          : `WAL was received up to ${formatLsn(this.position)}; it is needed up to ${formatLsn(this.endLsn)}.`,
      });
    }
    await this.serialised(() => this.closeSegment(false));
    await this.sink.finish();
    await this.release();
    return {
      startLsn: this.streamStart,
      endLsn: this.position,
      timeline: this.timeline,
      segments: [...this.segments],
      completeSegments: this.completeSegments,
      historyFiles: [...this.historyFiles],
      slotName: this.slot,
    };
  }

  private async writeHistory(timeline: number): Promise<void> {
    const history = await this.conn.timelineHistory(timeline);
    const expected = timelineHistoryFileName(timeline);
    if (history.filename !== expected) {
      throw new ProtocolError(`server reported unexpected history file name for timeline ${timeline}: ${history.filename}`);
    }
    await this.sink.writeHistoryFile(expected, history.content);
    this.historyFiles.push(expected);
  }

  private serverPosition(walEnd: Lsn, sendTime: bigint): void {
    try {
      this.options.onServerPosition?.(walEnd, sendTime);
    } catch {
      // A failing listener must not break streaming.
    }
  }

  private serialised(work: () => Promise<void>): Promise<void> {
    // Nearly always nothing else is queued (one XLogData after another): start at once.
    const next = this.queued === 0 ? work() : this.lock.then(work);
    this.queued++;
    this.lock = next.then(this.dequeue, this.dequeue);
    return next;
  }

  private readonly dequeue = (): void => {
    this.queued--;
  };

  private async onXLogData(message: XLogData): Promise<void> {
    if (this.stopped) return;
    let offset = segmentOffset(message.dataStart, this.segmentSize);
    if (this.open === null) {
      if (offset !== 0) {
        throw new ProtocolError(`received write-ahead log record for offset ${offset} with no file open`);
      }
    }
    if (message.dataStart !== this.position) {
      throw new ProtocolError(`got WAL data offset ${hex8(offset)}, expected ${hex8(segmentOffset(this.position, this.segmentSize))}`);
    }
    const data = message.data;
    let done = 0;
    while (done < data.length) {
      const n = Math.min(data.length - done, this.segmentSize - offset);
      if (this.open === null) {
        const segno = segmentNumber(this.position, this.segmentSize);
        const name = walSegmentName(this.timeline, segno, this.segmentSize);
        await this.sink.open(name);
        this.open = { name, segno };
        if (this.options.recordSegments ?? true) this.segments.push(name);
      }
      await this.sink.write(offset, n === data.length ? data : data.subarray(done, done + n));
      done += n;
      offset += n;
      this.position += BigInt(n);
      if (offset === this.segmentSize) {
        await this.closeSegment(true);
        offset = 0;
        if (this.shouldStop()) {
          // The rest of this message is beyond the stop point.
          this.emitStopped();
          this.stopStreaming();
          return;
        }
      }
    }
    if (this.options.synchronous) await this.syncNow();
    if (!this.stopped && this.shouldStop()) await this.checkStop();
  }

  /** --synchronous: what was written is made durable at once; the stream reports it as soon as
   * this message counts as written (statusAfterData), not from here, where it does not yet. */
  private async syncNow(): Promise<void> {
    if (this.open !== null && this.durable < this.position) {
      await this.sink.sync?.();
      this.markDurable(this.position);
    }
  }

  /** A keepalive asks for a reply: when flush is reported, first make the open segment durable. */
  private async syncForReply(): Promise<void> {
    const reportsFlush = this.slot !== null || (this.options.synchronous ?? false);
    if (!reportsFlush || this.stopped || this.open === null || this.durable >= this.position) return;
    if (this.sink.sync === undefined) return;
    await this.sink.sync();
    this.markDurable(this.position);
  }

  /**
   * Makes what was received durable now, in order with the writes (a caller that wants its
   * flush position current without `synchronous`: without it the open segment becomes durable
   * only when it is closed, which on a quiet server takes hours). The next status reports it.
   */
  async flush(): Promise<void> {
    await this.serialised(async () => {
      if (this.stopped || this.open === null || this.durable >= this.position || this.sink.sync === undefined) return;
      await this.sink.sync();
      this.markDurable(this.position);
    });
  }

  private markDurable(position: Lsn): void {
    if (position > this.durable) this.durable = position;
    // With a slot the server keeps WAL from the flush position on: report what is stored.
    this.stream?.setFlushPosition(position);
    try {
      this.options.onDurable?.(position, this.timeline);
    } catch {
      // A failing listener must not break streaming.
    }
  }

  private shouldStop(): boolean {
    return this.stopRequested || (this.endLsn !== null && this.position >= this.endLsn);
  }

  private emitStopped(): void {
    this.emit({
      kind: 'stopped', reason: this.stopRequested ? 'requested' : 'end-position', lsn: this.position, timeline: this.timeline,
    });
  }

  private stopStreaming(): void {
    this.stopped = true;
    this.stream?.stop();
  }

  /** The stop test; on success the incomplete segment is closed and CopyDone sent. */
  private async checkStop(): Promise<void> {
    if (this.stopped || !this.shouldStop()) return;
    this.emitStopped();
    await this.closeSegment(false);
    this.stopStreaming();
  }

  private async closeSegment(complete: boolean): Promise<void> {
    const open = this.open;
    if (open === null) return;
    this.open = null;
    await this.sink.close({ complete });
    if (complete) {
      this.completeSegments++;
      this.emit({ kind: 'segment-finished', segment: open.name, lsn: this.position, timeline: this.timeline });
    } else {
      this.emit({ kind: 'segment-incomplete', segment: open.name, lsn: this.position, timeline: this.timeline });
    }
    this.markDurable(this.position);
  }

  /**
   * Gives the receiver its end LSN (a base backup's, from BASE_BACKUP's end result) and waits
   * until all WAL before it has been written and the sink finished. Throws the receiver's failure.
   */
  async stopAt(endLsn: Lsn | string, _timeline?: number): Promise<WalReceiverResult> {
    const end = toLsn(endLsn);
    if (this.loop === null) throw new InternalError('the WAL receiver was not started');
    if (this.error !== null) throw this.error;
    this.endLsn = end;
    if (this.stream !== null) await this.serialised(() => this.checkStop()).catch(() => undefined);
    return this.loop;
  }

  /**
   * Ends the session now, as pg_receivewal does on SIGINT: the open segment is closed as
   * incomplete, CopyDone is sent, and the result returned once the server has answered.
   */
  async stop(): Promise<WalReceiverResult> {
    if (this.loop === null) throw new InternalError('the WAL receiver was not started');
    this.stopRequested = true;
    if (this.stream !== null) await this.serialised(() => this.checkStop()).catch(() => undefined);
    return this.loop;
  }

  /** Stops at once: closes the connection and disposes the sink. Never throws. */
  async abort(): Promise<void> {
    this.aborted = true;
    this.stopped = true;
    this.conn.destroy();
    if (this.loop !== null) await this.loop.catch(() => undefined);
    await this.release();
  }

  private async release(): Promise<void> {
    await this.sink.dispose().catch(() => undefined);
    await this.conn.close().catch(() => undefined);
  }
}

/**
 * Where streaming starts when the receiver's files say nothing: the slot's restart_lsn (servers
 * 15+, READ_REPLICATION_SLOT), else the server's current WAL position (IDENTIFY_SYSTEM's).
 * A continuous archive whose server removed the WAL it needed resumes here too.
 */
export async function serverStreamingStart(conn: ReplicationConnection, slot: string | null,
  system: { timeline: number; xlogPos: string }): Promise<{ lsn: Lsn; timeline: number }> {
  if (slot !== null && conn.serverVersionNum >= 150000) {
    const info = await conn.readReplicationSlot(slot);
    if (info === null) {
      throw new NotFoundError(`replication slot "${slot}" does not exist`);
    }
    if (info.slotType !== 'physical') {
      throw new ProtocolError(`expected a physical replication slot, got type "${info.slotType}" instead`);
    }
    if (info.restartLsn !== null) {
      const lsn = tryParseLsn(info.restartLsn);
      if (lsn === null) {
        throw new ProtocolError(`could not parse restart_lsn "${info.restartLsn}" for replication slot "${slot}"`);
      }
      return { lsn, timeline: info.restartTimeline ?? system.timeline };
    }
  }
  return { lsn: parseLsn(system.xlogPos), timeline: system.timeline };
}

function toLsn(value: Lsn | string): Lsn {
  return typeof value === 'bigint' ? value : parseLsn(value);
}

function openConnection(options: Pick<WalReceiverOptions, 'connect' | 'connection'>): Promise<ReplicationConnection> {
  return options.connect !== undefined ? options.connect() : ReplicationConnection.connect(options.connection ?? {});
}

/** The slot of -S / -C / the default temporary slot / --no-slot (module comment, step 1). */
async function makeSlot(conn: ReplicationConnection, o: WalReservationOptions):
  Promise<{ slot: string | null; created: { name: string; temporary: boolean } | null }> {
  if (o.slot !== undefined && o.slot !== null) {
    if (!o.createSlot) return { slot: o.slot, created: null };
    await conn.createReplicationSlot(o.slot, { temporary: false, reserveWal: true });
    return { slot: o.slot, created: { name: o.slot, temporary: false } };
  }
  if (!(o.temporarySlot ?? true)) return { slot: null, created: null };
  const name = `pg_basebackup_${conn.backendPid}`;
  await conn.createReplicationSlot(name, { temporary: true, reserveWal: true });
  return { slot: name, created: { name, temporary: true } };
}

function hex8(n: number): string {
  return n.toString(16).padStart(8, '0');
}
