/**
 * A point-in-time recovery target, as `pgfleet restore` and `pgfleet-agent restore` take it:
 * exactly one of --target-time, --target-lsn, --target-xid, --target-name, --target immediate
 * and --target latest, with --target-exclusive, --target-timeline latest|current|N and
 * --target-action promote|pause|shutdown. One parser for both command lines, and the
 * postgresql.auto.conf settings it becomes (recovery_target_*, restore_command).
 *
 * `latest` is no recovery_target at all: recovery replays everything the archive holds, then
 * promotes (the server ignores recovery_target_action without a target, so pause and shutdown
 * are refused with it). A time must carry its time zone: without one the server would read it
 * in its own TimeZone setting, which the person typing it may not know.
 */

import { InvalidOptionError } from '../../errors.js';
import { checkConfigValue } from '../../archive/recovery-config.js';
import { formatLsn, parseLsn } from '../lsn.js';
import type { TargetTimeline } from './wal-archive-timelines.js';

export type RecoveryTargetKind = 'time' | 'lsn' | 'xid' | 'name' | 'immediate' | 'latest';
export type RecoveryTargetAction = 'promote' | 'pause' | 'shutdown';

export interface RecoveryTarget {
  kind: RecoveryTargetKind;
  /** time: as given; lsn: `X/X`; xid: decimal; name: the restore point; '' for immediate and latest. */
  value: string;
  /** time only: milliseconds since the epoch (for choosing a backup and reporting). */
  timeMs: number | null;
  /** Stop just after the target (true, the default) or just before it. */
  inclusive: boolean;
  timeline: TargetTimeline;
  action: RecoveryTargetAction;
}

/** The command-line options, as given (undefined when absent). */
export interface RecoveryTargetFlags {
  targetTime?: string | undefined;
  targetLsn?: string | undefined;
  targetXid?: string | undefined;
  targetName?: string | undefined;
  target?: string | undefined;
  targetExclusive?: boolean | undefined;
  targetTimeline?: string | undefined;
  targetAction?: string | undefined;
}

const TIME = /^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?)\s*(Z|[+-]\d{2}(?::?\d{2})?)$/i;

/** Milliseconds since the epoch of a timestamp with a time zone; InvalidOptionError otherwise. */
export function parseTargetTime(text: string): number {
  const m = TIME.exec(text.trim());
  let zone = m?.[3] ?? '';
  if (/^[+-]\d{2}$/.test(zone)) zone += ':00';
  else if (/^[+-]\d{4}$/.test(zone)) zone = `${zone.slice(0, 3)}:${zone.slice(3)}`;
  const ms = m === null ? NaN : Date.parse(`${m[1] as string}T${m[2] as string}${zone.toUpperCase()}`);
  if (Number.isNaN(ms)) {
    throw new InvalidOptionError(`invalid recovery target time "${text}"`, {
      hint: 'Write it as YYYY-MM-DD HH:MM:SS[.ffffff] with a time zone, such as "2026-12-06 14:01:00+00".',
    });
  }
  return ms;
}

function parseTimeline(text: string | undefined): TargetTimeline {
  if (text === undefined || text === 'latest') return 'latest';
  if (text === 'current') return 'current';
  const n = /^\d{1,10}$/.test(text) ? Number(text) : NaN;
  if (!(n >= 1 && n <= 0xFFFF_FFFF)) {
    throw new InvalidOptionError(`invalid recovery target timeline "${text}", must be "latest", "current" or a timeline number`);
  }
  return n;
}

function parseAction(text: string | undefined): RecoveryTargetAction {
  if (text === undefined) return 'promote';
  if (text === 'promote' || text === 'pause' || text === 'shutdown') return text;
  throw new InvalidOptionError(`invalid recovery target action "${text}", must be "promote", "pause" or "shutdown"`);
}

function kindAndValue(flags: RecoveryTargetFlags): { kind: RecoveryTargetKind; value: string } | null {
  const given: { kind: RecoveryTargetKind; value: string }[] = [];
  if (flags.targetTime !== undefined) given.push({ kind: 'time', value: flags.targetTime });
  if (flags.targetLsn !== undefined) given.push({ kind: 'lsn', value: flags.targetLsn });
  if (flags.targetXid !== undefined) given.push({ kind: 'xid', value: flags.targetXid });
  if (flags.targetName !== undefined) given.push({ kind: 'name', value: flags.targetName });
  if (flags.target !== undefined) {
    if (flags.target !== 'immediate' && flags.target !== 'latest') {
      throw new InvalidOptionError(`invalid recovery target "${flags.target}", must be "immediate" or "latest"`);
    }
    given.push({ kind: flags.target, value: '' });
  }
  if (given.length > 1) {
    throw new InvalidOptionError('only one of --target-time, --target-lsn, --target-xid, --target-name and --target may be given');
  }
  return given[0] ?? null;
}

