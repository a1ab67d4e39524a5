/**
 * pgfleet errors across gRPC, both directions, for every service (agent.proto and
 * controller.proto document the form). A failed call ends with a gRPC status whose details are
 * the error message and whose trailing metadata carries
 *
 *     pgfleet-error-id           "directory-not-empty"
 *     pgfleet-error-code         "70"
 *     pgfleet-error-hint         the HINT, when it is printable ASCII
 *     pgfleet-error-hint-bin     the HINT as UTF-8 bytes, when it is not (a newline, a non-ASCII
 *                                path): gRPC refuses such text in plain metadata
 *     pgfleet-error-raised-from  who raised it, when the sender relays an error it received
 *                                ('agent "db1"'; plain or -bin as the hint)
 *
 * The message travels as the status details, which gRPC percent-encodes, so any text crosses.
 * Message and hint are cut to core's MAX_WIRE_MESSAGE_BYTES / MAX_WIRE_HINT_BYTES (boundText,
 * with a marker): trailers larger than the peer accepts would end the whole connection and
 * every other call on it. Building a status never throws.
 *
 * The receiver rethrows the same catalogue class (ERROR_CLASSES: an explicit list, so that the
 * CLI exits with the same code wherever the error happened) and remembers where it was raised
 * (errorOrigin): the peer that sent it, or the host the peer relayed it from. An id this build
 * does not know (a newer peer's) becomes a RemoteError that keeps its id and code. A gRPC
 * failure without our metadata (unreachable peer, TLS refusal, missing method, a call the peer
 * or the connection cut) becomes the catalogue error that says what happened, naming the peer.
 */

import * as grpc from '@grpc/grpc-js';
import {
  ArchiveFormatError, AuthenticationError, BusyError, CancelledError, ConnectError, DirectoryNotEmptyError, FileIoError,
  HbaRejectedError, IncompatibleVersionError, InstanceError, InternalError, InvalidOptionError, ManifestError,
  NotAllowedError, NotFoundError, NotSupportedError, PgFleetError,
  PrivilegeError, ProtocolError, ServerError, TooManyConnectionsError, UnsafePathError, VerifyError, WalConflictError, WalFormatError,
  WalMissingError, WalRemovedError, type ErrorDetails,
} from '@pgfleet/core/errors';
import { MAX_WIRE_HINT_BYTES, MAX_WIRE_MESSAGE_BYTES, boundText } from '@pgfleet/core/wire-limits';

export const ERROR_ID_KEY = 'pgfleet-error-id';
export const ERROR_CODE_KEY = 'pgfleet-error-code';
export const ERROR_HINT_KEY = 'pgfleet-error-hint';
export const ERROR_HINT_BIN_KEY = 'pgfleet-error-hint-bin';
export const ERROR_RAISED_FROM_KEY = 'pgfleet-error-raised-from';

type ErrorClass = new (message: string, details?: ErrorDetails) => PgFleetError;

/**
 * Every catalogue class that may cross the wire, with its id and the gRPC status it ends a call
 * with (what plain gRPC tools show; our clients read the id). A failure of the host that serves
 * the call, which the caller cannot mend by asking differently (file-io), is INTERNAL.
 */
export const ERROR_CLASSES: ReadonlyArray<{ id: string; cls: ErrorClass; status: grpc.status }> = [
  { id: 'invalid-option', cls: InvalidOptionError, status: grpc.status.INVALID_ARGUMENT },
  { id: 'not-supported', cls: NotSupportedError, status: grpc.status.UNIMPLEMENTED },
  { id: 'connect', cls: ConnectError, status: grpc.status.UNAVAILABLE },
  { id: 'authentication', cls: AuthenticationError, status: grpc.status.FAILED_PRECONDITION },
  { id: 'hba-rejected', cls: HbaRejectedError, status: grpc.status.FAILED_PRECONDITION },
  { id: 'privilege', cls: PrivilegeError, status: grpc.status.FAILED_PRECONDITION },
  { id: 'too-many-connections', cls: TooManyConnectionsError, status: grpc.status.RESOURCE_EXHAUSTED },
  { id: 'protocol', cls: ProtocolError, status: grpc.status.INTERNAL },
  { id: 'server', cls: ServerError, status: grpc.status.FAILED_PRECONDITION },
  { id: 'incompatible-version', cls: IncompatibleVersionError, status: grpc.status.FAILED_PRECONDITION },
  { id: 'archive-format', cls: ArchiveFormatError, status: grpc.status.DATA_LOSS },
  { id: 'unsafe-path', cls: UnsafePathError, status: grpc.status.INVALID_ARGUMENT },
  { id: 'directory-not-empty', cls: DirectoryNotEmptyError, status: grpc.status.FAILED_PRECONDITION },
  { id: 'file-io', cls: FileIoError, status: grpc.status.INTERNAL },
  { id: 'not-allowed', cls: NotAllowedError, status: grpc.status.PERMISSION_DENIED },
  { id: 'instance', cls: InstanceError, status: grpc.status.FAILED_PRECONDITION },
  { id: 'not-found', cls: NotFoundError, status: grpc.status.NOT_FOUND },
  { id: 'busy', cls: BusyError, status: grpc.status.ABORTED },
  { id: 'manifest', cls: ManifestError, status: grpc.status.DATA_LOSS },
  { id: 'verify', cls: VerifyError, status: grpc.status.DATA_LOSS },
  { id: 'wal-missing', cls: WalMissingError, status: grpc.status.DATA_LOSS },
  { id: 'wal-format', cls: WalFormatError, status: grpc.status.DATA_LOSS },
  { id: 'wal-conflict', cls: WalConflictError, status: grpc.status.ALREADY_EXISTS },
  { id: 'wal-removed', cls: WalRemovedError, status: grpc.status.DATA_LOSS },
  { id: 'cancelled', cls: CancelledError, status: grpc.status.CANCELLED },
  { id: 'internal', cls: InternalError, status: grpc.status.INTERNAL },
];

