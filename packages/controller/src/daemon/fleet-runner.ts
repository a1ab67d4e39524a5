/**
 * Runs one job per cluster with at most `parallel` at a time, in the given order. A job's
 * failure is reported for that cluster and never stops the others; a cluster already busy
 * (another call is backing it up) fails at once with BusyError. The returned promise settles
 * when every job has ended; `finished` is the last event.
 */
import { BusyError, type PgFleetError } from '@pgfleet/core';
import { asPgFleetError } from '@pgfleet/proto';

export type FleetEvent<E> =
  | { kind: 'queued'; cluster: string }
  | { kind: 'job'; cluster: string; event: E }
  | { kind: 'failed'; cluster: string; error: PgFleetError }
  | { kind: 'done'; cluster: string }
  | { kind: 'finished'; completed: number; failed: number };

/** Clusters with a job in flight, shared by every call of one daemon. */
export class ClusterLocks {
  private readonly held = new Set<string>();
  tryLock(cluster: string): boolean {
    if (this.held.has(cluster)) return false;
    this.held.add(cluster);
    return true;
  }
  unlock(cluster: string): void {
    this.held.delete(cluster);
  }
  isLocked(cluster: string): boolean {
    return this.held.has(cluster);
  }
}

export interface FleetRunOptions<E> {
  clusters: string[];
  parallel: number;
  locks: ClusterLocks;
  job: (cluster: string, emit: (event: E) => void) => Promise<void>;
  emit: (event: FleetEvent<E>) => void;
}

export async function runFleet<E>(options: FleetRunOptions<E>): Promise<{ completed: number; failed: number }> {
  const { emit } = options;
  const queue = [...options.clusters];
  for (const cluster of queue) emit({ kind: 'queued', cluster });
  let completed = 0;
  let failed = 0;
  const worker = async (): Promise<void> => {
    for (let cluster = queue.shift(); cluster !== undefined; cluster = queue.shift()) {
      const name = cluster;
      if (!options.locks.tryLock(name)) {
        failed += 1;
        emit({
          kind: 'failed', cluster: name,
          error: new BusyError(`a backup of cluster "${name}" is already running`, { hint: 'Wait for it to finish.' }),
        });
        continue;
      }
      try {
        await options.job(name, (event) => emit({ kind: 'job', cluster: name, event }));
        completed += 1;
        emit({ kind: 'done', cluster: name });
      } catch (err) {
        failed += 1;
        emit({ kind: 'failed', cluster: name, error: asPgFleetError(err) });
      } finally {
        options.locks.unlock(name);
      }
    }
  };
  const workers = Array.from({ length: Math.max(1, Math.min(options.parallel, queue.length)) }, () => worker());
  await Promise.all(workers);
  emit({ kind: 'finished', completed, failed });
  return { completed, failed };
}
