/**
 * Turns what a user gives (a libpq connection string in keyword/value or URI form, an object of
 * libpq keywords, PG* environment variables) into the settings for `pg`'s Client, the way libpq
 * would resolve them for pg_basebackup. The Client itself does the work: TCP/Unix sockets, TLS,
 * SCRAM/MD5/cleartext authentication. This module only decides:
 *
 * - precedence: explicit keyword > connection string > PG* environment > libpq default;
 * - the default host: libpq's Unix socket directory (/var/run/postgresql when it exists, else
 *   /tmp), not `pg`'s "localhost", so that `pgfleet-basebackup -D x` reaches the same server
 *   pg_basebackup would;
 * - sslmode (libpq semantics, default prefer): the list of TLS attempts, in order. Unix
 *   sockets never use TLS, as in libpq;
 * - where the password comes from: the keyword or string, PGPASSWORD, the password file (read
 *   with `pgpass`, the module `pg` itself uses), or a prompt supplied by the caller;
 * - the effective parameters a standby's primary_conninfo needs (-R).
 *
 * URIs are parsed by pg-connection-string (pg's own parser); keyword/value strings follow
 * libpq's rules (values bare or single-quoted, backslash escapes).
 */

import { existsSync, readFileSync, statSync, createReadStream } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir, userInfo } from 'node:os';
import { join } from 'node:path';
import type { ConnectionOptions as TlsOptions } from 'node:tls';
import { InvalidOptionError, NotSupportedError, fileError } from '../errors.js';
import type { ServerNotice } from './backend-message.js';

export type SslMode = 'disable' | 'allow' | 'prefer' | 'require' | 'verify-ca' | 'verify-full';

/** libpq keywords we honour. Values may be numbers where libpq takes integers. */
export interface ReplicationConnectParams {
  /** A libpq connection string (`host=x port=5432` or `postgresql://...`); explicit keywords
   * in this object override what it says (as pg_basebackup's -h/-p/-U override -d). */
  connectionString?: string;
  host?: string;
  hostaddr?: string;
  port?: number | string;
  user?: string;
  password?: string;
  passfile?: string;
  dbname?: string;
  sslmode?: SslMode;
  sslcert?: string;
  sslkey?: string;
  sslrootcert?: string;
  application_name?: string;
  fallback_application_name?: string;
  /** Seconds; 0 or absent waits for ever (libpq). */
  connect_timeout?: number | string;
  options?: string;
  keepalives?: number | string;
  keepalives_idle?: number | string;
  channel_binding?: 'disable' | 'prefer' | 'require';
}

export interface ReplicationConnectOptions extends ReplicationConnectParams {
  /** pg_basebackup -w ('never'), -W ('force': ask before connecting), default 'auto' (ask only
   * when the server wants a password and none was found, if promptPassword is given). */
  passwordPrompt?: 'never' | 'force' | 'auto';
  /** Asks the user for a password; the caller owns the terminal. Receives "Password: ". */
  promptPassword?: (prompt: string) => Promise<string>;
  /** Receives NoticeResponses (WARNINGs during a backup, for instance). */
  onNotice?: (notice: ServerNotice) => void;
  /** Backpressure threshold of the message reader (bytes). */
  highWaterBytes?: number;
  /** With recycleReadBuffers: the room offered to one socket read (default 64 KiB); slabs are
   * four times as large. */
  readBytes?: number;
  /**
   * No-progress deadline (ms; 0 or absent: none): connecting (up to the server's first
   * ReadyForQuery) must finish within it, and afterwards, whenever the client waits for the
   * server, the server must send something at least this often (MessageReader). A server that
   * accepts TCP and never answers then fails the connection instead of hanging it forever.
   */
  noProgressTimeoutMs?: number;
  /**
   * Read into a few recycled buffers instead of a new buffer per socket read (MessageReader's
   * slab mode): much less allocation and garbage collection for bulk data, but a CopyData body
   * handed to a handler (onArchiveData, onManifestData, onXLogData) is valid only until the
   * handler's promise settles, so a handler must copy what it keeps longer. Not used under TLS.
   * Default false.
   */
  recycleReadBuffers?: boolean;
  /** Aborting it destroys the connection; the command in progress fails with CancelledError. */
  signal?: AbortSignal;
}