/**
 * The target the options describe; null when none of them was given. --target-exclusive,
 * --target-timeline or --target-action alone are refused: they qualify a target.
 */
export function parseRecoveryTarget(flags: RecoveryTargetFlags): RecoveryTarget | null {
  const chosen = kindAndValue(flags);
  if (chosen === null) {
    const stray = flags.targetExclusive ? '--target-exclusive' : flags.targetTimeline !== undefined ? '--target-timeline'
      : flags.targetAction !== undefined ? '--target-action' : null;
    if (stray === null) return null;
    throw new InvalidOptionError(`${stray} needs a recovery target`, {
      hint: 'Give one of --target-time, --target-lsn, --target-xid, --target-name or --target immediate|latest.',
    });
  }
  const { kind } = chosen;
  let value = chosen.value;
  let timeMs: number | null = null;
  if (kind === 'time') timeMs = parseTargetTime(value);
  if (kind === 'lsn') value = formatLsn(parseLsn(value));
  if (kind === 'xid' && !/^\d{1,20}$/.test(value)) {
    throw new InvalidOptionError(`invalid recovery target transaction ID "${value}"`, { hint: 'Give the transaction ID as a decimal number, as txid_current() returns it.' });
  }
  if (kind === 'name') {
    if (value === '' || Buffer.byteLength(value) >= 64) {
      throw new InvalidOptionError(`invalid restore point name "${value}"`, { hint: 'A restore point name has 1 to 63 bytes.' });
    }
    checkConfigValue(value, '--target-name');
  }
  if (flags.targetExclusive && !(kind === 'time' || kind === 'lsn' || kind === 'xid')) {
    throw new InvalidOptionError('--target-exclusive applies only to --target-time, --target-lsn and --target-xid');
  }
  const action = parseAction(flags.targetAction);
  if (kind === 'latest' && action !== 'promote') {
    throw new InvalidOptionError(`--target-action ${action} needs a recovery target other than latest`, {
      hint: 'Recovery to the end of the archive always promotes; give a time, LSN, transaction ID or restore point to stop at.',
    });
  }
  return { kind, value, timeMs, inclusive: !flags.targetExclusive, timeline: parseTimeline(flags.targetTimeline), action };
}

/** One line for the plan: `time "…" (inclusive) on timeline latest, then promote`. */
export function describeRecoveryTarget(t: RecoveryTarget): string {
  const what = t.kind === 'latest' ? 'the end of the WAL archive'
    : t.kind === 'immediate' ? 'the end of the backup (immediate)'
      : `${t.kind === 'name' ? 'restore point' : t.kind === 'xid' ? 'transaction' : t.kind} "${t.value}"${t.kind === 'name' ? '' : t.inclusive ? ' (inclusive)' : ' (exclusive)'}`;
  return `${what} on timeline ${String(t.timeline)}, then ${t.kind === 'latest' ? 'promote' : t.action}`;
}

/**
 * The settings that make the server recover to `t`, fetching WAL with `restoreCommand`: every
 * recovery_target* setting is given (empty when unused) so that one left in postgresql.conf
 * cannot combine with ours into "multiple recovery targets".
 */
export function recoveryTargetSettings(t: RecoveryTarget, restoreCommand: string): Array<[string, string]> {
  checkConfigValue(restoreCommand, 'restore_command');
  const targets: Array<[string, RecoveryTargetKind, string]> = [
    ['recovery_target', 'immediate', 'immediate'], ['recovery_target_time', 'time', t.value],
    ['recovery_target_lsn', 'lsn', t.value], ['recovery_target_xid', 'xid', t.value], ['recovery_target_name', 'name', t.value],
  ];
  // The server checks each assignment against the target set so far: the empty ones come first.
  const empty = targets.filter(([, kind]) => kind !== t.kind).map(([name]): [string, string] => [name, '']);
  const chosen = targets.filter(([, kind]) => kind === t.kind).map(([name, , value]): [string, string] => [name, value]);
  return [
    ['restore_command', restoreCommand],
    ...empty,
    ...chosen,
    ['recovery_target_inclusive', t.inclusive ? 'on' : 'off'],
    ['recovery_target_timeline', String(t.timeline)],
    ['recovery_target_action', t.action],
  ];
}
