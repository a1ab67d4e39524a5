/**
 * A TCP or Unix socket whose reads go into buffers its consumer owns (net.Socket's `onread`),
 * instead of a freshly allocated buffer per read. Bulk replication data (gigabytes) read the
 * normal way costs one new 64 KiB buffer per read, which the garbage collector then has to find
 * and free; with owned buffers the reader recycles a few slabs (MessageReader's slab mode).
 *
 * The socket starts in compatibility mode, for `pg`'s Client to run the startup and
 * authentication exchange: every read is copied into a new Buffer and emitted as an ordinary
 * 'data' event. `setTarget()` hands reading over to a ReadTarget: from then on it supplies the
 * buffers and receives the reads. The first read after the handover may still land in the
 * compatibility buffer (node asked for the next buffer before the handover), so a target must
 * accept reads into a buffer it did not supply.
 *
 * 'end', 'close' and 'error' are emitted as usual. Not for TLS: a TLS socket wraps this one and
 * reads it itself.
 */

import net from 'node:net';
import type { Duplex } from 'node:stream';

/** Whatever hands reads to a ReadTarget (an OwnedReadSocket; a fake one in tests). */
export interface ReadTargetHost {
  readonly socket: Duplex;
  /** Hands reading over to `target`, or back to 'data' events with null. */
  setTarget(target: ReadTarget | null): void;
}

export interface ReadTarget {
  /** The buffer the next read goes into (node reads at most its length). */
  readBuffer(): Buffer;
  /** `n` bytes were read into the start of `buffer`. Returning false stops reading (pause). */
  onRead(n: number, buffer: Buffer): boolean;
}

interface OnReadOptions {
  buffer: () => Uint8Array;
  callback: (n: number, buffer: Uint8Array) => boolean;
}

/** Size of the compatibility-mode read buffer (node's own default read size). */
const COMPAT_READ_BYTES = 64 * 1024;

export class OwnedReadSocket implements ReadTargetHost {
  readonly socket: net.Socket;
  private target: ReadTarget | null = null;
  private compatBuffer: Buffer | null = null;

  constructor() {
    // @types/node lists `onread` for net.connect() only; the constructor takes it too.
    const options: net.SocketConstructorOpts & { onread: OnReadOptions } = {
      onread: {
        buffer: () => this.readBuffer(),
        callback: (n, buffer) => this.onRead(n, buffer as Buffer),
      },
    };
    this.socket = new net.Socket(options);
  }

  setTarget(target: ReadTarget | null): void {
    this.target = target;
    if (target !== null) this.compatBuffer = null;
  }

  private readBuffer(): Buffer {
    if (this.target !== null) return this.target.readBuffer();
    this.compatBuffer ??= Buffer.allocUnsafe(COMPAT_READ_BYTES);
    return this.compatBuffer;
  }

  private onRead(n: number, buffer: Buffer): boolean {
    if (this.target !== null) return this.target.onRead(n, buffer);
    // Copied: the read buffer is reused, and listeners may keep what they are given.
    this.socket.emit('data', Buffer.from(buffer.subarray(0, n)));
    return true;
  }
}
