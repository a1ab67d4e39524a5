/**
 * pgfleet errors across gRPC, both directions, in the form agent.proto and controller.proto
 * document: a gRPC status whose details are the error message, with trailing metadata
 * "pgfleet-error-id", "pgfleet-error-code" and "pgfleet-error-hint" (printable ASCII) or
 * "pgfleet-error-hint-bin" (the hint as UTF-8 bytes, when it has a newline or a non-ASCII
 * character, which gRPC refuses in plain metadata). The message goes as the status details,
 * which gRPC percent-encodes. Both are cut to core's MAX_WIRE_MESSAGE_BYTES /
 * MAX_WIRE_HINT_BYTES (boundText): trailers larger than the peer accepts would end the whole
 * connection, and every other call on it. Building a status never throws. A received error is
 * rethrown as the same catalogue class (so the CLI exits with the same code wherever the error
 * happened); an id this build does not know keeps its code (a newer peer). A gRPC failure
 * without pgfleet metadata (unreachable peer, TLS refusal, missing method) is turned into the
 * catalogue error that says what happened, naming the peer.
 */
import * as grpc from '@grpc/grpc-js';
import * as core from '@pgfleet/core';
import {
  AuthenticationError, ConnectError, InternalError, MAX_WIRE_HINT_BYTES, MAX_WIRE_MESSAGE_BYTES, NotSupportedError,
  PgFleetError, ProtocolError, boundText,
} from '@pgfleet/core';

export const ERROR_ID_KEY = 'pgfleet-error-id';
export const ERROR_CODE_KEY = 'pgfleet-error-code';
export const ERROR_HINT_KEY = 'pgfleet-error-hint';
export const ERROR_HINT_BIN_KEY = 'pgfleet-error-hint-bin';

/** What gRPC accepts as a plain (non -bin) metadata value. */
const PLAIN_METADATA = /^[ -~]*$/;

type ErrorClass = new (message: string, details?: core.ErrorDetails) => PgFleetError;

/** Every catalogue class, by id (built from the package's exports). */
const CLASSES_BY_ID: ReadonlyMap<string, ErrorClass> = (() => {
  const map = new Map<string, ErrorClass>();
  for (const value of Object.values(core)) {
    if (typeof value !== 'function' || !(value.prototype instanceof PgFleetError)) continue;
    try {
      const probe = new (value as ErrorClass)('probe');
      map.set(probe.id, value as ErrorClass);
    } catch {
      // not constructible with a message: not a catalogue class
    }
  }
  return map;
})();

/** An error from a peer whose id this build does not know: code and id kept as received. */
export class RemoteError extends PgFleetError {
  readonly code: number;
  readonly id: string;
  constructor(id: string, code: number, message: string, details: core.ErrorDetails = {}) {
    super(message, details);
    this.id = id;
    this.code = code;
  }
}

/** Creates the catalogue error for an id (RemoteError when unknown). */
export function errorFromId(id: string, code: number, message: string, hint?: string): PgFleetError {
  const details = hint ? { hint } : {};
  const cls = CLASSES_BY_ID.get(id);
  return cls ? new cls(message, details) : new RemoteError(id, code, message, details);
}

const STATUS_BY_ID: Record<string, grpc.status> = {
  'invalid-option': grpc.status.INVALID_ARGUMENT,
  'not-found': grpc.status.NOT_FOUND,
  'not-supported': grpc.status.UNIMPLEMENTED,
  'busy': grpc.status.ABORTED,
  'cancelled': grpc.status.CANCELLED,
  'internal': grpc.status.INTERNAL,
  'connect': grpc.status.UNAVAILABLE,
  'incompatible-version': grpc.status.FAILED_PRECONDITION,
  'directory-not-empty': grpc.status.FAILED_PRECONDITION,
  'not-allowed': grpc.status.PERMISSION_DENIED,
};

