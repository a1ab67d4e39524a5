/**
 * One cluster's continuous WAL archive into `<repo>/<cluster>/wal/` (core's TimelineArchiveSink:
 * one directory per timeline, the open segment `.partial`, completed segments renamed and never
 * overwritten, history files). The controller initiates: it decides where to resume from what
 * the repository holds, and only it says what is durable.
 *
 * - A cluster with an agent: the controller calls the agent's StreamWal; the agent streams from
 *   its local server and sends segment events; the controller writes them into the repository
 *   and acknowledges (WalAck) a position only after fsync of the file (and of the directory
 *   when a segment was renamed): at every segment end, when the agent asks (synchronous mode,
 *   a server asking for a reply), and at most a second after data arrived. The agent reports
 *   nothing as flushed to the server beyond the acknowledged position, so the slot keeps all
 *   WAL the repository does not hold yet.
 * - A cluster without an agent: the controller runs core's WalReceiver itself over the
 *   cluster's conninfo, writing into the same sink; the receiver reports as flushed what the
 *   sink made durable, which the controller has it make durable every second.
 *
 * Either way the physical slot (`wal.slot`, also the walsender's application_name) is created
 * when missing, the archive's server identity (system identifier, segment size) is kept in
 * `wal/archive.json` and checked at every start (WAL of another server never lands in this
 * archive), and a session that ends or fails is retried after a pause that doubles from 1 s up
 * to 10 s (back to 1 s once a session has streamed). Every failure is logged and kept in the
 * cluster's WalStateRecord (`pgfleet wal`); a full repository disk fails the session before
 * anything is acknowledged, and the next session resumes at the start of the newest `.partial`.
 *
 * When the server removed WAL the archive still needs (core's WalRemovedError: the slot was
 * invalidated by max_slot_wal_keep_size, or dropped), retrying can never succeed: the first
 * segment the archive lacks is recorded in the repository (removed-wal.ts), logged at error
 * level with a HINT, and the next session, a second later, starts where the server is (the
 * slot's restart_lsn, else its current position; a lost slot is created again first, by core's
 * prepareArchiveSlot wherever the receiver runs). The archive then has a gap that `pgfleet wal`
 * reports until expire removes everything before it.
 */

import { mkdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  ConnectError, InvalidOptionError, PgFleetError, fileError, fsyncDirectory, ReplicationConnection, TimelineArchiveSink, WalReceiver, WalRemovedError,
  archiveSessionError, archiveStreamDeadlineMs, errorFields, errorText, formatLsn, isErrno, parseLsn, parseWalSegmentName, prepareArchiveSlot, probeWalServer,
  segmentNumber, segmentStartLsn, serverStreamingStart, walSegmentName, type DaemonLog, type Lsn, type ReplicationConnectOptions, type WalFileCompressionSpec,
} from '@pgfleet/core';
import type { AgentClient, WalStreamEvent__Output } from '@pgfleet/proto';
import type { ClusterConfig } from '../config.js';
import { writeFileAtomic } from '../repository/atomic-write.js';
import { WAL_ARCHIVE_METADATA_FILE, walDir } from '../repository/layout.js';
import { noteRemovedWal, noteResumed, removedWalNotice } from './removed-wal.js';
import type { WalStateRecord } from './wal-state.js';

export interface WalArchiverOptions {
  repository: string;
  cluster: ClusterConfig;
  /** The cluster's agent; null: the controller streams itself. */
  agent: AgentClient | null;
  record: WalStateRecord;
  logger: DaemonLog;
  /** The no-progress deadline of a direct replication connection (ms; 0: none). */
  noProgressTimeoutMs?: number;
  /** Pauses between sessions (default 1 s doubling to 10 s). */
  retryMs?: { min: number; max: number };
}

/** wal/archive.json: which server this archive belongs to. */
export interface WalArchiveMetadata {
  format: 1;
  systemIdentifier: string;
  segmentSize: number;
}

/** At most this long between data arriving and its acknowledgement (without a segment end). */
const ACK_INTERVAL_MS = 1000;
const PROBE_INTERVAL_MS = 30_000;

export async function readWalArchiveMetadata(repository: string, cluster: string): Promise<WalArchiveMetadata | null> {
  const path = join(walDir(repository, cluster), WAL_ARCHIVE_METADATA_FILE);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return null;
    throw err;
  }
  const parsed = JSON.parse(text) as WalArchiveMetadata;
  return parsed;
}

