/**
 * Ages and durations as people read them, in the daemon's reports and in `pgfleet status` and
 * `show`: a module of its own so that those commands do not load fleet-status.ts, which reads
 * the repository (and loads its modules).
 */

/** "3h 12m" for 11520 s: ages and durations as people read them. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '-';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
}
