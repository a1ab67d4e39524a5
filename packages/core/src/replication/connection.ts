/**
 * A physical replication connection (startup parameter replication=true), the way
 * pg_basebackup holds one. `pg`'s Client opens it: TCP or Unix socket, TLS, SCRAM/MD5/
 * cleartext authentication, the startup packet. Once the server is ready for queries this class
 * takes over the socket, because Client.query() cannot run replication commands that answer
 * with COPY: from then on frames are read by MessageReader (strict decoding, backpressure) and
 * written with pg-protocol's serializer.
 *
 * One command runs at a time. A command that fails with an ErrorResponse leaves the connection
 * usable (ServerError, with the SQLSTATE); a protocol violation, a lost connection or a
 * handler that throws in the middle of a COPY leaves it destroyed (the server notices the
 * closed socket and abandons the command, e.g. the backup in progress).
 *
 * The server version is read once, from the server_version ParameterStatus at startup; the
 * command grammar (`syntax`: legacy <= 14, option lists >= 15) is chosen from it in one place
 * (replicationSyntaxFor).
 */

import type { Duplex } from 'node:stream';
import type pg from 'pg';
import { loadPg } from './pg-module.js';
import {
  CancelledError, InternalError, InvalidOptionError, NotSupportedError, PgFleetError, ProtocolError, ServerError,
} from '../errors.js';
import { formatLsn, tryParseLsn } from '../wal/lsn.js';
import { parseWalSegmentSize } from '../wal/segment.js';
import type { BackendMessage, ServerNotice } from './backend-message.js';
import { receiveBaseBackup, type BaseBackupCommandResult } from './base-backup.js';
import { buildBaseBackupCommand, replicationSyntaxFor, type ReplicationSyntax } from './base-backup-command.js';
import type { BaseBackupHandler, BaseBackupOptions } from './base-backup-events.js';
import { checkParameterName, quoteSlotName } from './command-text.js';
import { mapConnectError, NoPasswordSuppliedError, type ConnectErrorContext } from './connection-errors.js';
import {
  describeTarget, effectiveConnectionParameters, lookupPassfile, resolveConnectParams, tlsAttempts,
  type PasswordSource, type ReplicationConnectOptions, type ResolvedConnectParams,
} from './connection-options.js';
import { MessageReader, type MessageReaderStats } from './message-reader.js';
import { OwnedReadSocket } from './owned-read-socket.js';
import {
  readCommandResults, runCommand, ServerErrorReceived, textValue, unexpectedMessage,
  type CommandContext, type ProtocolIo, type ResultSet,
} from './protocol-io.js';
import {
  ReplicationStream, type ReplicationStreamHandler, type StartReplicationOptions,
} from './replication-stream.js';

export type { ReplicationConnectOptions } from './connection-options.js';

export interface IdentifySystemResult {
  /** The system identifier (uint64) in decimal, as the server prints it. */
  systemId: string;
  timeline: number;
  /** Current flush (primary) or replay (standby) position, as printed by the server. */
  xlogPos: string;
  /** Null for physical connections. */
  dbName: string | null;
}

export interface TimelineHistoryFile {
  /** e.g. "00000002.history" */
  filename: string;
  /** The file's bytes, unconverted. */
  content: Buffer;
}

export interface CreateReplicationSlotOptions {
  temporary?: boolean;
  /** Reserve WAL from the moment of creation (pg_basebackup always does). Default true. */
  reserveWal?: boolean;
}

export interface CreatedReplicationSlot {
  slotName: string;
  /** Unset for physical slots; servers usually print 0/0. */
  consistentPoint: string | null;
}

export interface ReplicationSlotInfo {
  slotType: string;
  restartLsn: string | null;
  restartTimeline: number | null;
}

/** One TLS attempt failed in a way that libpq's sslmode says to retry differently. */
function retryOtherTls(sslmode: string, usedTls: boolean, err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  const hbaRejected = code === '28000' && /pg_hba\.conf/.test((err as Error).message ?? '');
  if (sslmode === 'prefer' && usedTls) {
    if (hbaRejected) return true;
    if (err instanceof Error && err.message === 'The server does not support SSL connections') return true;
    return typeof code === 'string' && /SSL|TLS|CERT|EPROTO|ECONNRESET/.test(code);
  }
  return sslmode === 'allow' && !usedTls && hbaRejected;
}

