/**
 * The recovery configuration of the restored copy, per mode, written into the staged data
 * directory (servers 12+: signal files and settings in postgresql.auto.conf).
 *
 * - none: nothing is changed; the copy has exactly the configuration of the backup (a -R
 *   backup then comes up as a standby of its source).
 * - standby: standby.signal (recovery.signal removed), and a primary_conninfo: the one given
 *   (replacing any the backup carries) or the backup's own (-R). Without either it is an
 *   error: a standby with nowhere to stream from is a mistake. Read-only by design.
 * - promote: recovery.signal (standby.signal removed), primary_conninfo and primary_slot_name
 *   that a -R backup carried are stripped, and a marked block is appended to
 *   postgresql.auto.conf:
 *       restore_command = 'false'          archive recovery needs one; there is no archive,
 *                                          WAL comes from pg_wal
 *       recovery_target = 'immediate'      stop as soon as the copy is consistent (the end of
 *                                          the backup), not at the end of whatever WAL exists
 *       recovery_target_action = 'promote' then leave recovery on a NEW timeline, read-write
 *   plus empty values for the other recovery_target_* settings, so that a target the source
 *   had configured cannot make PostgreSQL refuse "multiple recovery targets". The block is
 *   removed once the server has been promoted (removePromoteBlock, by --start); without
 *   --start the operator removes it after promotion.
 *
 * Every file here is read and written without following a symbolic link (no-follow.ts): the
 * restore runs as root and the directory holds what the backup (or, after the start, the
 * server's OS user) put there. A primary_conninfo with a control character is refused
 * (checkConfigValue): postgresql.auto.conf cannot hold a newline in a value, and one would
 * add lines of the caller's choosing to it.
 */

import { rm } from 'node:fs/promises';
import path from 'node:path';
import { InvalidOptionError, checkConfigValue, fileError, isErrno } from '@pgfleet/core';
import { readFileNoFollow, writeFileNoFollow } from './no-follow.js';
import type { RecoveryMode } from './options.js';

export const AUTO_CONF = 'postgresql.auto.conf';
export const PROMOTE_BLOCK_BEGIN = '# pgfleet-agent restore --mode promote: begin (removed once promoted)';
export const PROMOTE_BLOCK_END = '# pgfleet-agent restore --mode promote: end';

export const PROMOTE_SETTINGS: ReadonlyArray<readonly [string, string]> = [
  ['restore_command', 'false'],
  ['recovery_target_time', ''],
  ['recovery_target_xid', ''],
  ['recovery_target_name', ''],
  ['recovery_target_lsn', ''],
  ['recovery_target', 'immediate'],
  ['recovery_target_action', 'promote'],
];

/** A postgresql.conf string literal: single quotes, with ' and \ doubled (as pg_basebackup -R writes). */
export function quoteConfValue(value: string): string {
  return `'${value.replace(/['\\]/g, (c) => c + c)}'`;
}

function settingPattern(name: string): RegExp {
  // "name = value" or "name value", any case, leading blanks allowed.
  return new RegExp(`^\\s*${name}\\s*(=|\\s)`, 'i');
}

/** Drops the lines that set any of `names`. */
export function stripSettings(text: string, names: readonly string[]): string {
  const patterns = names.map(settingPattern);
  return text
    .split('\n')
    .filter((line) => !patterns.some((p) => p.test(line)))
    .join('\n');
}

/**
 * The value of the last assignment of `name` in configuration text, unquoted; null when it is
 * not set. Enough for the settings written by pg_basebackup -R and by operators.
 */
