/**
 * backup_manifest parser, incremental: feed any chunking with write(), then end(). The rules are
 * those of PostgreSQL's common/parse_manifest.c (versions 1 and 2): the version field first;
 * top-level fields System-Identifier, Files, WAL-Ranges, Manifest-Checksum; file objects with
 * Path or Encoded-Path (hex bytes), Size, Last-Modified, Checksum-Algorithm, Checksum; WAL
 * ranges with Timeline, Start-LSN, End-LSN. The manifest checksum is SHA-256 over every byte up
 * to and including the newline before the last line, and the file must end with a newline.
 * Duplicate paths are rejected. Every problem is a ManifestError naming the source, e.g.
 * `could not parse backup manifest "x/backup_manifest": manifest checksum mismatch`.
 *
 * Memory: the parsed entries, plus the current line for the manifest checksum (lines are short)
 * and the current JSON token.
 */

import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { FileIoError, ManifestError } from '../errors.js';
import { osErrorText } from '../verify/os-error.js';
import { tryParseLsn } from '../wal/lsn.js';
import { parseChecksumAlgorithm, type ChecksumAlgorithm } from './checksum.js';
import type { BackupManifest, ManifestFile, ManifestVersion, ManifestWalRange } from './manifest.js';

export interface ParseManifestOptions {
  /** Names the manifest in error messages (a file path); default "backup_manifest". */
  source?: string;
}

// ---------------------------------------------------------------------------------------------
// JSON lexing and structure, incremental.

type ScalarKind = 'string' | 'number' | 'literal';

interface JsonEvents {
  objectStart(): void;
  objectEnd(): void;
  arrayStart(): void;
  arrayEnd(): void;
  field(name: string): void;
  scalar(text: string, kind: ScalarKind): void;
}

const enum Lex { Between, String, Escape, Unicode, Number, Literal }

/** What the structural parser accepts next. */
const enum Expect { Value, ValueOrArrayEnd, KeyOrObjectEnd, Key, Colon, CommaOrEnd, Eof }

class JsonError extends Error {}

const utf8 = new TextDecoder('utf-8', { fatal: true });

class JsonStreamParser {
  private lex = Lex.Between;
  private expect = Expect.Value;
  private readonly stack: Array<'object' | 'array'> = [];
  private line = 1;
  // current string token, as UTF-8 bytes
  private strBuf = Buffer.alloc(256);
  private strLen = 0;
  private strAscii = true;
  private unicodeDigits = '';
  private pendingHighSurrogate: number | null = null;
  // current number or literal token
  private word = '';

  constructor(private readonly events: JsonEvents) {}

