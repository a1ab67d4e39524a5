/**
 * Client -> server standby status update ('r'), the only message a WAL receiver for a backup
 * sends while streaming:
 *
 *   'r' Int64 write, Int64 flush, Int64 apply, Int64 clientTime, Byte1 replyRequested  (34 bytes)
 *
 * Positions are "last byte + 1", 0 meaning unknown. pg_basebackup reports write = what it has
 * received and flush only when it streams through a slot (then the server advances the slot's
 * restart_lsn to it); apply is always 0. Timestamps are PostgreSQL's: signed microseconds since
 * 2000-01-01 00:00:00 UTC.
 */

import { ByteReader } from './byte-reader.js';

export const STANDBY_STATUS_UPDATE_CODE = 0x72; // r
export const STANDBY_STATUS_UPDATE_BYTES = 34;

/** Microseconds between the Unix epoch and PostgreSQL's (2000-01-01). */
export const PG_EPOCH_OFFSET_MICROS = 946_684_800_000_000n;

export interface StandbyStatusUpdate {
  write: bigint;
  flush: bigint;
  apply: bigint;
  clientTime: bigint;
  replyRequested: boolean;
}

/** A PostgreSQL timestamp (microseconds since 2000-01-01, as a keepalive's send time), as a Date. */
export function pgTimestampToDate(ts: bigint): Date {
  return new Date(Number((ts + PG_EPOCH_OFFSET_MICROS) / 1000n));
}

/** Now, as a PostgreSQL timestamp. */
export function pgTimestampNow(nowMs: number = Date.now()): bigint {
  return BigInt(Math.floor(nowMs)) * 1000n - PG_EPOCH_OFFSET_MICROS;
}

export function encodeStandbyStatusUpdate(update: StandbyStatusUpdate): Buffer {
  const buf = Buffer.alloc(STANDBY_STATUS_UPDATE_BYTES);
  buf[0] = STANDBY_STATUS_UPDATE_CODE;
  buf.writeBigUInt64BE(update.write, 1);
  buf.writeBigUInt64BE(update.flush, 9);
  buf.writeBigUInt64BE(update.apply, 17);
  buf.writeBigInt64BE(update.clientTime, 25);
  buf[33] = update.replyRequested ? 1 : 0;
  return buf;
}

/** The inverse, strictly (for tests and for anyone emulating a server). */
export function decodeStandbyStatusUpdate(payload: Buffer): StandbyStatusUpdate {
  const r = new ByteReader(payload, 'standby status update ("r")');
  if (r.uint8() !== STANDBY_STATUS_UPDATE_CODE) r.fail('type byte is not "r"');
  const update: StandbyStatusUpdate = {
    write: r.uint64(),
    flush: r.uint64(),
    apply: r.uint64(),
    clientTime: r.int64(),
    replyRequested: r.uint8() !== 0,
  };
  r.end();
  return update;
}
