/**
 * The pieces of the LZ4 frame format (lz4_Frame_format.md) that the lz4 compressor and
 * decompressor share: magic numbers, the frame descriptor (FLG/BD bytes and header checksum)
 * and the block size table. This is the format `lz4` and PostgreSQL (LZ4F_*) read and write;
 * the blocks inside are liblz4's (lz4-block.ts).
 */

import { xxh32 } from './xxhash32.js';

export const LZ4_FRAME_MAGIC = 0x184d2204;
/** Skippable frames use magics 0x184D2A50..0x184D2A5F. */
export const LZ4_SKIPPABLE_MASK = 0xfffffff0;
export const LZ4_SKIPPABLE_MAGIC = 0x184d2a50;
/** The legacy frame of `lz4 -l`, which pgfleet does not read. */
export const LZ4_LEGACY_MAGIC = 0x184c2102;

/** Block maximum sizes by BD block-size id 4..7. */
export const LZ4_BLOCK_MAX: Readonly<Record<number, number>> = { 4: 64 * 1024, 5: 256 * 1024, 6: 1024 * 1024, 7: 4 * 1024 * 1024 };

export const FLG_VERSION = 0x40;
export const FLG_BLOCK_INDEPENDENCE = 0x20;
export const FLG_BLOCK_CHECKSUM = 0x10;
export const FLG_CONTENT_SIZE = 0x08;
export const FLG_CONTENT_CHECKSUM = 0x04;
export const FLG_DICT_ID = 0x01;

/** Header checksum byte: second byte of xxh32 of the descriptor (FLG through dictID). */
export function lz4HeaderChecksum(descriptor: Uint8Array): number {
  return (xxh32(descriptor) >>> 8) & 0xff;
}

/** A frame header: magic, FLG, BD, HC (no content size, no dictionary id). */
export function lz4FrameHeader(options: { blockSizeId: number; independent: boolean; contentChecksum: boolean }): Buffer {
  const flg = FLG_VERSION | (options.independent ? FLG_BLOCK_INDEPENDENCE : 0) | (options.contentChecksum ? FLG_CONTENT_CHECKSUM : 0);
  const bd = (options.blockSizeId & 0x7) << 4;
  const h = Buffer.alloc(7);
  h.writeUInt32LE(LZ4_FRAME_MAGIC, 0);
  h[4] = flg;
  h[5] = bd;
  h[6] = lz4HeaderChecksum(h.subarray(4, 6));
  return h;
}