function parseServerVersionNum(text: string): number | null {
  const m = /^(\d+)(?:\.(\d+))?(?:\.(\d+))?/.exec(text);
  if (m === null) return null;
  const major = Number(m[1]);
  const minor = Number(m[2] ?? 0);
  if (major >= 10) return major * 10000 + minor;
  return major * 10000 + minor * 100 + Number(m[3] ?? 0);
}

export class ReplicationConnection {
  /** e.g. 150004 for 15.4, read once at startup. */
  readonly serverVersionNum: number;
  /** The server_version ParameterStatus as sent (e.g. "15.4 (Debian 15.4-1)"). */
  readonly serverVersion: string;
  /** Which command grammar this server takes; decided here, once. */
  readonly syntax: ReplicationSyntax;
  /** PID of the walsender serving this connection (pg_basebackup names temporary slots by it). */
  readonly backendPid: number;
  /** "host:port" or the socket path, as messages name the server. */
  readonly target: string;

  private readonly io: ProtocolIo;
  /** The no-progress deadline (0: none); streaming sessions probe the server well within it. */
  private readonly noProgressMs: number;
  private busy = false;
  private closed = false;
  private readonly statuses: Map<string, string>;

  private constructor(
    private readonly client: pg.Client,
    private readonly socket: Duplex,
    private readonly reader: MessageReader,
    private readonly resolved: ResolvedConnectParams,
    private readonly passwordSource: PasswordSource,
    private readonly password: string | null,
    statuses: Map<string, string>,
    private readonly onNotice: ((notice: ServerNotice) => void) | undefined,
    noProgressMs: number,
  ) {
    this.statuses = statuses;
    this.noProgressMs = noProgressMs;
    this.target = describeTarget(resolved);
    this.serverVersion = statuses.get('server_version') ?? '';
    const num = parseServerVersionNum(this.serverVersion);
    if (num === null) {
      throw new ProtocolError(`could not parse server version "${this.serverVersion}" from "${this.target}"`);
    }
    this.serverVersionNum = num;
    this.syntax = replicationSyntaxFor(num);
    this.backendPid = (client as unknown as { processID: number | null }).processID ?? 0;
    const self = this;
    this.io = {
      peer: this.target,
      send(frame: Buffer): void {
        if (!self.socket.destroyed) self.socket.write(frame);
      },
      async receive(): Promise<BackendMessage> {
        for (;;) {
          const m = await self.reader.next();
          if (m.kind === 'parameterStatus') {
            self.statuses.set(m.name, m.value);
          } else if (m.kind === 'noticeResponse') {
            self.onNotice?.(m.notice);
          } else {
            return m;
          }
        }
      },
      receiveNow(): BackendMessage | null {
        for (;;) {
          const m = self.reader.tryNext();
          if (m === null) return null;
          if (m.kind === 'parameterStatus') {
            self.statuses.set(m.name, m.value);
          } else if (m.kind === 'noticeResponse') {
            self.onNotice?.(m.notice);
          } else {
            return m;
          }
        }
      },
      abort(reason: Error): void {
        self.destroy(reason);
      },
    };
  }

