/**
 * A streamer that hands every chunk to several streamers, one after the other (each awaited,
 * so the slowest sets the pace), e.g. writing an archive to a file while a verifier reads it.
 * finalize() finalizes them in order; dispose() disposes all of them.
 */

import type { ChunkKind, Streamer, TarMember } from './streamer.js';

export class TeeStreamer implements Streamer {
  private disposed = false;

  constructor(private readonly targets: readonly Streamer[]) {}

  async content(member: TarMember | null, data: Buffer, kind: ChunkKind): Promise<void> {
    for (const target of this.targets) await target.content(member, data, kind);
  }

  async finalize(): Promise<void> {
    for (const target of this.targets) await target.finalize();
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    for (const target of this.targets) await target.dispose().catch(() => {});
  }
}
