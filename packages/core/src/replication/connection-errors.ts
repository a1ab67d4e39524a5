/**
 * Maps why a replication connection could not be opened to the error catalogue. Every message
 * starts `could not connect for replication to "<host:port or socket path>": ` followed by the
 * server's own message (already lower-case) or the OS error in libpq's words, and carries a HINT
 * saying what to change: the pg_hba.conf line, the password, the REPLICATION attribute,
 * max_wal_senders, or whether the server listens at that address at all.
 */

import {
  AuthenticationError, ConnectError, HbaRejectedError, PgFleetError, PrivilegeError, ServerError,
  TooManyConnectionsError,
} from '../errors.js';
import { describeSocketError } from './message-reader.js';

export interface ConnectErrorContext {
  /** "host:port" or the socket path. */
  target: string;
  host: string;
  port: number;
  isSocket: boolean;
  user: string;
}

/** Thrown inside the password callback when no password can be found; mapped below. */
export class NoPasswordSuppliedError extends Error {
  constructor() {
    super('no password supplied');
  }
}

/** The fields of pg-protocol's DatabaseError that we read (duck-typed: pg may bundle its own copy). */
interface ServerErrorLike {
  message: string;
  code?: string;
  severity?: string;
  hint?: string;
  detail?: string;
}

function isServerError(err: unknown): err is ServerErrorLike {
  return err instanceof Error && typeof (err as ServerErrorLike).severity === 'string' &&
    typeof (err as ServerErrorLike).code === 'string' && /^[0-9A-Z]{5}$/.test((err as ServerErrorLike).code ?? '');
}

/** A role name as ALTER ROLE needs it: bare when it is a plain lower-case identifier. */
export function quoteRoleName(name: string): string {
  return /^[a-z_][a-z0-9_$]*$/.test(name) ? name : `"${name.replace(/"/g, '""')}"`;
}

/** "Hostname does not match" -> "hostname does not match"; acronyms ("SASL: ...") stay. */
function lowerFirst(text: string): string {
  return /^[A-Z][a-z]/.test(text) ? text.charAt(0).toLowerCase() + text.slice(1) : text;
}

function unreachableHint(ctx: ConnectErrorContext): string {
  return ctx.isSocket
    ? `Check that the server is running locally and accepts connections on the Unix-domain socket "${ctx.target}".`
    : `Check that the server is running on host "${ctx.host}" and accepts TCP/IP connections on port ${ctx.port}.`;
}

function hbaHint(ctx: ConnectErrorContext, serverMessage: string): string {
  const role = quoteRoleName(ctx.user);
  if (ctx.isSocket) {
    return `Add a line such as "local replication ${role} peer" to pg_hba.conf and reload the server.`;
  }
  const from = /(?:from|for) host "([^"]+)"/.exec(serverMessage)?.[1];
  const address = from === undefined ? '<client address>' : from.includes(':') ? `${from}/128` : `${from}/32`;
  return `Add a line such as "host replication ${role} ${address} scram-sha-256" to pg_hba.conf and reload the server.`;
}

/** Maps an error from `pg`'s connect() (or from our own password lookup) to the catalogue. */
export function mapConnectError(err: unknown, ctx: ConnectErrorContext): PgFleetError {
  if (err instanceof PgFleetError) return err;
  const prefix = `could not connect for replication to "${ctx.target}": `;
  const role = quoteRoleName(ctx.user);

  if (err instanceof NoPasswordSuppliedError) {
    return new AuthenticationError(`${prefix}no password supplied`, {
      hint: 'Give the password in the connection string, with PGPASSWORD or in the password file (~/.pgpass), or allow a password prompt.',
    });
  }

  if (isServerError(err)) {
    const message = err.message;
    const details = { cause: err };
    switch (err.code) {
      case '28000':
        if (/^(no pg_hba\.conf entry|pg_hba\.conf rejects)/.test(message)) {
          return new HbaRejectedError(prefix + message, { ...details, hint: hbaHint(ctx, message) });
        }
        if (/^role ".*" does not exist$/.test(message)) {
          return new AuthenticationError(prefix + message, {
            ...details,
            hint: `Check the user name, or create the role with CREATE ROLE ${role} LOGIN REPLICATION.`,
          });
        }
        if (/is not permitted to log in/.test(message)) {
          return new PrivilegeError(prefix + message, { ...details, hint: `Allow the role to log in with ALTER ROLE ${role} LOGIN.` });
        }
        return new AuthenticationError(prefix + message, details);
      case '28P01':
        return new AuthenticationError(prefix + message, {
          ...details,
          hint: 'Check the password given in the connection string, with PGPASSWORD or in the password file.',
        });
      case '42501':
        return new PrivilegeError(prefix + message, {
          ...details,
          hint: `Give the role the REPLICATION attribute with ALTER ROLE ${role} REPLICATION, or connect as a role that has it.`,
        });
      case '53300':
        return new TooManyConnectionsError(prefix + message, {
          ...details,
          hint: /max_wal_senders/.test(message)
            ? 'Raise max_wal_senders on the server (a backup that streams WAL uses two WAL senders), or wait until other replication connections end.'
            : 'Raise max_connections on the server, or wait until other connections end.',
        });
      default:
        return new ServerError(prefix + message, {
          ...details,
          sqlState: err.code as string,
          ...(err.hint !== undefined ? { hint: err.hint } : {}),
        });
    }
  }

  if (!(err instanceof Error)) return new ConnectError(prefix + String(err), { hint: unreachableHint(ctx) });
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'EAI_NONAME') {
    return new ConnectError(`${prefix}could not translate host name "${ctx.host}" to address: ${code === 'EAI_AGAIN'
      ? 'temporary failure in name resolution' : 'name or service not known'}`, {
      cause: err,
      hint: 'Check the host name.',
    });
  }
  if (code !== undefined && /^E[A-Z]+$/.test(code) && code !== 'ERR_TLS_CERT_ALTNAME_INVALID') {
    return new ConnectError(prefix + describeSocketError(err), { cause: err, hint: unreachableHint(ctx) });
  }
  if (err.message === 'timeout expired') {
    return new ConnectError(`${prefix}timeout expired`, { cause: err, hint: unreachableHint(ctx) });
  }
  if (err.message === 'The server does not support SSL connections') {
    return new ConnectError(`${prefix}server does not support SSL, but SSL was required`, {
      cause: err,
      hint: 'Enable SSL on the server, or connect with sslmode=prefer or sslmode=disable.',
    });
  }
  if (/^Connection terminated/.test(err.message)) {
    return new ConnectError(`${prefix}server closed the connection unexpectedly`, {
      cause: err,
      hint: 'This probably means the server terminated abnormally before or while processing the request; check the server log.',
    });
  }
  if (/^SASL|password/i.test(err.message)) {
    return new AuthenticationError(prefix + lowerFirst(err.message), { cause: err });
  }
  if (code !== undefined && (/CERT|SSL|TLS/.test(code))) {
    return new ConnectError(`${prefix}SSL error: ${lowerFirst(err.message)}`, {
      cause: err,
      hint: 'Check the server certificate against sslrootcert, or choose an sslmode that does not verify it.',
    });
  }
  return new ConnectError(prefix + lowerFirst(err.message), { cause: err, hint: unreachableHint(ctx) });
}