/** Keywords libpq knows that we accept and ignore because they cannot change what we do. */
const IGNORED_KEYWORDS = new Set([
  'replication', 'client_encoding', 'target_session_attrs', 'gssencmode', 'sslcompression', 'sslsni',
  'krbsrvname', 'gsslib', 'requirepeer', 'ssl_min_protocol_version', 'ssl_max_protocol_version',
  'sslcrl', 'sslcrldir', 'sslpassword', 'sslcertmode', 'load_balance_hosts', 'keepalives_interval',
  'keepalives_count', 'tcp_user_timeout', 'gssdelegation', 'sslnegotiation', 'require_auth',
]);

const KNOWN_KEYWORDS = new Set<string>([
  'host', 'hostaddr', 'port', 'user', 'password', 'passfile', 'dbname', 'sslmode', 'sslcert',
  'sslkey', 'sslrootcert', 'application_name', 'fallback_application_name', 'connect_timeout',
  'options', 'keepalives', 'keepalives_idle', 'channel_binding',
]);

const SSL_MODES: readonly SslMode[] = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full'];

/** One keyword=value pair of a connection string, and where its value is written. */
export interface KeywordValueToken {
  key: string;
  /** The value, unquoted and unescaped. */
  value: string;
  /** The value as written (quotes included) is text.slice(valueStart, valueEnd). */
  valueStart: number;
  valueEnd: number;
}

/** Splits a libpq keyword/value connection string into its pairs, as libpq reads it. */
export function scanKeywordValueConninfo(text: string): KeywordValueToken[] {
  const tokens: KeywordValueToken[] = [];
  let i = 0;
  const n = text.length;
  const isSpace = (c: string | undefined) => c !== undefined && /\s/.test(c);
  while (i < n) {
    while (i < n && isSpace(text[i])) i++;
    if (i >= n) break;
    const keyStart = i;
    while (i < n && text[i] !== '=' && !isSpace(text[i])) i++;
    const key = text.slice(keyStart, i);
    while (i < n && isSpace(text[i])) i++;
    if (text[i] !== '=') {
      throw new InvalidOptionError(`missing "=" after "${key}" in connection info string`);
    }
    i++;
    while (i < n && isSpace(text[i])) i++;
    const valueStart = i;
    let value = '';
    if (text[i] === "'") {
      i++;
      let closed = false;
      while (i < n) {
        const c = text[i] as string;
        if (c === '\\' && i + 1 < n) {
          value += text[i + 1];
          i += 2;
        } else if (c === "'") {
          i++;
          closed = true;
          break;
        } else {
          value += c;
          i++;
        }
      }
      if (!closed) throw new InvalidOptionError('unterminated quoted string in connection info string');
    } else {
      while (i < n && !isSpace(text[i])) {
        if (text[i] === '\\' && i + 1 < n) {
          value += text[i + 1];
          i += 2;
        } else {
          value += text[i];
          i++;
        }
      }
    }
    tokens.push({ key, value, valueStart, valueEnd: i });
  }
  return tokens;
}

/** Parses a libpq keyword/value connection string (`host=x port='5 4' user=\'a`). */
export function parseKeywordValueConninfo(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const t of scanKeywordValueConninfo(text)) out[t.key] = t.value;
  return out;
}

const require = createRequire(import.meta.url);

/** Loads one of pg's own dependencies (pg-connection-string, pgpass) from where pg finds it. */
function requireFromPg<T>(name: string): T {
  const pgMain = require.resolve('pg');
  return require(require.resolve(name, { paths: [pgMain] })) as T;
}

type UriParser = (uri: string) => Record<string, unknown>;