  write(chunk: Uint8Array): void {
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk[i]!;
      switch (this.lex) {
        case Lex.String: {
          if (c === 0x22) { this.endString(); continue; }
          if (c === 0x5c) { this.lex = Lex.Escape; continue; }
          if (c < 0x20) this.fail('control character in string');
          if (this.pendingHighSurrogate !== null) this.fail('unpaired Unicode surrogate in string');
          // copy the run of ordinary bytes
          let j = i;
          while (j < chunk.length) {
            const d = chunk[j]!;
            if (d === 0x22 || d === 0x5c || d < 0x20) break;
            if (this.strLen === this.strBuf.length) this.grow(1);
            this.strBuf[this.strLen++] = d;
            if (d >= 0x80) this.strAscii = false;
            j++;
          }
          i = j - 1;
          continue;
        }
        case Lex.Escape:
          this.escape(c);
          continue;
        case Lex.Unicode:
          this.unicodeDigit(c);
          continue;
        case Lex.Number:
        case Lex.Literal:
          if (this.lex === Lex.Number
            ? (c >= 0x30 && c <= 0x39) || c === 0x2b || c === 0x2d || c === 0x2e || c === 0x45 || c === 0x65
            : c >= 0x61 && c <= 0x7a) {
            this.word += String.fromCharCode(c);
            continue;
          }
          this.endWord();
          break; // reprocess c as "between tokens"
        default:
          break;
      }
      this.between(c);
    }
  }

  end(): void {
    if (this.lex === Lex.Number || this.lex === Lex.Literal) this.endWord();
    if (this.lex !== Lex.Between) this.fail('the input ended inside a string');
    if (this.expect !== Expect.Eof) this.fail('the input ended unexpectedly');
  }

  private fail(what: string): never {
    throw new JsonError(`invalid JSON at line ${this.line}: ${what}`);
  }

  private between(c: number): void {
    switch (c) {
      case 0x0a: this.line++; return;
      case 0x20: case 0x09: case 0x0d: return;
      case 0x7b: // {
        this.beforeValue('"{"');
        this.stack.push('object');
        this.expect = Expect.KeyOrObjectEnd;
        this.events.objectStart();
        return;
      case 0x5b: // [
        this.beforeValue('"["');
        this.stack.push('array');
        this.expect = Expect.ValueOrArrayEnd;
        this.events.arrayStart();
        return;
      case 0x7d: // }
        if (this.stack[this.stack.length - 1] !== 'object' ||
            (this.expect !== Expect.KeyOrObjectEnd && this.expect !== Expect.CommaOrEnd)) {
          this.fail('unexpected "}"');
        }
        this.stack.pop();
        this.afterValue();
        this.events.objectEnd();
        return;
      case 0x5d: // ]
        if (this.stack[this.stack.length - 1] !== 'array' ||
            (this.expect !== Expect.ValueOrArrayEnd && this.expect !== Expect.CommaOrEnd)) {
          this.fail('unexpected "]"');
        }
        this.stack.pop();
        this.afterValue();
        this.events.arrayEnd();
        return;
      case 0x3a: // :
        if (this.expect !== Expect.Colon) this.fail('unexpected ":"');
        this.expect = Expect.Value;
        return;
      case 0x2c: // ,
        if (this.expect !== Expect.CommaOrEnd) this.fail('unexpected ","');
        this.expect = this.stack[this.stack.length - 1] === 'object' ? Expect.Key : Expect.Value;
        return;
      case 0x22: // "
        if (this.expect !== Expect.Key && this.expect !== Expect.KeyOrObjectEnd) this.beforeValue('string');
        this.lex = Lex.String;
        this.strLen = 0;
        this.strAscii = true;
        return;
      default:
        if (c === 0x2d || (c >= 0x30 && c <= 0x39)) {
          this.beforeValue('number');
          this.lex = Lex.Number;
          this.word = String.fromCharCode(c);
          return;
        }
        if (c >= 0x61 && c <= 0x7a) {
          this.beforeValue('token');
          this.lex = Lex.Literal;
          this.word = String.fromCharCode(c);
          return;
        }
        this.fail(`unexpected character ${describeByte(c)}`);
    }
  }

  private beforeValue(what: string): void {
    if (this.expect !== Expect.Value && this.expect !== Expect.ValueOrArrayEnd) this.fail(`unexpected ${what}`);
  }

  private afterValue(): void {
    this.expect = this.stack.length === 0 ? Expect.Eof : Expect.CommaOrEnd;
  }

  private endWord(): void {
    const text = this.word;
    const kind = this.lex === Lex.Number ? 'number' : 'literal';
    this.lex = Lex.Between;
    if (kind === 'number' && !/^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?$/.test(text)) {
      this.fail(`invalid number "${text}"`);
    }
    if (kind === 'literal' && text !== 'true' && text !== 'false' && text !== 'null') {
      this.fail(`invalid token "${text}"`);
    }
    this.afterValue();
    this.events.scalar(text, kind);
  }

  private endString(): void {
    if (this.pendingHighSurrogate !== null) this.fail('unpaired Unicode surrogate in string');
    this.lex = Lex.Between;
    let text: string;
    if (this.strAscii) {
      text = this.strBuf.toString('latin1', 0, this.strLen);
    } else {
      try {
        text = utf8.decode(this.strBuf.subarray(0, this.strLen));
      } catch {
        this.fail('string is not valid UTF-8');
      }
    }
    if (this.expect === Expect.Key || this.expect === Expect.KeyOrObjectEnd) {
      this.expect = Expect.Colon;
      this.events.field(text);
    } else {
      this.afterValue();
      this.events.scalar(text, 'string');
    }
  }

  private escape(c: number): void {
    this.lex = Lex.String;
    const simple: Record<number, number> = {
      0x22: 0x22, 0x5c: 0x5c, 0x2f: 0x2f, 0x62: 0x08, 0x66: 0x0c, 0x6e: 0x0a, 0x72: 0x0d, 0x74: 0x09,
    };
    if (c === 0x75) { // u
      this.lex = Lex.Unicode;
      this.unicodeDigits = '';
      return;
    }
    const v = simple[c];
    if (v === undefined) this.fail(`invalid escape "\\${String.fromCharCode(c)}"`);
    if (this.pendingHighSurrogate !== null) this.fail('unpaired Unicode surrogate in string');
    this.appendBytes(Buffer.of(v));
  }

  private unicodeDigit(c: number): void {
    const ch = String.fromCharCode(c);
    if (!/[0-9A-Fa-f]/.test(ch)) this.fail('invalid Unicode escape');
    this.unicodeDigits += ch;
    if (this.unicodeDigits.length < 4) return;
    this.lex = Lex.String;
    const code = Number.parseInt(this.unicodeDigits, 16);
    if (code === 0) this.fail('\\u0000 is not allowed in a string');
    if (code >= 0xd800 && code <= 0xdbff) {
      if (this.pendingHighSurrogate !== null) this.fail('unpaired Unicode surrogate in string');
      this.pendingHighSurrogate = code;
      return;
    }
    if (code >= 0xdc00 && code <= 0xdfff) {
      if (this.pendingHighSurrogate === null) this.fail('unpaired Unicode surrogate in string');
      const full = 0x10000 + ((this.pendingHighSurrogate - 0xd800) << 10) + (code - 0xdc00);
      this.pendingHighSurrogate = null;
      this.appendBytes(Buffer.from(String.fromCodePoint(full), 'utf8'));
      return;
    }
    if (this.pendingHighSurrogate !== null) this.fail('unpaired Unicode surrogate in string');
    this.appendBytes(Buffer.from(String.fromCharCode(code), 'utf8'));
  }

  private appendBytes(bytes: Uint8Array): void {
    if (this.strLen + bytes.length > this.strBuf.length) this.grow(bytes.length);
    this.strBuf.set(bytes, this.strLen);
    this.strLen += bytes.length;
    for (const b of bytes) if (b >= 0x80) this.strAscii = false;
  }

  private grow(extra: number): void {
    const bigger = Buffer.alloc(Math.max(this.strBuf.length * 2, this.strLen + extra));
    this.strBuf.copy(bigger, 0, 0, this.strLen);
    this.strBuf = bigger;
  }
}

