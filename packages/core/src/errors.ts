/**
 * The error catalogue. Every failure pgfleet reports is one of these classes; each has a stable
 * numeric `code` (the `pgfleet` CLI's exit code) and a stable string `id` (what crosses gRPC).
 * Messages are lower-case, name the object in double quotes, carry no final period and may end
 * with the OS or server error after a colon. A `hint` is a full sentence the user can act on; it
 * is printed on its own line as `HINT: ...`.
 *
 * pgfleet-basebackup and pgfleet-verifybackup exit 1 on any error, as pg_basebackup does; the
 * catalogue code is for the pgfleet CLI and for programs.
 */

export interface ErrorDetails {
  hint?: string;
  cause?: unknown;
}

export abstract class PgFleetError extends Error {
  abstract readonly code: number;
  abstract readonly id: string;
  readonly hint: string | undefined;

  constructor(message: string, details: ErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = new.target.name;
    this.hint = details.hint;
  }

  /** The text a command line prints: message, then the HINT line when there is one. */
  format(): string {
    return this.hint ? `${this.message}\nHINT: ${this.hint}` : this.message;
  }
}

/** Thrown when a command-line option or an option object is invalid. */
export class InvalidOptionError extends PgFleetError {
  readonly code = 31;
  readonly id = 'invalid-option';
}

/** Thrown when a requested feature exists in pg_basebackup but not yet in pgfleet. */
export class NotSupportedError extends PgFleetError {
  readonly code = 32;
  readonly id = 'not-supported';
}

/** Thrown when no connection to the server can be opened (unreachable, refused, DNS). */
export class ConnectError extends PgFleetError {
  readonly code = 40;
  readonly id = 'connect';
}

/** Thrown when the server rejects the credentials (wrong password, missing password). */
export class AuthenticationError extends PgFleetError {
  readonly code = 41;
  readonly id = 'authentication';
}

/** Thrown when pg_hba.conf has no entry allowing the replication connection. */
export class HbaRejectedError extends PgFleetError {
  readonly code = 42;
  readonly id = 'hba-rejected';
}

/** Thrown when the role lacks the REPLICATION attribute or another needed privilege. */
export class PrivilegeError extends PgFleetError {
  readonly code = 43;
  readonly id = 'privilege';
}

/** Thrown when every WAL sender slot (max_wal_senders) or connection slot is in use. */
export class TooManyConnectionsError extends PgFleetError {
  readonly code = 44;
  readonly id = 'too-many-connections';
}

/** Thrown when the server sends something the replication protocol does not allow. */
export class ProtocolError extends PgFleetError {
  readonly code = 50;
  readonly id = 'protocol';
}

/** Thrown when the server answers a command with an ErrorResponse not covered above. */
export class ServerError extends PgFleetError {
  readonly code = 51;
  readonly id = 'server';
  readonly sqlState: string | undefined;
  /** The error as libpq spells it after the same prefix ("...: ERROR:  text", then DETAIL and
   * HINT lines), which PostgreSQL's client programs print; the drop-ins print it too. */
  readonly libpqText: string | undefined;
  constructor(message: string, details: ErrorDetails & { sqlState?: string; libpqText?: string } = {}) {
    super(message, details);
    this.sqlState = details.sqlState;
    this.libpqText = details.libpqText;
  }
}

/** Thrown when an archive is malformed: truncated, bad header, bad compression frame. */
export class ArchiveFormatError extends PgFleetError {
  readonly code = 60;
  readonly id = 'archive-format';
}

/** Thrown when an archive member would be written outside its root (`..`, absolute, links). */
export class UnsafePathError extends PgFleetError {
  readonly code = 61;
  readonly id = 'unsafe-path';
}

/** Thrown when a target directory exists and is not empty. */
export class DirectoryNotEmptyError extends PgFleetError {
  readonly code = 70;
  readonly id = 'directory-not-empty';
}

/** Thrown when a file system operation fails (permissions, disk full, ...). */
export class FileIoError extends PgFleetError {
  readonly code = 71;
  readonly id = 'file-io';
}