/** Parses a URI connection string with pg-connection-string into libpq keywords. */
function parseUriConninfo(text: string): Record<string, string> {
  const parse = requireFromPg<UriParser & { parse?: UriParser }>('pg-connection-string');
  // pg-connection-string acts on ssl* parameters (it reads certificate files and warns about
  // sslmode semantics); sslmode is ours to interpret, so hide them from it and take them back.
  const hidden = text.replace(/([?&])(ssl[a-z_]*)=/g, '$1pgfleet_hidden_$2=');
  let parsed: Record<string, unknown>;
  try {
    parsed = (parse.parse ?? parse)(hidden);
  } catch {
    throw new InvalidOptionError('invalid connection URI', {
      hint: 'Write it as postgresql://user@host:port/dbname?keyword=value.',
    });
  }
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(parsed)) {
    if (value === null || value === undefined || value === '' || typeof value === 'object') continue;
    // pg-connection-string says "database" and adds an "ssl" flag of its own.
    if (key === 'ssl') continue;
    const name = key === 'database' ? 'dbname' : key.replace(/^pgfleet_hidden_/, '');
    out[name] = String(value);
  }
  return out;
}

/** A connection string in either form, as libpq keywords. */
export function parseConninfo(text: string): Record<string, string> {
  return /^postgres(ql)?:\/\//.test(text) ? parseUriConninfo(text) : parseKeywordValueConninfo(text);
}

/** The merged keywords, precedence applied, before environment variables and defaults. */
export function mergeConnectParams(options: ReplicationConnectParams): Record<string, string> {
  const merged: Record<string, string> = options.connectionString !== undefined
    ? parseConninfo(options.connectionString)
    : {};
  for (const [key, value] of Object.entries(options)) {
    if (key === 'connectionString' || value === undefined || value === null) continue;
    if (!KNOWN_KEYWORDS.has(key)) continue; // non-libpq options of ReplicationConnectOptions
    merged[key] = String(value);
  }
  for (const key of Object.keys(merged)) {
    if (!KNOWN_KEYWORDS.has(key) && !IGNORED_KEYWORDS.has(key)) {
      throw new InvalidOptionError(`invalid connection option "${key}"`);
    }
  }
  return merged;
}

/** Where the password came from, for primary_conninfo (libpq reports passfile, not the password). */
export type PasswordSource = 'given' | 'environment' | 'passfile' | 'prompt' | 'none';

/** What one connection attempt (and error messages, and -R) needs, fully resolved. */
export interface ResolvedConnectParams {
  host: string;
  /** Address to connect to when hostaddr is given (TLS still checks `host`). */
  connectHost: string;
  port: number;
  isSocket: boolean;
  user: string;
  dbname: string;
  /** Password given as a keyword, in the connection string or by PGPASSWORD; null if none. */
  password: string | null;
  passwordSource: PasswordSource;
  passfile: string;
  sslmode: SslMode;
  sslcert: string | null;
  sslkey: string | null;
  sslrootcert: string | null;
  applicationName: string | null;
  fallbackApplicationName: string;
  connectTimeoutSeconds: number;
  options: string | null;
  keepalives: boolean;
  keepalivesIdleSeconds: number | null;
  channelBinding: 'disable' | 'prefer' | 'require';
  /** The keywords that came from the user (for primary_conninfo). */
  explicit: Record<string, string>;
}

/** libpq's default Unix socket directory on Debian-family systems, else the upstream default. */
export function defaultSocketDirectory(): string {
  return existsSync('/var/run/postgresql') ? '/var/run/postgresql' : '/tmp';
}

function envValue(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const v = env[name];
  return v === undefined || v === '' ? undefined : v;
}

function parseInteger(keyword: string, text: string, min: number, max: number): number {
  const v = /^\s*-?\d+\s*$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(v) || v < min || v > max) {
    throw new InvalidOptionError(`invalid integer value "${text}" for connection option "${keyword}"`);
  }
  return v;
}

