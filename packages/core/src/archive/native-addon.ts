/**
 * @pgfleet/core's own small N-API addon (native/lz4-block.c, built by `npm ci` with node-gyp
 * from the liblz4 source the `lz4` package ships), loaded on first use: liblz4's block functions
 * (lz4-block.ts) and the alignment of a Buffer's memory (direct-io.ts). It loads in about
 * 3 ms.
 */

import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { InternalError } from '../errors.js';
import { lazy } from '../lazy-require.js';

const require = createRequire(import.meta.url);

/** Where node-gyp puts the addon, from src/archive/ or dist/archive/ alike. */
const ADDON = '../../build/Release/lz4_block.node';

export interface NativeAddon {
  encodeBound(size: number): number;
  encodeBlock(src: Buffer, dst: Buffer): number;
  decodeBlock(src: Buffer, dst: Buffer, dict: Buffer | null): number;
  alignmentOffset(buf: Buffer, alignment: number): number;
}

export const nativeAddon = lazy((): NativeAddon => {
  try {
    return require(ADDON) as NativeAddon;
  } catch (err) {
    throw new InternalError(`could not load the native addon "${fileURLToPath(new URL(ADDON, import.meta.url))}"`, {
      cause: err,
      hint: 'Build it with "npm rebuild @pgfleet/core" (needs make, a C compiler and python3), or run "npm ci" again.',
    });
  }
});
