/**
 * Buffers for O_DIRECT writes, which Linux accepts only from memory aligned to the device's
 * logical block size (512 or 4096 bytes; 4096 satisfies both), at aligned file offsets, in
 * aligned lengths.
 */

import { nativeAddon } from './native-addon.js';

export const DIRECT_IO_ALIGNMENT = 4096;

/** `n` rounded up to a multiple of DIRECT_IO_ALIGNMENT. */
export function alignUp(n: number): number {
  return Math.ceil(n / DIRECT_IO_ALIGNMENT) * DIRECT_IO_ALIGNMENT;
}

/** A Buffer of `size` bytes whose first byte lies at a multiple of DIRECT_IO_ALIGNMENT. */
export function allocAligned(size: number): Buffer {
  // Not from Node's shared pool: this memory is ours alone, and a backing store never moves.
  const raw = Buffer.allocUnsafeSlow(size + DIRECT_IO_ALIGNMENT);
  const offset = nativeAddon().alignmentOffset(raw, DIRECT_IO_ALIGNMENT);
  return raw.subarray(offset, offset + size);
}
