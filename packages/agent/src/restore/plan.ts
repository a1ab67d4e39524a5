/**
 * The restore's plan, decided without touching the file system: the options checked, every
 * directory the restore will write named by its kind, the allowedRoots policy and the
 * no-overlap rule applied and, once the base archive has told the tablespaces' original
 * locations, one target per tablespace. Paths come in canonical (prepare.ts resolves them);
 * everything here is a pure function of its arguments, so it is built once and tested alone.
 */

import path from 'node:path';
import { InvalidOptionError, checkConfigValue, recoveryTargetSettings } from '@pgfleet/core';
import { checkAllowed, type NamedTarget } from '../policy/allowed-roots.js';
import { RECOVERY_MODES, type RestoreOptions, type TablespaceMapping } from './options.js';
import type { ArchiveInfo } from './source.js';
import type { PlannedTablespace } from './tablespaces.js';
import { checkNoOverlap } from './validate.js';

/** A directory the restore writes, by what it is for. */
export type RestoreTarget =
  | { kind: 'data-directory'; path: string }
  | { kind: 'wal-directory'; path: string }
  /** A -T NEWDIR, before the backup has said which tablespace it is for. */
  | { kind: 'tablespace-mapping'; path: string }
  | { kind: 'tablespace'; path: string; oid: number };

/** How messages name a target. */
export function targetName(target: RestoreTarget): string {
  switch (target.kind) {
    case 'data-directory':
      return 'data directory';
    case 'wal-directory':
      return 'WAL directory';
    case 'tablespace-mapping':
      return 'tablespace directory';
    case 'tablespace':
      return `directory of tablespace ${target.oid}`;
  }
}

export function namedTarget(target: RestoreTarget): NamedTarget {
  return { path: target.path, what: targetName(target) };
}

/** Where one tablespace of the backup goes. */
export type TablespaceTarget =
  /** A tablespace with a location outside the data directory: restored to `location`. */
  | { kind: 'external'; oid: number; originalLocation: string; location: string; mapped: boolean }
  /** An in-place tablespace (15+: a directory in pg_tblspc): no link, no map entry. */
  | { kind: 'in-place'; oid: number; originalLocation: string; location: string };

export type ExternalTablespace = Extract<TablespaceTarget, { kind: 'external' }>;

export function externalTablespaces(tablespaces: readonly TablespaceTarget[]): ExternalTablespace[] {
  return tablespaces.filter((t): t is ExternalTablespace => t.kind === 'external');
}

/** The checks on the options themselves, before any path is looked at. */
export function checkRestoreOptions(o: RestoreOptions): void {
  if (!(RECOVERY_MODES as readonly string[]).includes(o.mode)) {
    throw new InvalidOptionError('no recovery mode given', { hint: 'Choose one with --mode standby, --mode promote or --mode none.' });
  }
  if (o.primaryConninfo && o.mode !== 'standby') {
    throw new InvalidOptionError('--primary-conninfo is only allowed with --mode standby');
  }
  if (o.primaryConninfo) checkConfigValue(o.primaryConninfo, '--primary-conninfo');
  const pitr = o.pointInTime ?? null;
  if (pitr && o.mode !== 'promote') {
    throw new InvalidOptionError(`recovery targets are not allowed with --mode ${o.mode}`, { hint: 'Restore to a point in time with --mode promote.' });
  }
  if (pitr) recoveryTargetSettings(pitr.target, pitr.restoreCommand);
  if (pitr && o.start && pitr.target.action === 'shutdown') {
    throw new InvalidOptionError('--target-action shutdown cannot be combined with --start', {
      hint: 'The server would stop itself at the target; restore without --start, or use --target-action pause.',
    });
  }
  if (!o.dataDir) throw new InvalidOptionError('no target data directory given', { hint: 'Name it with -D.' });
  for (const [what, p] of [['data directory', o.dataDir], ['WAL directory', o.walDir]] as const) {
    if (p && !path.isAbsolute(p)) throw new InvalidOptionError(`${what} "${p}" is not an absolute path`);
  }
  if (o.port !== undefined && o.port !== null && !(Number.isInteger(o.port) && o.port > 0 && o.port < 65536)) {
    throw new InvalidOptionError(`invalid port "${String(o.port)}"`);
  }
}

