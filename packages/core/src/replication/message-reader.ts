/**
 * Reads backend messages from a socket with backpressure. It splits the byte stream into frames
 * (type byte, Int32 length including itself, body), decodes each strictly and queues it;
 * consumers pull with `next()`. When more than `highWaterBytes` of decoded messages wait in the
 * queue the socket is paused, and it is resumed once the consumer has drained the queue below
 * half of that. So memory stays bounded by roughly highWaterBytes plus one socket read, however
 * much the server sends and however slow the consumer is: a consumer that awaits its own slow
 * work between next() calls slows the server down through TCP flow control.
 *
 * Message bodies are views into the socket's chunks (no copy) unless a frame spans chunks. Node
 * allocates a fresh buffer per socket read, so a view stays valid as long as it is referenced.
 *
 * When the socket ends or fails, messages already queued are delivered first (a FATAL
 * ErrorResponse right before the server closes the connection must not be lost), then every
 * next() rejects with the terminal error.
 */

import type { Duplex } from 'node:stream';
import { ConnectError, InternalError, ProtocolError, type PgFleetError } from '../errors.js';
import { decodeBackendMessage, describeMessageType, type BackendMessage } from './backend-message.js';

export interface MessageReaderOptions {
  /** How errors name the server: "host:port" or a socket path. */
  peer: string;
  /** Queue size (bytes of message bodies) above which the socket is paused. Default 256 KiB. */
  highWaterBytes?: number;
  /** Largest message body accepted; a larger length means a corrupt stream. Default 1 GiB. */
  maxMessageBytes?: number;
}

export interface MessageReaderStats {
  /** The largest number of body bytes that ever waited in the queue. */
  maxQueuedBytes: number;
  /** How many times the socket was paused. */
  pauses: number;
}

interface QueuedMessage {
  message: BackendMessage;
  size: number;
}

const HEADER_BYTES = 5;

export class MessageReader {
  readonly stats: MessageReaderStats = { maxQueuedBytes: 0, pauses: 0 };
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

  // Frame assembly state: a header split across chunks goes to `head`; a body split across
  // chunks is collected in `parts` until complete.
  private readonly head = Buffer.alloc(HEADER_BYTES);
  private headFill = 0;
  private code = 0;
  private bodyLen = -1;
  private parts: Buffer[] = [];
  private partsFill = 0;

  constructor(private readonly socket: Duplex, options: MessageReaderOptions) {
    this.peer = options.peer;
    this.highWater = options.highWaterBytes ?? 256 * 1024;
    this.maxBody = options.maxMessageBytes ?? 1024 * 1024 * 1024;
    socket.on('data', this.onData);
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

  /** The next message. Only one next() may be pending at a time. */
  next(): Promise<BackendMessage> {
    if (this.queueHead < this.queue.length) {
      return Promise.resolve(this.shift());
    }
    if (this.terminal !== null) return Promise.reject(this.terminal);
    if (this.waiter !== null) {
      return Promise.reject(new InternalError('concurrent reads on one replication connection'));
    }
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
    });
  }

  /** Ends reading: later next() calls reject with `reason`; queued messages are dropped. */
  close(reason?: PgFleetError): void {
    this.queue = [];
    this.queueHead = 0;
    this.queuedBytes = 0;
    this.setTerminal(reason ?? new InternalError(`replication connection to "${this.peer}" is closed`));
    this.detach();
  }

  /** Removes the socket listeners (the socket itself is left alone). */
  detach(): void {
    this.socket.off('data', this.onData);
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
    if (this.paused && this.queuedBytes <= this.highWater / 2 && this.terminal === null) {
      this.paused = false;
      this.socket.resume();
    }
    return item.message;
  }

  private push(message: BackendMessage, size: number): void {
    if (this.waiter !== null && this.queueHead >= this.queue.length) {
      const { resolve } = this.waiter;
      this.waiter = null;
      resolve(message);
      return;
    }
    this.queue.push({ message, size });
    this.queuedBytes += size;
    if (this.queuedBytes > this.stats.maxQueuedBytes) this.stats.maxQueuedBytes = this.queuedBytes;
  }

  private setTerminal(error: PgFleetError): void {
    if (this.terminal !== null) return;
    this.terminal = error;
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

  private readonly onData = (chunk: Buffer): void => {
    if (this.terminal !== null) return;
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
        if (total < 4 || total - 4 > this.maxBody) {
          this.fail(new ProtocolError(
            `invalid length ${total} in ${describeMessageType(this.code)} from "${this.peer}"`,
          ));
          return;
        }
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
      let message: BackendMessage;
      try {
        message = decodeBackendMessage(code, body);
      } catch (err) {
        this.fail(err instanceof ProtocolError ? err : new ProtocolError(String(err)));
        return;
      }
      this.push(message, body.length + HEADER_BYTES);
    }
    if (!this.paused && this.queuedBytes > this.highWater) {
      this.paused = true;
      this.stats.pauses++;
      this.socket.pause();
    }
  };

  private readonly onError = (err: Error): void => {
    this.socketError ??= err;
  };

  private readonly onEnd = (): void => {
    if (this.terminal !== null) return;
    const midMessage = this.bodyLen >= 0 || this.headFill > 0;
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
