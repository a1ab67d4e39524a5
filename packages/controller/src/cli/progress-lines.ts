/**
 * Which progress lines `pgfleet backup` prints, per cluster: nothing at the start (a backup
 * that ends within the first interval shows only its start and result), then at most one
 * line per interval; the verification phase is announced once when it begins, then its
 * progress follows the same interval. Pure, so that the rule can be tested without a daemon.
 */
import { formatProgress } from './output.js';

export interface ProgressSample {
  doneBytes: number;
  totalBytes: number;
  rateBytesPerSecond: number;
  etaSeconds: number;
}

export class ProgressLines {
  private readonly lastShown = new Map<string, number>();

  constructor(private readonly intervalMs: number) {}

  /** The cluster's backup has started at `now`. */
  started(cluster: string, now: number): void {
    this.lastShown.set(`${cluster}/transfer`, now);
  }

  /** The line to print for this sample, or null. */
  line(cluster: string, phase: 'transfer' | 'verify', sample: ProgressSample, now: number): string | null {
    const key = `${cluster}/${phase}`;
    const last = this.lastShown.get(key);
    if (phase === 'verify' && last === undefined) {
      this.lastShown.set(key, now);
      return 'verifying against its backup_manifest';
    }
    if (last !== undefined && now - last < this.intervalMs) return null;
    this.lastShown.set(key, now);
    return `${phase === 'verify' ? 'verifying: ' : ''}${formatProgress(sample)}`;
  }
}
