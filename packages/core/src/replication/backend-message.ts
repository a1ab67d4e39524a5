/**
 * Decoding of the backend messages a replication connection sees after startup, strictly:
 * each body must match its layout exactly (ByteReader), and a type byte that has no business
 * on a replication connection after authentication is a ProtocolError. Values stay raw where
 * the protocol carries bytes (DataRow columns, CopyData), so nothing is lost to a text decoding
 * (TIMELINE_HISTORY content is returned byte for byte).
 */

import { ProtocolError } from '../errors.js';
import { ByteReader } from './byte-reader.js';

/** Backend message type bytes used here. */
export const enum BackendCode {
  CommandComplete = 0x43, // C
  DataRow = 0x44, // D
  ErrorResponse = 0x45, // E
  CopyInResponse = 0x47, // G
  CopyOutResponse = 0x48, // H
  EmptyQueryResponse = 0x49, // I
  NoticeResponse = 0x4e, // N
  ParameterStatus = 0x53, // S
  RowDescription = 0x54, // T
  CopyBothResponse = 0x57, // W
  ReadyForQuery = 0x5a, // Z
  CopyDone = 0x63, // c
  CopyData = 0x64, // d
}

export interface FieldDescription {
  name: string;
  tableOid: number;
  columnNumber: number;
  typeOid: number;
  typeSize: number;
  typeModifier: number;
  format: number;
}

/** The fields of an ErrorResponse or NoticeResponse that we use. */
export interface ServerNotice {
  /** Non-localized severity (V) when the server sends it, else the localized one (S). */
  severity: string;
  sqlState: string;
  message: string;
  detail?: string;
  hint?: string;
}

export type BackendMessage =
  | { kind: 'rowDescription'; fields: FieldDescription[] }
  | { kind: 'dataRow'; values: Array<Buffer | null> }
  | { kind: 'commandComplete'; tag: string }
  | { kind: 'emptyQueryResponse' }
  | { kind: 'readyForQuery'; status: string }
  | { kind: 'errorResponse'; notice: ServerNotice }
  | { kind: 'noticeResponse'; notice: ServerNotice }
  | { kind: 'parameterStatus'; name: string; value: string }
  | { kind: 'copyInResponse' | 'copyOutResponse' | 'copyBothResponse'; format: number; columnFormats: number[] }
  | { kind: 'copyData'; data: Buffer }
  | { kind: 'copyDone' };

const NAMES: Record<number, string> = {
  [BackendCode.CommandComplete]: 'CommandComplete',
  [BackendCode.DataRow]: 'DataRow',
  [BackendCode.ErrorResponse]: 'ErrorResponse',
  [BackendCode.CopyInResponse]: 'CopyInResponse',
  [BackendCode.CopyOutResponse]: 'CopyOutResponse',
  [BackendCode.EmptyQueryResponse]: 'EmptyQueryResponse',
  [BackendCode.NoticeResponse]: 'NoticeResponse',
  [BackendCode.ParameterStatus]: 'ParameterStatus',
  [BackendCode.RowDescription]: 'RowDescription',
  [BackendCode.CopyBothResponse]: 'CopyBothResponse',
  [BackendCode.ReadyForQuery]: 'ReadyForQuery',
  [BackendCode.CopyDone]: 'CopyDone',
  [BackendCode.CopyData]: 'CopyData',
};

/** `CopyData message ("d")`, or the hex code for a byte that is not a printable letter. */
export function describeMessageType(code: number): string {
  const letter = code >= 0x20 && code < 0x7f ? `"${String.fromCharCode(code)}"` : `0x${code.toString(16).padStart(2, '0')}`;
  const name = NAMES[code];
  return name === undefined ? `message type ${letter}` : `${name} message (${letter})`;
}

/** Decodes one backend message body (after the type byte and length). */
export function decodeBackendMessage(code: number, body: Buffer): BackendMessage {
  // The hot path first: bulk data needs no cursor.
  if (code === BackendCode.CopyData) return { kind: 'copyData', data: body };
  const r = new ByteReader(body, describeMessageType(code));
  let message: BackendMessage;
  switch (code) {
    case BackendCode.CopyDone:
      message = { kind: 'copyDone' };
      break;
    case BackendCode.DataRow: {
      const count = r.int16();
      if (count < 0) r.fail(`negative column count ${count}`);
      const values: Array<Buffer | null> = [];
      for (let i = 0; i < count; i++) {
        const len = r.int32();
        if (len === -1) values.push(null);
        else if (len < -1) r.fail(`invalid column length ${len}`);
        else values.push(r.bytes(len));
      }
      message = { kind: 'dataRow', values };
      break;
    }
    case BackendCode.RowDescription: {
      const count = r.int16();
      if (count < 0) r.fail(`negative column count ${count}`);
      const fields: FieldDescription[] = [];
      for (let i = 0; i < count; i++) {
        fields.push({
          name: r.cstring(),
          tableOid: r.uint32(),
          columnNumber: r.int16(),
          typeOid: r.uint32(),
          typeSize: r.int16(),
          typeModifier: r.int32(),
          format: r.int16(),
        });
      }
      message = { kind: 'rowDescription', fields };
      break;
    }
    case BackendCode.CommandComplete:
      message = { kind: 'commandComplete', tag: r.cstring() };
      break;
    case BackendCode.EmptyQueryResponse:
      message = { kind: 'emptyQueryResponse' };
      break;
    case BackendCode.ReadyForQuery: {
      const status = r.uint8();
      message = { kind: 'readyForQuery', status: String.fromCharCode(status) };
      break;
    }
    case BackendCode.ErrorResponse:
    case BackendCode.NoticeResponse: {
      const notice = decodeNoticeFields(r);
      message = code === BackendCode.ErrorResponse
        ? { kind: 'errorResponse', notice }
        : { kind: 'noticeResponse', notice };
      break;
    }
    case BackendCode.ParameterStatus:
      message = { kind: 'parameterStatus', name: r.cstring(), value: r.cstring() };
      break;
    case BackendCode.CopyInResponse:
    case BackendCode.CopyOutResponse:
    case BackendCode.CopyBothResponse: {
      const format = r.uint8();
      const count = r.int16();
      if (count < 0) r.fail(`negative column count ${count}`);
      const columnFormats: number[] = [];
      for (let i = 0; i < count; i++) columnFormats.push(r.int16());
      const kind = code === BackendCode.CopyInResponse ? 'copyInResponse'
        : code === BackendCode.CopyOutResponse ? 'copyOutResponse' : 'copyBothResponse';
      message = { kind, format, columnFormats };
      break;
    }
    default:
      throw new ProtocolError(`unexpected ${describeMessageType(code)} of ${body.length} bytes on a replication connection`);
  }
  r.end();
  return message;
}

function decodeNoticeFields(r: ByteReader): ServerNotice {
  const fields = new Map<string, string>();
  for (;;) {
    const type = r.uint8();
    if (type === 0) break;
    fields.set(String.fromCharCode(type), r.cstring());
  }
  const notice: ServerNotice = {
    severity: fields.get('V') ?? fields.get('S') ?? 'ERROR',
    sqlState: fields.get('C') ?? 'XX000',
    message: fields.get('M') ?? '',
  };
  const detail = fields.get('D');
  const hint = fields.get('H');
  if (detail !== undefined) notice.detail = detail;
  if (hint !== undefined) notice.hint = hint;
  return notice;
}
