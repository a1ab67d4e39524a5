/**
 * Heap growth for processes that stream archives through gRPC (the agent, the controller).
 *
 * V8 counts external memory (the backing stores of Buffers) allocated since its last full
 * collection against the old generation's limit, and starts the next full (mark-compact)
 * collection once what is left of that limit is smaller than the young generation. A daemon's
 * heap is small (about 20 MB live) and V8 sets the limit at about twice that, so a stream of
 * 256 KiB messages, decompressed blocks and tar chunks, a few of which live long enough to be
 * promoted, reached it after some 8 MB: measured in a restore through an agent (323 MB of data,
 * lz4), the agent ran 50 to 140 full collections, each marking the whole heap on the main
 * thread and on V8's helper threads, and spent a quarter to a third of its CPU time in them.
 *
 * Letting the heap grow by a fixed factor after each full collection (V8's
 * --heap-growing-percent, read at every collection, so it can be set once the process runs)
 * moves that limit to a multiple of the live heap. Measured on the same restore, two runs
 * each, alternating: growing by 100% still left about 60 full collections in the agent; by
 * 200%, 8 to 10, the agent's CPU 1.6-2.3 s instead of 2.3-3.0 s, its peak RSS 15-20 MB higher.
 * Memory stays bounded by the live heap times the factor, not by the size of what is streamed.
 *
 * A program opts in once at its start; an operator's own --heap-growing-percent (one of node's
 * arguments: NODE_OPTIONS does not take it) is left as it is.
 */

import v8 from 'node:v8';

/** The heap may grow to this many percent above its live size after a full collection. */
export const STREAMING_HEAP_GROWING_PERCENT = 200;

/**
 * Sets V8's heap growing factor for a streaming process (see the module comment), unless the
 * process was started with one. Returns whether it was set here.
 */
export function growHeapForStreaming(percent = STREAMING_HEAP_GROWING_PERCENT): boolean {
  if (process.execArgv.some((a) => /^--heap[-_]growing[-_]percent\b/.test(a))) return false;
  try {
    v8.setFlagsFromString(`--heap-growing-percent=${percent}`);
    return true;
  } catch {
    return false;
  }
}
