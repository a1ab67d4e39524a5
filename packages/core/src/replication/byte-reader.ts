/**
 * A strict, bounds-checked cursor over one protocol message body. Every read checks that the
 * bytes exist; `end()` checks that none are left over. Failures are ProtocolErrors naming the
 * message (type and length) and the offset, because a short or long message means client and
 * server disagree about the protocol and nothing after it can be trusted.
 */

import { ProtocolError } from '../errors.js';

export class ByteReader {
  private offset = 0;

  /**
   * @param buf the message body (or CopyData payload)
   * @param what how error messages name the message, e.g. `XLogData message ("w")`
   */
  constructor(private readonly buf: Buffer, private readonly what: string) {}

  get position(): number {
    return this.offset;
  }

  get remaining(): number {
    return this.buf.length - this.offset;
  }

  /** Throws the ProtocolError for this message with `detail` appended. */
  fail(detail: string): never {
    throw new ProtocolError(`malformed ${this.what} of ${this.buf.length} bytes: ${detail}`);
  }

  private need(n: number): void {
    if (this.remaining < n) {
      this.fail(`needs ${n} bytes at offset ${this.offset}, only ${this.remaining} left`);
    }
  }

  uint8(): number {
    this.need(1);
    const v = this.buf.readUInt8(this.offset);
    this.offset += 1;
    return v;
  }

  int16(): number {
    this.need(2);
    const v = this.buf.readInt16BE(this.offset);
    this.offset += 2;
    return v;
  }

  int32(): number {
    this.need(4);
    const v = this.buf.readInt32BE(this.offset);
    this.offset += 4;
    return v;
  }

  uint32(): number {
    this.need(4);
    const v = this.buf.readUInt32BE(this.offset);
    this.offset += 4;
    return v;
  }

  /** Unsigned 64-bit (LSNs, byte counts). */
  uint64(): bigint {
    this.need(8);
    const v = this.buf.readBigUInt64BE(this.offset);
    this.offset += 8;
    return v;
  }

  /** Signed 64-bit (PostgreSQL timestamps). */
  int64(): bigint {
    this.need(8);
    const v = this.buf.readBigInt64BE(this.offset);
    this.offset += 8;
    return v;
  }

  /** `n` raw bytes, as a view into the message (no copy). */
  bytes(n: number): Buffer {
    if (n < 0) this.fail(`negative length ${n} at offset ${this.offset}`);
    this.need(n);
    const v = this.buf.subarray(this.offset, this.offset + n);
    this.offset += n;
    return v;
  }

  /** Everything left, as a view. */
  rest(): Buffer {
    const v = this.buf.subarray(this.offset);
    this.offset = this.buf.length;
    return v;
  }

  /** A NUL-terminated string (the terminator is consumed, not returned), as raw bytes. */
  cstringBytes(): Buffer {
    const end = this.buf.indexOf(0, this.offset);
    if (end < 0) this.fail(`unterminated string at offset ${this.offset}`);
    const v = this.buf.subarray(this.offset, end);
    this.offset = end + 1;
    return v;
  }

  /** A NUL-terminated string decoded as UTF-8. */
  cstring(): string {
    return this.cstringBytes().toString('utf8');
  }

  /** Fails when bytes are left over: a message longer than its layout is as wrong as a short one. */
  end(): void {
    if (this.remaining !== 0) {
      this.fail(`${this.remaining} unexpected trailing bytes at offset ${this.offset}`);
    }
  }
}
