/**
 * Reads backend messages from a socket with backpressure. It splits the byte stream into frames
 * (type byte, Int32 length including itself, body), decodes each strictly and queues it;
 * consumers pull with `next()`. When more than `highWaterBytes` of decoded messages wait in the
 * queue the socket is paused, and it is resumed once the consumer has drained the queue below
 * half of that. So memory stays bounded by roughly highWaterBytes plus one socket read, however
 * much the server sends and however slow the consumer is: a consumer that awaits its own slow
 * work between next() calls slows the server down through TCP flow control.
 *
 * Two ways to get the bytes:
 * - 'data' events of any Duplex (TLS sockets, test streams). Message bodies are views into the
 *   socket's chunks (no copy) unless a frame spans chunks. Node allocates a fresh buffer per
 *   read, so a view stays valid as long as it is referenced.
 * - slab mode, with an OwnedReadSocket (`ownedReads`): the socket reads straight into slabs of
 *   `slabBytes` that this reader recycles, so gigabytes of backup data cost no allocations and
 *   no garbage collection. A frame that does not fit in what is left of a slab moves, with
 *   whatever follows it, to the start of the next slab, so every body is one contiguous view.
 *   Bodies are views into a slab, and a slab is reused once nothing refers to it any more: a
 *   message's body is valid only until the following next() call. DataRow columns, which
 *   result-set readers keep across messages, are copied out. Use it only with consumers that
 *   follow that rule (the base backup and WAL receivers do: they await each handler).
 *
 * When the socket ends or fails, messages already queued are delivered first (a FATAL
 * ErrorResponse right before the server closes the connection must not be lost), then every
 * next() rejects with the terminal error.
 *
 * No-progress deadline (`noProgressTimeoutMs`): while a consumer waits in next() on an empty
 * queue, the server must send something (any bytes) at least that often, or the reader fails
 * with a ConnectError and destroys the socket. Time the consumer spends on its own work, or
 * with the socket paused for backpressure, does not count: only waiting for the server does.
 * That bounds a server that accepted the connection and stopped answering, which TCP
 * keepalives (a live peer's kernel still acknowledges) never notice.
 */

import type { Duplex } from 'node:stream';
import { ConnectError, InternalError, ProtocolError, type PgFleetError } from '../errors.js';
import { BackendCode, decodeBackendMessage, describeMessageType, type BackendMessage } from './backend-message.js';
import type { ReadTarget, ReadTargetHost } from './owned-read-socket.js';

export interface MessageReaderOptions {
  /** How errors name the server: "host:port" or a socket path. */
  peer: string;
  /** Queue size (bytes of message bodies) above which the socket is paused. Default 256 KiB. */
  highWaterBytes?: number;
  /** Largest message body accepted; a larger length means a corrupt stream. Default 1 GiB. */
  maxMessageBytes?: number;
  /** Slab mode: `socket` is this host's socket (an OwnedReadSocket's), and bodies live in
   * recycled slabs. */
  ownedReads?: ReadTargetHost;
  /** Slab mode: slab size. Default 256 KiB (at least twice minReadBytes). */
  slabBytes?: number;
  /** Slab mode: the room offered to one socket read. Default 64 KiB (node's own read size). */
  minReadBytes?: number;
  /** Fail when a waiting next() sees no byte from the server for this long (0: never). */
  noProgressTimeoutMs?: number;
}

export interface MessageReaderStats {
  /** The largest number of body bytes that ever waited in the queue. */
  maxQueuedBytes: number;
  /** How many times the socket was paused. */
  pauses: number;
  /** Slab mode: slabs allocated (the rest of the reads went into recycled ones). */
  slabsAllocated: number;
}

/** A block of memory socket reads go into (slab mode); `refs` counts undelivered or held bodies in it. */
interface Slab {
  buf: Buffer;
  refs: number;
}

interface QueuedMessage {
  message: BackendMessage;
  size: number;
  slab: Slab | null;
}

