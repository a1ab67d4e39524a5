/**
 * liblz4's block functions, from @pgfleet/core's own small addon (native-addon.ts).
 * The C library both ways: on the bench dataset lz4-napi's lz4_flex compressed at about half
 * liblz4's speed and decoded at a third of it, and no package exposes the dictionary decoder
 * that linked blocks need. The `lz4` package's JavaScript took 15 ms to load, paid by every
 * process that compresses one WAL file.
 */

import { nativeAddon } from './native-addon.js';

/** The largest compressed size of `size` input bytes: a dst this big never fails. */
export function lz4CompressBound(size: number): number {
  return nativeAddon().encodeBound(size);
}

/** Compresses src as one LZ4 block (fast mode) into dst; returns its size, 0 if dst is too small. */
export function encodeLz4Block(src: Buffer, dst: Buffer): number {
  return nativeAddon().encodeBlock(src, dst);
}

/**
 * Decodes one LZ4 block into dst, with the 64 KiB before it as dict (null for an independent
 * block). Returns the decoded length, or a negative number when src is not a valid block or its
 * output does not fit into dst.
 */
export function decodeLz4Block(src: Buffer, dst: Buffer, dict: Buffer | null): number {
  return nativeAddon().decodeBlock(src, dst, dict);
}