/** Resolves keywords, environment and defaults, as libpq does. */
export function resolveConnectParams(
  options: ReplicationConnectParams,
  env: NodeJS.ProcessEnv = process.env,
): ResolvedConnectParams {
  const explicit = mergeConnectParams(options);
  const pick = (keyword: string, envName?: string): string | undefined =>
    explicit[keyword] ?? (envName === undefined ? undefined : envValue(env, envName));

  const host = pick('host', 'PGHOST') ?? pick('hostaddr', 'PGHOSTADDR') ?? defaultSocketDirectory();
  if (host.includes(',')) {
    throw new NotSupportedError(`multiple hosts in connection option "host" are not supported: "${host}"`, {
      hint: 'Give exactly one host.',
    });
  }
  const hostaddr = pick('hostaddr', 'PGHOSTADDR');
  const port = parseInteger('port', pick('port', 'PGPORT') ?? '5432', 1, 65535);
  const isSocket = host.startsWith('/');
  // libpq's default is the effective OS user's name, not $USER.
  const user = pick('user', 'PGUSER') ?? userInfo().username;

  const sslmodeText = pick('sslmode', 'PGSSLMODE') ?? 'prefer';
  if (!(SSL_MODES as readonly string[]).includes(sslmodeText)) {
    throw new InvalidOptionError(`invalid sslmode value: "${sslmodeText}"`, {
      hint: `Valid values are ${SSL_MODES.join(', ')}.`,
    });
  }
  const channelBinding = pick('channel_binding', 'PGCHANNELBINDING') ?? 'prefer';
  if (!['disable', 'prefer', 'require'].includes(channelBinding)) {
    throw new InvalidOptionError(`invalid channel_binding value: "${channelBinding}"`);
  }

  const givenPassword = explicit['password'];
  const envPassword = envValue(env, 'PGPASSWORD');
  const password = givenPassword ?? envPassword ?? null;
  const passwordSource: PasswordSource = givenPassword !== undefined ? 'given'
    : envPassword !== undefined ? 'environment' : 'none';

  const connectTimeout = pick('connect_timeout', 'PGCONNECT_TIMEOUT');
  const keepalivesIdle = pick('keepalives_idle');
  return {
    host,
    connectHost: hostaddr ?? host,
    port,
    isSocket,
    user,
    dbname: explicit['dbname'] ?? 'replication',
    password,
    passwordSource,
    passfile: pick('passfile', 'PGPASSFILE') ?? join(env['HOME'] ?? homedir(), '.pgpass'),
    sslmode: sslmodeText as SslMode,
    sslcert: pick('sslcert', 'PGSSLCERT') ?? null,
    sslkey: pick('sslkey', 'PGSSLKEY') ?? null,
    sslrootcert: pick('sslrootcert', 'PGSSLROOTCERT') ?? null,
    applicationName: pick('application_name', 'PGAPPNAME') ?? null,
    fallbackApplicationName: explicit['fallback_application_name'] ?? 'pgfleet',
    connectTimeoutSeconds: connectTimeout === undefined ? 0 : parseInteger('connect_timeout', connectTimeout, 0, 2 ** 31 - 1),
    options: pick('options', 'PGOPTIONS') ?? null,
    keepalives: (explicit['keepalives'] ?? '1') !== '0',
    keepalivesIdleSeconds: keepalivesIdle === undefined ? null : parseInteger('keepalives_idle', keepalivesIdle, 0, 2 ** 31 - 1),
    channelBinding: channelBinding as 'disable' | 'prefer' | 'require',
    explicit,
  };
}

/** "host:port", "[v6]:port" or the socket file path: how messages name the server. */
export function describeTarget(p: Pick<ResolvedConnectParams, 'host' | 'port' | 'isSocket'>): string {
  if (p.isSocket) return `${p.host.replace(/\/+$/, '')}/.s.PGSQL.${p.port}`;
  return p.host.includes(':') ? `[${p.host}]:${p.port}` : `${p.host}:${p.port}`;
}

/**
 * The TLS settings to try, in order (false = no TLS), for libpq's sslmode semantics. `pg` gets
 * one of these per attempt; it performs the SSLRequest and the handshake itself.
 */
