/**
 * Manual benchmark (not part of the test suite): gzip throughput of GzipCompressor against
 * single-stream node:zlib and the gzip tool, on a file (e.g. a base.tar of a pgbench database):
 *   node --import tsx test/archive/bench-gzip.ts /path/to/base.tar [level]
 * Prints MB/s (input bytes per wall-clock second) and compressed sizes.
 */

import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
import { GzipCompressor } from '../../src/archive/gzip-compressor.js';
import type { Streamer } from '../../src/archive/streamer.js';

function usage(): never {
  throw new Error('usage: bench-gzip.ts FILE [LEVEL]');
}

const file = process.argv[2] ?? usage();
const level = Number(process.argv[3] ?? 6);
const data = readFileSync(file);
const CHUNK = 32 * 1024; // what a server sends per CopyData message
const mb = data.length / 1e6;

class CountingSink implements Streamer {
  bytes = 0;
  crcInput = 0;
  async content(_m: unknown, d: Buffer): Promise<void> { this.bytes += d.length; }
  async finalize(): Promise<void> {}
  async dispose(): Promise<void> {}
}

async function ours(maxBlocksInFlight?: number): Promise<[number, number]> {
  const sink = new CountingSink();
  const gz = new GzipCompressor(sink, { level, ...(maxBlocksInFlight ? { maxBlocksInFlight } : {}) });
  const t = process.hrtime.bigint();
  for (let off = 0; off < data.length; off += CHUNK) await gz.content(null, data.subarray(off, off + CHUNK), 'unknown');
  await gz.finalize();
  return [Number(process.hrtime.bigint() - t) / 1e9, sink.bytes];
}

async function singleStream(): Promise<[number, number]> {
  let bytes = 0;
  const t = process.hrtime.bigint();
  await pipeline(
    async function* () { for (let off = 0; off < data.length; off += CHUNK) yield data.subarray(off, off + CHUNK); },
    zlib.createGzip({ level }),
    new Writable({ write(c: Buffer, _e, cb) { bytes += c.length; cb(); } }),
  );
  return [Number(process.hrtime.bigint() - t) / 1e9, bytes];
}

function gzipTool(): [number, number] {
  const t = process.hrtime.bigint();
  const out = execFileSync('gzip', [`-${level}`, '-c', file], { maxBuffer: 1 << 30 });
  return [Number(process.hrtime.bigint() - t) / 1e9, out.length];
}

const report = (name: string, [secs, bytes]: [number, number]): void =>
  console.log(`${name.padEnd(34)} ${(mb / secs).toFixed(1).padStart(7)} MB/s  ${secs.toFixed(2)} s  ${bytes} bytes (${((100 * bytes) / data.length).toFixed(2)}%)`);

console.log(`${file}: ${mb.toFixed(1)} MB, level ${level}, ${availableParallelism()} CPUs, UV_THREADPOOL_SIZE=${process.env.UV_THREADPOOL_SIZE ?? 4}`);
report('gzip tool', gzipTool());
report('node:zlib single stream', await singleStream());
report('GzipCompressor, 1 block in flight', await ours(1));
report('GzipCompressor (default)', await ours());
