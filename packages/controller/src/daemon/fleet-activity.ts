/**
 * What the daemon is doing and what went wrong since it started, for metrics and status:
 * operations running by kind ("backup", "verify", "restore", "expire") and failed backups per
 * cluster. The repository is the durable record (attempts.ts); these counters are the
 * daemon's own, as Prometheus counters are (they start at zero with the process).
 */
export type OperationKind = 'backup' | 'verify' | 'restore' | 'expire';

export const OPERATION_KINDS: readonly OperationKind[] = ['backup', 'verify', 'restore', 'expire'];

export class FleetActivity {
  private readonly running = new Map<OperationKind, number>();
  private readonly failures = new Map<string, number>();

  /** Counts an operation as running until the returned function is called (once). */
  begin(kind: OperationKind): () => void {
    this.running.set(kind, (this.running.get(kind) ?? 0) + 1);
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      this.running.set(kind, Math.max(0, (this.running.get(kind) ?? 1) - 1));
    };
  }

  /** Runs `work` counted as a running operation of `kind`. */
  async during<T>(kind: OperationKind, work: () => Promise<T>): Promise<T> {
    const end = this.begin(kind);
    try {
      return await work();
    } finally {
      end();
    }
  }

  runningCount(kind: OperationKind): number {
    return this.running.get(kind) ?? 0;
  }

  backupFailed(cluster: string): void {
    this.failures.set(cluster, (this.failures.get(cluster) ?? 0) + 1);
  }

  /** Failed backups of `cluster` since the daemon started. */
  failureCount(cluster: string): number {
    return this.failures.get(cluster) ?? 0;
  }
}
