/**
 * The text pg_basebackup -R writes (src/fe_utils/recovery_gen.c), byte for byte.
 *
 * - buildPrimaryConninfo() lists the connection's libpq options the way PQconninfo() reports
 *   them for libpq 15 (the system pg_basebackup's): explicit values, else the PG* environment
 *   variable, else libpq's compiled-in default, in libpq's own keyword order; passfile defaults
 *   to ~/.pgpass of the OS user when no password is given, and user to the OS user name. It
 *   skips empty values and `replication`, `dbname` and `fallback_application_name`, writes
 *   values made only of [A-Za-z0-9_.] bare and quotes any other with ' and \ backslash-escaped.
 *   A dbname (pg_basebackup 17 with -d dbname=...) is appended last.
 * - recoveryConfigContents() puts that string into `primary_conninfo = '...'` with ' and \
 *   doubled, preceded by `standby_mode = 'on'` for servers < 12 and followed by
 *   `primary_slot_name` when a slot is named.
 *
 * The streamer that puts this text into base.tar is RecoveryConfigInjector
 * (recovery-injector.ts).
 *
 * One deliberate difference from pg_basebackup: a value with a control character (a newline
 * from PGAPPNAME, say) is refused (InvalidOptionError naming the option) rather than written.
 * The server's configuration file parser ends a quoted string at a newline, so such a value
 * makes the server refuse to start, or adds lines of the value's choosing to the file.
 * Quoting it (a backslash escape) would hand libpq a conninfo with a newline anyway.
 */

import { userInfo } from 'node:os';
import { InvalidOptionError } from '../errors.js';

/** Every libpq 15 connection keyword, in the order PQconninfo() reports them. */
export const LIBPQ_CONNINFO_KEYWORDS: readonly string[] = [
  'service', 'user', 'password', 'passfile', 'channel_binding', 'connect_timeout', 'dbname', 'host',
  'hostaddr', 'port', 'client_encoding', 'options', 'application_name', 'fallback_application_name',
  'keepalives', 'keepalives_idle', 'keepalives_interval', 'keepalives_count', 'tcp_user_timeout',
  'sslmode', 'sslcompression', 'sslcert', 'sslkey', 'sslpassword', 'sslrootcert', 'sslcrl', 'sslcrldir',
  'sslsni', 'requirepeer', 'ssl_min_protocol_version', 'ssl_max_protocol_version', 'gssencmode',
  'krbsrvname', 'gsslib', 'replication', 'target_session_attrs',
];

/** The environment variable libpq 15 reads for a keyword, when it reads one. */
const LIBPQ_ENV: Readonly<Record<string, string>> = {
  service: 'PGSERVICE', user: 'PGUSER', password: 'PGPASSWORD', passfile: 'PGPASSFILE',
  channel_binding: 'PGCHANNELBINDING', connect_timeout: 'PGCONNECT_TIMEOUT', dbname: 'PGDATABASE',
  host: 'PGHOST', hostaddr: 'PGHOSTADDR', port: 'PGPORT', client_encoding: 'PGCLIENTENCODING',
  options: 'PGOPTIONS', application_name: 'PGAPPNAME', tcp_user_timeout: 'PGTCPUSERTIMEOUT',
  sslmode: 'PGSSLMODE', sslcompression: 'PGSSLCOMPRESSION', sslcert: 'PGSSLCERT', sslkey: 'PGSSLKEY',
  sslrootcert: 'PGSSLROOTCERT', sslcrl: 'PGSSLCRL', sslcrldir: 'PGSSLCRLDIR', sslsni: 'PGSSLSNI',
  requirepeer: 'PGREQUIREPEER', ssl_min_protocol_version: 'PGSSLMINPROTOCOLVERSION',
  ssl_max_protocol_version: 'PGSSLMAXPROTOCOLVERSION', gssencmode: 'PGGSSENCMODE',
  krbsrvname: 'PGKRBSRVNAME', gsslib: 'PGGSSLIB', target_session_attrs: 'PGTARGETSESSIONATTRS',
};

/** libpq 15's compiled-in defaults (a build with SSL and GSSAPI, as distributions ship it). */
const LIBPQ_DEFAULTS: Readonly<Record<string, string>> = {
  channel_binding: 'prefer', port: '5432', sslmode: 'prefer', sslcompression: '0', sslsni: '1',
  ssl_min_protocol_version: 'TLSv1.2', gssencmode: 'prefer', krbsrvname: 'postgres',
  target_session_attrs: 'any',
};

export type ConninfoValue = string | number | boolean | null | undefined;
/** Connection options by libpq keyword, as a record or as ordered pairs. */
export type ConninfoParams = Readonly<Record<string, ConninfoValue>> | ReadonlyArray<readonly [string, ConninfoValue]>;

export interface LibpqDefaultsOptions {
  /** Environment to read PG* variables from; process.env by default. */
  env?: Readonly<Record<string, string | undefined>>;
  /** The OS user name libpq would use as default user; the current one by default. */
  osUser?: string;
  /** The home directory holding .pgpass; the current OS user's by default. */
  homeDir?: string;
}

function toText(value: ConninfoValue): string | null {
  if (value === null || value === undefined) return null;
  if (typeof value === 'boolean') return value ? '1' : '0';
  return String(value);
}

function toEntries(params: ConninfoParams): Array<[string, string | null]> {
  const pairs = Array.isArray(params)
    ? (params as ReadonlyArray<readonly [string, ConninfoValue]>)
    : Object.entries(params as Readonly<Record<string, ConninfoValue>>);
  return pairs.map(([k, v]) => [k, toText(v)]);
}

