/**
 * The seam between replication commands and the socket. Command runners (simple commands,
 * BASE_BACKUP, START_REPLICATION) only see ProtocolIo: `send` a frontend frame, `receive` the
 * next backend message (ParameterStatus and NoticeResponse are handled below this seam), and
 * `abort` the connection when the stream can no longer be trusted. Tests drive the same runners
 * over a fake socket, so protocol handling is tested without a server.
 *
 * Error handling convention: a runner that meets an ErrorResponse throws ServerErrorReceived;
 * the command wrapper then reads on to ReadyForQuery (the connection stays usable) and turns it
 * into a ServerError prefixed with what was being done, pg_basebackup style:
 * `could not send replication command "X": <server message>`.
 */

import type * as PgProtocol from 'pg-protocol';
import { ProtocolError, ServerError } from '../errors.js';
import { lazyRequire } from '../lazy-require.js';
import type { BackendMessage, FieldDescription, ServerNotice } from './backend-message.js';

// Required on first use (one module for both files; pg shares it): a program that loads the
// package's index without replicating (pgfleet-agent restore) does not pay for it.
export const pgProtocol = lazyRequire<typeof PgProtocol>('pg-protocol');

export interface ProtocolIo {
  /** "host:port" or the socket path, for messages. */
  readonly peer: string;
  send(frame: Buffer): void;
  receive(): Promise<BackendMessage>;
  /** The next message if it has already arrived, else null (then use receive()); optional. */
  receiveNow?(): BackendMessage | null;
  /** Destroys the connection: it cannot be used for further commands. */
  abort(reason: Error): void;
}

/** Thrown by runners when the server answered with an ErrorResponse. */
export class ServerErrorReceived extends Error {
  constructor(readonly notice: ServerNotice) {
    super(notice.message);
  }
}

export interface ResultSet {
  fields: FieldDescription[];
  rows: Array<Array<Buffer | null>>;
  tag: string;
}

/** What a command is doing, for the message of a server error ("could not initiate base backup"). */
export interface CommandContext {
  prefix: string;
}

/** The ServerError for an ErrorResponse received while doing `prefix`. */
export function serverErrorFor(prefix: string, notice: ServerNotice): ServerError {
  const libpq = [`${notice.severity}:  ${notice.message}`];
  if (notice.detail !== undefined) libpq.push(`DETAIL:  ${notice.detail}`);
  if (notice.hint !== undefined) libpq.push(`HINT:  ${notice.hint}`);
  return new ServerError(`${prefix}: ${notice.message}`, {
    sqlState: notice.sqlState,
    // pg_basebackup says only this after a data checksum failure (the WARNINGs named the blocks).
    libpqText: notice.sqlState === 'XX001' ? prefix : `${prefix}: ${libpq.join('\n')}`,
    ...(notice.hint !== undefined ? { hint: notice.hint } : {}),
  });
}

/** A ProtocolError for a message that has no place here. */
export function unexpectedMessage(message: BackendMessage, doing: string): ProtocolError {
  return new ProtocolError(`unexpected ${describeKind(message)} while ${doing}`);
}

function describeKind(message: BackendMessage): string {
  switch (message.kind) {
    case 'copyData': return `CopyData message (${message.data.length} bytes)`;
    case 'commandComplete': return `CommandComplete message ("${message.tag}")`;
    default: return `${message.kind.charAt(0).toUpperCase()}${message.kind.slice(1)} message`;
  }
}

/**
 * Reads one result set: RowDescription (or `first`, already read), DataRows, CommandComplete.
 * An ErrorResponse anywhere throws ServerErrorReceived.
 */
export async function readResultSet(io: ProtocolIo, doing: string, first?: BackendMessage): Promise<ResultSet> {
  const head = first ?? await io.receive();
  if (head.kind === 'errorResponse') throw new ServerErrorReceived(head.notice);
  if (head.kind !== 'rowDescription') throw unexpectedMessage(head, doing);
  const rows: Array<Array<Buffer | null>> = [];
  for (;;) {
    const m = await io.receive();
    switch (m.kind) {
      case 'dataRow':
        if (m.values.length !== head.fields.length) {
          throw new ProtocolError(`DataRow with ${m.values.length} columns after a RowDescription with ${head.fields.length} while ${doing}`);
        }
        rows.push(m.values);
        break;
      case 'commandComplete':
        return { fields: head.fields, rows, tag: m.tag };
      case 'errorResponse':
        throw new ServerErrorReceived(m.notice);
      default:
        throw unexpectedMessage(m, doing);
    }
  }
}

/**
 * Reads the whole response of a command without COPY: any number of result sets and
 * CommandCompletes, up to ReadyForQuery.
 */
export async function readCommandResults(io: ProtocolIo, doing: string): Promise<ResultSet[]> {
  const results: ResultSet[] = [];
  for (;;) {
    const m = await io.receive();
    switch (m.kind) {
      case 'rowDescription':
        results.push(await readResultSet(io, doing, m));
        break;
      case 'commandComplete':
      case 'emptyQueryResponse':
        break;
      case 'errorResponse':
        throw new ServerErrorReceived(m.notice);
      case 'readyForQuery':
        return results;
      default:
        throw unexpectedMessage(m, doing);
    }
  }
}

/**
 * After an ErrorResponse the server abandons the command and sends ReadyForQuery; anything in
 * between (the rest of a COPY that was in flight) is discarded.
 */
export async function drainToReadyForQuery(io: ProtocolIo): Promise<void> {
  for (;;) {
    const m = await io.receive();
    if (m.kind === 'readyForQuery') return;
  }
}

/** A text column of a row, or null. */
export function textValue(row: Array<Buffer | null>, index: number): string | null {
  const v = row[index];
  return v === undefined || v === null ? null : v.toString('utf8');
}

/**
 * Sends `text` as a simple query and runs `run` on the response. An ErrorResponse (thrown by
 * the runner as ServerErrorReceived) is read through to ReadyForQuery, so the connection stays
 * usable, and becomes a ServerError prefixed with what was being done (ctx.prefix, which the
 * runner may advance phase by phase). Any other failure aborts the connection and is rethrown.
 */
export async function runCommand<T>(io: ProtocolIo, text: string, prefix: string,
  run: (io: ProtocolIo, ctx: CommandContext) => Promise<T>): Promise<T> {
  const ctx: CommandContext = { prefix };
  try {
    io.send(pgProtocol().serialize.query(text));
    return await run(io, ctx);
  } catch (err) {
    if (err instanceof ServerErrorReceived) {
      const error = serverErrorFor(ctx.prefix, err.notice);
      try {
        await drainToReadyForQuery(io);
      } catch {
        io.abort(error);
      }
      throw error;
    }
    io.abort(err instanceof Error ? err : new ProtocolError(String(err)));
    throw err;
  }
}
