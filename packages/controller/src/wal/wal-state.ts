/**
 * The live state of each cluster's WAL archive receiver, kept in one place for everything that
 * reports on it (`pgfleet wal`, `pgfleet check`, status, metrics): the daemon's registry
 * (ControllerState.walReceivers, also its walArchive) answers walState(cluster) with a snapshot, walStates() with all of
 * them. The archiver (wal-archiver.ts) is the only writer.
 *
 * Positions are LSNs as text ("0/3000000"); `flushedLsn` is what the repository holds durably
 * (the position acknowledged to the server), `receivedLsn` what has arrived. Lag: the server's
 * WAL end (as its last message said) minus flushedLsn, in bytes, and in seconds since the
 * server first reported WAL beyond flushedLsn (0 when the archive is level with the server).
 * While the receiver does not stream, `stalledSince` is when it stopped streaming: it is kept
 * through every reconnect attempt (each changes `state` and `since`), so the lag in seconds of
 * a stalled archive keeps growing instead of starting again at each retry.
 */

import { formatLsn, type Lsn } from '@pgfleet/core';
import type { WalArchiveState, WalArchiveStatusProvider, WalArchiveStatusResult } from '../daemon/wal-archive-status.js';
import { readClusterCatalog } from '../repository/catalog.js';
import { readArchiveView, recoverableWindow } from './recoverable-window.js';
import { summarizeWalArchive } from './archive-summary.js';
import { clusterWalReport, type ClusterWalReport, type WalReportInputs } from './wal-report.js';

export type WalReceiverState =
  /** Streaming: the session is up. */
  | 'streaming'
  /** Connecting, or waiting to reconnect after `reason`. */
  | 'connecting'
  /** Failed with `reason`; retried after a pause. */
  | 'failed'
  /** `wal: { archive: none }`. */
  | 'disabled'
  /** The controller is shutting down. */
  | 'stopped';

export interface ClusterWalState {
  cluster: string;
  archive: 'stream' | 'none';
  /** "agent:db1" or "direct". */
  via: string;
  state: WalReceiverState;
  /** When `state` last changed (RFC 3339). */
  since: string;
  /** Not streaming: since when (RFC 3339), kept across reconnect attempts; null while streaming or disabled. */
  stalledSince: string | null;
  /** Whether the slot exists on the server, as the archive last saw it; null when unknown. */
  slotExists: boolean | null;
  /** Why it is not streaming (the last error), or null. */
  reason: string | null;
  /** The error's catalogue code, or null. */
  reasonCode: number | null;
  slot: string;
  /** The walsender's application_name (for synchronous_standby_names). */
  applicationName: string;
  synchronous: boolean;
  compression: string;
  systemIdentifier: string | null;
  timeline: number | null;
  receivedLsn: string | null;
  flushedLsn: string | null;
  serverLsn: string | null;
  lagBytes: number | null;
  lagSeconds: number | null;
  /** Bytes of WAL the slot keeps on the server (last probe); null when unknown. */
  slotRetainedBytes: number | null;
  maxRetainedBytes: number | null;
  /** slotRetainedBytes is beyond maxRetainedBytes. */
  retainedOverLimit: boolean;
  /** Preflight findings of the last session start. */
  warnings: string[];
  /** When streaming last acknowledged a position (RFC 3339), or null. */
  lastAckAt: string | null;
  /** archive-push refusals (a file archived before with other content), newest last, at most 10. */
  refusedPushes: Array<{ at: string; message: string }>;
}

interface Sample {
  lsn: Lsn;
  at: number;
}

type RecordInit = Pick<ClusterWalState, 'cluster' | 'archive' | 'via' | 'slot' | 'applicationName' | 'synchronous' | 'compression' | 'maxRetainedBytes'>;

/** The mutable record behind a cluster's snapshot. */
export class WalStateRecord {
  private value: ClusterWalState;
  private received: Lsn | null = null;
  private flushed: Lsn | null = null;
  private server: Lsn | null = null;
  /** Server positions and when they were seen, oldest first, for the lag in seconds. */
  private samples: Sample[] = [];

  constructor(init: RecordInit) {
    const now = new Date().toISOString();
    this.value = {
      ...init,
      state: init.archive === 'none' ? 'disabled' : 'connecting',
      since: now,
      stalledSince: init.archive === 'none' ? null : now,
      slotExists: null,
      reason: null, reasonCode: null, systemIdentifier: null, timeline: null, receivedLsn: null, flushedLsn: null, serverLsn: null,
      lagBytes: null, lagSeconds: null, slotRetainedBytes: null, retainedOverLimit: false, warnings: [], lastAckAt: null,
      refusedPushes: [],
    };
  }