/**
 * Checks that a server may stream into the archive, and records its identity in a new archive.
 * Throws when the archive holds another server's WAL.
 */
export async function claimWalArchive(repository: string, cluster: string, server: { systemIdentifier: string; segmentSize: number }): Promise<void> {
  const meta = await readWalArchiveMetadata(repository, cluster);
  if (meta === null) {
    const root = walDir(repository, cluster);
    const value: WalArchiveMetadata = { format: 1, ...server };
    let created: string | undefined;
    try {
      created = await mkdir(root, { recursive: true, mode: 0o700 });
    } catch (err) {
      throw fileError('could not create directory', root, err);
    }
    // The new directories must survive a crash with the files written into them.
    if (created !== undefined) {
      await fsyncDirectory(dirname(root));
      await fsyncDirectory(dirname(dirname(root)));
    }
    await writeFileAtomic(join(root, WAL_ARCHIVE_METADATA_FILE), `${JSON.stringify(value, null, 2)}\n`);
    return;
  }
  if (meta.systemIdentifier !== server.systemIdentifier) {
    throw new InvalidOptionError(`the server of cluster "${cluster}" has system identifier ${server.systemIdentifier}, but its WAL archive holds WAL of system ${meta.systemIdentifier}`, {
      hint: `Point the cluster at the server it was archived from, or move "${walDir(repository, cluster)}" away to start a new archive.`,
    });
  }
  if (meta.segmentSize !== server.segmentSize) {
    throw new InvalidOptionError(`the server of cluster "${cluster}" has WAL segments of ${server.segmentSize} bytes, its archive of ${meta.segmentSize}`);
  }
}

function compressionSpec(method: ClusterConfig['wal']['compression']): WalFileCompressionSpec | null {
  return method === 'none' ? null : { method, level: method === 'gzip' ? -1 : 0 };
}

/** What a session reports as it begins. */
interface StartInfo { systemIdentifier: string; timeline: number; startLsn: Lsn; warnings: string[]; slotCreated: boolean }

export class WalArchiver {
  private readonly abort = new AbortController();
  private loop: Promise<void> | null = null;
  private readonly cluster: ClusterConfig;
  private readonly record: WalStateRecord;
  private overLimitReported = false;
  /** The server removed WAL the archive needed: the next session starts where the server is. */
  private resumeAtServer = false;
  /** The agent's session has started but the server has not yet been seen accepting it. */
  private awaitingAcceptance: StartInfo | null = null;

  constructor(private readonly options: WalArchiverOptions) {
    this.cluster = options.cluster;
    this.record = options.record;
  }

  start(): void {
    this.loop ??= this.run();
  }

  /** Ends the session in progress and the retries; resolves once they have stopped. */
  async stop(): Promise<void> {
    this.abort.abort(new Error('the controller is shutting down'));
    await this.loop;
    this.record.setState('stopped');
  }

  private log(level: 'info' | 'warn' | 'error', message: string, err?: unknown): void {
    const fields = { cluster: this.cluster.name, ...(err !== undefined ? { error: errorFields(err) } : {}) };
    this.options.logger[level](`cluster "${this.cluster.name}": WAL archive: ${message}`, fields);
  }

  private async run(): Promise<void> {
    const retry = this.options.retryMs ?? { min: 1000, max: 10_000 };
    const signal = this.abort.signal;
    let delay = retry.min;
    while (!signal.aborted) {
      this.record.setState('connecting');
      this.awaitingAcceptance = null;
      let streamed = false;
      try {
        streamed = this.options.agent !== null ? await this.agentSession(this.options.agent) : await this.directSession();
        if (!signal.aborted) {
          this.record.setState('connecting', { message: 'the stream ended; reconnecting', code: null });
          this.log('info', 'the stream ended; reconnecting');
        }
      } catch (thrown) {
        if (signal.aborted) break;
        const err = archiveSessionError(thrown);
        if (err instanceof WalRemovedError) {
          // At once for a new gap; the same one again (the server's position failing too) backs off.
          streamed = await this.onWalRemoved(err).catch((e: unknown) => {
            this.log('error', `could not record the WAL the server removed: ${errorText(e)}`, e);
            return false;
          });
        } else {
          streamed ||= this.record.snapshot().state === 'streaming';
          this.record.setState('failed', { message: errorText(err), code: err instanceof PgFleetError ? err.code : null });
          this.log('error', `${errorText(err)}; retrying in ${Math.round(delay / 1000)} s`, err);
        }
        // Whether the slot is still there (dropped, and not created again), for `pgfleet check`.
        if (this.options.agent === null) this.record.setSlotExists((await probeWalServer(this.directOptions(), this.cluster.wal.slot)).slotExists);
      }
      if (streamed) delay = retry.min;
      try {
        await sleep(delay, undefined, { signal });
      } catch {
        break;
      }
      delay = Math.min(delay * 2, retry.max);
    }
  }

