/**
 * Point-in-time recovery for a restore: the target, the restore_command, and (local path) the
 * check, before anything is written, that the WAL archive holds every segment from the
 * backup's start to the target (core's planArchiveRecovery).
 *
 * PITR is `--mode promote` with a target: the copy replays the archive up to the target, then
 * does what --target-action says (promote by default: read-write on a new timeline; pause:
 * stays in recovery, read-only, at the target; shutdown: stops there). Targets are refused with
 * `--mode standby` (a standby follows its primary; it has no end) and `--mode none` (files only:
 * no recovery configuration is written). A target given without --mode means --mode promote.
 *
 * The backup's WAL range (start, end, timeline) comes from backup_manifest's WAL-Ranges, or
 * from backup_label for a plain backup without a manifest. The segments the backup itself
 * carries (tar layout with pg_wal.tar, or a plain backup's pg_wal) count as present: the
 * server reads pg_wal when restore_command does not have a file.
 */

import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  InvalidOptionError, describeRecoveryTarget, openWalArchive, parseLsn, parseRecoveryTargetWire, planArchiveRecovery, requiredSegments,
  type ArchiveRecoveryBackup, type ArchiveRecoveryPlan, type BackupManifest, type RecoveryTarget,
} from '@pgfleet/core';
import type { RecoveryOutcome as RecoveryOutcomeWire, RecoveryTargetSpec__Output } from '@pgfleet/proto';
import type { RecoveryMode } from './options.js';
import type { BackupSource } from './source.js';

export interface PointInTimeOptions {
  target: RecoveryTarget;
  /** restore_command written into postgresql.auto.conf. */
  restoreCommand: string;
  /** A WAL archive on this host, checked before anything is written; null: the caller checked it. */
  walArchive: string | null;
  /** For the plan: the backup chosen (the controller's), when someone chose one. */
  backupLabel?: string | null;
  /** The timeline recovery ends on, as the caller's own archive check found it (the controller's). */
  checkedTimeline?: number | null;
}