/**
 * What PQconninfo() would report for a connection opened with `given`: explicit values, then
 * the environment, then libpq 15's defaults (user = OS user; passfile = ~/.pgpass when no
 * password). Unknown keywords are kept after the known ones, in their given order.
 */
export function libpqConninfoOptions(given: ConninfoParams, options: LibpqDefaultsOptions = {}): Array<[string, string]> {
  const env = options.env ?? process.env;
  const explicit = new Map<string, string>();
  for (const [k, v] of toEntries(given)) if (v !== null && v !== '') explicit.set(k, v);

  const resolved = new Map<string, string>();
  for (const keyword of LIBPQ_CONNINFO_KEYWORDS) {
    const envName = LIBPQ_ENV[keyword];
    const envValue = envName === undefined ? undefined : env[envName];
    const value = explicit.get(keyword) ?? (envValue !== undefined && envValue !== '' ? envValue : undefined) ?? LIBPQ_DEFAULTS[keyword];
    if (value !== undefined) resolved.set(keyword, value);
  }
  if (!resolved.has('user')) resolved.set('user', options.osUser ?? userInfo().username);
  if (!resolved.has('password') && !resolved.has('passfile')) {
    resolved.set('passfile', `${options.homeDir ?? userInfo().homedir}/.pgpass`);
  }
  const out: Array<[string, string]> = [];
  for (const keyword of LIBPQ_CONNINFO_KEYWORDS) {
    const v = resolved.get(keyword);
    if (v !== undefined) out.push([keyword, v]);
  }
  for (const [k, v] of explicit) if (!LIBPQ_CONNINFO_KEYWORDS.includes(k)) out.push([k, v]);
  return out;
}

/** A conninfo value as libpq's appendConnStrVal writes it: bare, or quoted with \' and \\. */
export function quoteConninfoValue(value: string): string {
  if (/^[A-Za-z0-9_.]+$/.test(value)) return value;
  return `'${value.replace(/['\\]/g, (c) => `\\${c}`)}'`;
}

/** Doubles ' and \ for a single-quoted configuration-file string (escape_single_quotes_ascii). */
export function escapeConfigString(value: string): string {
  return value.replace(/['\\]/g, (c) => c + c);
}

const CONTROL_CHARACTER = /[\u0000-\u001f\u007f]/;
const CONTROL_NAMES: Readonly<Record<string, string>> = { '\n': 'newline', '\r': 'carriage return', '\t': 'tab' };

/**
 * Refuses a value for a configuration file setting (postgresql.auto.conf) that holds a control
 * character: `what` names the option ("--primary-conninfo", 'connection option "host"').
 */
export function checkConfigValue(value: string, what: string, options: { hint?: string } = {}): void {
  const found = CONTROL_CHARACTER.exec(value);
  if (found === null) return;
  const c = found[0];
  const name = CONTROL_NAMES[c] ?? `U+${c.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}`;
  throw new InvalidOptionError(`${what} contains a control character (${name}), which postgresql.auto.conf cannot hold`, {
    hint: options.hint ?? 'Remove it: a setting\'s value must fit on one line of the configuration file.',
  });
}

export interface PrimaryConninfoOptions extends LibpqDefaultsOptions {
  /** Fill in environment and libpq defaults as PQconninfo() does (default true). With false,
   * `params` are taken as the complete, already-resolved option list. */
  libpqDefaults?: boolean;
  /** pg_basebackup 17+: the dbname given with -d, appended for logical slot synchronization. */
  dbname?: string | null;
}

function checkConninfoValue(keyword: string, value: string): void {
  const env = LIBPQ_ENV[keyword];
  checkConfigValue(value, `connection option "${keyword}"`, {
    hint: `-R writes the connection's options into primary_conninfo: correct "${keyword}" in the connection string${env ? ` or in ${env}` : ''}.`,
  });
}

/** The primary_conninfo string pg_basebackup -R derives from a connection (unquoted form). */
export function buildPrimaryConninfo(params: ConninfoParams, options: PrimaryConninfoOptions = {}): string {
  const entries = options.libpqDefaults === false
    ? toEntries(params).filter((e): e is [string, string] => e[1] !== null)
    : libpqConninfoOptions(params, options);
  const parts: string[] = [];
  for (const [keyword, value] of entries) {
    // walreceiver sets these itself; empty values mean "not set".
    if (keyword === 'replication' || keyword === 'dbname' || keyword === 'fallback_application_name') continue;
    if (value === '') continue;
    checkConninfoValue(keyword, value);
    parts.push(`${keyword}=${quoteConninfoValue(value)}`);
  }
  if (options.dbname) {
    checkConninfoValue('dbname', options.dbname);
    parts.push(`dbname=${quoteConninfoValue(options.dbname)}`);
  }
  return parts.join(' ');
}

export interface RecoveryConfigOptions {
  /** server_version_num of the primary, e.g. 150004. */
  serverVersionNum: number;
  /** The conninfo string, unquoted (as buildPrimaryConninfo returns it). */
  primaryConninfo: string;
  /** Replication slot to name in primary_slot_name ([a-z0-9_] only), or null. */
  slotName?: string | null;
}

/** The recovery settings pg_basebackup -R writes (appended to postgresql.auto.conf on 12+). */
export function recoveryConfigContents(options: RecoveryConfigOptions): string {
  checkConfigValue(options.primaryConninfo, 'primary_conninfo');
  if (options.slotName) checkConfigValue(options.slotName, 'primary_slot_name');
  let text = '';
  if (options.serverVersionNum < 120000) text += "standby_mode = 'on'\n";
  text += `primary_conninfo = '${escapeConfigString(options.primaryConninfo)}'\n`;
  if (options.slotName) text += `primary_slot_name = '${options.slotName}'\n`;
  return text;
}
