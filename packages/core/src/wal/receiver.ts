/**
 * The WAL receiver of `-X stream`: while BASE_BACKUP runs on the main connection, it streams
 * the WAL the backup needs over a connection of its own and writes it through a WalSink, the
 * way pg_basebackup's background process does (pg_basebackup.c, receivelog.c):
 *
 * 1. slot: an existing slot (-S), a permanent slot it creates (-S with -C), by default a
 *    TEMPORARY slot named `pg_basebackup_<walsender pid>` (the name pg_basebackup uses, so
 *    operators recognise it; it disappears with the connection), or none (--no-slot). A backup
 *    makes the connection and its slot with reserve() BEFORE it sends BASE_BACKUP, and hands
 *    them to start(): the slot's RESERVE_WAL then holds WAL from a point before the backup's
 *    checkpoint, so no checkpoint (another backup's, say) can remove the segment the backup
 *    starts in before streaming begins. pg_basebackup makes the slot only after BASE_BACKUP
 *    started, and two backups of one server at once could fail with "requested WAL segment
 *    ... has already been removed";
 * 2. IDENTIFY_SYSTEM: the system identifier must match the backup's, and the backup's start
 *    timeline must exist on the server;
 * 3. streaming starts at the beginning of the segment holding the backup start LSN, on the
 *    start timeline; for a timeline > 1 its history file is fetched and written first;
 * 4. each XLogData is written into segment files (a message may span a segment boundary);
 *    a completed segment is closed as complete (it gets archive_status/<seg>.done);
 * 5. the stop test is "received position >= backup end LSN", run after every XLogData, at
 *    every segment boundary and when stopAt() delivers the end LSN. Then the current,
 *    incomplete segment is closed (full size, zero-padded, no .partial and no .done) and
 *    CopyDone ends the stream;
 * 6. at the end of a historic timeline the receiver follows the server to the next one,
 *    restarting at the beginning of the segment holding the switch point.
 *
 * The receiver owns its connection and its sink: it finishes and disposes the sink, and closes
 * the connection, on success and on failure. A failure (server error, lost connection, disk
 * error) is recorded at once: `failure` returns it and `onError` is called, so the backup can
 * fail at its next step instead of hanging; stopAt() rethrows it.
 */

import { InternalError, ProtocolError, WalMissingError } from '../errors.js';
import { ReplicationConnection, type ReplicationConnectOptions } from '../replication/connection.js';
import type { ReplicationStream, ReplicationStreamEnd } from '../replication/replication-stream.js';
import type { XLogData } from '../replication/xlog-stream-messages.js';
import { formatLsn, parseLsn, type Lsn } from './lsn.js';
import {
  segmentNumber, segmentOffset, segmentStartLsn, timelineHistoryFileName, walSegmentName,
} from './segment.js';
import type { WalSink } from './wal-sinks.js';

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
  /** The backup's start LSN; streaming starts at the beginning of its segment. */
  startLsn: string | Lsn;
  /** The backup's start timeline. */
  timeline: number;
  /** Must equal sink.segmentSize; defaults to it. */
  segmentSize?: number;
  /** The backup's system identifier; the streaming server must have the same. */
  systemId?: string | null;
  /** Stream through this slot (pg_basebackup -S). */
  slot?: string | null;
  /** Create `slot` as a permanent physical slot first (pg_basebackup -C). */
  createSlot?: boolean;
  /** Without `slot`: create a temporary slot pg_basebackup_<pid> (default true; --no-slot = false). */
  temporarySlot?: boolean;
  /** Seconds between standby status updates (pg_basebackup -s, default 10; 0 = only on request). */
  statusIntervalSec?: number;
  /** Told about a slot the receiver created (pg_basebackup -v prints it). */
  onSlotCreated?: (name: string, temporary: boolean) => void;
  /** Called once, as soon as the receiver fails. */
  onError?: (error: Error) => void;
}

export interface WalReceiverResult {
  /** Where streaming began (a segment boundary). */
  startLsn: Lsn;
  /** The position received when streaming stopped (>= the end LSN given to stopAt). */
  endLsn: Lsn;
  /** The timeline streamed last. */
  timeline: number;
  /** Segment files written, in order. */
  segments: string[];
  /** How many of them were received completely (and got a .done). */
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
  private slot: string | null = null;
  private timeline: number;
  private readonly streamStart: Lsn;
  /** Next byte expected; everything before it has been handed to the sink. */
  private position: Lsn;
  private endLsn: Lsn | null = null;
  private open: { name: string; segno: bigint } | null = null;
  private stream: ReplicationStream | null = null;
  private stopped = false;
  private aborted = false;
  private error: Error | null = null;
  private loop: Promise<WalReceiverResult> | null = null;
  /** Serialises sink work between the XLogData handler and stopAt(). */
  private lock: Promise<void> = Promise.resolve();
  private readonly segments: string[] = [];
  private completeSegments = 0;
  private readonly historyFiles: string[] = [];

