/**
 * Server -> client CopyData payloads of physical streaming (START_REPLICATION):
 *
 *   'w' XLogData:          Int64 dataStart, Int64 walEnd, Int64 sendTime, Byte[n] WAL
 *   'k' primary keepalive: Int64 walEnd, Int64 sendTime, Byte1 replyRequested
 *
 * Decoded strictly: a keepalive must be exactly 18 bytes and an XLogData at least 25; any other
 * type byte is a ProtocolError (pg_basebackup: "unrecognized streaming header"). LSNs are
 * unsigned, timestamps signed microseconds since 2000-01-01 (see standby-status.ts).
 */

import { ProtocolError } from '../errors.js';
import { ByteReader } from './byte-reader.js';

export const enum StreamingCode {
  XLogData = 0x77, // w
  PrimaryKeepalive = 0x6b, // k
}

export interface XLogData {
  type: 'xlog-data';
  /** LSN of the first byte of `data`. */
  dataStart: bigint;
  /** The server's current end of WAL. */
  walEnd: bigint;
  /** Server clock when sent (PostgreSQL microseconds). */
  sendTime: bigint;
  /** WAL bytes (a view into the message). */
  data: Buffer;
}

export interface PrimaryKeepalive {
  type: 'keepalive';
  walEnd: bigint;
  sendTime: bigint;
  /** The server wants a standby status update now (or it may time the connection out). */
  replyRequested: boolean;
}

export type StreamingMessage = XLogData | PrimaryKeepalive;

/** Header bytes before the WAL in an XLogData payload. */
export const XLOG_DATA_HEADER_BYTES = 25;

export function decodeStreamingMessage(payload: Buffer): StreamingMessage {
  if (payload.length === 0) {
    throw new ProtocolError('malformed streaming CopyData message of 0 bytes: no message type');
  }
  const code = payload[0] as number;
  if (code === StreamingCode.XLogData && payload.length >= XLOG_DATA_HEADER_BYTES) {
    // The per-message path of streaming: read the header in place, without a cursor object.
    return {
      type: 'xlog-data',
      dataStart: payload.readBigUInt64BE(1),
      walEnd: payload.readBigUInt64BE(9),
      sendTime: payload.readBigInt64BE(17),
      data: payload.subarray(XLOG_DATA_HEADER_BYTES),
    };
  }
  if (code === StreamingCode.XLogData) {
    // Too short: the cursor names what is missing.
    const r = new ByteReader(payload, 'XLogData message ("w")');
    r.uint8();
    const dataStart = r.uint64();
    const walEnd = r.uint64();
    const sendTime = r.int64();
    return { type: 'xlog-data', dataStart, walEnd, sendTime, data: r.rest() };
  }
  if (code === StreamingCode.PrimaryKeepalive) {
    const r = new ByteReader(payload, 'primary keepalive message ("k")');
    r.uint8();
    const walEnd = r.uint64();
    const sendTime = r.int64();
    const replyRequested = r.uint8() !== 0;
    r.end();
    return { type: 'keepalive', walEnd, sendTime, replyRequested };
  }
  const shown = code >= 0x20 && code < 0x7f ? `"${String.fromCharCode(code)}"` : `0x${code.toString(16).padStart(2, '0')}`;
  throw new ProtocolError(`unrecognized streaming header: ${shown} (${payload.length} bytes)`);
}