/** A shell word for /bin/sh, with `%` doubled for restore_command's own escapes. */
function shellWord(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`.replace(/%/g, '%%');
}

/**
 * `pgfleet-agent wal-get --archive DIR %f %p` as this package's installed command, by absolute
 * paths (the server's PATH need not hold it): node, then the package's bin/pgfleet-agent.js
 * (which runs the built program, also when this module runs from its sources).
 */
export function localRestoreCommand(archive: string): string {
  const packageRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
  const words = [process.execPath, path.join(packageRoot, 'bin', 'pgfleet-agent.js'), 'wal-get', '--archive', archive];
  return `${words.map(shellWord).join(' ')} %f %p`;
}

/** The mode a restore with `target` runs in, or why it cannot. */
export function modeForTarget(mode: RecoveryMode | undefined, target: RecoveryTarget | null): RecoveryMode | undefined {
  if (target === null) return mode;
  if (mode === undefined || mode === 'promote') return 'promote';
  throw new InvalidOptionError(`recovery targets are not allowed with --mode ${mode}`, {
    hint: mode === 'standby'
      ? 'A standby follows its primary and has no end; restore to a point in time with --mode promote (the default with a target).'
      : 'With --mode none no recovery configuration is written; use --mode promote (the default with a target).',
  });
}

const LABEL_START = /^START WAL LOCATION: ([0-9A-F]+\/[0-9A-F]+) \(file ([0-9A-F]{24})\)$/m;

/** The backup's WAL range from its manifest, else (plain layout) its backup_label. */
async function backupRange(source: BackupSource, manifest: BackupManifest | null): Promise<ArchiveRecoveryBackup> {
  const ranges = manifest?.walRanges ?? [];
  const newest = ranges[0];
  const oldest = ranges[ranges.length - 1];
  if (newest !== undefined && oldest !== undefined) {
    return { label: source.location, timeline: newest.timeline, startLsn: oldest.startLsn, endLsn: newest.endLsn };
  }
  if (source.layout === 'plain') {
    const text = await readFile(path.join(source.location, 'backup_label'), 'utf8').catch(() => '');
    const m = LABEL_START.exec(text);
    if (m !== null) {
      const start = parseLsn(m[1] as string);
      // The end is not in backup_label; the start is a safe lower bound for the checks.
      return { label: source.location, timeline: Number.parseInt((m[2] as string).slice(0, 8), 16), startLsn: start, endLsn: start };
    }
  }
  throw new InvalidOptionError(`the backup in "${source.location}" has no backup_manifest with WAL ranges: its WAL cannot be checked against the archive`, {
    hint: 'Take the backup with a manifest (the default of pg_basebackup 13 and later), or restore it without a target.',
  });
}

export interface CheckedPointInTime {
  plan: ArchiveRecoveryPlan;
  backup: ArchiveRecoveryBackup;
  /** The sentence printed before anything is written. */
  statement: string;
}

/** Checks the local archive for a restore of `source` to the target (see the module comment). */
export async function checkLocalArchive(source: BackupSource, manifest: BackupManifest | null,
  pitr: PointInTimeOptions & { walArchive: string }): Promise<CheckedPointInTime> {
  const backup = await backupRange(source, manifest);
  const listing = await openWalArchive(pitr.walArchive);
  const carriesWal = source.layout === 'plain' || source.archives.some((a) => a.kind === 'wal');
  const present = carriesWal && manifest !== null
    ? new Set(requiredSegments(manifest.walRanges, listing.segmentSize).map((s) => s.name))
    : undefined;
  const plan = await planArchiveRecovery(listing, { backup, target: pitr.target, ...(present ? { present } : {}) });
  return { plan, backup, statement: describePointInTime(pitr, plan.targetTimeline, plan.coverage.lastSegment) };
}

/** `recovering to …` for the plan. */
export function describePointInTime(pitr: PointInTimeOptions, targetTimeline: number | null, lastSegment: string | null): string {
  const from = pitr.backupLabel ? `backup "${pitr.backupLabel}", ` : '';
  const archive = pitr.walArchive ? `WAL archive "${pitr.walArchive}"${lastSegment ? ` (up to ${lastSegment})` : ''}` : 'the WAL archive';
  const tl = targetTimeline === null ? '' : ` (timeline ${targetTimeline})`;
  return `point-in-time recovery: ${from}${archive}, target ${describeRecoveryTarget(pitr.target)}${tl}`;
}

/** What the report says about a point-in-time recovery. */
export interface RecoveryOutcome {
  /** As describeRecoveryTarget says it. */
  target: string;
  kind: RecoveryTarget['kind'];
  value: string;
  inclusive: boolean;
  action: RecoveryTarget['action'];
  /** The timeline the target's timeline setting resolved to, when the agent checked the archive. */
  targetTimeline: number | null;
  restoreCommand: string;
  /** Once started: where replay stopped, on which timeline the server now is. */
  stoppedAt: { lsn: string | null; lastTransactionTime: string | null; timeline: number | null } | null;
  /** Once started: promoted (or paused) at the target, and where it stopped agrees with the target. */
  reached: boolean | null;
  /** The server's own "recovery stopping ..." log line, when found. */
  serverMessage: string | null;
}

interface StartedLike {
  inRecovery: boolean;
  timeline: number | null;
  logFile: string;
  replay: { lsn: string | null; lastTransactionTime: string | null; paused: boolean };
}

/**
 * Does where replay stopped agree with the target? The server itself refuses to end recovery
 * short of a target (FATAL "recovery ended before configured recovery target was reached"),
 * so a promoted or paused server got there; this cross-checks what can be compared: an LSN
 * (inclusive: replay went past it; exclusive: not beyond it) and a time (no transaction
 * replayed after it; millisecond precision).
 */
function agrees(target: RecoveryTarget, lsn: string | null, time: string | null): boolean {
  if (target.kind === 'lsn' && lsn !== null) {
    const replayed = parseLsn(lsn);
    const wanted = parseLsn(target.value);
    return target.inclusive ? replayed >= wanted : replayed <= wanted;
  }
  if (target.kind === 'time' && time !== null && target.timeMs !== null) return Date.parse(time) <= target.timeMs;
  return true;
}

async function stopMessage(logFile: string): Promise<string | null> {
  const text = await readFile(logFile, 'utf8').catch(() => '');
  const lines = text.split('\n').filter((l) => /recovery stopping|recovery has paused|archive recovery complete/.test(l));
  const stop = lines.find((l) => /recovery stopping/.test(l)) ?? lines[0];
  return stop === undefined ? null : stop.replace(/^.*?(LOG|FATAL):\s*/, '');
}

/** The report's point-in-time section, from the options and (when started) the instance. */
export async function recoveryOutcome(pitr: PointInTimeOptions, targetTimeline: number | null,
  instance: StartedLike | null): Promise<RecoveryOutcome> {
  const t = pitr.target;
  const base = {
    target: describeRecoveryTarget(t), kind: t.kind, value: t.value, inclusive: t.inclusive, action: t.action, targetTimeline,
    restoreCommand: pitr.restoreCommand,
  };
  if (instance === null) return { ...base, stoppedAt: null, reached: null, serverMessage: null };
  const { lsn, lastTransactionTime } = instance.replay;
  const arrived = !instance.inRecovery || instance.replay.paused;
  return {
    ...base,
    stoppedAt: { lsn, lastTransactionTime, timeline: instance.timeline },
    reached: arrived && agrees(t, lsn, lastTransactionTime),
    serverMessage: await stopMessage(instance.logFile),
  };
}

/**
 * restore_command for a restore the controller asked for: `pgfleet-agent wal-get --config
 * AGENT.YAML --cluster NAME %f %p` (the installed command, by absolute paths), which fetches
 * from the controller's repository archive of that cluster with this agent's configuration.
 */
export function fleetRestoreCommand(cluster: string, configFile: string | null): string {
  const packageRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
  const words = [process.execPath, path.join(packageRoot, 'bin', 'pgfleet-agent.js'), 'wal-get',
    ...(configFile ? ['--config', path.resolve(configFile)] : []), '--cluster', cluster];
  return `${words.map(shellWord).join(' ')} %f %p`;
}

/** RestoreSpec.recovery_target as the engine's options; null when the spec has none. */
export function pointInTimeFromSpec(spec: RecoveryTargetSpec__Output | null, configFile: string | null): PointInTimeOptions | null {
  const target = spec === null ? null : parseRecoveryTargetWire(spec);
  if (spec === null || target === null) return null;
  if (spec.cluster === '' && spec.restoreCommand === '') {
    throw new InvalidOptionError('a recovery target needs the cluster whose WAL archive to read', { hint: 'Set RecoveryTargetSpec.cluster.' });
  }
  return {
    target, walArchive: null, backupLabel: spec.backupId || null, checkedTimeline: spec.targetTimeline || null,
    restoreCommand: spec.restoreCommand || fleetRestoreCommand(spec.cluster, configFile),
  };
}

/** The report's outcome on the wire. */
export function outcomeToWire(o: RecoveryOutcome | null, targetTimeline: number): RecoveryOutcomeWire | null {
  if (o === null) return null;
  return {
    target: o.target, targetTimeline: o.targetTimeline ?? targetTimeline, started: o.stoppedAt !== null, reached: o.reached === true,
    stoppedLsn: o.stoppedAt?.lsn ?? '', lastTransactionTime: o.stoppedAt?.lastTransactionTime ?? '',
    timeline: o.stoppedAt?.timeline ?? 0, serverMessage: o.serverMessage ?? '',
  };
}