  /**
   * The configuration changed (a reload): what the archive is set up as. An archive switched
   * on starts out connecting; one switched off is disabled.
   */
  reconfigure(init: RecordInit): void {
    const wasOn = this.value.archive === 'stream';
    Object.assign(this.value, init);
    if (init.archive === 'none') {
      this.setState('disabled');
    } else if (!wasOn) {
      this.setState('connecting');
    }
  }

  setState(state: WalReceiverState, reason: { message: string; code: number | null } | null = null): void {
    const now = new Date().toISOString();
    if (state !== this.value.state) this.value.since = now;
    if (state === 'streaming' || state === 'disabled') this.value.stalledSince = null;
    else this.value.stalledSince ??= now;
    this.value.state = state;
    if (reason !== null || state === 'streaming') {
      this.value.reason = reason?.message ?? null;
      this.value.reasonCode = reason?.code ?? null;
    }
  }

  /** A session began; with `accepted` false the server has not yet accepted START_REPLICATION:
   * the state stays as it is until setState('streaming'). */
  started(info: { systemIdentifier: string; timeline: number; startLsn: Lsn; warnings: string[] }, accepted = true): void {
    // A start on another timeline may lie behind the old one's position (a new primary forked
    // before it): the positions of the old timeline say nothing about the new one.
    if (this.value.timeline !== null && this.value.timeline !== info.timeline) {
      this.received = null;
      this.flushed = null;
    }
    this.value.systemIdentifier = info.systemIdentifier;
    this.value.timeline = info.timeline;
    this.value.warnings = info.warnings;
    this.value.slotExists = true;
    if (this.received === null || info.startLsn > this.received) this.received = info.startLsn;
    if (this.flushed === null || info.startLsn > this.flushed) this.flushed = info.startLsn;
    if (accepted) this.setState('streaming');
  }

  /** What a probe of the server found (null: it could not tell). */
  setSlotExists(exists: boolean | null): void {
    this.value.slotExists = exists;
  }

  setTimeline(timeline: number): void {
    this.value.timeline = timeline;
  }

  setReceived(lsn: Lsn): void {
    this.received = lsn;
  }

  setFlushed(lsn: Lsn): void {
    if (this.flushed === null || lsn > this.flushed) this.flushed = lsn;
    this.value.lastAckAt = new Date().toISOString();
  }

  setServer(lsn: Lsn, retained: number | null): void {
    this.server = lsn;
    const now = Date.now();
    const last = this.samples[this.samples.length - 1];
    if (last === undefined || lsn > last.lsn) this.samples.push({ lsn, at: now });
    // What is behind the archive is of no more use for the lag.
    while (this.samples.length > 1 && this.flushed !== null && (this.samples[1] as Sample).lsn <= this.flushed) this.samples.shift();
    if (this.samples.length > 1000) this.samples.shift();
    if (retained !== null) {
      this.value.slotRetainedBytes = retained;
      this.value.retainedOverLimit = this.value.maxRetainedBytes !== null && retained > this.value.maxRetainedBytes;
    }
  }

  noteConflict(message: string): void {
    this.value.refusedPushes.push({ at: new Date().toISOString(), message });
    if (this.value.refusedPushes.length > 10) this.value.refusedPushes.shift();
  }

  snapshot(): ClusterWalState {
    const lag = this.server !== null && this.flushed !== null ? this.server - this.flushed : null;
    let lagSeconds: number | null = null;
    if (lag !== null) {
      const behind = this.samples.find((s) => this.flushed !== null && s.lsn > this.flushed);
      lagSeconds = lag <= 0n || behind === undefined ? 0 : Math.max(0, (Date.now() - behind.at) / 1000);
    }
    return {
      ...this.value,
      warnings: [...this.value.warnings],
      refusedPushes: this.value.refusedPushes.map((r) => ({ ...r })),
      receivedLsn: this.received === null ? null : formatLsn(this.received),
      flushedLsn: this.flushed === null ? null : formatLsn(this.flushed),
      serverLsn: this.server === null ? null : formatLsn(this.server),
      lagBytes: lag === null ? null : Number(lag > 0n ? lag : 0n),
      lagSeconds,
    };
  }
}

