/**
 * liblz4's block functions, loaded on first use: compression from the `lz4` package's native
 * binding, dictionary decoding (linked blocks) from @pgfleet/core's own small addon
 * (native/lz4-dict-decode.c, built by `npm ci` with node-gyp, next to liblz4's source from the
 * `lz4` package). Both are the C library: on the bench dataset lz4-napi's lz4_flex compressed
 * at about half liblz4's speed and decoded at a third of it.
 */

import type * as Lz4 from 'lz4';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { InternalError } from '../errors.js';
import { lazy } from '../lazy-require.js';

const require = createRequire(import.meta.url);

/** Where node-gyp puts the addon, from src/archive/ or dist/archive/ alike. */
const ADDON = '../../build/Release/lz4_dict_decode.node';

interface DictDecoder {
  decodeBlock(src: Buffer, dst: Buffer, dict: Buffer | null): number;
}

export const lz4Package = lazy(() => require('lz4') as typeof Lz4);

const dictDecoder = lazy((): DictDecoder => {
  try {
    return require(ADDON) as DictDecoder;
  } catch (err) {
    throw new InternalError(`could not load the native lz4 decoder "${fileURLToPath(new URL(ADDON, import.meta.url))}"`, {
      cause: err,
      hint: 'Build it with "npm rebuild @pgfleet/core" (needs make, a C compiler and python3), or run "npm ci" again.',
    });
  }
});

/**
 * Decodes one LZ4 block into dst, with the 64 KiB before it as dict (null for an independent
 * block). Returns the decoded length, or a negative number when src is not a valid block or its
 * output does not fit into dst.
 */
export function decodeLz4Block(src: Buffer, dst: Buffer, dict: Buffer | null): number {
  return dictDecoder().decodeBlock(src, dst, dict);
}