/** Any thrown value as a PgFleetError (unexpected ones become InternalError). */
export function asPgFleetError(err: unknown): PgFleetError {
  if (err instanceof PgFleetError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new InternalError(`unexpected error: ${message}`, { cause: err });
}

/** The status object a server ends a call with. Never throws. */
export function toStatus(err: unknown): grpc.StatusObject {
  try {
    const e = asPgFleetError(err);
    const metadata = new grpc.Metadata();
    metadata.set(ERROR_ID_KEY, e.id);
    metadata.set(ERROR_CODE_KEY, String(e.code));
    if (e.hint) {
      const hint = boundText(e.hint, MAX_WIRE_HINT_BYTES);
      if (PLAIN_METADATA.test(hint)) metadata.set(ERROR_HINT_KEY, hint);
      else metadata.set(ERROR_HINT_BIN_KEY, Buffer.from(hint, 'utf8'));
    }
    return { code: STATUS_BY_ID[e.id] ?? grpc.status.FAILED_PRECONDITION, details: boundText(e.message, MAX_WIRE_MESSAGE_BYTES), metadata };
  } catch {
    return { code: grpc.status.INTERNAL, details: 'the controller could not encode its error', metadata: new grpc.Metadata() };
  }
}

/** The same, as the Error-shaped object grpc-js callbacks and stream.destroy() take. */
export function toServiceError(err: unknown): grpc.ServiceError {
  const status = toStatus(err);
  return Object.assign(new Error(status.details), status);
}

function metadataText(md: grpc.Metadata | undefined, key: string): string | undefined {
  const v = md?.get(key)[0];
  return v === undefined ? undefined : String(v);
}

/** The HINT of a received error, from either key. */
function hintOf(md: grpc.Metadata | undefined): string | undefined {
  const bin = md?.get(ERROR_HINT_BIN_KEY)[0];
  if (Buffer.isBuffer(bin)) return bin.toString('utf8');
  return metadataText(md, ERROR_HINT_KEY);
}

export interface FromServiceErrorContext {
  /** How to name the peer in messages: 'controller "127.0.0.1:7400"', 'agent "db1"'. */
  peer: string;
  /** The RPC, for "does not implement" messages. */
  method?: string;
  /** The channel uses TLS (a refused certificate then looks like a failed connection). */
  tls?: boolean;
  /** The call was under way (messages received): a failure is a lost connection. */
  midCall?: boolean;
}

/** Turns a failed call's error back into a catalogue error (see the module comment). */
export function fromServiceError(err: unknown, context: FromServiceErrorContext): PgFleetError {
  if (err instanceof PgFleetError) return err;
  const se = err as Partial<grpc.ServiceError>;
  if (typeof se?.code !== 'number') return asPgFleetError(err);
  const id = metadataText(se.metadata, ERROR_ID_KEY);
  const details = se.details ?? se.message ?? '';
  if (id !== undefined) {
    const code = Number(metadataText(se.metadata, ERROR_CODE_KEY) ?? '99');
    return errorFromId(id, Number.isInteger(code) ? code : 99, details, hintOf(se.metadata));
  }
  const detail = cleanDetail(details);
  switch (se.code) {
    case grpc.status.UNAVAILABLE:
      if (context.midCall) {
        return new ConnectError(`lost the connection to ${context.peer}: ${lowerFirst(detail)}`, {
          hint: 'Check whether it is still running; its log may say why.',
        });
      }
      if (isTlsFailure(detail)) {
        return new AuthenticationError(`TLS handshake with ${context.peer} failed: ${lowerFirst(detail)}`, {
          hint: 'Check that both sides use certificates signed by the same CA (pgfleet certs init) and that the peer accepts this certificate.',
        });
      }
      return new ConnectError(`could not connect to ${context.peer}: ${lowerFirst(detail)}`, {
        hint: context.tls
          ? 'Check that it is running and listening on that address, and that it accepts this certificate (signed by the same CA, see "pgfleet certs init").'
          : 'Check that it is running and listening on that address.',
      });
    case grpc.status.UNIMPLEMENTED:
      return new NotSupportedError(`${context.peer} does not implement ${context.method ? `"${context.method}"` : 'this call'}`, {
        hint: 'Upgrade it to a pgfleet version with this feature.',
      });
    case grpc.status.CANCELLED:
      // Our own cancellations are recognised by the caller before it gets here: this one came
      // from the other side or the connection (a peer killed mid-call looks like this).
      return new ConnectError(`${context.peer} ended the call abruptly`, {
        hint: 'Check whether it is still running; its log may say why.',
      });
    case grpc.status.DEADLINE_EXCEEDED:
      return new ConnectError(`${context.peer} did not answer in time`);
    case grpc.status.UNAUTHENTICATED:
    case grpc.status.PERMISSION_DENIED:
      return new AuthenticationError(`${context.peer} refused the call: ${lowerFirst(detail)}`);
    default:
      return new ProtocolError(`${context.peer} failed with gRPC status ${grpc.status[se.code] ?? se.code}: ${lowerFirst(detail)}`);
  }
}

/** grpc-js's connection failure text without its decorations (timestamps, empty notes). */
function cleanDetail(details: string): string {
  return details
    .replace(/^No connection established\. Last error: /, '')
    .replace(/\. Resolution note: ?$/, '')
    .replace(/ \(\d{4}-\d\d-\d\dT[\d:.]+Z\)/, '')
    .replace(/^error: /i, '');
}

function isTlsFailure(detail: string): boolean {
  return /certificate|handshake|SSL|TLS|alert|self[- ]signed|unable to verify|CERT_/i.test(detail);
}

function lowerFirst(s: string): string {
  return s.replace(/^[A-Z](?![A-Z])/, (c) => c.toLowerCase());
}