const HEADER_BYTES = 5;
/** Slab mode: recycled slabs kept beyond the one being filled. */
const SPARE_SLABS = 4;

export class MessageReader {
  readonly stats: MessageReaderStats = { maxQueuedBytes: 0, pauses: 0, slabsAllocated: 0 };
  private readonly peer: string;
  private readonly highWater: number;
  private readonly maxBody: number;

  private queue: QueuedMessage[] = [];
  private queueHead = 0;
  private queuedBytes = 0;
  private paused = false;
  private waiter: { resolve: (m: BackendMessage) => void; reject: (e: Error) => void } | null = null;
  private terminal: PgFleetError | null = null;
  private socketError: Error | null = null;
  private readonly noProgressMs: number;
  private noProgressTimer: NodeJS.Timeout | null = null;

  // 'data' mode frame assembly: a header split across chunks goes to `head`; a body split
  // across chunks is collected in `parts` until complete.
  private readonly head = Buffer.alloc(HEADER_BYTES);
  private headFill = 0;
  private code = 0;
  private bodyLen = -1;
  private parts: Buffer[] = [];
  private partsFill = 0;

  // Slab mode: bytes [parseOff, fill) of `slab` are read but not yet parsed; `held` is the slab
  // of the body last handed out by next().
  private readonly owned: ReadTargetHost | null;
  private readonly slabBytes: number;
  private readonly minRead: number;
  private readonly maxRead: number;
  private slab: Slab | null = null;
  private parseOff = 0;
  private fill = 0;
  private spare: Slab[] = [];
  private held: Slab | null = null;
  private readonly target: ReadTarget;

  constructor(private readonly socket: Duplex, options: MessageReaderOptions) {
    this.peer = options.peer;
    this.highWater = options.highWaterBytes ?? 256 * 1024;
    this.maxBody = options.maxMessageBytes ?? 1024 * 1024 * 1024;
    this.noProgressMs = options.noProgressTimeoutMs ?? 0;
    this.owned = options.ownedReads ?? null;
    if (this.owned !== null && this.owned.socket !== socket) {
      throw new InternalError('the owned-read socket given to the message reader is not its socket');
    }
    this.minRead = Math.max(1, options.minReadBytes ?? 64 * 1024);
    this.slabBytes = Math.max(options.slabBytes ?? 256 * 1024, 2 * this.minRead);
    // Reads of node's usual size: the queue's bound stays highWaterBytes plus one such read.
    this.maxRead = this.minRead;
    this.target = { readBuffer: () => this.readBuffer(), onRead: (n, buffer) => this.onSlabRead(n, buffer) };
    if (this.owned !== null) this.owned.setTarget(this.target);
    else socket.on('data', this.onData);
    socket.on('error', this.onError);
    socket.on('end', this.onEnd);
    socket.on('close', this.onEnd);
    // The socket may have been paused by whoever used it before.
    socket.resume();
  }

  /** Bytes of message bodies waiting to be consumed. */
  get pendingBytes(): number {
    return this.queuedBytes;
  }

  /** True once the stream ended or failed and every queued message has been consumed. */
  get isClosed(): boolean {
    return this.terminal !== null && this.queueHead >= this.queue.length;
  }

