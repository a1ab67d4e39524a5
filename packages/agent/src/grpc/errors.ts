/**
 * Errors across the wire. A failed call ends with a gRPC status whose details are pgfleet's
 * error message and whose trailing metadata carries the catalogue entry:
 *
 *     pgfleet-error-id     "directory-not-empty"
 *     pgfleet-error-code   "70"
 *     pgfleet-error-hint   the HINT sentence (absent when there is none)
 *
 * The client rethrows it as the same catalogue class with the same message and hint (found by
 * id among @pgfleet/core's exported error classes). A status without our metadata (the
 * connection failed, TLS was refused, a deadline passed) becomes a ConnectError or
 * CancelledError naming the agent. Errors that are not ours become InternalError on the wire
 * (their text is passed on, their stack is not).
 */

import * as grpc from '@grpc/grpc-js';
import * as core from '@pgfleet/core';
import { CancelledError, ConnectError, InternalError, PgFleetError } from '@pgfleet/core';

export const ERROR_ID_KEY = 'pgfleet-error-id';
export const ERROR_CODE_KEY = 'pgfleet-error-code';
export const ERROR_HINT_KEY = 'pgfleet-error-hint';

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

/** What a handler passes to its callback / emits: status + message + catalogue metadata. */
export function toServiceError(err: unknown): Partial<grpc.StatusObject> & Error {
  const e = err instanceof PgFleetError ? err : new InternalError(err instanceof Error ? err.message : String(err));
  const metadata = new grpc.Metadata();
  metadata.set(ERROR_ID_KEY, e.id);
  metadata.set(ERROR_CODE_KEY, String(e.code));
  if (e.hint) metadata.set(ERROR_HINT_KEY, e.hint);
  const out = new Error(e.message) as Error & Partial<grpc.StatusObject>;
  out.code = STATUS_FOR_ID[e.id] ?? grpc.status.UNKNOWN;
  out.details = e.message;
  out.metadata = metadata;
  return out;
}

function first(metadata: grpc.Metadata | undefined, key: string): string | undefined {
  const v = metadata?.get(key)[0];
  return v === undefined ? undefined : String(v);
}

/** The catalogue error a failed call stands for (see the module comment). */
export function fromServiceError(err: unknown, peer: string): PgFleetError {
  if (err instanceof PgFleetError) return err;
  const s = err as Partial<grpc.ServiceError>;
  const id = first(s.metadata, ERROR_ID_KEY);
  const message = s.details ?? (err instanceof Error ? err.message : String(err));
  if (id !== undefined) {
    const hint = first(s.metadata, ERROR_HINT_KEY);
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
