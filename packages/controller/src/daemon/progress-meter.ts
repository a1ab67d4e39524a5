/**
 * Rate and ETA for progress displays: bytes per second over a sliding window (the last few
 * seconds, so a stall shows as a falling rate rather than being averaged away), and the time
 * left at that rate when the total is known. Pure: time is passed in.
 */

export interface ProgressReading {
  doneBytes: number;
  totalBytes: number;
  rateBytesPerSecond: number;
  /** Seconds left; -1 when unknown (no total, no rate yet, or the estimate was passed). */
  etaSeconds: number;
}

export class ProgressMeter {
  private readonly samples: Array<{ at: number; bytes: number }> = [];

  constructor(private readonly windowMs = 5_000) {}

  update(doneBytes: number, totalBytes: number, nowMs: number): ProgressReading {
    this.samples.push({ at: nowMs, bytes: doneBytes });
    while (this.samples.length > 2 && (this.samples[1] as { at: number }).at <= nowMs - this.windowMs) this.samples.shift();
    const first = this.samples[0] as { at: number; bytes: number };
    const elapsed = (nowMs - first.at) / 1000;
    const rate = elapsed > 0 ? Math.max(0, (doneBytes - first.bytes) / elapsed) : 0;
    const left = totalBytes - doneBytes;
    const eta = totalBytes > 0 && rate > 0 && left >= 0 ? left / rate : -1;
    return { doneBytes, totalBytes, rateBytesPerSecond: rate, etaSeconds: eta };
  }
}