/** Thrown when a backup_manifest cannot be parsed or its own checksum does not match. */
export class ManifestError extends PgFleetError {
  readonly code = 80;
  readonly id = 'manifest';
}

/** Thrown when a backup does not match its manifest (size, checksum, missing or extra file). */
export class VerifyError extends PgFleetError {
  readonly code = 81;
  readonly id = 'verify';
}

/** Thrown when WAL needed by a backup is missing or not continuous. */
export class WalMissingError extends PgFleetError {
  readonly code = 82;
  readonly id = 'wal-missing';
}

/** Thrown when a continuous archive's server no longer has WAL the archive still needs: removed
 * before the archive received it (its slot invalidated by max_slot_wal_keep_size, or dropped).
 * Retrying cannot help: the archive must resume where the server now is, with a gap. */
export class WalRemovedError extends PgFleetError {
  readonly code = 85;
  readonly id = 'wal-removed';
}

/** Thrown when the operation was cancelled (signal, caller abort). */
export class CancelledError extends PgFleetError {
  readonly code = 90;
  readonly id = 'cancelled';
}

/** Thrown when pgfleet itself is wrong: an invariant broke. */
export class InternalError extends PgFleetError {
  readonly code = 99;
  readonly id = 'internal';
}

/** Node's errno-style error, for narrowing in catch blocks. */
export function isErrno(err: unknown, code?: string): err is NodeJS.ErrnoException {
  return err instanceof Error && typeof (err as NodeJS.ErrnoException).code === 'string' &&
    (code === undefined || (err as NodeJS.ErrnoException).code === code);
}

/**
 * The text of an operating-system error as PostgreSQL's %m prints it: "no such file or
 * directory", without Node's "ENOENT: " prefix and ", open '/x'" suffix (the caller already
 * names the path).
 */
export function osErrorText(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const e = err as NodeJS.ErrnoException;
  let text = e.message;
  if (typeof e.code === 'string') text = text.replace(new RegExp(`^${e.code}: `), '');
  if (typeof e.syscall === 'string') {
    const at = text.lastIndexOf(`, ${e.syscall}`);
    if (at >= 0) text = text.slice(0, at);
  }
  return text;
}

/** Wraps a file system error as FileIoError naming the path: `could not open file "x": ...`. */
export function fileError(action: string, path: string, err: unknown, hint?: string): FileIoError {
  return new FileIoError(`${action} "${path}": ${osErrorText(err)}`, { cause: err, ...(hint ? { hint } : {}) });
}

/** Thrown when a WAL segment or a timeline history file is malformed. */
export class WalFormatError extends PgFleetError {
  readonly code = 83;
  readonly id = 'wal-format';
}

/** Thrown when the agent is asked to write outside its allowedRoots, or when a peer's certificate
 * lacks the role (or the name) a call needs. */
export class NotAllowedError extends PgFleetError {
  readonly code = 72;
  readonly id = 'not-allowed';
}

/** Thrown when a PostgreSQL instance could not be started, stopped or reached by the agent. */
export class InstanceError extends PgFleetError {
  readonly code = 73;
  readonly id = 'instance';
}

/** Thrown when a named cluster, agent, backup or replication slot does not exist. */
export class NotFoundError extends PgFleetError {
  readonly code = 74;
  readonly id = 'not-found';
}

/** Thrown when an operation conflicts with one in progress (a second backup of one cluster). */
export class BusyError extends PgFleetError {
  readonly code = 75;
  readonly id = 'busy';
}

/** Thrown when two pgfleet processes cannot work together: protocol major versions differ,
 * or the peer lacks a capability the operation needs. */
export class IncompatibleVersionError extends PgFleetError {
  readonly code = 53;
  readonly id = 'incompatible-version';
}

/** Thrown when a WAL file is already archived with other content: the archive keeps the file it
 * has (PostgreSQL's rule for archive commands: never overwrite). */
export class WalConflictError extends PgFleetError {
  readonly code = 84;
  readonly id = 'wal-conflict';
}
