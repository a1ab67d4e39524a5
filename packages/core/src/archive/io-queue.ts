/**
 * IoQueue: runs asynchronous file operations one at a time, in the order they were added, while
 * the caller goes on with its own work. Extracting an archive this way costs one threadpool
 * round trip per operation without the caller ever waiting for one, where awaiting each
 * open/write/close in turn left the main thread idle most of the time.
 *
 * - add() returns as soon as the job is queued; it waits only while `maxQueued` jobs are
 *   already waiting (backpressure).
 * - The first job that throws makes the queue failed: later jobs are skipped (their `always`
 *   callbacks still run), and add(), check() and drain() throw that first error.
 * - drain() waits for every queued job; settle() does too but never throws (for dispose paths).
 * - close() (dispose paths): jobs not started yet are skipped, and so is every job added later,
 *   even by a caller that was already inside add() (their `always` callbacks still run); it
 *   resolves once the job running now has finished. Nothing touches the file system after it.
 */

export class IoQueue {
  private tail: Promise<void> = Promise.resolve();
  private queued = 0;
  private failure: { error: unknown } | null = null;
  private readonly waiters: Array<() => void> = [];
  private closed = false;

  constructor(private readonly maxQueued = 256) {}

  /** Throws the first failure, if a job failed. */
  check(): void {
    if (this.failure !== null) throw this.failure.error;
  }

  /** Jobs queued or running. */
  get pending(): number {
    return this.queued;
  }

  /** Whether a job failed. */
  get failed(): boolean {
    return this.failure !== null;
  }

  /**
   * Queues `job`. `always` runs after it (or instead of it when the queue has failed), so
   * resources a job would release are released either way.
   */
  async add(job: () => Promise<void>, always?: () => void): Promise<void> {
    this.check();
    while (this.queued >= this.maxQueued) {
      await new Promise<void>((resolve) => this.waiters.push(resolve));
      this.check();
    }
    this.queued++;
    this.tail = this.tail.then(async () => {
      try {
        if (this.failure === null && !this.closed) await job();
      } catch (error) {
        this.failure ??= { error };
      } finally {
        this.queued--;
        always?.();
        // Wake every waiter: a failure must reach all of them, and room for one is room for
        // whoever comes first.
        for (const wake of this.waiters.splice(0)) wake();
      }
    });
  }

  /** A promise that resolves when the job running now (or the next one) has finished. */
  progress(): Promise<void> {
    if (this.queued === 0) return Promise.resolve();
    return new Promise<void>((resolve) => this.waiters.push(resolve));
  }

  /** Waits for every queued job; throws the first failure. */
  async drain(): Promise<void> {
    await this.tail;
    this.check();
  }

  /** Waits for every queued job; never throws. */
  settle(): Promise<void> {
    return this.tail;
  }

  /** Skips every job not started yet, now and later; resolves when the running one is done. */
  async close(): Promise<void> {
    this.closed = true;
    for (const wake of this.waiters.splice(0)) wake();
    await this.tail;
  }
}