  /**
   * Opens a replication connection from a libpq connection string (keyword/value or URI) or
   * an object of libpq keywords (which may include a connectionString that the other keywords
   * override). Unset keywords come from PG* environment variables, then libpq's defaults.
   * Failures are mapped to HbaRejectedError, AuthenticationError, PrivilegeError,
   * TooManyConnectionsError, ConnectError or ServerError, each naming the server and carrying
   * a HINT (connection-errors.ts).
   */
  static async connect(optionsOrConninfo: ReplicationConnectOptions | string = {}): Promise<ReplicationConnection> {
    const options: ReplicationConnectOptions = typeof optionsOrConninfo === 'string'
      ? { connectionString: optionsOrConninfo }
      : optionsOrConninfo;
    const resolved = resolveConnectParams(options);
    if (options.signal?.aborted) throw cancelled(describeTarget(resolved), options.signal);
    const ctx: ConnectErrorContext = {
      target: describeTarget(resolved),
      host: resolved.host,
      port: resolved.port,
      isSocket: resolved.isSocket,
      user: resolved.user,
    };
    let password = resolved.password;
    let source: PasswordSource = resolved.passwordSource;
    if (options.passwordPrompt === 'force') {
      if (options.promptPassword === undefined) {
        throw new InvalidOptionError('a password prompt was requested but no prompt is available');
      }
      password = await options.promptPassword('Password: ');
      source = 'prompt';
    }
    const attempts = tlsAttempts(resolved);
    let lastError: unknown = null;
    for (let i = 0; i < attempts.length; i++) {
      const tls = attempts[i] as false | object;
      const found = { password, source };
      try {
        const conn = await ReplicationConnection.attempt(resolved, tls, found, options);
        conn.watch(options.signal);
        return conn;
      } catch (err) {
        if (options.signal?.aborted) throw cancelled(ctx.target, options.signal);
        lastError = err;
        // A password found (or prompted for) in the first attempt is reused by the second.
        password = found.password;
        source = found.source;
        if (i + 1 >= attempts.length || !retryOtherTls(resolved.sslmode, tls !== false, err)) break;
      }
    }
    throw mapConnectError(lastError, ctx);
  }

  private static async attempt(resolved: ResolvedConnectParams, tls: false | object,
    found: { password: string | null; source: PasswordSource }, options: ReplicationConnectOptions): Promise<ReplicationConnection> {
    const config: pg.ClientConfig & { replication: string } = {
      host: resolved.connectHost,
      port: resolved.port,
      user: resolved.user,
      database: resolved.dbname,
      replication: 'true',
      ssl: tls === false ? false : tls,
      enableChannelBinding: tls !== false && resolved.channelBinding !== 'disable',
      fallback_application_name: resolved.fallbackApplicationName,
      keepAlive: resolved.keepalives,
      // `pg` calls this only when the server asks for a password.
      password: async () => {
        if (found.password !== null) return found.password;
        const fromFile = await lookupPassfile(resolved);
        if (fromFile !== null) {
          found.password = fromFile;
          found.source = 'passfile';
          return fromFile;
        }
        if (options.passwordPrompt !== 'never' && options.promptPassword !== undefined) {
          found.password = await options.promptPassword('Password: ');
          found.source = 'prompt';
          return found.password;
        }
        throw new NoPasswordSuppliedError();
      },
    };
    if (resolved.applicationName !== null) config.application_name = resolved.applicationName;
    if (resolved.options !== null) config.options = resolved.options;
    // connect_timeout and the no-progress deadline both bound the connection's start: the shorter wins.
    const connectLimits = [resolved.connectTimeoutSeconds * 1000, options.noProgressTimeoutMs ?? 0].filter((ms) => ms > 0);
    if (connectLimits.length > 0) config.connectionTimeoutMillis = Math.min(...connectLimits);
    if (resolved.keepalivesIdleSeconds !== null) config.keepAliveInitialDelayMillis = resolved.keepalivesIdleSeconds * 1000;

    // Slab mode needs a socket that reads into our buffers; TLS reads its socket itself.
    const owned = options.recycleReadBuffers === true && tls === false ? new OwnedReadSocket() : null;
    if (owned !== null) config.stream = () => owned.socket;
    const client = new (loadPg().Client)(config);
    const statuses = new Map<string, string>();
    const connection = (client as unknown as { connection: NodeJS.EventEmitter & { stream: Duplex } }).connection;
    const onAbort = (): void => { connection.stream.destroy(); };
    options.signal?.addEventListener('abort', onAbort, { once: true });
    connection.on('parameterStatus', (msg: { parameterName: string; parameterValue: string }) => {
      statuses.set(msg.parameterName, msg.parameterValue);
    });
    // After the takeover the Client still reports socket errors and the close as 'error'
    // events; the MessageReader reports them to whoever is reading.
    client.on('error', () => undefined);
    try {
      await client.connect();
    } catch (err) {
      connection.stream.destroy();
      throw err;
    } finally {
      options.signal?.removeEventListener('abort', onAbort);
    }
    const socket = connection.stream;
    // Take the socket over from pg's parser (which cannot pause) before the next command.
    socket.removeAllListeners('data');
    const reader = new MessageReader(socket, {
      peer: describeTarget(resolved),
      ...(owned !== null ? { ownedReads: owned } : {}),
      ...(options.highWaterBytes !== undefined ? { highWaterBytes: options.highWaterBytes } : {}),
      ...(owned !== null && options.readBytes !== undefined ? { minReadBytes: options.readBytes, slabBytes: 4 * options.readBytes } : {}),
      ...(options.noProgressTimeoutMs !== undefined ? { noProgressTimeoutMs: options.noProgressTimeoutMs } : {}),
    });
    let conn: ReplicationConnection;
    try {
      conn = new ReplicationConnection(client, socket, reader, resolved, found.source, found.password,
        statuses, options.onNotice, options.noProgressTimeoutMs ?? 0);
    } catch (err) {
      socket.destroy();
      throw err;
    }
    if (statuses.get('integer_datetimes') === 'off') {
      conn.destroy();
      throw new ProtocolError('integer_datetimes compile flag does not match server');
    }
    return conn;
  }

