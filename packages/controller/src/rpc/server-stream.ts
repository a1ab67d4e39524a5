/**
 * The writing side of every server-streaming call of the Controller service. It honours gRPC's
 * flow control: an event is written only while write() has not returned false; after that,
 * events wait in a queue until 'drain'. The queue stays small whatever the client does: an
 * event sent with a key (a progress report) replaces the queued one with the same key, since
 * only the newest matters; the others (a start, a problem, a result) are few. `signal` aborts
 * when the client cancels the call or the daemon shuts down, and the work it drives stops;
 * events of a cancelled call are dropped. end() writes what is queued, then ends the call;
 * fail() writes what is queued, then ends the call with the error's status.
 */
import type * as grpc from '@grpc/grpc-js';
import { toServiceError } from '@pgfleet/proto';

export class ServerStream<T> {
  readonly signal: AbortSignal;
  private readonly queue: Array<{ event: T; key: string | undefined }> = [];
  private blocked = false;
  private done = false;
  private idle: Array<() => void> = [];

  constructor(private readonly call: grpc.ServerWritableStream<unknown, T>, shutdown: AbortSignal) {
    const cancelled = new AbortController();
    call.on('cancelled', () => {
      cancelled.abort(new Error('cancelled by the client'));
      this.queue.length = 0;
      this.wake();
    });
    call.on('drain', () => {
      this.blocked = false;
      this.pump();
    });
    this.signal = AbortSignal.any([cancelled.signal, shutdown]);
  }

  /** Whether the call can still be written to. */
  private get open(): boolean {
    return !this.done && !this.call.cancelled && !this.call.writableEnded;
  }

  /** Writes `event` now, or queues it until gRPC can take more (see the module comment for `key`). */
  send(event: T, key?: string): void {
    if (!this.open) return;
    if (key !== undefined) {
      const queued = this.queue.findIndex((q) => q.key === key);
      if (queued >= 0) {
        this.queue[queued] = { event, key };
        return;
      }
    }
    this.queue.push({ event, key });
    this.pump();
  }

  private pump(): void {
    while (!this.blocked && this.queue.length > 0 && this.open) {
      const next = this.queue.shift() as { event: T };
      if (!this.call.write(next.event)) this.blocked = true;
    }
    if (this.queue.length === 0 || !this.open) this.wake();
  }

  private wake(): void {
    const waiters = this.idle;
    this.idle = [];
    for (const w of waiters) w();
  }

  private async flush(): Promise<void> {
    if (this.queue.length > 0 && this.open) await new Promise<void>((resolve) => this.idle.push(resolve));
  }

  /** Writes what is queued (waiting for gRPC as needed), then ends the call with OK. */
  async end(): Promise<void> {
    await this.flush();
    if (this.open) {
      this.done = true;
      this.call.end();
    }
  }

  /** Writes what is queued, then ends the call with `err`'s status (unless the client is gone). */
  async fail(err: unknown): Promise<void> {
    await this.flush();
    if (!this.open) return;
    this.done = true;
    this.call.emit('error', toServiceError(err));
  }
}