export function tlsAttempts(p: ResolvedConnectParams, env: NodeJS.ProcessEnv = process.env): Array<false | TlsOptions> {
  if (p.isSocket || p.sslmode === 'disable') return [false];
  const home = env['HOME'] ?? homedir();
  const readPem = (path: string, what: string): string => {
    try {
      return readFileSync(path, 'utf8');
    } catch (err) {
      throw fileError(`could not read ${what}`, path, err);
    }
  };
  const tls: TlsOptions = {};
  const certPath = p.sslcert ?? join(home, '.postgresql', 'postgresql.crt');
  const keyPath = p.sslkey ?? join(home, '.postgresql', 'postgresql.key');
  if (p.sslcert !== null || existsSync(certPath)) {
    tls.cert = readPem(certPath, 'certificate file');
    tls.key = readPem(keyPath, 'private key file');
  }
  const rootPath = p.sslrootcert ?? join(home, '.postgresql', 'root.crt');
  const haveRoot = p.sslrootcert !== null || existsSync(rootPath);
  const verify = p.sslmode === 'verify-ca' || p.sslmode === 'verify-full' ||
    (p.sslmode === 'require' && haveRoot); // libpq: require with a root certificate acts as verify-ca
  if (verify) {
    if (!haveRoot) {
      throw new InvalidOptionError(`root certificate file "${rootPath}" does not exist`, {
        hint: 'Either provide the file, use the system\'s trusted roots with sslrootcert=system, or change sslmode to disable server certificate verification.',
      });
    }
    if (p.sslrootcert !== 'system') tls.ca = readPem(rootPath, 'root certificate file');
    tls.rejectUnauthorized = true;
    if (p.sslmode !== 'verify-full') tls.checkServerIdentity = () => undefined;
  } else {
    tls.rejectUnauthorized = false;
  }
  switch (p.sslmode) {
    case 'allow': return [false, tls];
    case 'prefer': return [tls, false];
    default: return [tls];
  }
}

interface PgPassHelper {
  usePgPass(stats: unknown, file: string): boolean;
  getPassword(connInfo: Record<string, unknown>, stream: NodeJS.ReadableStream, cb: (pass?: string) => void): void;
}

/**
 * Looks the password up in the password file, with pg's own reader (pgpass): file permissions
 * checked, `*` wildcards, "localhost" standing for Unix sockets as in libpq.
 */
export async function lookupPassfile(p: ResolvedConnectParams): Promise<string | null> {
  let stats;
  try {
    stats = statSync(p.passfile);
  } catch {
    return null;
  }
  const helper = requireFromPg<PgPassHelper>('pgpass/lib/helper.js');
  if (!helper.usePgPass(stats, p.passfile)) return null;
  return new Promise((resolve) => {
    const stream = createReadStream(p.passfile);
    stream.on('error', () => resolve(null));
    helper.getPassword(
      { host: p.isSocket ? 'localhost' : p.host, port: p.port, database: p.dbname, user: p.user },
      stream,
      (pass) => resolve(pass ?? null),
    );
  });
}

/**
 * Parameters for a standby's primary_conninfo, in libpq's PQconninfo order: every option with
 * a value except replication, dbname and fallback_application_name. A password read from the
 * password file is not copied; libpq reports `passfile` instead, and so do we.
 */
export function effectiveConnectionParameters(p: ResolvedConnectParams, passwordSource: PasswordSource,
  password: string | null): Record<string, string> {
  const out: Record<string, string> = { user: p.user };
  if (password !== null && passwordSource !== 'passfile') out['password'] = password;
  if (passwordSource === 'passfile') out['passfile'] = p.passfile;
  if (p.explicit['channel_binding'] !== undefined) out['channel_binding'] = p.channelBinding;
  if (p.connectTimeoutSeconds > 0) out['connect_timeout'] = String(p.connectTimeoutSeconds);
  out['host'] = p.host;
  if (p.connectHost !== p.host) out['hostaddr'] = p.connectHost;
  out['port'] = String(p.port);
  if (p.options !== null) out['options'] = p.options;
  if (p.applicationName !== null) out['application_name'] = p.applicationName;
  if (p.explicit['keepalives'] !== undefined) out['keepalives'] = p.keepalives ? '1' : '0';
  if (p.keepalivesIdleSeconds !== null) out['keepalives_idle'] = String(p.keepalivesIdleSeconds);
  out['sslmode'] = p.sslmode;
  if (p.sslcert !== null) out['sslcert'] = p.sslcert;
  if (p.sslkey !== null) out['sslkey'] = p.sslkey;
  if (p.sslrootcert !== null) out['sslrootcert'] = p.sslrootcert;
  return out;
}