  /**
   * The next message. Only one next() may be pending at a time. In slab mode this call ends
   * the validity of the body returned by the previous one.
   */
  next(): Promise<BackendMessage> {
    if (this.held !== null) {
      this.release(this.held);
      this.held = null;
    }
    if (this.queueHead < this.queue.length) {
      return Promise.resolve(this.shift());
    }
    if (this.terminal !== null) return Promise.reject(this.terminal);
    if (this.waiter !== null) {
      return Promise.reject(new InternalError('concurrent reads on one replication connection'));
    }
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
      this.armNoProgress();
    });
  }

  /**
   * The next message when one is already queued, else null (then next() waits for it). Like
   * next(), it ends the validity of the body returned before, and must not be called while a
   * next() is pending.
   */
  tryNext(): BackendMessage | null {
    if (this.queueHead >= this.queue.length || this.waiter !== null) return null;
    if (this.held !== null) {
      this.release(this.held);
      this.held = null;
    }
    return this.shift();
  }

  /** (Re)starts the no-progress deadline while a consumer waits for the server. */
  private armNoProgress(): void {
    if (this.noProgressMs <= 0 || this.waiter === null || this.terminal !== null) return;
    if (this.noProgressTimer !== null) {
      this.noProgressTimer.refresh();
      return;
    }
    this.noProgressTimer = setTimeout(() => {
      this.noProgressTimer = null;
      if (this.waiter === null || this.terminal !== null) return;
      this.fail(new ConnectError(`no data from "${this.peer}" for ${this.noProgressMs / 1000} s: the server stopped answering`, {
        hint: 'Check that the server is running and reachable and not stuck; a spread checkpoint at the start of a backup must also end within this time.',
      }));
    }, this.noProgressMs);
  }

  private disarmNoProgress(): void {
    if (this.noProgressTimer === null) return;
    clearTimeout(this.noProgressTimer);
    this.noProgressTimer = null;
  }

  /** Ends reading: later next() calls reject with `reason`; queued messages are dropped. */
  close(reason?: PgFleetError): void {
    this.queue = [];
    this.queueHead = 0;
    this.queuedBytes = 0;
    this.held = null;
    this.spare = [];
    this.setTerminal(reason ?? new InternalError(`replication connection to "${this.peer}" is closed`));
    this.detach();
  }

  /** Removes the socket listeners (the socket itself is left alone). */
  detach(): void {
    if (this.owned !== null) this.owned.setTarget(null);
    else this.socket.off('data', this.onData);
    this.socket.off('error', this.onError);
    this.socket.off('end', this.onEnd);
    this.socket.off('close', this.onEnd);
  }

  private shift(): BackendMessage {
    const item = this.queue[this.queueHead] as QueuedMessage;
    this.queue[this.queueHead] = undefined as unknown as QueuedMessage;
    this.queueHead++;
    if (this.queueHead === this.queue.length) {
      this.queue = [];
      this.queueHead = 0;
    } else if (this.queueHead > 1024 && this.queueHead * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.queueHead);
      this.queueHead = 0;
    }
    this.queuedBytes -= item.size;
    this.held = item.slab;
    if (this.paused && this.queuedBytes <= this.highWater / 2 && this.terminal === null) {
      this.paused = false;
      this.socket.resume();
    }
    return item.message;
  }

  private push(message: BackendMessage, size: number, slab: Slab | null): void {
    if (this.waiter !== null && this.queueHead >= this.queue.length) {
      const { resolve } = this.waiter;
      this.waiter = null;
      this.disarmNoProgress();
      this.held = slab;
      resolve(message);
      return;
    }
    this.queue.push({ message, size, slab });
    this.queuedBytes += size;
    if (this.queuedBytes > this.stats.maxQueuedBytes) this.stats.maxQueuedBytes = this.queuedBytes;
  }

  private setTerminal(error: PgFleetError): void {
    if (this.terminal !== null) return;
    this.terminal = error;
    this.disarmNoProgress();
    if (this.waiter !== null && this.queueHead >= this.queue.length) {
      const { reject } = this.waiter;
      this.waiter = null;
      reject(error);
    }
  }

  private fail(error: PgFleetError): void {
    this.setTerminal(error);
    this.detach();
    this.socket.destroy();
  }

  /** Decodes one frame and queues it; false (after failing the reader) on a protocol error. */
  private deliver(code: number, body: Buffer, slab: Slab | null): boolean {
    let message: BackendMessage;
    try {
      // Result-set readers keep DataRow columns across next() calls: they must not live in a slab.
      message = decodeBackendMessage(code, slab !== null && code === BackendCode.DataRow ? Buffer.from(body) : body);
    } catch (err) {
      this.fail(err instanceof ProtocolError ? err : new ProtocolError(String(err)));
      return false;
    }
    if (slab !== null) slab.refs++;
    this.push(message, body.length + HEADER_BYTES, slab);
    return true;
  }

  private checkLength(code: number, total: number): boolean {
    if (total < 4 || total - 4 > this.maxBody) {
      this.fail(new ProtocolError(`invalid length ${total} in ${describeMessageType(code)} from "${this.peer}"`));
      return false;
    }
    return true;
  }

  private pauseIfFull(): boolean {
    if (!this.paused && this.queuedBytes > this.highWater) {
      this.paused = true;
      this.stats.pauses++;
      this.socket.pause();
    }
    return !this.paused;
  }

  private readonly onData = (chunk: Buffer): void => {
    if (this.terminal !== null) return;
    this.armNoProgress();
    const len = chunk.length;
    let off = 0;
    while (off < len) {
      if (this.bodyLen < 0) {
        let total: number;
        if (this.headFill === 0 && len - off >= HEADER_BYTES) {
          this.code = chunk[off] as number;
          total = chunk.readUInt32BE(off + 1);
          off += HEADER_BYTES;
        } else {
          const take = Math.min(HEADER_BYTES - this.headFill, len - off);
          chunk.copy(this.head, this.headFill, off, off + take);
          this.headFill += take;
          off += take;
          if (this.headFill < HEADER_BYTES) break;
          this.headFill = 0;
          this.code = this.head[0] as number;
          total = this.head.readUInt32BE(1);
        }
        if (!this.checkLength(this.code, total)) return;
        this.bodyLen = total - 4;
        this.parts = [];
        this.partsFill = 0;
      }
      const want = this.bodyLen - this.partsFill;
      const avail = len - off;
      let body: Buffer;
      if (this.partsFill === 0 && avail >= want) {
        body = chunk.subarray(off, off + want);
        off += want;
      } else {
        const take = Math.min(want, avail);
        this.parts.push(chunk.subarray(off, off + take));
        this.partsFill += take;
        off += take;
        if (this.partsFill < this.bodyLen) break;
        body = this.parts.length === 1 ? this.parts[0] as Buffer : Buffer.concat(this.parts, this.bodyLen);
        this.parts = [];
      }
      const code = this.code;
      this.bodyLen = -1;
      if (!this.deliver(code, body, null)) return;
    }
    this.pauseIfFull();
  };

  // ---- slab mode ----

  private newSlab(minBytes: number): Slab {
    if (minBytes <= this.slabBytes) {
      const recycled = this.spare.pop();
      if (recycled !== undefined) return recycled;
    }
    this.stats.slabsAllocated++;
    return { buf: Buffer.allocUnsafe(Math.max(minBytes, this.slabBytes)), refs: 0 };
  }

  /** A slab nothing refers to any more goes back to the spares (unless it is being filled). */
  private release(slab: Slab): void {
    slab.refs--;
    if (slab.refs === 0 && slab !== this.slab && slab.buf.length === this.slabBytes && this.spare.length < SPARE_SLABS) {
      this.spare.push(slab);
    }
  }

  /** Room for the next read: the rest of the current slab, or a fresh slab. */
  private readBuffer(): Buffer {
    let slab = this.slab;
    if (slab !== null && slab.refs === 0 && this.parseOff === this.fill) {
      // Everything read so far has been consumed: start over at the beginning.
      this.parseOff = 0;
      this.fill = 0;
    }
    if (slab === null || slab.buf.length - this.fill < this.minRead) {
      // Move the unparsed tail (an incomplete frame) to the start of a new slab, with room for
      // the whole frame when its length is already known.
      const pending = this.fill - this.parseOff;
      let frameBytes = 0;
      if (slab !== null && pending >= HEADER_BYTES) frameBytes = 1 + slab.buf.readUInt32BE(this.parseOff + 1);
      const next = this.newSlab(Math.max(pending, frameBytes) + this.minRead);
      this.slab = next;
      if (slab !== null) {
        slab.buf.copy(next.buf, 0, this.parseOff, this.fill);
        // A slab still referred to goes to the spares when its last body is released.
        if (slab.refs === 0 && slab.buf.length === this.slabBytes && this.spare.length < SPARE_SLABS) this.spare.push(slab);
      }
      slab = next;
      this.parseOff = 0;
      this.fill = pending;
    }
    return slab.buf.subarray(this.fill, Math.min(slab.buf.length, this.fill + this.maxRead));
  }

  private onSlabRead(n: number, buffer: Buffer): boolean {
    if (this.terminal !== null) return false;
    this.armNoProgress();
    let slab = this.slab;
    if (slab === null || buffer.buffer !== slab.buf.buffer || buffer.byteOffset !== slab.buf.byteOffset + this.fill) {
      // Not the room we offered (the first read after the handover): copy it in.
      const room = this.readBuffer();
      if (room.length < n) {
        const bigger = this.newSlab(this.fill - this.parseOff + n);
        (this.slab as Slab).buf.copy(bigger.buf, 0, this.parseOff, this.fill);
        this.fill -= this.parseOff;
        this.parseOff = 0;
        this.slab = bigger;
      }
      slab = this.slab as Slab;
      buffer.copy(slab.buf, this.fill, 0, n);
    }
    this.fill += n;
    const buf = slab.buf;
    while (this.fill - this.parseOff >= HEADER_BYTES) {
      const code = buf[this.parseOff] as number;
      const total = buf.readUInt32BE(this.parseOff + 1);
      if (!this.checkLength(code, total)) return false;
      const end = this.parseOff + 1 + total;
      if (end > this.fill) break;
      const body = buf.subarray(this.parseOff + HEADER_BYTES, end);
      this.parseOff = end;
      if (!this.deliver(code, body, slab)) return false;
    }
    return this.pauseIfFull();
  }

  private readonly onError = (err: Error): void => {
    this.socketError ??= err;
  };

  private readonly onEnd = (): void => {
    if (this.terminal !== null) return;
    const midMessage = this.bodyLen >= 0 || this.headFill > 0 || this.fill > this.parseOff;
    const reason = this.socketError !== null
      ? describeSocketError(this.socketError)
      : 'server closed the connection unexpectedly';
    this.setTerminal(new ConnectError(
      `lost connection to "${this.peer}": ${reason}${midMessage ? ' in the middle of a message' : ''}`,
      {
        hint: 'The server may have been shut down or restarted, or a network problem broke the connection; check the server log.',
        ...(this.socketError !== null ? { cause: this.socketError } : {}),
      },
    ));
    this.detach();
  };
}

/** Lower-case text for common socket errors, as libpq words them. */
export function describeSocketError(err: Error): string {
  const code = (err as NodeJS.ErrnoException).code;
  switch (code) {
    case 'ECONNREFUSED': return 'connection refused';
    case 'ECONNRESET': return 'connection reset by peer';
    case 'EPIPE': return 'broken pipe';
    case 'ENOENT': return 'no such file or directory';
    case 'EACCES': return 'permission denied';
    case 'EHOSTUNREACH': return 'no route to host';
    case 'ENETUNREACH': return 'network is unreachable';
    case 'ETIMEDOUT': return 'connection timed out';
    case 'EADDRNOTAVAIL': return 'cannot assign requested address';
    default: {
      const text = err.message.replace(/^(connect|read|write) [A-Z]+ \S+$/, code ?? err.message);
      if (text.length === 0) return String(code ?? 'unknown error');
      return /^[A-Z][a-z]/.test(text) ? text.charAt(0).toLowerCase() + text.slice(1) : text;
    }
  }
}
