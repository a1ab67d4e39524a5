/**
 * The restore's first steps on the file system, before any data is written: the options'
 * paths made canonical and planned (plan.ts), the recovery mode announced (a 'plan' event),
 * every target checked to be absent or empty and reachable by the server's OS user, leftovers
 * of killed restores removed, and the staging directories made. The tablespaces get the same
 * once the base archive has told their original locations (prepareTablespaces).
 */

import { DirectoryNotEmptyError, parseManifest } from '@pgfleet/core';
import { resolveOwner } from '../instance/owner.js';
import { canonicalPath } from '../policy/allowed-roots.js';
import type { RestoreContext } from './context.js';
import type { BaseArchiveFacts } from './inspect.js';
import { describeMode } from './options.js';
import {
  checkRestoreOptions, checkTablespaceTargets, externalTablespaces, namedTarget, originalLocations, planTargets, tablespaceTargets,
  type RestoreTarget,
} from './plan.js';
import { removeLeftoverStaging } from './staging.js';
import { checkLocalArchive, describePointInTime } from './targets.js';
import { parseTablespaceMap, planTablespaces } from './tablespaces.js';
import { checkReachable, checkTargetUsable } from './validate.js';

/** Checks and plans the options' targets and makes the data (and WAL) staging directories. */
export async function prepareTargets(ctx: RestoreContext): Promise<void> {
  const o = ctx.options;
  checkRestoreOptions(o);
  ctx.owner = resolveOwner(o.owner);
  ctx.dataDir = await canonicalPath(o.dataDir);
  ctx.walDir = o.walDir ? await canonicalPath(o.walDir) : null;
  ctx.roots = o.allowedRoots ? await Promise.all(o.allowedRoots.map(canonicalPath)) : null;
  const mappings = [];
  for (const m of o.tablespaceMappings ?? []) mappings.push({ oldDir: m.oldDir, newDir: await canonicalPath(m.newDir) });
  const backup = ctx.source.layout === 'plain' || ctx.source.location.startsWith('/') ? await canonicalPath(ctx.source.location) : null;
  ctx.targets = planTargets({ dataDir: ctx.dataDir, walDir: ctx.walDir, mappings, roots: ctx.roots, backup });

  const pitr = o.pointInTime ?? null;
  ctx.targetTimeline = pitr?.checkedTimeline ?? null;
  let pointInTime = pitr ? describePointInTime(pitr, ctx.targetTimeline, null) : undefined;
  if (pitr?.walArchive) {
    // Before anything is written: the archive must hold every segment recovery will read.
    ctx.manifestBytes = await ctx.source.readManifest();
    const checked = await checkLocalArchive(ctx.source, ctx.manifestBytes === null ? null : parseManifest(ctx.manifestBytes),
      { ...pitr, walArchive: pitr.walArchive });
    ctx.targetTimeline = checked.plan.targetTimeline;
    pointInTime = checked.statement;
  }
  ctx.emit({
    type: 'plan', mode: o.mode, statement: describeMode(o.mode, ctx.dataDir, pitr?.target ?? null), dataDir: ctx.dataDir,
    ...(pointInTime ? { pointInTime } : {}),
  });

  for (const t of ctx.targets) await checkTargetUsable(t.path, namedTarget(t).what);
  if (ctx.owner.chown) for (const t of ctx.targets) await checkReachable(namedTarget(t), ctx.owner);
}

/** Removes what killed restores left next to the options' targets and makes the data and WAL staging directories. */
export async function makeStagings(ctx: RestoreContext): Promise<void> {
  await removeLeftovers(ctx, ctx.targets);
  ctx.dataStaging = await ctx.makeStaging(ctx.dataDir);
  if (ctx.walDir) ctx.walStaging = await ctx.makeStaging(ctx.walDir);
}

async function removeLeftovers(ctx: RestoreContext, targets: readonly RestoreTarget[]): Promise<void> {
  for (const t of targets) {
    for (const removed of await removeLeftoverStaging(t.path)) ctx.warn(`removed "${removed}" left behind by an interrupted restore`);
  }
}

/**
 * Plans the tablespaces once their original locations are known (tablespace_map, else the
 * source's, else the archive's links): -T mappings applied, targets checked like the others
 * (an original location only when it is absent or empty: it may be the source's), staging made.
 */
export async function prepareTablespaces(ctx: RestoreContext, facts: BaseArchiveFacts): Promise<void> {
  const mapText = facts.files.get('tablespace_map');
  const originals = originalLocations({
    map: mapText === undefined ? null : parseTablespaceMap(mapText),
    source: ctx.source.tablespaceLocations,
    links: facts.tablespaceLinks,
  });
  const planned = planTablespaces(originals, ctx.options.tablespaceMappings ?? []);
  for (const p of planned) p.location = await canonicalPath(p.location);
  const { tablespaces, warnings } = tablespaceTargets(planned, ctx.source.archives, ctx.dataDir);
  for (const w of warnings) ctx.warn(w);
  const targets = checkTablespaceTargets(tablespaces, ctx.targets, ctx.roots);
  const external = externalTablespaces(tablespaces);
  for (const t of external) {
    if (t.mapped) {
      await checkTargetUsable(t.location, `directory of tablespace ${t.oid}`);
      continue;
    }
    try {
      await checkTargetUsable(t.location, `original location of tablespace ${t.oid}`);
    } catch (err) {
      if (!(err instanceof DirectoryNotEmptyError)) throw err;
      throw new DirectoryNotEmptyError(err.message, {
        hint: `It may belong to the instance the backup was taken from; restore the tablespace elsewhere with -T "${t.originalLocation}=NEWDIR".`,
      });
    }
  }
  if (ctx.owner.chown) for (const t of targets) await checkReachable(namedTarget(t), ctx.owner);
  ctx.tablespaces = tablespaces;
  for (const t of external) {
    await removeLeftovers(ctx, [{ kind: 'tablespace', path: t.location, oid: t.oid }]);
    ctx.tablespaceStagings.set(t.oid, await ctx.makeStaging(t.location));
  }
}