export function findSetting(text: string, name: string): string | null {
  let value: string | null = null;
  const pattern = new RegExp(`^\\s*${name}\\s*(?:=\\s*|\\s+)(.*)$`, 'i');
  for (const line of text.split('\n')) {
    const m = pattern.exec(line);
    if (!m) continue;
    const raw = (m[1] as string).trim();
    if (raw.startsWith("'")) {
      let out = '';
      for (let i = 1; i < raw.length; i++) {
        const c = raw[i] as string;
        if ((c === "'" || c === '\\') && raw[i + 1] === c) {
          out += c;
          i++;
        } else if (c === "'") {
          break;
        } else {
          out += c;
        }
      }
      value = out;
    } else {
      value = raw.replace(/\s*#.*$/, '');
    }
  }
  return value;
}

/** Removes the promote block (and nothing else). */
export function withoutPromoteBlock(text: string): string {
  const begin = text.indexOf(PROMOTE_BLOCK_BEGIN);
  if (begin < 0) return text;
  const end = text.indexOf(PROMOTE_BLOCK_END, begin);
  if (end < 0) return text;
  const after = text.indexOf('\n', end);
  return text.slice(0, begin) + (after < 0 ? '' : text.slice(after + 1));
}

export function promoteBlock(settings: ReadonlyArray<readonly [string, string]> = PROMOTE_SETTINGS): string {
  return [PROMOTE_BLOCK_BEGIN, ...settings.map(([k, v]) => `${k} = ${quoteConfValue(v)}`), PROMOTE_BLOCK_END, ''].join('\n');
}

const RECOVERY_TARGET_LINE = /^\s*(restore_command|recovery_target[a-z_]*)\s*(=|\s)/i;
export const TARGET_NOTE = '# commented out by pgfleet-agent restore: the restore sets its own recovery target';

/** Comments out restore_command and recovery_target* lines, each followed by a note. */
export function commentOutRecoveryTargets(text: string): string {
  return text.split('\n').flatMap((line) => (RECOVERY_TARGET_LINE.test(line) ? [`# ${line}`, TARGET_NOTE] : [line])).join('\n');
}

export interface RecoveryWrite {
  /** Files written or removed, relative to the data directory (the engine fsyncs and chowns them). */
  written: string[];
  removed: string[];
}

export interface ApplyRecoveryOptions {
  primaryConninfo?: string | null;
  /**
   * promote to a point in time: these settings (restore_command, recovery_target*) make the
   * block instead of PROMOTE_SETTINGS, and the backup's own restore_command and
   * recovery_target* lines are commented out with a note.
   */
  targetSettings?: ReadonlyArray<readonly [string, string]> | null;
  /** Mode for created files (0600, or 0640 with group access). */
  fileMode: number;
}

/** Writes the configuration for `mode` into the (staged) data directory. */
export async function applyRecoveryMode(dataDir: string, mode: RecoveryMode, options: ApplyRecoveryOptions): Promise<RecoveryWrite> {
  const result: RecoveryWrite = { written: [], removed: [] };
  if (mode === 'none') return result;
  const autoConfFile = path.join(dataDir, AUTO_CONF);
  const original = (await readFileNoFollow(autoConfFile)) ?? '';
  let autoConf = withoutPromoteBlock(original);

  const removeSignal = async (name: string): Promise<void> => {
    const file = path.join(dataDir, name);
    try {
      await rm(file);
      result.removed.push(name);
    } catch (err) {
      if (!isErrno(err, 'ENOENT')) throw fileError('could not remove file', file, err);
    }
  };
  const writeSignal = async (name: string): Promise<void> => {
    await writeFileNoFollow(path.join(dataDir, name), '', { mode: options.fileMode });
    result.written.push(name);
  };

  if (mode === 'standby') {
    if (options.primaryConninfo) {
      checkConfigValue(options.primaryConninfo, '--primary-conninfo');
      autoConf = stripSettings(autoConf, ['primary_conninfo']);
      if (autoConf !== '' && !autoConf.endsWith('\n')) autoConf += '\n';
      autoConf += `primary_conninfo = ${quoteConfValue(options.primaryConninfo)}\n`;
    } else {
      const mainConf = (await readFileNoFollow(path.join(dataDir, 'postgresql.conf'))) ?? '';
      const conninfo = findSetting(autoConf, 'primary_conninfo') ?? findSetting(mainConf, 'primary_conninfo');
      if (!conninfo) {
        throw new InvalidOptionError('standby mode needs a primary_conninfo, and the backup has none', {
          hint: 'Pass --primary-conninfo, or take the backup with -R (--write-recovery-conf).',
        });
      }
    }
    await removeSignal('recovery.signal');
    await writeSignal('standby.signal');
  } else {
    autoConf = stripSettings(autoConf, ['primary_conninfo', 'primary_slot_name']);
    if (options.targetSettings) autoConf = commentOutRecoveryTargets(autoConf);
    if (autoConf !== '' && !autoConf.endsWith('\n')) autoConf += '\n';
    autoConf += promoteBlock(options.targetSettings ?? PROMOTE_SETTINGS);
    await removeSignal('standby.signal');
    await writeSignal('recovery.signal');
  }

  if (autoConf !== original) {
    await writeFileNoFollow(autoConfFile, autoConf, { mode: options.fileMode });
    result.written.push(AUTO_CONF);
  }
  return result;
}

/** After promotion: drops the promote block from postgresql.auto.conf (owner and mode kept). */
export async function removePromoteBlock(dataDir: string): Promise<boolean> {
  const file = path.join(dataDir, AUTO_CONF);
  const text = await readFileNoFollow(file);
  if (text === null) return false;
  const cleaned = withoutPromoteBlock(text);
  if (cleaned === text) return false;
  await writeFileNoFollow(file, cleaned);
  return true;
}