  /** Destroys the connection when `signal` aborts (until the connection is closed). */
  private watch(signal: AbortSignal | undefined): void {
    if (signal === undefined) return;
    const onAbort = (): void => this.destroy(cancelled(this.target, signal));
    signal.addEventListener('abort', onAbort, { once: true });
    this.socket.once('close', () => signal.removeEventListener('abort', onAbort));
  }

  /** A ParameterStatus value the server reported (server_version, integer_datetimes, ...). */
  parameterStatus(name: string): string | undefined {
    return this.statuses.get(name);
  }

  /**
   * The parameters this connection was made with, for a standby's primary_conninfo (-R): libpq
   * keyword -> value in libpq's order, without replication, dbname and
   * fallback_application_name. A password that came from the password file is reported as
   * `passfile`, one given directly (or by PGPASSWORD) as `password`.
   */
  connectionParameters(): Record<string, string> {
    return effectiveConnectionParameters(this.resolved, this.passwordSource, this.password);
  }

  /** Statistics of the message reader (bounded queue), for tests and diagnostics. */
  get readerStats(): MessageReaderStats {
    return this.reader.stats;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  private begin(): void {
    if (this.closed) throw new InternalError(`replication connection to "${this.target}" is closed`);
    if (this.busy) throw new InternalError(`replication connection to "${this.target}" is busy with another command`);
    this.busy = true;
  }

  /** Runs one command (runCommand) while holding the connection; a failure that is not a
   * server error has destroyed it (through io.abort). */
  private async command<T>(text: string, prefix: string, run: (io: ProtocolIo, ctx: CommandContext) => Promise<T>): Promise<T> {
    this.begin();
    try {
      return await runCommand(this.io, text, prefix, run);
    } finally {
      this.busy = false;
    }
  }

  private simple(text: string, name: string): Promise<ResultSet[]> {
    return this.command(text, `could not send replication command "${name}"`,
      (io) => readCommandResults(io, `running ${name}`));
  }

  /** IDENTIFY_SYSTEM. */
  async identifySystem(): Promise<IdentifySystemResult> {
    const sets = await this.simple('IDENTIFY_SYSTEM', 'IDENTIFY_SYSTEM');
    const set = sets[0];
    const row = set?.rows[0];
    if (set === undefined || row === undefined || set.rows.length !== 1 || set.fields.length < 3) {
      throw new ProtocolError(`could not identify system: got ${set?.rows.length ?? 0} rows and ${set?.fields.length ?? 0} fields, expected 1 rows and 3 or more fields`);
    }
    const systemId = textValue(row, 0) ?? '';
    const timeline = Number(textValue(row, 1));
    const xlogPos = textValue(row, 2) ?? '';
    if (!/^\d+$/.test(systemId) || !Number.isInteger(timeline) || timeline < 1 || tryParseLsn(xlogPos) === null) {
      throw new ProtocolError(`could not identify system: unexpected values "${systemId}", "${textValue(row, 1) ?? ''}", "${xlogPos}"`);
    }
    return { systemId, timeline, xlogPos, dbName: set.fields.length >= 4 ? textValue(row, 3) : null };
  }

  /** SHOW name (servers 10+): the setting's text. */
  async show(name: string): Promise<string> {
    checkParameterName(name);
    const sets = await this.simple(`SHOW ${name}`, 'SHOW');
    const value = sets[0]?.rows[0] === undefined ? null : textValue(sets[0].rows[0], 0);
    if (value === null || sets[0]?.rows.length !== 1) {
      throw new ProtocolError(`unexpected result of SHOW ${name} from "${this.target}"`);
    }
    return value;
  }

  /** The server's WAL segment size in bytes (SHOW wal_segment_size). */
  async walSegmentSize(): Promise<number> {
    return parseWalSegmentSize(await this.show('wal_segment_size'));
  }

  /** TIMELINE_HISTORY tli: the history file's name and bytes. */
  async timelineHistory(timeline: number): Promise<TimelineHistoryFile> {
    if (!Number.isInteger(timeline) || timeline < 1 || timeline > 0xFFFF_FFFF) {
      throw new InvalidOptionError(`invalid timeline ${timeline}`);
    }
    const sets = await this.simple(`TIMELINE_HISTORY ${timeline}`, 'TIMELINE_HISTORY');
    const set = sets[0];
    const row = set?.rows[0];
    if (set === undefined || row === undefined || set.rows.length !== 1 || set.fields.length !== 2) {
      throw new ProtocolError(`unexpected response to TIMELINE_HISTORY command: got ${set?.rows.length ?? 0} rows and ${set?.fields.length ?? 0} fields, expected 1 rows and 2 fields`);
    }
    const filename = textValue(row, 0);
    const content = row[1];
    if (filename === null || content === null || content === undefined) {
      throw new ProtocolError('unexpected NULL in response to TIMELINE_HISTORY command');
    }
    return { filename, content: Buffer.from(content) };
  }

  /** CREATE_REPLICATION_SLOT "name" [TEMPORARY] PHYSICAL [RESERVE_WAL], in this server's grammar. */
  async createReplicationSlot(name: string, options: CreateReplicationSlotOptions = {}): Promise<CreatedReplicationSlot> {
    const quoted = quoteSlotName(name);
    const reserveWal = options.reserveWal ?? true;
    let text = `CREATE_REPLICATION_SLOT ${quoted}${options.temporary ? ' TEMPORARY' : ''} PHYSICAL`;
    if (reserveWal) text += this.syntax === 'options' ? ' (RESERVE_WAL)' : ' RESERVE_WAL';
    const sets = await this.simple(text, 'CREATE_REPLICATION_SLOT');
    const row = sets[0]?.rows[0];
    if (row === undefined) throw new ProtocolError('unexpected response to CREATE_REPLICATION_SLOT command: no rows');
    return { slotName: textValue(row, 0) ?? name, consistentPoint: textValue(row, 1) };
  }

  /** DROP_REPLICATION_SLOT "name" [WAIT]. */
  async dropReplicationSlot(name: string, options: { wait?: boolean } = {}): Promise<void> {
    await this.simple(`DROP_REPLICATION_SLOT ${quoteSlotName(name)}${options.wait ? ' WAIT' : ''}`, 'DROP_REPLICATION_SLOT');
  }

  /** READ_REPLICATION_SLOT "name" (servers 15+); null when the slot does not exist. */
  async readReplicationSlot(name: string): Promise<ReplicationSlotInfo | null> {
    const quoted = quoteSlotName(name);
    if (this.serverVersionNum < 150000) {
      throw new NotSupportedError(`READ_REPLICATION_SLOT is not supported by server version ${this.serverVersion}`, {
        hint: 'READ_REPLICATION_SLOT needs PostgreSQL 15 or later.',
      });
    }
    const sets = await this.simple(`READ_REPLICATION_SLOT ${quoted}`, 'READ_REPLICATION_SLOT');
    const row = sets[0]?.rows[0];
    if (row === undefined || sets[0]?.fields.length !== 3) {
      throw new ProtocolError('unexpected response to READ_REPLICATION_SLOT command');
    }
    const slotType = textValue(row, 0);
    if (slotType === null) return null;
    const tli = textValue(row, 2);
    return { slotType, restartLsn: textValue(row, 1), restartTimeline: tli === null ? null : Number(tli) };
  }

  /**
   * BASE_BACKUP with these options, in this server's grammar; the handler receives the
   * archives and manifest (base-backup-events.ts) and is awaited at every step. Resolves after
   * the server's final ReadyForQuery; onEnd has been called by then.
   */
  async baseBackup(options: BaseBackupOptions, handler: BaseBackupHandler): Promise<BaseBackupCommandResult> {
    const text = buildBaseBackupCommand(options, this.serverVersionNum);
    return this.command(text, 'could not initiate base backup',
      (io, ctx) => receiveBaseBackup(io, this.syntax, handler, ctx));
  }

  /**
   * START_REPLICATION [SLOT "s"] X/X TIMELINE n. Resolves once the server is streaming (or,
   * for a historic timeline asked for at its very end, once its answer arrived); the returned
   * stream's `done` settles when the session is over and the connection is usable again.
   */
  async startReplication(options: StartReplicationOptions, handler: ReplicationStreamHandler): Promise<ReplicationStream> {
    const start = typeof options.startLsn === 'bigint' ? options.startLsn : tryParseLsn(options.startLsn);
    if (start === null) throw new InvalidOptionError(`invalid LSN "${String(options.startLsn)}"`);
    if (!Number.isInteger(options.timeline) || options.timeline < 1) {
      throw new InvalidOptionError(`invalid timeline ${options.timeline}`);
    }
    const slot = options.slot === undefined || options.slot === null ? '' : `SLOT ${quoteSlotName(options.slot)} `;
    const text = `START_REPLICATION ${slot}${formatLsn(start)} TIMELINE ${options.timeline}`;
    const first = await this.command(text, 'could not send replication command "START_REPLICATION"', async (io) => {
      const m = await io.receive();
      if (m.kind === 'errorResponse') throw new ServerErrorReceived(m.notice);
      if (m.kind !== 'copyBothResponse' && m.kind !== 'rowDescription') throw unexpectedMessage(m, 'starting replication');
      return m;
    });
    // command() released the connection; the stream holds it until it is done.
    this.busy = true;
    const probeIdleMs = options.probeIdleMs ?? (this.noProgressMs > 0 ? Math.floor(this.noProgressMs / 3) : 0);
    const stream = new ReplicationStream(this.io, { ...options, startLsn: start, probeIdleMs }, handler, first);
    stream.done.then(
      () => { this.busy = false; },
      (err: unknown) => {
        // A server error ended the stream cleanly (ReadyForQuery was read); anything else
        // leaves the connection in an unknown state.
        if (err instanceof ServerError && !this.reader.isClosed) this.busy = false;
        else this.destroy(err instanceof Error ? err : undefined);
      },
    );
    return stream;
  }

  /** Ends the session politely (Terminate) when idle, or destroys it in the middle of a command. */
  async close(): Promise<void> {
    if (this.closed) return;
    if (this.busy) {
      this.destroy();
      return;
    }
    this.closed = true;
    this.reader.close();
    await Promise.race([
      this.client.end().catch(() => undefined),
      new Promise((resolve) => setTimeout(resolve, 5000).unref()),
    ]);
    this.socket.destroy();
  }

  /** Closes the socket at once; a command in progress fails. Never throws. */
  destroy(reason?: Error): void {
    if (this.closed) return;
    this.closed = true;
    this.reader.close(reason instanceof PgFleetError ? reason : undefined);
    this.socket.destroy();
  }
}

function cancelled(target: string, signal: AbortSignal): CancelledError {
  const reason = typeof signal.reason === 'string' ? ` (${signal.reason})` : '';
  return new CancelledError(`replication connection to "${target}" was cancelled${reason}`);
}