  private constructor(private readonly conn: ReplicationConnection, private readonly options: WalReceiverOptions) {
    this.sink = options.sink;
    this.segmentSize = options.segmentSize ?? options.sink.segmentSize;
    if (this.segmentSize !== options.sink.segmentSize) {
      throw new InternalError(`WAL segment size ${this.segmentSize} differs from the sink's ${options.sink.segmentSize}`);
    }
    const start = typeof options.startLsn === 'bigint' ? options.startLsn : parseLsn(options.startLsn);
    this.streamStart = segmentStartLsn(segmentNumber(start, this.segmentSize), this.segmentSize);
    this.position = this.streamStart;
    this.timeline = options.timeline;
    this.statusIntervalMs = Math.round((options.statusIntervalSec ?? 10) * 1000);
  }

  /**
   * Connects, sets up the slot, checks the server and starts streaming in the background.
   * Resolves once the server accepted START_REPLICATION. On failure everything is released
   * (the sink disposed, the connection closed) and the error thrown.
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
    if (this.timeline > system.timeline) {
      throw new WalMissingError(`starting timeline ${this.timeline} is not present in the server`);
    }
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
    for (;;) {
      if (this.timeline > 1 && !fetchedHistory.has(this.timeline)) {
        await this.writeHistory(this.timeline);
        fetchedHistory.add(this.timeline);
      }
      if (this.endLsn !== null && this.position >= this.endLsn) break;
      if (this.stopped) break;
      const stream = await this.conn.startReplication({
        slot: this.slot,
        startLsn: this.position,
        timeline: this.timeline,
        statusIntervalMs: this.statusIntervalMs,
        reportFlush: this.slot !== null,
      }, {
        onXLogData: (message) => this.serialised(() => this.onXLogData(message)),
      });
      this.stream = stream;
      started();
      // stopAt() may have come while START_REPLICATION was on its way.
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
        this.timeline = end.nextTimeline;
        // Always restart at the beginning of a segment: the switch segment is streamed again
        // from the new timeline's file.
        this.position = segmentStartLsn(segmentNumber(end.nextTimelineStart, this.segmentSize), this.segmentSize);
        continue;
      }
      if (this.endLsn !== null && this.position >= this.endLsn) break;
      throw new WalMissingError('replication stream was terminated before stop point', {
        hint: `WAL was received up to ${formatLsn(this.position)}; the backup needs it up to ${this.endLsn === null ? 'its end position' : formatLsn(this.endLsn)}.`,
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

  private serialised(work: () => Promise<void>): Promise<void> {
    const next = this.lock.then(work);
    this.lock = next.catch(() => undefined);
    return next;
  }

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
        this.segments.push(name);
      }
      await this.sink.write(offset, data.subarray(done, done + n));
      done += n;
      offset += n;
      this.position += BigInt(n);
      if (offset === this.segmentSize) {
        await this.closeSegment(true);
        offset = 0;
        if (this.shouldStop()) {
          // The rest of this message is beyond what the backup needs.
          this.stopStreaming();
          return;
        }
      }
    }
    await this.checkStop();
  }

  private shouldStop(): boolean {
    return this.endLsn !== null && this.position >= this.endLsn;
  }

  private stopStreaming(): void {
    this.stopped = true;
    this.stream?.stop();
  }

  /** The stop test; on success the incomplete segment is closed and CopyDone sent. */
  private async checkStop(): Promise<void> {
    if (this.stopped || !this.shouldStop()) return;
    await this.closeSegment(false);
    this.stopStreaming();
  }

  private async closeSegment(complete: boolean): Promise<void> {
    if (this.open === null) return;
    this.open = null;
    await this.sink.close({ complete });
    if (complete) this.completeSegments++;
    // With a slot the server keeps WAL from the flush position on: report what is stored.
    if (this.slot !== null) this.stream?.setFlushPosition(this.position);
  }

  /**
   * Gives the receiver the backup's end LSN (from BASE_BACKUP's end result) and waits until
   * all WAL up to it has been written and the sink finished. Throws the receiver's failure.
   */
  async stopAt(endLsn: Lsn | string, _timeline?: number): Promise<WalReceiverResult> {
    const end = typeof endLsn === 'bigint' ? endLsn : parseLsn(endLsn);
    if (this.loop === null) throw new InternalError('the WAL receiver was not started');
    if (this.error !== null) throw this.error;
    this.endLsn = end;
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
