/**
 * Writing ustar headers the way PostgreSQL's src/port/tar.c does, so that every tar reader,
 * PostgreSQL's own included, accepts what pgfleet writes: a 512-byte header with the name in the
 * 100-byte name field (the ustar prefix field stays empty because PostgreSQL's reader ignores
 * it), numbers in octal with a trailing space or, when too large, in GNU base-256, magic
 * "ustar\0" + "00", and directories named with a trailing "/". Names and link targets longer
 * than 99 bytes cannot be written and raise ArchiveFormatError.
 */

import { ArchiveFormatError } from '../errors.js';
import type { TarMember } from './streamer.js';

export const TAR_BLOCK_SIZE = 512;

/** The two zero blocks that end a tar archive. Never written to. */
export const TAR_END_OF_ARCHIVE: Buffer = Buffer.alloc(2 * TAR_BLOCK_SIZE);

/** Longest name or link target (in UTF-8 bytes) PostgreSQL's tar reader sees whole. */
export const TAR_MAX_NAME_BYTES = 99;

/** Strips leading "./" and trailing "/" as PROTOCOL.md §2.5 asks; "./" becomes ".". */
export function normalizeMemberName(raw: string): string {
  let name = raw;
  while (name.startsWith('./')) name = name.slice(2);
  while (name.length > 1 && name.endsWith('/')) name = name.slice(0, -1);
  return name === '' ? '.' : name;
}

/** Number of zero bytes that pad `size` bytes of member data to a block boundary. */
export function tarPaddingFor(size: number): number {
  const rest = size % TAR_BLOCK_SIZE;
  return rest === 0 ? 0 : TAR_BLOCK_SIZE - rest;
}

/** Octal with a trailing space when it fits in len-1 digits, else GNU base-256 (0x80 + BE). */
function putNumber(h: Buffer, offset: number, len: number, value: number): void {
  const v = Math.max(0, Math.floor(value));
  if (v < 8 ** (len - 1)) {
    h.write(v.toString(8).padStart(len - 1, '0'), offset, len - 1, 'latin1');
    h[offset + len - 1] = 0x20;
    return;
  }
  h[offset] = 0x80;
  let rest = BigInt(v);
  for (let i = offset + len - 1; i > offset; i--) {
    h[i] = Number(rest & 0xffn);
    rest >>= 8n;
  }
}

function putString(h: Buffer, offset: number, max: number, value: string): void {
  // Owner names are informational: cut them to the field (keeping a NUL) rather than fail.
  const bytes = Buffer.from(value, 'utf8');
  bytes.copy(h, offset, 0, Math.min(bytes.length, max - 1));
}

const TYPEFLAGS: Partial<Record<TarMember['type'], number>> = {
  file: 0x30, // '0'
  link: 0x31, // '1'
  symlink: 0x32, // '2'
  directory: 0x35, // '5'
};

/** Builds the 512-byte ustar header for a member, as tar.c's tarCreateHeader would. */
export function encodeTarHeader(member: TarMember): Buffer {
  const typeflag = TYPEFLAGS[member.type];
  if (typeflag === undefined) {
    throw new ArchiveFormatError(`cannot write tar member "${member.name}" of type "${member.type}"`);
  }
  // Keep the parsed spelling ("./x/", "link/") unless a stage renamed the member.
  const keepRaw = member.rawName !== undefined && normalizeMemberName(member.rawName) === member.name;
  const written = keepRaw ? member.rawName!.replace(/\/+$/, '') : member.name;
  const nameBytes = Buffer.from(written, 'utf8');
  if (nameBytes.length === 0) throw new ArchiveFormatError('tar member has empty name');
  if (nameBytes.length > TAR_MAX_NAME_BYTES) {
    throw new ArchiveFormatError(`tar member name "${written}" is longer than ${TAR_MAX_NAME_BYTES} bytes`, {
      hint: 'PostgreSQL reads only the 100-byte name field of a tar header, so longer names cannot be written.',
    });
  }
  // tar.c ends directory (and symlink) names with "/"; a parsed symlink keeps one if it had it.
  const slash = member.type === 'directory' || (keepRaw && member.rawName!.endsWith('/'));
  const hasLink = member.type === 'symlink' || member.type === 'link';
  const linkBytes = Buffer.from(hasLink ? member.linkname ?? '' : '', 'utf8');
  if (hasLink && linkBytes.length === 0) {
    throw new ArchiveFormatError(`tar member "${member.name}" is a link without a target`);
  }
  if (linkBytes.length > TAR_MAX_NAME_BYTES) {
    throw new ArchiveFormatError(`link target of tar member "${member.name}" is longer than ${TAR_MAX_NAME_BYTES} bytes`, {
      hint: 'PostgreSQL reads only the 100-byte link name field of a tar header, so longer targets cannot be written.',
    });
  }

  const h = Buffer.alloc(TAR_BLOCK_SIZE);
  nameBytes.copy(h, 0);
  if (slash && nameBytes.length < 100) h[nameBytes.length] = 0x2f;
  putNumber(h, 100, 8, member.mode & 0o7777);
  putNumber(h, 108, 8, member.uid);
  putNumber(h, 116, 8, member.gid);
  putNumber(h, 124, 12, member.type === 'file' ? member.size : 0);
  putNumber(h, 136, 12, member.mtime.getTime() / 1000);
  h[156] = typeflag;
  linkBytes.copy(h, 157);
  h.write('ustar\0', 257, 'latin1');
  h.write('00', 263, 'latin1');
  putString(h, 265, 32, member.uname ?? 'postgres');
  putString(h, 297, 32, member.gname ?? 'postgres');
  putNumber(h, 329, 8, 0);
  putNumber(h, 337, 8, 0);

  putNumber(h, 148, 8, tarHeaderChecksum(h));
  return h;
}

/** A header's checksum: the sum of its bytes, its own checksum field counted as eight spaces. */
export function tarHeaderChecksum(h: Buffer): number {
  let sum = 8 * 0x20;
  for (let i = 0; i < 148; i++) sum += h[i]!;
  for (let i = 156; i < TAR_BLOCK_SIZE; i++) sum += h[i]!;
  return sum;
}