const BY_ID = new Map(ERROR_CLASSES.map((e) => [e.id, e]));

/** An error from a peer whose id this build does not know (a newer peer): id and code kept. */
export class RemoteError extends PgFleetError {
  readonly code: number;
  readonly id: string;
  constructor(id: string, code: number, message: string, details: ErrorDetails = {}) {
    super(message, details);
    this.id = id;
    this.code = code;
  }
}

/** Where a received error was raised: `host`; `via` is the peer that relayed it, if any. */
export interface ErrorOrigin {
  host: string;
  via: string | null;
}

const origins = new WeakMap<PgFleetError, ErrorOrigin>();

/** Where `err` was raised, when it came over the wire (null for our own errors). */
export function errorOrigin(err: unknown): ErrorOrigin | null {
  return err instanceof PgFleetError ? origins.get(err) ?? null : null;
}

/** " (raised from agent "db1")" for an error another host raised, else "". For log lines. */
export function originSuffix(err: unknown): string {
  const origin = errorOrigin(err);
  return origin === null ? '' : ` (raised from ${origin.host})`;
}

/** The catalogue error for an id (RemoteError when unknown), remembering where it was raised. */
export function errorFromId(id: string, code: number, message: string, hint?: string, origin?: ErrorOrigin): PgFleetError {
  const details = hint ? { hint } : {};
  const known = BY_ID.get(id);
  const err = known ? new known.cls(message, details) : new RemoteError(id, code, message, details);
  if (origin) origins.set(err, origin);
  return err;
}

/** Any thrown value as a PgFleetError (unexpected ones become InternalError). */
export function asPgFleetError(err: unknown): PgFleetError {
  if (err instanceof PgFleetError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new InternalError(`unexpected error: ${message}`, { cause: err });
}

/** What gRPC accepts as a plain (non -bin) metadata value. */
const PLAIN_METADATA = /^[ -~]*$/;

function setText(metadata: grpc.Metadata, key: string, text: string): void {
  if (PLAIN_METADATA.test(text)) metadata.set(key, text);
  else metadata.set(`${key}-bin`, Buffer.from(text, 'utf8'));
}

function getText(metadata: grpc.Metadata | undefined, key: string): string | undefined {
  const bin = metadata?.get(`${key}-bin`)[0];
  if (Buffer.isBuffer(bin)) return bin.toString('utf8');
  const plain = metadata?.get(key)[0];
  return plain === undefined ? undefined : String(plain);
}

/** The status a server ends a failed call with: code, bounded message, metadata. Never throws. */
export function toStatus(err: unknown): grpc.StatusObject {
  try {
    const e = asPgFleetError(err);
    const metadata = new grpc.Metadata();
    metadata.set(ERROR_ID_KEY, e.id);
    metadata.set(ERROR_CODE_KEY, String(e.code));
    if (e.hint) setText(metadata, ERROR_HINT_KEY, boundText(e.hint, MAX_WIRE_HINT_BYTES));
    const origin = origins.get(e);
    if (origin) setText(metadata, ERROR_RAISED_FROM_KEY, boundText(origin.host, MAX_WIRE_HINT_BYTES));
    return { code: BY_ID.get(e.id)?.status ?? grpc.status.UNKNOWN, details: boundText(e.message, MAX_WIRE_MESSAGE_BYTES), metadata };
  } catch {
    return { code: grpc.status.INTERNAL, details: 'the error could not be encoded', metadata: new grpc.Metadata() };
  }
}

/** The same, as the Error-shaped object grpc-js callbacks and call.emit('error') take. */
export function toServiceError(err: unknown): grpc.ServiceError {
  const status = toStatus(err);
  return Object.assign(new Error(status.details), status);
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
  const details = se.details ?? se.message ?? '';
  const id = getText(se.metadata, ERROR_ID_KEY);
  if (id !== undefined) {
    const code = Number(getText(se.metadata, ERROR_CODE_KEY) ?? '99');
    const relayedFrom = getText(se.metadata, ERROR_RAISED_FROM_KEY);
    return errorFromId(id, Number.isInteger(code) ? code : 99, details, getText(se.metadata, ERROR_HINT_KEY),
      relayedFrom ? { host: relayedFrom, via: context.peer } : { host: context.peer, via: null });
  }
  return fromPlainStatus(se.code, cleanDetail(details), context);
}

/** A failed call without pgfleet metadata: what gRPC or the connection said. */
function fromPlainStatus(code: grpc.status, detail: string, context: FromServiceErrorContext): PgFleetError {
  switch (code) {
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
      // The caller recognises its own cancellations before it gets here: this one came from
      // the other side or the connection (a peer killed mid-call looks like this).
      return new ConnectError(`${context.peer} ended the call abruptly`, { hint: 'Check whether it is still running; its log may say why.' });
    case grpc.status.DEADLINE_EXCEEDED:
      return new ConnectError(`${context.peer} did not answer in time`);
    case grpc.status.UNAUTHENTICATED:
    case grpc.status.PERMISSION_DENIED:
      return new AuthenticationError(`${context.peer} refused the call: ${lowerFirst(detail)}`);
    default:
      return new ProtocolError(`${context.peer} failed with gRPC status ${grpc.status[code] ?? code}: ${lowerFirst(detail)}`);
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