function describeByte(c: number): string {
  return c >= 0x21 && c < 0x7f ? `"${String.fromCharCode(c)}"` : `0x${c.toString(16).padStart(2, '0')}`;
}

// ---------------------------------------------------------------------------------------------
// Manifest semantics, after parse_manifest.c's state machine.

const enum State {
  TopStart, TopEnd, TopField, VersionValue, SystemIdValue, FilesStart, FilesNext, FileField,
  FileValue, WalRangesStart, WalRangesNext, WalRangeField, WalRangeValue, ChecksumValue, Eof,
}

type FileField = 'Path' | 'Encoded-Path' | 'Size' | 'Last-Modified' | 'Checksum-Algorithm' | 'Checksum';
const FILE_FIELDS = new Set<string>(['Path', 'Encoded-Path', 'Size', 'Last-Modified', 'Checksum-Algorithm', 'Checksum']);
type WalRangeField = 'Timeline' | 'Start-LSN' | 'End-LSN';
const WAL_RANGE_FIELDS = new Set<string>(['Timeline', 'Start-LSN', 'End-LSN']);

class ProblemError extends Error {}

class ManifestSemantics implements JsonEvents {
  state = State.TopStart;
  private sawVersion = false;
  version: ManifestVersion | null = null;
  systemIdentifier: bigint | null = null;
  manifestChecksum: string | null = null;
  readonly files: ManifestFile[] = [];
  readonly byPath = new Map<string, ManifestFile>();
  readonly walRanges: ManifestWalRange[] = [];
  private fileField: FileField = 'Path';
  private file: Partial<Record<FileField, string>> = {};
  private walField: WalRangeField = 'Timeline';
  private range: Partial<Record<WalRangeField, string>> = {};

  private fail(msg: string): never {
    throw new ProblemError(msg);
  }

  objectStart(): void {
    switch (this.state) {
      case State.TopStart: this.state = State.TopField; break;
      case State.FilesNext: this.state = State.FileField; this.file = {}; break;
      case State.WalRangesNext: this.state = State.WalRangeField; this.range = {}; break;
      default: this.fail('unexpected object start');
    }
  }

  objectEnd(): void {
    switch (this.state) {
      case State.TopEnd: this.state = State.Eof; break;
      case State.FileField: this.finishFile(); this.state = State.FilesNext; break;
      case State.WalRangeField: this.finishWalRange(); this.state = State.WalRangesNext; break;
      default: this.fail('unexpected object end');
    }
  }

  arrayStart(): void {
    switch (this.state) {
      case State.FilesStart: this.state = State.FilesNext; break;
      case State.WalRangesStart: this.state = State.WalRangesNext; break;
      default: this.fail('unexpected array start');
    }
  }

  arrayEnd(): void {
    switch (this.state) {
      case State.FilesNext: case State.WalRangesNext: this.state = State.TopField; break;
      default: this.fail('unexpected array end');
    }
  }

