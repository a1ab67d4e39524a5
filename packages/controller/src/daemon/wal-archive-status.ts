/**
 * The continuous WAL archive of each cluster as checks, metrics and the status page need it:
 * how far the archive lags behind the server, what the slot holds back, gaps, and the window
 * a restore can reach. The archive itself lives elsewhere; this is the one interface those
 * readers use, so that they say "not configured" (never a made-up figure) while a cluster has
 * no archive.
 */

export interface WalArchiveState {
  /** Bytes the server has written that the archive does not hold yet. */
  lagBytes: number;
  /** Seconds since the newest archived position was current on the server. */
  lagSeconds: number;
  /** WAL the cluster's slot keeps on the server. */
  slotRetainedBytes: number;
  slotName: string;
  slotPresent: boolean;
  slotActive: boolean;
  /** Why the archive does not stream (its last error); null while it streams. */
  archiveProblem: string | null;
  /** Missing stretches of WAL in the archive. */
  gaps: number;
  /**
   * The newest usable backup's recoverable window ends at a missing segment: point-in-time
   * recovery to now is impossible until a backup after it exists. `removedByServer`: the
   * server removed it before the archive received it. Null otherwise.
   */
  newestBackupCut: { backupId: string; firstMissing: string; removedByServer: boolean } | null;
  /** The earliest and latest moments a restore can reach (null: none). */
  restoreFrom: Date | null;
  restoreTo: Date | null;
}

export type WalArchiveStatusResult =
  | { available: true; state: WalArchiveState }
  | { available: false; reason: string };

export interface WalArchiveStatusProvider {
  stateOf(cluster: string): Promise<WalArchiveStatusResult>;
}

/** A fleet without a continuous archive. */
export const NO_WAL_ARCHIVE: WalArchiveStatusProvider = {
  stateOf: async () => ({ available: false, reason: 'not configured' }),
};
