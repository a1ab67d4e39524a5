/**
 * Tablespace relocation. A backup names each user tablespace by OID and records where it lived:
 * in tablespace_map ("<oid> <path>" lines, "\" escaping "\", "\n" and "\r"; tar format) or as
 * the pg_tblspc/<oid> symbolic link (plain format). Each tablespace is restored to the
 * directory its -T OLDDIR=NEWDIR mapping names, or, without a mapping, to its original
 * location when that is absent or empty.
 *
 * The relocation must survive startup: with a backup_label present PostgreSQL recreates every
 * pg_tblspc/<oid> link from tablespace_map and renames the map tablespace_map.old, so a
 * restore that only changes the links is silently undone (SEED.md). The engine therefore
 * writes the NEW locations into tablespace_map AND points the links at them.
 */

import { InvalidOptionError } from '@pgfleet/core';
import type { TablespaceMapping } from './options.js';

/** Parsed and written by core (tablespace-map.ts), one implementation for everyone. */
export { formatTablespaceMap, parseTablespaceMap } from '@pgfleet/core';

export interface PlannedTablespace {
  oid: number;
  /** Where the backup says it was. */
  originalLocation: string;
  /** Where it is restored. */
  location: string;
  /** A -T mapping chose the location (else it is the original, which must be absent or empty). */
  mapped: boolean;
}

/**
 * One plan entry per tablespace. Every mapping must match exactly one tablespace's original
 * location (a mapping matching none is almost certainly a typo and would leave that tablespace
 * at its original location, possibly another instance's).
 */
export function planTablespaces(
  originals: ReadonlyMap<number, string>,
  mappings: readonly TablespaceMapping[],
): PlannedTablespace[] {
  const used = new Set<TablespaceMapping>();
  const plan: PlannedTablespace[] = [];
  for (const [oid, originalLocation] of [...originals.entries()].sort((a, b) => a[0] - b[0])) {
    const mapping = mappings.find((m) => m.oldDir === originalLocation);
    if (mapping) used.add(mapping);
    plan.push({ oid, originalLocation, location: mapping ? mapping.newDir : originalLocation, mapped: mapping !== undefined });
  }
  for (const mapping of mappings) {
    if (used.has(mapping)) continue;
    const known = [...originals.values()];
    throw new InvalidOptionError(`tablespace mapping "${mapping.oldDir}" matches no tablespace in the backup`, {
      hint: known.length === 0
        ? 'The backup has no user tablespaces; leave out -T.'
        : `OLDDIR must be a tablespace location as the backup records it: ${known.map((k) => `"${k}"`).join(', ')}.`,
    });
  }
  return plan;
}