  field(name: string): void {
    switch (this.state) {
      case State.TopField:
        if (!this.sawVersion) {
          if (name !== 'PostgreSQL-Backup-Manifest-Version') this.fail('expected version indicator');
          this.sawVersion = true;
          this.state = State.VersionValue;
        } else if (name === 'System-Identifier') {
          this.state = State.SystemIdValue;
        } else if (name === 'Files') {
          this.state = State.FilesStart;
        } else if (name === 'WAL-Ranges') {
          this.state = State.WalRangesStart;
        } else if (name === 'Manifest-Checksum') {
          this.state = State.ChecksumValue;
        } else {
          this.fail('unrecognized top-level field');
        }
        break;
      case State.FileField:
        if (!FILE_FIELDS.has(name)) this.fail('unexpected file field');
        this.fileField = name as FileField;
        this.state = State.FileValue;
        break;
      case State.WalRangeField:
        if (!WAL_RANGE_FIELDS.has(name)) this.fail('unexpected WAL range field');
        this.walField = name as WalRangeField;
        this.state = State.WalRangeValue;
        break;
      default:
        this.fail('unexpected object field');
    }
  }

  scalar(text: string): void {
    switch (this.state) {
      case State.VersionValue: {
        if (!/^[+-]?\d+$/.test(text)) this.fail('manifest version not an integer');
        const v = Number(text);
        if (v !== 1 && v !== 2) this.fail('unexpected manifest version');
        this.version = v;
        this.state = State.TopField;
        break;
      }
      case State.SystemIdValue:
        if (!/^\d+$/.test(text) || BigInt(text) > 0xFFFF_FFFF_FFFF_FFFFn) {
          this.fail('manifest system identifier not an integer');
        }
        this.systemIdentifier = BigInt(text);
        this.state = State.TopField;
        break;
      case State.FileValue:
        this.file[this.fileField] = text;
        this.state = State.FileField;
        break;
      case State.WalRangeValue:
        this.range[this.walField] = text;
        this.state = State.WalRangeField;
        break;
      case State.ChecksumValue:
        this.manifestChecksum = text;
        this.state = State.TopEnd;
        break;
      default:
        this.fail('unexpected scalar');
    }
  }

  private finishFile(): void {
    const f = this.file;
    if (f.Path === undefined && f['Encoded-Path'] === undefined) this.fail('missing path name');
    if (f.Path !== undefined && f['Encoded-Path'] !== undefined) this.fail('both path name and encoded path name');
    if (f.Size === undefined) this.fail('missing size');
    if (f['Checksum-Algorithm'] === undefined && f.Checksum !== undefined) this.fail('checksum without algorithm');
    let path = f.Path;
    if (path === undefined) {
      const hex = f['Encoded-Path'] ?? '';
      if (!/^([0-9A-Fa-f]{2})*$/.test(hex)) this.fail('could not decode file name');
      try {
        path = utf8.decode(Buffer.from(hex, 'hex'));
      } catch {
        // A JavaScript string cannot hold arbitrary bytes; such names cannot be matched anyway.
        this.fail('could not decode file name');
      }
    }
    if (!/^\d+$/.test(f.Size)) this.fail('file size is not an integer');
    const size = Number(f.Size);
    if (!Number.isSafeInteger(size)) this.fail('file size is not an integer');
    let algorithm: ChecksumAlgorithm = 'NONE';
    const algorithmName = f['Checksum-Algorithm'];
    if (algorithmName !== undefined) {
      const parsed = parseChecksumAlgorithm(algorithmName);
      if (parsed === null) this.fail(`unrecognized checksum algorithm: "${algorithmName}"`);
      algorithm = parsed;
    }
    const hex = f.Checksum ?? '';
    if (!/^([0-9A-Fa-f]{2})*$/.test(hex)) this.fail(`invalid checksum for file "${path}": "${hex}"`);
    if (this.byPath.has(path)) this.fail(`duplicate path name in backup manifest: "${path}"`);
    const entry: ManifestFile = {
      path, size, lastModified: f['Last-Modified'] ?? null, checksumAlgorithm: algorithm,
      checksum: Buffer.from(hex, 'hex'),
    };
    this.files.push(entry);
    this.byPath.set(path, entry);
  }

