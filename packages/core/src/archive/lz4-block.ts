/**
 * liblz4's block functions, from @pgfleet/core's own small addon (native/lz4-block.c, built by
 * `npm ci` with node-gyp from the liblz4 source the `lz4` package ships), loaded on first use.
 * The C library both ways: on the bench dataset lz4-napi's lz4_flex compressed at about half
 * liblz4's speed and decoded at a third of it, and no package exposes the dictionary decoder
 * that linked blocks need. The addon alone loads in about 3 ms; the `lz4` package's JavaScript
 * took 15 ms, paid by every process that compresses one WAL file.
 */

import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { InternalError } from '../errors.js';
import { lazy } from '../lazy-require.js';

const require = createRequire(import.meta.url);

/** Where node-gyp puts the addon, from src/archive/ or dist/archive/ alike. */
const ADDON = '../../build/Release/lz4_block.node';

interface Lz4Addon {
  encodeBound(size: number): number;
  encodeBlock(src: Buffer, dst: Buffer): number;
  decodeBlock(src: Buffer, dst: Buffer, dict: Buffer | null): number;
}

const addon = lazy((): Lz4Addon => {
  try {
    return require(ADDON) as Lz4Addon;
  } catch (err) {
    throw new InternalError(`could not load the native lz4 addon "${fileURLToPath(new URL(ADDON, import.meta.url))}"`, {
      cause: err,
      hint: 'Build it with "npm rebuild @pgfleet/core" (needs make, a C compiler and python3), or run "npm ci" again.',
    });
  }
});

/** The largest compressed size of `size` input bytes: a dst this big never fails. */
export function lz4CompressBound(size: number): number {
  return addon().encodeBound(size);
}

/** Compresses src as one LZ4 block (fast mode) into dst; returns its size, 0 if dst is too small. */
export function encodeLz4Block(src: Buffer, dst: Buffer): number {
  return addon().encodeBlock(src, dst);
}

/**
 * Decodes one LZ4 block into dst, with the 64 KiB before it as dict (null for an independent
 * block). Returns the decoded length, or a negative number when src is not a valid block or its
 * output does not fit into dst.
 */
export function decodeLz4Block(src: Buffer, dst: Buffer, dict: Buffer | null): number {
  return addon().decodeBlock(src, dst, dict);
}
