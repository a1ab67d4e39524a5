// Builders for backend protocol frames, and a fake ProtocolIo that feeds frames through the
// real MessageReader, for tests that need server responses without a server.

import { PassThrough } from 'node:stream';
import { MessageReader } from '../../src/replication/message-reader.js';
import type { ProtocolIo } from '../../src/replication/protocol-io.js';
import type { BackendMessage } from '../../src/replication/backend-message.js';

export function frame(code: string, body: Buffer = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(5);
  head[0] = code.charCodeAt(0);
  head.writeUInt32BE(body.length + 4, 1);
  return Buffer.concat([head, body]);
}

export function cstr(text: string): Buffer {
  return Buffer.concat([Buffer.from(text, 'utf8'), Buffer.from([0])]);
}

export function int16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeInt16BE(n);
  return b;
}

export function int32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n);
  return b;
}

export function int64(n: bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(n);
  return b;
}

/** RowDescription with text columns of the given names (type oid 25). */
export function rowDescription(names: string[]): Buffer {
  return frame('T', Buffer.concat([
    int16(names.length),
    ...names.map((n) => Buffer.concat([cstr(n), int32(0), int16(0), int32(25), int16(-1), int32(-1), int16(0)])),
  ]));
}

export function dataRow(values: Array<string | Buffer | null>): Buffer {
  return frame('D', Buffer.concat([
    int16(values.length),
    ...values.map((v) => {
      if (v === null) return int32(-1);
      const b = typeof v === 'string' ? Buffer.from(v, 'utf8') : v;
      return Buffer.concat([int32(b.length), b]);
    }),
  ]));
}

export function commandComplete(tag: string): Buffer {
  return frame('C', cstr(tag));
}

export function readyForQuery(status = 'I'): Buffer {
  return frame('Z', Buffer.from(status, 'latin1'));
}

export function errorResponse(sqlState: string, message: string, extra: Record<string, string> = {}): Buffer {
  const fields: Buffer[] = [];
  const add = (t: string, v: string) => fields.push(Buffer.from(t, 'latin1'), cstr(v));
  add('S', 'ERROR');
  add('V', 'ERROR');
  add('C', sqlState);
  add('M', message);
  for (const [k, v] of Object.entries(extra)) add(k, v);
  fields.push(Buffer.from([0]));
  return frame('E', Buffer.concat(fields));
}

export function noticeResponse(message: string): Buffer {
  return frame('N', Buffer.concat([Buffer.from('S'), cstr('WARNING'), Buffer.from('V'), cstr('WARNING'),
    Buffer.from('C'), cstr('01000'), Buffer.from('M'), cstr(message), Buffer.from([0])]));
}

export function copyOutResponse(): Buffer {
  return frame('H', Buffer.concat([Buffer.from([0]), int16(0)]));
}

export function copyBothResponse(): Buffer {
  return frame('W', Buffer.concat([Buffer.from([0]), int16(0)]));
}

export function copyData(payload: Buffer): Buffer {
  return frame('d', payload);
}

export function copyDone(): Buffer {
  return frame('c');
}

/** A result set with one row. */
export function resultSet(names: string[], values: Array<string | null>, tag = 'SELECT'): Buffer {
  return Buffer.concat([rowDescription(names), dataRow(values), commandComplete(tag)]);
}

/** Splits `bytes` into chunks at the given cut points. */
export function cut(bytes: Buffer, points: number[]): Buffer[] {
  const chunks: Buffer[] = [];
  let last = 0;
  for (const p of [...points, bytes.length]) {
    chunks.push(bytes.subarray(last, p));
    last = p;
  }
  return chunks;
}

export interface FakeIo extends ProtocolIo {
  sent: Buffer[];
  reader: MessageReader;
  socket: PassThrough;
  aborted: Error | null;
}

/**
 * A ProtocolIo whose server side is `chunks` written into a PassThrough (then ended), read by
 * the real MessageReader. ParameterStatus and NoticeResponse are skipped as the connection does.
 */
export function fakeIo(chunks: Buffer[], options: { highWaterBytes?: number } = {}): FakeIo {
  const socket = new PassThrough();
  const reader = new MessageReader(socket, { peer: 'test', ...options });
  for (const c of chunks) socket.write(c);
  socket.end();
  const io: FakeIo = {
    peer: 'test',
    sent: [],
    reader,
    socket,
    aborted: null,
    send(f: Buffer) {
      io.sent.push(f);
    },
    async receive(): Promise<BackendMessage> {
      for (;;) {
        const m = await reader.next();
        if (m.kind !== 'parameterStatus' && m.kind !== 'noticeResponse') return m;
      }
    },
    abort(reason: Error) {
      io.aborted = reason;
      reader.close();
    },
  };
  return io;
}

/** Reads every message until the stream ends; returns them and the terminal error. */
export async function readAll(reader: MessageReader): Promise<{ messages: BackendMessage[]; error: Error }> {
  const messages: BackendMessage[] = [];
  for (;;) {
    try {
      messages.push(await reader.next());
    } catch (error) {
      return { messages, error: error as Error };
    }
  }
}

/** A plain-data view of messages (Buffers as hex) for deepEqual across chunkings. */
export function plain(messages: BackendMessage[]): unknown {
  return JSON.parse(JSON.stringify(messages, (_k, v: unknown) => {
    if (v !== null && typeof v === 'object' && (v as { type?: string }).type === 'Buffer') {
      return `hex:${Buffer.from((v as { data: number[] }).data).toString('hex')}`;
    }
    return v;
  }));
}
