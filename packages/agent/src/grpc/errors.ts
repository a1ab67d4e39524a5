/**
 * Errors across the wire. A failed call ends with a gRPC status whose details are pgfleet's
 * error message and whose trailing metadata carries the catalogue entry:
 *
 *     pgfleet-error-id        "directory-not-empty"
 *     pgfleet-error-code      "70"
 *     pgfleet-error-hint      the HINT sentence, when it is printable ASCII
 *     pgfleet-error-hint-bin  the HINT as UTF-8 bytes, when it is not (a newline, a
 *                             non-ASCII path): gRPC refuses such text in plain metadata
 *
 * The message travels as the status details, which gRPC percent-encodes, so any text
 * crosses. Both are cut to core's MAX_WIRE_MESSAGE_BYTES / MAX_WIRE_HINT_BYTES (boundText, with
 * a marker): a huge error must not exceed what the peer accepts in trailers, which would end
 * the whole connection and every call on it. Building the status never throws.
 *
 * The client rethrows it as the same catalogue class with the same message and hint (found by
 * id among @pgfleet/core's exported error classes). A status without our metadata (the
 * connection failed, TLS was refused, a deadline passed) becomes a ConnectError or
 * CancelledError naming the agent. Errors that are not ours become InternalError on the wire
 * (their text is passed on, their stack is not).
 */

import * as grpc from '@grpc/grpc-js';
import * as core from '@pgfleet/core';
import {
  CancelledError, ConnectError, InternalError, MAX_WIRE_HINT_BYTES, MAX_WIRE_MESSAGE_BYTES, PgFleetError, boundText,
} from '@pgfleet/core';

export const ERROR_ID_KEY = 'pgfleet-error-id';
export const ERROR_CODE_KEY = 'pgfleet-error-code';
export const ERROR_HINT_KEY = 'pgfleet-error-hint';
export const ERROR_HINT_BIN_KEY = 'pgfleet-error-hint-bin';

/** What gRPC accepts as a plain (non -bin) metadata value. */
const PLAIN_METADATA = /^[ -~]*$/;

const STATUS_FOR_ID: Record<string, grpc.status> = {
  'invalid-option': grpc.status.INVALID_ARGUMENT,
  'not-supported': grpc.status.UNIMPLEMENTED,
  'not-allowed': grpc.status.PERMISSION_DENIED,
  'directory-not-empty': grpc.status.FAILED_PRECONDITION,
  'unsafe-path': grpc.status.INVALID_ARGUMENT,
  'archive-format': grpc.status.DATA_LOSS,
  'manifest': grpc.status.DATA_LOSS,
  'verify': grpc.status.DATA_LOSS,
  'wal-missing': grpc.status.DATA_LOSS,
  'wal-format': grpc.status.DATA_LOSS,
  'cancelled': grpc.status.CANCELLED,
  'instance': grpc.status.FAILED_PRECONDITION,
  'file-io': grpc.status.INTERNAL,
  'internal': grpc.status.INTERNAL,
};

type ErrorClass = new (message: string, details?: core.ErrorDetails) => PgFleetError;

let classesById: Map<string, ErrorClass> | null = null;

/** Every concrete catalogue class exported by @pgfleet/core, by id. */
export function errorClasses(): Map<string, ErrorClass> {
  if (classesById !== null) return classesById;
  classesById = new Map();
  for (const value of Object.values(core)) {
    if (typeof value !== 'function' || value === PgFleetError) continue;
    if (!(value.prototype instanceof PgFleetError)) continue;
    try {
      const probe = new (value as ErrorClass)('probe');
      if (!classesById.has(probe.id)) classesById.set(probe.id, value as ErrorClass);
    } catch {
      // not constructible with a message alone: not a catalogue class
    }
  }
  return classesById;
}

/** The status a failed call ends with: code, bounded message, catalogue metadata. Never throws. */
export function toStatus(err: unknown): grpc.StatusObject {
  try {
    const e = err instanceof PgFleetError ? err : new InternalError(err instanceof Error ? err.message : String(err));
    const metadata = new grpc.Metadata();
    metadata.set(ERROR_ID_KEY, e.id);
    metadata.set(ERROR_CODE_KEY, String(e.code));
    if (e.hint) {
      const hint = boundText(e.hint, MAX_WIRE_HINT_BYTES);
      if (PLAIN_METADATA.test(hint)) metadata.set(ERROR_HINT_KEY, hint);
      else metadata.set(ERROR_HINT_BIN_KEY, Buffer.from(hint, 'utf8'));
    }
    return { code: STATUS_FOR_ID[e.id] ?? grpc.status.UNKNOWN, details: boundText(e.message, MAX_WIRE_MESSAGE_BYTES), metadata };
  } catch {
    return { code: grpc.status.INTERNAL, details: 'the agent could not encode its error', metadata: new grpc.Metadata() };
  }
}

/** What a handler passes to its callback / emits: the status as an Error. Never throws. */
export function toServiceError(err: unknown): Partial<grpc.StatusObject> & Error {
  const status = toStatus(err);
  return Object.assign(new Error(status.details), status);
}

function first(metadata: grpc.Metadata | undefined, key: string): string | undefined {
  const v = metadata?.get(key)[0];
  return v === undefined ? undefined : String(v);
}

/** The HINT of a received error, from either key. */
function hintOf(metadata: grpc.Metadata | undefined): string | undefined {
  const bin = metadata?.get(ERROR_HINT_BIN_KEY)[0];
  if (Buffer.isBuffer(bin)) return bin.toString('utf8');
  return first(metadata, ERROR_HINT_KEY);
}

/** The catalogue error a failed call stands for (see the module comment). */
export function fromServiceError(err: unknown, peer: string): PgFleetError {
  if (err instanceof PgFleetError) return err;
  const s = err as Partial<grpc.ServiceError>;
  const id = first(s.metadata, ERROR_ID_KEY);
  const message = s.details ?? (err instanceof Error ? err.message : String(err));
  if (id !== undefined) {
    const hint = hintOf(s.metadata);
    const Cls = errorClasses().get(id);
    const details = hint ? { hint } : {};
    if (Cls) return new Cls(message, details);
    return new InternalError(`agent "${peer}" failed with an error this client does not know ("${id}"): ${message}`, details);
  }
  if (s.code === grpc.status.CANCELLED) return new CancelledError(`the call to agent "${peer}" was cancelled`, { cause: err });
  if (s.code === grpc.status.UNAVAILABLE) {
    return new ConnectError(`could not reach agent "${peer}": ${message}`, {
      cause: err,
      hint: 'Check that the agent runs and listens there, and that both sides use the same CA (mutual TLS).',
    });
  }
  return new ConnectError(`call to agent "${peer}" failed: ${message}`, { cause: err });
}
