/**
 * Backup ids: the UTC start time, "20250102T030405Z", so that ids sort in time order and a
 * directory listing reads like a history. Two backups of one cluster started in the same
 * second get "-2", "-3", ... (they still sort after the first one).
 */

const ID_PATTERN = /^\d{8}T\d{6}Z(-\d+)?$/;

/** The id for a backup started at `at`, not in `taken` (ids of this cluster in use). */
export function newBackupId(at: Date, taken: ReadonlySet<string>): string {
  const base = at.toISOString().replace(/\.\d{3}Z$/, 'Z').replace(/[-:]/g, '');
  if (!taken.has(base)) return base;
  for (let n = 2; ; n += 1) {
    const id = `${base}-${n}`;
    if (!taken.has(id)) return id;
  }
}

export function isBackupId(name: string): boolean {
  return ID_PATTERN.test(name);
}

/** Orders ids oldest first: by time, then by the collision counter. */
export function compareBackupIds(a: string, b: string): number {
  const [ta, na] = splitId(a);
  const [tb, nb] = splitId(b);
  if (ta !== tb) return ta < tb ? -1 : 1;
  return na - nb;
}

function splitId(id: string): [string, number] {
  const dash = id.indexOf('-');
  return dash < 0 ? [id, 1] : [id.slice(0, dash), Number(id.slice(dash + 1))];
}
