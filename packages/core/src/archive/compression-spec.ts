/**
 * pg_basebackup 17's compression options, with its error texts:
 * - `-Z [client-|server-]METHOD[:DETAIL]`, METHOD one of none, gzip, lz4, zstd (exact case);
 * - `-Z N` (also after a prefix): a bare integer means gzip at level N, and 0 means none;
 * - `-z` means gzip at the default level: parseCompressionSpec('gzip');
 * - DETAIL is a bare integer level or a comma-separated list of `level=N`, `workers=N`,
 *   `long[=BOOL]` (src/common/compression.c); workers and long are zstd-only;
 * - without a prefix compression happens on the client, or on the server when a backup target
 *   (--target) was given.
 * Client-side specifications are parsed and validated here (InvalidOptionError,
 * "invalid compression specification: ..."). Server-side ones are passed to the server as they
 * are (COMPRESSION / COMPRESSION_DETAIL), which validates them, as pg_basebackup does; only the
 * method name is checked here.
 */

import { InvalidOptionError } from '../errors.js';

export type CompressionMethod = 'none' | 'gzip' | 'lz4' | 'zstd';
export type CompressionLocation = 'client' | 'server';

export interface CompressionSpec {
  location: CompressionLocation;
  method: CompressionMethod;
  /** Level as PostgreSQL keeps it: gzip -1 (zlib's default, 6), lz4 0 (fast mode), zstd 3,
   * none 0. For server-side compression always the method's default (the server decides). */
  level: number;
  /** zstd worker threads (`workers=N`), or null when not given. */
  workers: number | null;
  /** zstd long-distance matching (`long`), or null when not given. */
  longDistance: boolean | null;
  /** DETAIL as given (a bare -Z N gives "N"), for the server's COMPRESSION_DETAIL; or null. */
  detail: string | null;
}

export interface ParseCompressionOptions {
  /** A backup target (--target) was given: compression without a prefix happens on the server. */
  target?: boolean;
}

/** zstd's level range (ZSTD_minCLevel/ZSTD_maxCLevel of libzstd 1.5). */
export const ZSTD_MIN_LEVEL = -131072;
export const ZSTD_MAX_LEVEL = 22;

const DEFAULT_LEVEL: Record<CompressionMethod, number> = { none: 0, gzip: -1, lz4: 0, zstd: 3 };

/** C's strtol(s, &end, 10) consuming the whole string: optional spaces and sign, digits. */
function wholeInteger(text: string): number | null {
  return /^[ \t\n\v\f\r]*[+-]?\d+$/.test(text) ? Number.parseInt(text, 10) : null;
}

function invalid(reason: string): InvalidOptionError {
  return new InvalidOptionError(`invalid compression specification: ${reason}`);
}

function parseMethod(name: string): CompressionMethod {
  if (name === 'none' || name === 'gzip' || name === 'lz4' || name === 'zstd') return name;
  throw new InvalidOptionError(`unrecognized compression algorithm: "${name}"`);
}

/** Parses and validates DETAIL for a method (parse_ and validate_compress_specification). */
export function parseCompressionDetail(
  method: CompressionMethod,
  detail: string | null,
): Pick<CompressionSpec, 'level' | 'workers' | 'longDistance'> {
  const result = { level: DEFAULT_LEVEL[method], workers: null as number | null, longDistance: null as boolean | null };
  if (detail !== null) {
    const bare = wholeInteger(detail);
    if (bare !== null) {
      result.level = bare;
    } else {
      for (const item of detail.split(',')) {
        const eq = item.indexOf('=');
        const keyword = eq < 0 ? item : item.slice(0, eq);
        const value = eq < 0 ? null : item.slice(eq + 1);
        if (keyword === '') throw invalid('found empty string where a compression option was expected');
        if (keyword === 'level' || keyword === 'workers') {
          if (value === null) throw invalid(`compression option "${keyword}" requires a value`);
          const n = wholeInteger(value);
          if (n === null) throw invalid(`value for compression option "${keyword}" must be an integer`);
          if (keyword === 'level') result.level = n;
          else result.workers = n;
        } else if (keyword === 'long') {
          const v = value?.toLowerCase() ?? null;
          if (v === null || v === 'yes' || v === 'on' || v === '1') result.longDistance = true;
          else if (v === 'no' || v === 'off' || v === '0') result.longDistance = false;
          else throw invalid(`value for compression option "long" must be a Boolean value`);
        } else {
          throw invalid(`unrecognized compression option: "${keyword}"`);
        }
      }
    }
  }

  let [min, max, def] = [1, 1, 0];
  if (method === 'gzip') [min, max, def] = [1, 9, -1];
  else if (method === 'lz4') [min, max, def] = [1, 12, 0];
  else if (method === 'zstd') [min, max, def] = [ZSTD_MIN_LEVEL, ZSTD_MAX_LEVEL, 3];
  else if (result.level !== 0) throw invalid(`compression algorithm "none" does not accept a compression level`);
  if ((result.level < min || result.level > max) && result.level !== def) {
    throw invalid(`compression algorithm "${method}" expects a compression level between ${min} and ${max} (default at ${def})`);
  }
  if (result.workers !== null && method !== 'zstd') throw invalid(`compression algorithm "${method}" does not accept a worker count`);
  if (result.longDistance !== null && method !== 'zstd') throw invalid(`compression algorithm "${method}" does not support long-distance mode`);
  return result;
}

/** Parses a -Z argument (or 'gzip' for -z, 'none' for no option). */
export function parseCompressionSpec(option: string, options: ParseCompressionOptions = {}): CompressionSpec {
  let rest = option;
  let location: CompressionLocation | null = null;
  if (rest.startsWith('server-')) {
    location = 'server';
    rest = rest.slice(7);
  } else if (rest.startsWith('client-')) {
    location = 'client';
    rest = rest.slice(7);
  }
  location ??= options.target ? 'server' : 'client';

  let methodName: string;
  let detail: string | null;
  // A bare integer (strtol reaching the end, which an empty string also does) keeps -Z N working.
  if (rest === '' || wholeInteger(rest) !== null) {
    const n = rest === '' ? 0 : wholeInteger(rest)!;
    [methodName, detail] = n === 0 ? ['none', null] : ['gzip', rest];
  } else {
    const colon = rest.indexOf(':');
    [methodName, detail] = colon < 0 ? [rest, null] : [rest.slice(0, colon), rest.slice(colon + 1)];
  }
  const method = parseMethod(methodName);
  if (location === 'server') {
    return { location, method, level: DEFAULT_LEVEL[method], workers: null, longDistance: null, detail };
  }
  return { location, method, ...parseCompressionDetail(method, detail), detail };
}

/** The file name suffix for archives compressed with a method: ".gz", ".lz4", ".zst" or "". */
export function compressionSuffix(method: CompressionMethod): string {
  return { none: '', gzip: '.gz', lz4: '.lz4', zstd: '.zst' }[method];
}

/**
 * The compression of a tar archive from its name (parse_tar_compress_algorithm): ".tar",
 * ".tgz", ".tar.gz", ".tar.lz4", ".tar.zst"; null for any other name.
 */
export function compressionFromFileName(name: string): CompressionMethod | null {
  if (name.endsWith('.tar')) return 'none';
  if (name.endsWith('.tgz') || name.endsWith('.tar.gz')) return 'gzip';
  if (name.endsWith('.tar.lz4')) return 'lz4';
  if (name.endsWith('.tar.zst')) return 'zstd';
  return null;
}