/** The options' paths, canonical. */
export interface ResolvedPaths {
  dataDir: string;
  walDir: string | null;
  /** Each -T mapping with its NEWDIR canonical. */
  mappings: readonly TablespaceMapping[];
  /** allowedRoots, canonical; null: anywhere. */
  roots: readonly string[] | null;
  /** The backup's own directory, when it is one on this host. */
  backup: string | null;
}

/**
 * The targets the options name (data directory, --waldir, each -T NEWDIR): within allowedRoots,
 * none inside another or the same as another, none overlapping the backup.
 */
export function planTargets(paths: ResolvedPaths): RestoreTarget[] {
  const targets: RestoreTarget[] = [{ kind: 'data-directory', path: paths.dataDir }];
  if (paths.walDir) targets.push({ kind: 'wal-directory', path: paths.walDir });
  for (const m of paths.mappings) {
    targets.push({ kind: 'tablespace-mapping', path: m.newDir });
    if (paths.mappings.filter((x) => x.oldDir === m.oldDir).length > 1) {
      throw new InvalidOptionError(`tablespace "${m.oldDir}" is mapped more than once`);
    }
  }
  for (const t of targets) checkAllowed(namedTarget(t), paths.roots);
  checkNoOverlap(targets.map(namedTarget));
  const from = paths.backup;
  if (from !== null) {
    for (const t of targets) {
      if (t.path === from || t.path.startsWith(`${from}/`) || from.startsWith(`${t.path}/`)) {
        throw new InvalidOptionError(`${targetName(t)} "${t.path}" overlaps the backup "${from}"`);
      }
    }
  }
  return targets;
}

/** What the backup says about its tablespaces' original locations. */
export interface LocationSources {
  /** tablespace_map's oid -> location (tar backups). */
  map: ReadonlyMap<number, string> | null;
  /** Known to the source before reading (plain backups: the pg_tblspc links). */
  source: ReadonlyMap<number, string> | null;
  /** pg_tblspc/<oid> links found in the base archive. */
  links: ReadonlyMap<number, string>;
}

/** Original locations: tablespace_map, else the source's, else the archive's absolute links. */
export function originalLocations(from: LocationSources): Map<number, string> {
  if (from.map !== null) return new Map(from.map);
  if (from.source !== null) return new Map(from.source);
  return new Map([...from.links].filter(([, target]) => path.isAbsolute(target)));
}

/**
 * One target per tablespace: the planned ones (tablespaces.ts planTablespaces, locations made
 * canonical) and, for tablespace archives no location is known for, in-place tablespaces
 * restored inside the data directory (spclocation "pg_tblspc/<oid>"), each with a warning.
 */
export function tablespaceTargets(
  planned: readonly PlannedTablespace[],
  archives: readonly ArchiveInfo[],
  dataDir: string,
): { tablespaces: TablespaceTarget[]; warnings: string[] } {
  const tablespaces: TablespaceTarget[] = planned.map((p) => ({ kind: 'external', ...p }));
  const warnings: string[] = [];
  for (const a of archives) {
    if (a.kind !== 'tablespace' || a.oid === null || planned.some((p) => p.oid === a.oid)) continue;
    tablespaces.push({ kind: 'in-place', oid: a.oid, originalLocation: `pg_tblspc/${a.oid}`, location: path.join(dataDir, 'pg_tblspc', String(a.oid)) });
    warnings.push(`tablespace ${a.oid} has no location in the backup; it is restored in place, as "pg_tblspc/${a.oid}"`);
  }
  return { tablespaces, warnings };
}

/**
 * The tablespace targets join the others: within allowedRoots, and no overlap with each other
 * or with the data and WAL directories (the -T NEWDIRs they replace are left out).
 */
export function checkTablespaceTargets(
  tablespaces: readonly TablespaceTarget[], targets: readonly RestoreTarget[], roots: readonly string[] | null,
): RestoreTarget[] {
  const external: RestoreTarget[] = externalTablespaces(tablespaces).map((t) => ({ kind: 'tablespace', path: t.location, oid: t.oid }));
  const all = [...targets.filter((t) => t.kind !== 'tablespace-mapping'), ...external];
  for (const t of external) checkAllowed(namedTarget(t), roots);
  checkNoOverlap(all.map(namedTarget));
  return external;
}