  /** A session began; `accepted`: the server has accepted START_REPLICATION (else see accepted()). */
  private async started(info: StartInfo, accepted: boolean): Promise<void> {
    this.record.started(info, accepted);
    if (info.slotCreated) this.log('info', `created replication slot "${this.cluster.wal.slot}"`);
    for (const w of info.warnings) this.log('warn', w);
    this.awaitingAcceptance = info;
    if (accepted) await this.accepted();
  }

  /** The server accepted the session's START_REPLICATION: the archive streams from here on. */
  private async accepted(): Promise<void> {
    const info = this.awaitingAcceptance;
    if (info === null) return;
    this.awaitingAcceptance = null;
    this.record.setState('streaming');
    this.log('info', `streaming from ${formatLsn(info.startLsn)} (timeline ${info.timeline}) through slot "${this.cluster.wal.slot}"`);
    if (!this.resumeAtServer) return;
    this.resumeAtServer = false;
    const resumed = await noteResumed(this.options.repository, this.cluster.name, formatLsn(info.startLsn));
    for (const n of resumed) {
      this.log('warn', `streaming again from ${formatLsn(info.startLsn)}, where the server is; the archive misses WAL from segment ${n.firstMissing} up to there`);
    }
  }

  /**
   * The server removed WAL the archive needs (see the module comment): records the first segment
   * the archive lacks (where it would resume), reports it, and has the next session start where
   * the server is. True the first time this gap is found.
   */
  private async onWalRemoved(err: WalRemovedError): Promise<boolean> {
    const { repository } = this.options;
    this.resumeAtServer = true;
    const end = await this.archivedEnd();
    if (end === null) {
      // Nothing archived yet, so nothing is cut off: only where streaming begins changes.
      this.record.setState('connecting', { message: errorText(err), code: err.code });
      this.log('warn', `${errorText(err)}; streaming starts where the server is`);
      return true;
    }
    const { resume, segmentSize } = end;
    const firstMissing = walSegmentName(resume.timeline, segmentNumber(resume.lsn, segmentSize), segmentSize);
    const detectedAt = new Date().toISOString();
    // The server's own words, without core's sentence that the notice says again.
    const serverError = err.message.replace(/^the server removed (WAL segment \S+|WAL) before the archive received it: /, '');
    const note = await noteRemovedWal(repository, this.cluster.name, { timeline: resume.timeline, firstMissing, detectedAt, serverError });
    const notice = removedWalNotice(this.cluster.name, note);
    this.record.setState('failed', { message: notice.message, code: err.code });
    this.log('error', `${notice.message} (${serverError}); streaming resumes where the server is\nHINT: ${notice.hint}`, err);
    return note.resumedAt === null && note.detectedAt === detectedAt;
  }

  private serverStatus(lsn: Lsn, retained: number | null): void {
    this.record.setServer(lsn, retained);
    const limit = this.cluster.wal.maxRetainedBytes;
    if (limit === null || retained === null) return;
    if (retained > limit && !this.overLimitReported) {
      this.overLimitReported = true;
      this.log('warn', `replication slot "${this.cluster.wal.slot}" retains ${retained} bytes of WAL on the server, more than wal.maxRetainedBytes (${limit})`);
    } else if (retained <= limit) {
      this.overLimitReported = false;
    }
  }

  /** Where the repository's archive would resume (its newest `.partial`, else past its newest segment), with its segment size; null while it holds nothing. */
  private async archivedEnd(): Promise<{ resume: { lsn: Lsn; timeline: number }; segmentSize: number } | null> {
    const { repository } = this.options;
    const meta = await readWalArchiveMetadata(repository, this.cluster.name);
    if (meta === null) return null;
    const resume = await new TimelineArchiveSink({
      root: walDir(repository, this.cluster.name), segmentSize: meta.segmentSize, compression: compressionSpec(this.cluster.wal.compression),
    }).findStart();
    return resume === null ? null : { resume, segmentSize: meta.segmentSize };
  }

