// Looking inside backup directories the way a user would: the system tar lists the archives
// (compressed ones through the gzip/lz4/zstd programs), and a minimal tar header walk finds
// where a member's bytes sit in an uncompressed archive so that a test can corrupt exactly one
// byte of one file. Independent of pgfleet's own tar code.

import { open, readdir } from 'node:fs/promises';
import { run, type RunResult } from '../../harness/index.js';

/** What `tar -t` printed for one archive. */
export interface TarListing {
  result: RunResult;
  /** Member names in archive order, as tar prints them (directories end with "/"). */
  names: string[];
}

/** Compressor flag for GNU tar by file suffix (tar does not recognise lz4 data by itself). */
function compressorArgs(file: string): string[] {
  if (file.endsWith('.gz')) return ['--gzip'];
  if (file.endsWith('.lz4')) return ['--use-compress-program=lz4'];
  if (file.endsWith('.zst')) return ['--zstd'];
  return [];
}

/** `tar -tf <file>` with the system tar; never throws on tar's exit status. */
export async function listTar(file: string): Promise<TarListing> {
  const result = await run('tar', ['-t', ...compressorArgs(file), '-f', file], { allowFailure: true });
  return { result, names: result.stdout.split('\n').filter((line) => line !== '') };
}

/** One member as `tar -tv --numeric-owner` shows it, minus size and time. */
export interface TarEntry {
  /** "-rw-------", "drwx------", "lrwxrwxrwx", ... */
  mode: string;
  /** Numeric "uid/gid" from the header. */
  owner: string;
  name: string;
  /** Symbolic link target, for links. */
  linkTarget?: string;
}

/** `tar -tv --numeric-owner` parsed; throws if tar fails or a line does not parse. */
export async function listTarVerbose(file: string): Promise<TarEntry[]> {
  const result = await run('tar', ['-tv', '--numeric-owner', ...compressorArgs(file), '-f', file]);
  return result.stdout
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => {
      // "-rw------- 101/104  225 2024-01-01 12:00 backup_label" or "... name -> target"
      const match = /^(\S{10})\s+(\d+\/\d+)\s+\d+\s+\S+\s+\S+\s(.*)$/.exec(line);
      if (!match) throw new Error(`unexpected tar -tv line in "${file}": ${line}`);
      const [, mode, owner, rest] = match as unknown as [string, string, string, string];
      if (mode.startsWith('l')) {
        const arrow = rest.indexOf(' -> ');
        return { mode, owner, name: rest.slice(0, arrow), linkTarget: rest.slice(arrow + 4) };
      }
      return { mode, owner, name: rest };
    });
}

/** The content of one member (`tar -xO`), as text. */
export async function readTarMember(file: string, member: string): Promise<string> {
  const result = await run('tar', ['-x', '-O', ...compressorArgs(file), '-f', file, member]);
  return result.stdout;
}

/** Names in a directory, sorted. */
export async function dirNames(dir: string): Promise<string[]> {
  return (await readdir(dir)).sort();
}

const SEGMENT = /^[0-9A-F]{24}$/;

/** True for a WAL segment file name (timeline + log + segment, 24 hex digits). */
export function isWalSegmentName(name: string): boolean {
  return SEGMENT.test(name);
}

/** WAL segment names of a pg_wal.tar listing (or of a base.tar's pg_wal/ entries with prefix). */
export function walSegmentsIn(names: readonly string[], prefix = ''): string[] {
  return names
    .filter((n) => n.startsWith(prefix))
    .map((n) => n.slice(prefix.length))
    .filter((n) => SEGMENT.test(n))
    .sort();
}

/** Where one member's data lives in an uncompressed tar file. */
export interface TarMemberLocation {
  name: string;
  /** Offset of the first data byte. */
  dataOffset: number;
  size: number;
  type: string;
}

function readString(block: Buffer, start: number, length: number): string {
  const raw = block.subarray(start, start + length);
  const end = raw.indexOf(0);
  return raw.subarray(0, end < 0 ? raw.length : end).toString('utf8');
}

function readOctal(block: Buffer, start: number, length: number): number {
  const text = readString(block, start, length).trim();
  return text === '' ? 0 : parseInt(text, 8);
}

/**
 * Walk the ustar headers of an uncompressed tar file: every member with its data offset.
 * Handles the ustar prefix field and GNU long names ("L"); pax headers ("x", "g") are skipped.
 */
export async function tarMemberLocations(file: string): Promise<TarMemberLocation[]> {
  const handle = await open(file, 'r');
  try {
    const { size: fileSize } = await handle.stat();
    const members: TarMemberLocation[] = [];
    const header = Buffer.alloc(512);
    let offset = 0;
    let longName: string | undefined;
    while (offset + 512 <= fileSize) {
      await handle.read(header, 0, 512, offset);
      if (header.every((b) => b === 0)) break;
      const size = readOctal(header, 124, 12);
      const type = String.fromCharCode(header[156] ?? 0x30);
      const dataOffset = offset + 512;
      offset = dataOffset + Math.ceil(size / 512) * 512;
      if (type === 'L') {
        const data = Buffer.alloc(size);
        await handle.read(data, 0, size, dataOffset);
        longName = readString(data, 0, size);
        continue;
      }
      if (type === 'x' || type === 'g') continue;
      const prefix = readString(header, 345, 155);
      const name = longName ?? (prefix ? `${prefix}/${readString(header, 0, 100)}` : readString(header, 0, 100));
      longName = undefined;
      members.push({ name, dataOffset, size, type: type === '\0' ? '0' : type });
    }
    return members;
  } finally {
    await handle.close();
  }
}

/** XOR one byte of a file in place (at an absolute offset). */
export async function flipByte(file: string, offset: number): Promise<void> {
  const handle = await open(file, 'r+');
  try {
    const byte = Buffer.alloc(1);
    await handle.read(byte, 0, 1, offset);
    byte[0] = (byte[0] ?? 0) ^ 0xff;
    await handle.write(byte, 0, 1, offset);
  } finally {
    await handle.close();
  }
}

/** Remove members from an uncompressed tar with the system tar (`tar --delete`). */
export async function deleteTarMembers(file: string, names: readonly string[]): Promise<void> {
  await run('tar', ['--delete', '-f', file, ...names]);
}