  private finishWalRange(): void {
    const r = this.range;
    if (r.Timeline === undefined) this.fail('missing timeline');
    if (r['Start-LSN'] === undefined) this.fail('missing start LSN');
    if (r['End-LSN'] === undefined) this.fail('missing end LSN');
    if (!/^\d+$/.test(r.Timeline) || Number(r.Timeline) > 0xFFFF_FFFF) this.fail('timeline is not an integer');
    const startLsn = tryParseLsn(r['Start-LSN']);
    if (startLsn === null) this.fail('could not parse start LSN');
    const endLsn = tryParseLsn(r['End-LSN']);
    if (endLsn === null) this.fail('could not parse end LSN');
    this.walRanges.push({ timeline: Number(r.Timeline), startLsn, endLsn });
  }
}

// ---------------------------------------------------------------------------------------------

/**
 * Incremental manifest parser. write() chunks of any size, then end() returns the manifest.
 * Both throw ManifestError; after an error the parser must not be used again.
 */
export class ManifestParser {
  private readonly source: string;
  private readonly semantics = new ManifestSemantics();
  private readonly json = new JsonStreamParser(this.semantics);
  private readonly hash: Hash = createHash('sha256');
  /** The last complete line (with its newline): hashed only once a later line completes. */
  private heldLine: Buffer | null = null;
  /** Bytes after the last newline seen. */
  private partial: Buffer[] = [];
  private newlines = 0;
  private lastByte = -1;

  constructor(options: ParseManifestOptions = {}) {
    this.source = options.source ?? 'backup_manifest';
  }

  write(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    this.guard(() => this.json.write(chunk));
    this.trackChecksum(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length));
  }

  end(): BackupManifest {
    return this.guard(() => {
      this.json.end();
      const s = this.semantics;
      if (s.state !== State.Eof) throw new ProblemError('manifest ended unexpectedly');
      if (this.newlines < 2) throw new ProblemError('expected at least 2 lines');
      if (this.lastByte !== 0x0a) throw new ProblemError('last line not newline-terminated');
      const actual = this.hash.digest();
      if (s.manifestChecksum === null) throw new ProblemError('manifest has no checksum');
      if (!/^[0-9A-Fa-f]{64}$/.test(s.manifestChecksum)) {
        throw new ProblemError(`invalid manifest checksum: "${s.manifestChecksum}"`);
      }
      if (!actual.equals(Buffer.from(s.manifestChecksum, 'hex'))) {
        throw new ProblemError('manifest checksum mismatch');
      }
      return {
        version: s.version ?? 1,
        systemIdentifier: s.systemIdentifier,
        files: s.files,
        byPath: s.byPath,
        walRanges: s.walRanges,
        manifestChecksum: s.manifestChecksum.toLowerCase(),
      };
    });
  }

  private guard<T>(fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      if (err instanceof ProblemError || err instanceof JsonError) {
        const hint = err.message === 'manifest checksum mismatch'
          ? 'The manifest was changed or damaged after the backup was taken.'
          : undefined;
        throw new ManifestError(`could not parse backup manifest "${this.source}": ${err.message}`,
          hint ? { hint } : {});
      }
      throw err;
    }
  }

  /**
   * Hashes every line except the last complete one, which is held back: when the input ends,
   * the hash covers everything up to and including the newline before the final line.
   */
  private trackChecksum(chunk: Buffer): void {
    this.lastByte = chunk[chunk.length - 1]!;
    let start = 0;
    let pos = chunk.indexOf(0x0a);
    while (pos >= 0) {
      this.newlines++;
      if (this.heldLine !== null) this.hash.update(this.heldLine);
      this.heldLine = Buffer.concat([...this.partial, chunk.subarray(start, pos + 1)]);
      this.partial = [];
      start = pos + 1;
      pos = chunk.indexOf(0x0a, start);
    }
    // Copy: the caller may reuse its buffer.
    if (start < chunk.length) this.partial.push(Buffer.from(chunk.subarray(start)));
  }
}

/** Parses a complete manifest held in memory. */
export function parseManifest(data: Uint8Array | string, options: ParseManifestOptions = {}): BackupManifest {
  const parser = new ManifestParser(options);
  parser.write(typeof data === 'string' ? Buffer.from(data, 'utf8') : data);
  return parser.end();
}

/** Reads and parses a manifest file in chunks. FileIoError if it cannot be read. */
export async function readManifestFile(path: string): Promise<BackupManifest> {
  const parser = new ManifestParser({ source: path });
  const stream = createReadStream(path, { highWaterMark: 128 * 1024 });
  try {
    for await (const chunk of stream) parser.write(chunk as Buffer);
  } catch (err) {
    if (err instanceof ManifestError) throw err;
    const action = (err as NodeJS.ErrnoException).syscall === 'open' ? 'open' : 'read';
    throw new FileIoError(`could not ${action} file "${path}": ${osErrorText(err)}`, { cause: err });
  } finally {
    stream.destroy();
  }
  return parser.end();
}