  /** One StreamWal call through the cluster's agent; true when it streamed. */
  private async agentSession(agent: AgentClient): Promise<boolean> {
    const resume = this.resumeAtServer ? null : (await this.archivedEnd())?.resume ?? null;
    const session = await agent.streamWal({
      conninfo: this.cluster.conninfo,
      dataDir: '',
      slot: this.cluster.wal.slot,
      startLsn: resume === null ? '' : formatLsn(resume.lsn),
      startTimeline: resume?.timeline ?? 0,
      synchronous: this.cluster.wal.synchronous,
      statusIntervalSeconds: 0,
      applicationName: this.cluster.wal.slot,
    });
    const onAbort = (): void => session.cancel();
    this.abort.signal.addEventListener('abort', onAbort, { once: true });
    let sink: TimelineArchiveSink | null = null;
    let streamed = false;
    let segmentStart: Lsn = 0n;
    let open = false;
    let received: Lsn = 0n;
    let flushed: Lsn = 0n;
    let unackedSince: number | null = null;
    const ack = (lsn: Lsn): void => {
      if (lsn > flushed) flushed = lsn;
      unackedSince = null;
      session.ack(formatLsn(flushed));
      this.record.setFlushed(flushed);
    };
    try {
      for await (const event of session.events) {
        const s = await this.onAgentEvent(event, sink, { segmentStart, received });
        if (s.sink !== undefined) {
          sink = s.sink;
          streamed = true;
          received = s.received ?? received;
          flushed = received;
        }
        if (s.segmentStart !== undefined) {
          segmentStart = s.segmentStart;
          received = segmentStart;
          open = true;
        }
        if (s.received !== undefined && s.sink === undefined) {
          received = s.received;
          this.record.setReceived(received);
          unackedSince ??= Date.now();
        }
        if (s.closed === true) {
          open = false;
          ack(received);
        }
        if (s.synced === true) ack(received);
        if (open && sink !== null && unackedSince !== null && Date.now() - unackedSince >= ACK_INTERVAL_MS) {
          await sink.sync();
          ack(received);
        }
      }
      return streamed;
    } finally {
      this.abort.signal.removeEventListener('abort', onAbort);
      session.cancel();
      await sink?.dispose();
    }
  }

  /** Applies one event of the agent's stream to the repository; says what changed. */
  private async onAgentEvent(event: WalStreamEvent__Output, sink: TimelineArchiveSink | null, at: { segmentStart: Lsn; received: Lsn }): Promise<{
    sink?: TimelineArchiveSink; segmentStart?: Lsn; received?: Lsn; closed?: boolean; synced?: boolean;
  }> {
    if (event.started) {
      const s = event.started;
      await claimWalArchive(this.options.repository, this.cluster.name, { systemIdentifier: s.systemIdentifier, segmentSize: s.segmentSize });
      const created = new TimelineArchiveSink({
        root: walDir(this.options.repository, this.cluster.name), segmentSize: s.segmentSize,
        compression: compressionSpec(this.cluster.wal.compression), onWarning: (m) => this.log('warn', m),
      });
      const startLsn = parseLsn(s.startLsn);
      // The agent sends this before START_REPLICATION: the stream counts as running from the
      // first message that only an accepted stream produces (a server status, a segment).
      await this.started({ systemIdentifier: s.systemIdentifier, timeline: s.timeline, startLsn, warnings: s.warnings, slotCreated: s.slotCreated }, false);
      return { sink: created, received: startLsn };
    }
    if (sink === null) throw new ConnectError(`agent "${this.options.agent?.name}" sent WAL before its stream started`);
    if (event.history) {
      await sink.writeHistoryFile(event.history.name, event.history.content);
      return {};
    }
    if (event.segmentBegin || event.data || event.segmentEnd || event.syncRequest || event.serverStatus) await this.accepted();
    if (event.segmentBegin) {
      const id = parseWalSegmentName(event.segmentBegin.name, sink.segmentSize);
      if (id === null) throw new ConnectError(`agent "${this.options.agent?.name}" sent an invalid WAL segment name "${event.segmentBegin.name}"`);
      await sink.open(event.segmentBegin.name);
      this.record.setTimeline(id.timeline);
      return { segmentStart: segmentStartLsn(id.segno, sink.segmentSize) };
    }
    if (event.data) {
      await sink.write(event.data.offset, event.data.data);
      return { received: at.segmentStart + BigInt(event.data.offset + event.data.data.length) };
    }
    if (event.segmentEnd) {
      await sink.close({ complete: event.segmentEnd.complete });
      return { closed: true };
    }
    if (event.syncRequest) {
      await sink.sync();
      return { synced: true };
    }
    if (event.serverStatus) {
      const retained = Number(event.serverStatus.slotRetainedBytes);
      this.serverStatus(parseLsn(event.serverStatus.serverLsn), retained >= 0 ? retained : null);
      if (event.serverStatus.timeline > 0) this.record.setTimeline(event.serverStatus.timeline);
    }
    return {};
  }

