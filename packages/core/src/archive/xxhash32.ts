/**
 * XXH32 (seed 0 by default), the checksum of the LZ4 frame format: the header checksum byte,
 * optional block checksums and the optional content checksum. Streaming (update/digest) and
 * one-shot forms; results are unsigned 32-bit numbers.
 */

const P1 = 0x9e3779b1;
const P2 = 0x85ebca77;
const P3 = 0xc2b2ae3d;
const P4 = 0x27d4eb2f;
const P5 = 0x165667b1;

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
const SCRATCH_STRIPES = 4096;
const SCRATCH = new Int32Array(SCRATCH_STRIPES * 4);

function rotl(x: number, r: number): number {
  return (x << r) | (x >>> (32 - r));
}

function round(acc: number, lane: number): number {
  return Math.imul(rotl((acc + Math.imul(lane, P2)) | 0, 13), P1);
}

export class Xxh32 {
  private v1: number;
  private v2: number;
  private v3: number;
  private v4: number;
  private total = 0;
  /** Up to 15 bytes waiting for a full 16-byte stripe. */
  private readonly tail = Buffer.alloc(16);
  private tailLength = 0;

  constructor(private readonly seed = 0) {
    this.v1 = (seed + P1 + P2) | 0;
    this.v2 = (seed + P2) | 0;
    this.v3 = seed | 0;
    this.v4 = (seed - P1) | 0;
  }

  update(data: Uint8Array): this {
    const buf = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    this.total += buf.length;
    let off = 0;
    if (this.tailLength > 0) {
      const take = Math.min(16 - this.tailLength, buf.length);
      buf.copy(this.tail, this.tailLength, 0, take);
      this.tailLength += take;
      off = take;
      if (this.tailLength < 16) return this;
      this.stripe(this.tail, 0);
      this.tailLength = 0;
    }
    const stripes = Math.floor((buf.length - off) / 16);
    if (stripes > 0) {
      this.stripes(buf, off, stripes);
      off += stripes * 16;
    }
    if (off < buf.length) {
      buf.copy(this.tail, 0, off);
      this.tailLength = buf.length - off;
    }
    return this;
  }

  digest(): number {
    let h = this.total >= 16
      ? (rotl(this.v1, 1) + rotl(this.v2, 7) + rotl(this.v3, 12) + rotl(this.v4, 18)) | 0
      : (this.seed + P5) | 0;
    h = (h + this.total) | 0;
    let i = 0;
    for (; i + 4 <= this.tailLength; i += 4) {
      h = Math.imul(rotl((h + Math.imul(this.tail.readInt32LE(i), P3)) | 0, 17), P4);
    }
    for (; i < this.tailLength; i++) {
      h = Math.imul(rotl((h + Math.imul(this.tail[i]!, P5)) | 0, 11), P1);
    }
    h ^= h >>> 15;
    h = Math.imul(h, P2);
    h ^= h >>> 13;
    h = Math.imul(h, P3);
    h ^= h >>> 16;
    return h >>> 0;
  }

  /** The hot loop: 32-bit lanes read through an Int32Array (copying when unaligned). */
  private stripes(buf: Buffer, off: number, count: number): void {
    let { v1, v2, v3, v4 } = this;
    for (let done = 0; done < count;) {
      const n = Math.min(count - done, SCRATCH_STRIPES);
      const start = off + done * 16;
      let lanes: Int32Array;
      if (LITTLE_ENDIAN && (buf.byteOffset + start) % 4 === 0) {
        lanes = new Int32Array(buf.buffer, buf.byteOffset + start, n * 4);
      } else {
        for (let i = 0; i < n * 4; i++) SCRATCH[i] = buf.readInt32LE(start + i * 4);
        lanes = SCRATCH;
      }
      for (let i = 0; i < n * 4; i += 4) {
        v1 = round(v1, lanes[i]!);
        v2 = round(v2, lanes[i + 1]!);
        v3 = round(v3, lanes[i + 2]!);
        v4 = round(v4, lanes[i + 3]!);
      }
      done += n;
    }
    this.v1 = v1; this.v2 = v2; this.v3 = v3; this.v4 = v4;
  }

  private stripe(buf: Buffer, off: number): void {
    this.v1 = round(this.v1, buf.readInt32LE(off));
    this.v2 = round(this.v2, buf.readInt32LE(off + 4));
    this.v3 = round(this.v3, buf.readInt32LE(off + 8));
    this.v4 = round(this.v4, buf.readInt32LE(off + 12));
  }
}

export function xxh32(data: Uint8Array, seed = 0): number {
  return new Xxh32(seed).update(data).digest();
}