/**
 * Every cluster's record, one registry per daemon (ControllerState.wal): walState(cluster) and
 * walStates() are what other code reads.
 */
export class WalStateRegistry implements WalArchiveStatusProvider {
  private readonly records = new Map<string, WalStateRecord>();

  constructor(private readonly repository: string) {}

  /** The record of a cluster, created on first use (the archiver's). */
  record(cluster: string, init: RecordInit): WalStateRecord {
    let r = this.records.get(cluster);
    if (r === undefined) {
      r = new WalStateRecord(init);
      this.records.set(cluster, r);
    } else {
      r.reconfigure(init);
    }
    return r;
  }

  /** Records an archive-push refusal of a cluster (known clusters only). */
  noteConflict(cluster: string, message: string): void {
    this.records.get(cluster)?.noteConflict(message);
  }

  /** A snapshot of a cluster's WAL receiver, or null when the controller keeps no state of it. */
  walState(cluster: string): ClusterWalState | null {
    return this.records.get(cluster)?.snapshot() ?? null;
  }

  /** Snapshots of every cluster's WAL receiver, by cluster name. */
  walStates(): ClusterWalState[] {
    return [...this.records.values()].map((r) => r.snapshot()).sort((a, b) => a.cluster.localeCompare(b.cluster));
  }

  /** The receiver's state with the archive's contents and restore window (`pgfleet wal`); null for an unknown cluster. */
  async report(cluster: string): Promise<ClusterWalReport | null> {
    const live = this.walState(cluster);
    return live === null ? null : clusterWalReport(this.repository, cluster, live);
  }

  /**
   * Where the newest usable backup's recoverable window ends in a hole of the archive (WAL on
   * both sides of it), if it does. An archive that begins after the backup (switched on later)
   * is not such a hole: that backup never had WAL to recover with.
   */
  private async newestBackupCut(cluster: string, live: ClusterWalState, report: ClusterWalReport, inputs: WalReportInputs): Promise<WalArchiveState['newestBackupCut']> {
    const { backups } = inputs.catalog;
    const newest = backups[backups.length - 1]?.metadata;
    if (newest === undefined) return null;
    const view = await readArchiveView(this.repository, cluster, live, inputs.summary);
    const window = recoverableWindow(newest, view);
    const missing = window.firstMissing;
    if (window.end !== 'gap' || missing === null) return null;
    const inHole = report.timelines.some((t) => t.gaps.some((g) => g.from.slice(0, 8) === missing.slice(0, 8) && g.from <= missing && missing <= g.to));
    if (!inHole) return null;
    return { backupId: newest.id, firstMissing: missing, removedByServer: report.removedWal.some((n) => n.firstMissing === missing) };
  }

  /** For checks, status and metrics (daemon/wal-archive-status.ts). */
  async stateOf(cluster: string): Promise<WalArchiveStatusResult> {
    const live = this.walState(cluster);
    if (live === null || live.archive === 'none') return { available: false, reason: 'not configured' };
    if (live.flushedLsn === null) return { available: false, reason: `not streaming yet${live.reason !== null ? `: ${live.reason}` : ''}` };
    // The archive's summary and the catalog serve both the report and the newest backup's window.
    const inputs: WalReportInputs = {
      summary: await summarizeWalArchive(this.repository, cluster), catalog: await readClusterCatalog(this.repository, cluster),
    };
    const report = await clusterWalReport(this.repository, cluster, live, inputs);
    return {
      available: true,
      state: {
        lagBytes: report.lagBytes ?? 0,
        lagSeconds: report.stalledSince === null ? report.lagSeconds ?? 0 : Math.max(report.lagSeconds ?? 0, (Date.now() - Date.parse(report.stalledSince)) / 1000),
        slotRetainedBytes: report.slotRetainedBytes ?? report.lagBytes ?? 0,
        slotName: report.slot,
        slotPresent: report.slotExists !== false,
        slotActive: report.state === 'streaming',
        archiveProblem: report.state === 'streaming' ? null : report.reason,
        gaps: report.gaps,
        newestBackupCut: await this.newestBackupCut(cluster, live, report, inputs),
        restoreFrom: report.restoreFrom?.time ? new Date(report.restoreFrom.time) : null,
        restoreTo: report.restoreTo?.time ? new Date(report.restoreTo.time) : null,
      },
    };
  }
}
