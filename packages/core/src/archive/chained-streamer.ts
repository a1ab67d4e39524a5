/**
 * A base class for a streamer that feeds another one. It supplies the chain plumbing the
 * contract asks for: finalize() runs the subclass's own end-of-stream work, then finalizes the
 * next streamer; dispose() releases the subclass's resources, then disposes the next streamer,
 * at most once and without throwing. Subclasses implement content() and may override
 * finalizeSelf() and disposeSelf().
 */

import type { ChunkKind, Streamer, TarMember } from './streamer.js';

/** Shared zero-length buffer for empty header/trailer chunks; never written to. */
export const EMPTY_BUFFER: Buffer = Buffer.alloc(0);

export abstract class ChainedStreamer implements Streamer {
  private finalized = false;
  private disposed = false;

  constructor(protected readonly next: Streamer) {}

  abstract content(member: TarMember | null, data: Buffer, kind: ChunkKind): Promise<void>;

  async finalize(): Promise<void> {
    if (this.finalized) return;
    this.finalized = true;
    await this.finalizeSelf();
    await this.next.finalize();
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    try {
      await this.disposeSelf();
    } catch {
      // dispose() never throws: it runs on error paths where the first error is the one to report.
    }
    try {
      await this.next.dispose();
    } catch {
      // Same reason as above.
    }
  }

  /** End-of-stream work of this stage (flush, completeness checks), before the next finalizes. */
  protected async finalizeSelf(): Promise<void> {}

  /** Releases this stage's own resources; may throw (errors are swallowed by dispose). */
  protected async disposeSelf(): Promise<void> {}
}