  /** The replication connection's keywords of a cluster without an agent. */
  private directOptions(): ReplicationConnectOptions {
    return {
      connectionString: this.cluster.conninfo,
      passwordPrompt: 'never',
      noProgressTimeoutMs: archiveStreamDeadlineMs(this.options.noProgressTimeoutMs ?? 0),
      application_name: this.cluster.wal.slot,
      fallback_application_name: 'pgfleet',
    };
  }

  /** The controller's own receiver, for a cluster without an agent; true when it streamed. */
  private async directSession(): Promise<boolean> {
    const { repository } = this.options;
    const wal = this.cluster.wal;
    const options = this.directOptions();
    const conn = await ReplicationConnection.connect({ ...options, signal: this.abort.signal });
    let receiver: WalReceiver;
    let slot;
    let segmentSize: number;
    let system;
    let at: { lsn: Lsn; timeline: number } | null = null;
    try {
      segmentSize = await conn.walSegmentSize();
      system = await conn.identifySystem();
      await claimWalArchive(repository, this.cluster.name, { systemIdentifier: system.systemId, segmentSize });
      slot = await prepareArchiveSlot(conn, wal.slot, options);
      // Where the agent's receiver starts when given no start (its sink holds nothing).
      if (this.resumeAtServer) at = await serverStreamingStart(conn, wal.slot, system);
    } catch (err) {
      await conn.close().catch(() => undefined);
      throw err;
    }
    const sink = new TimelineArchiveSink({
      root: walDir(repository, this.cluster.name), segmentSize, compression: compressionSpec(wal.compression), onWarning: (m) => this.log('warn', m),
    });
    let timeline = system.timeline;
    let startLsn: Lsn = 0n;
    receiver = await WalReceiver.start({
      connect: async () => conn,
      sink,
      ...(at !== null ? { startLsn: at.lsn, timeline: at.timeline } : {}),
      slot: wal.slot,
      temporarySlot: false,
      statusIntervalSec: wal.synchronous ? 1 : 10,
      synchronous: wal.synchronous,
      recordSegments: false,
      // A cluster restored from an older backup forks behind what the archive holds: follow it.
      resumeAtFork: true,
      onDurable: (position) => this.record.setFlushed(position),
      onServerPosition: (lsn) => this.serverStatus(lsn, null),
      onEvent: (event) => {
        if (event.kind === 'streaming-started') {
          timeline = event.timeline;
          startLsn = event.lsn;
        } else if (event.kind === 'timeline-switched') {
          this.record.setTimeline(event.timeline);
          this.log('info', `switched to timeline ${event.timeline} at ${formatLsn(event.lsn)}`);
        }
      },
    });
    // Streaming only once the server accepted START_REPLICATION (the receiver's event comes
    // before it: a slot another process holds fails it, and the archive has not streamed).
    await this.started({ systemIdentifier: system.systemId, timeline, startLsn, slotCreated: slot.created, warnings: slot.warnings }, true);
    const running = receiver;
    let lastProbe = Date.now();
    const timer = setInterval(() => {
      this.record.setReceived(running.receivedPosition);
      // As the agent's stream is acknowledged: what arrived is durable within about a second.
      void running.flush().catch(() => undefined);
      if (Date.now() - lastProbe < PROBE_INTERVAL_MS) return;
      lastProbe = Date.now();
      void probeWalServer(options, wal.slot).then((p) => {
        if (p.slotRetainedBytes !== null) this.serverStatus(running.receivedPosition, Number(p.slotRetainedBytes));
      });
    }, 1000);
    const onAbort = (): void => { void running.stop().catch(() => undefined); };
    this.abort.signal.addEventListener('abort', onAbort, { once: true });
    try {
      await running.done;
      return true;
    } finally {
      clearInterval(timer);
      this.abort.signal.removeEventListener('abort', onAbort);
    }
  }
}
