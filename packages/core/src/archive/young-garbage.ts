/**
 * Timely release of per-block output buffers. A compressor that gets a fresh output buffer
 * from a native library for every block (up to 1 MiB per block) makes garbage that V8 only
 * frees at its next collection, and V8 starts one for external memory only after some 64 MB of
 * it has piled up: a 2.2 GB lz4 backup, when each block came back from lz4-napi in a buffer of
 * its own, peaked at 166 MB RSS. Asking for a minor (young-generation) collection every few
 * blocks frees them while they are still young; measured: 98 MB peak with one every 8 MiB,
 * 114 MB every 16 MiB, and no more CPU time than without (a scavenge of the small young
 * generation is well under a millisecond).
 *
 * V8 exposes `gc` only with --expose-gc, a process-wide setting: a library must not change it
 * behind its host's back, so a program opts in, once, at its start
 * (enableYoungGarbageCollection: the flag is turned on and the function taken from a fresh
 * context, so nothing changes for the global object). Without the opt-in, or where it is not
 * possible, the collector does nothing.
 */

import v8 from 'node:v8';
import vm from 'node:vm';

type GcFunction = (options?: { type?: 'minor' | 'major' }) => void;

let gc: GcFunction | null = null;

/**
 * For programs (pgfleet-basebackup, the agent, the controller...), at their start: turns on
 * V8's --expose-gc for the process so that YoungGarbageCollectors can ask for minor
 * collections. Returns whether they now can.
 */
export function enableYoungGarbageCollection(): boolean {
  if (gc !== null) return true;
  try {
    v8.setFlagsFromString('--expose-gc');
    const fn = vm.runInNewContext('gc') as unknown;
    gc = typeof fn === 'function' ? (fn as GcFunction) : null;
  } catch {
    gc = null;
  }
  return gc !== null;
}

/** Counts bytes of garbage made; every `everyBytes` asks V8 for a minor collection. */
export class YoungGarbageCollector {
  private made = 0;

  constructor(private readonly everyBytes = 8 * 1024 * 1024) {}

  /** Records `bytes` of newly made garbage (or of work that made it). */
  add(bytes: number): void {
    this.made += bytes;
    if (this.made < this.everyBytes) return;
    this.made = 0;
    gc?.({ type: 'minor' });
  }
}
