/**
 * One pgfleet-receivewal run, as pg_receivewal runs (pg_receivewal.c): the engine behind the
 * command; it prints nothing itself (a ReceiveWalReporter receives its messages).
 *
 * 1. The target directory must exist (checked before connecting).
 * 2. Connect (a failure ends the run), read data_directory_mode (file modes) and run
 *    IDENTIFY_SYSTEM.
 * 3. --drop-slot / --create-slot: do it and end. A slot is created without reserving WAL, as
 *    pg_receivewal does (its restart_lsn is set by the first stream through it);
 *    --if-not-exists accepts an existing slot.
 * 4. Stream sessions, each a WalReceiver writing pg_receivewal's files into the directory
 *    (DirectoryWalSink: `.partial`, renamed when complete, compressed with -Z, no
 *    archive_status), starting where the directory, the slot or the server says. A session
 *    ends at the end position (-E), when the run is told to stop (the signal: SIGINT/SIGTERM),
 *    or with an error, which is reported; then, unless -n was given, the run waits 5 seconds,
 *    reconnects and streams on from where the directory ends. With -n a lost session ends the
 *    run with "disconnected".
 * Errors that retrying cannot cure end the run at once: an unusable directory or file in it,
 * a server version outside 13-18, bad options.
 */

import { opendir } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ReceiveWalArgs } from './bin/receivewal-args.js';
import {
  CancelledError, ConnectError, FileIoError, InvalidOptionError, NotSupportedError, ServerError, osErrorText,
} from './errors.js';
import { ReplicationConnection } from './replication/connection.js';
import { formatLsn } from './wal/lsn.js';
import { WalReceiver, type WalReceiverEvent } from './wal/receiver.js';
import { DirectoryWalSink } from './wal/wal-sinks.js';

export interface ReceiveWalReporter {
  /** An informational line (pg_log_info). */
  info(message: string): void;
  /** A warning line (pg_log_warning). */
  warning(message: string): void;
  /** An error that ends one streaming session but not the run (it reconnects). */
  error(err: unknown): void;
}

export interface ReceiveWalContext {
  /** The program's name: fallback_application_name, so it names the standby in pg_stat_replication. */
  programName: string;
  /** Aborted by SIGINT/SIGTERM: the run stops at the next possible moment and succeeds. */
  signal?: AbortSignal;
  promptPassword?: (prompt: string) => Promise<string>;
  /** Pause before reconnecting (pg_receivewal: 5 seconds). */
  retryDelayMs?: number;
}

/** The oldest and newest server majors streamed from (pgfleet's range). */
const OLDEST_MAJOR = 13;
const NEWEST_MAJOR = 18;

const RETRY_DELAY_MS = 5000;

/**
 * A failed slot command, worded as pg_receivewal words it: the whole command, then the server's
 * error as libpq spells it ("ERROR:  ...", DETAIL and HINT lines).
 */
function slotCommandError(command: string, err: unknown): unknown {
  if (!(err instanceof ServerError) || err.libpqText === undefined) return err;
  // libpqText is "<what was being done>: ERROR:  ..."; the command replaces the first part.
  const server = err.libpqText.slice(err.libpqText.indexOf(': ') + 2);
  return new ServerError(`could not send replication command "${command}": ${err.message.slice(err.message.indexOf(': ') + 2)}`, {
    cause: err, ...(err.sqlState !== undefined ? { sqlState: err.sqlState } : {}),
    libpqText: `could not send replication command "${command}": ${server}`,
  });
}

/** glibc's strerror() for the errors a directory check meets (Node words them in libuv's way). */
const STRERROR: Record<string, string> = {
  ENOENT: 'No such file or directory',
  ENOTDIR: 'Not a directory',
  EACCES: 'Permission denied',
  EPERM: 'Operation not permitted',
  ELOOP: 'Too many levels of symbolic links',
  ENAMETOOLONG: 'File name too long',
  EMFILE: 'Too many open files',
  EIO: 'Input/output error',
};

/** `could not open directory "x": <strerror>`, as pg_receivewal words it. */
function directoryError(directory: string, err: unknown): FileIoError {
  const code = (err as NodeJS.ErrnoException).code ?? '';
  const text = STRERROR[code] ?? osErrorText(err).replace(/^./, (c) => c.toUpperCase());
  return new FileIoError(`could not open directory "${directory}": ${text}`, { cause: err });
}

/** Connection errors after which reconnecting cannot help. */
function isFatal(err: unknown): boolean {
  return err instanceof InvalidOptionError || err instanceof NotSupportedError;
}

/** Runs pg_receivewal (see the module comment). Resolves on success; throws what ends the run. */
export async function runReceiveWal(args: ReceiveWalArgs, reporter: ReceiveWalReporter, context: ReceiveWalContext): Promise<void> {
  await new ReceiveWalRun(args, reporter, context).run();
}

/** One run, one step per method: checkDirectory, connect, prepare (modes, slot commands), then stream sessions. */
class ReceiveWalRun {
  private readonly signal: AbortSignal | undefined;
  /** -W asks once; the password is reused for every reconnection, as libpq's callers do. */
  private password: string | null = null;
  private fileMode = 0o600;
  private directoryMode = 0o700;
  private segmentSize = 0;

  constructor(private readonly args: ReceiveWalArgs, private readonly reporter: ReceiveWalReporter, private readonly context: ReceiveWalContext) {
    this.signal = context.signal;
  }

  private verbose(message: string): void {
    if (this.args.verbose > 0) this.reporter.info(message);
  }

  async run(): Promise<void> {
    if (this.args.action === 'stream') await this.checkDirectory();
    let conn: ReplicationConnection | null = await this.connect();
    try {
      await this.prepare(conn);
    } catch (err) {
      await conn.close().catch(() => undefined);
      throw err;
    }
    if (this.args.action !== 'stream') {
      await conn.close().catch(() => undefined);
      return;
    }
    const { args, reporter, signal } = this;
    const delay = this.context.retryDelayMs ?? RETRY_DELAY_MS;
    for (;;) {
      const outcome = await this.streamOnce(conn);
      conn = null;
      if (outcome === 'stopped' || signal?.aborted) return;
      if (!args.loop) throw new ConnectError('disconnected');
      reporter.info(`disconnected; waiting ${delay / 1000} seconds to try again`);
      try {
        await sleep(delay, undefined, signal === undefined ? {} : { signal });
      } catch {
        return; // told to stop while waiting
      }
    }
  }

  private async checkDirectory(): Promise<void> {
    const directory = this.args.directory as string;
    try {
      await (await opendir(directory)).close();
    } catch (err) {
      throw directoryError(directory, err);
    }
  }

  private async connect(): Promise<ReplicationConnection> {
    const { args, context, signal } = this;
    const attempt = new AbortController();
    const onAbort = (): void => attempt.abort(signal?.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const conn = await ReplicationConnection.connect({
        ...args.connection,
        fallback_application_name: context.programName,
        ...(this.password !== null ? { password: this.password } : {}),
        passwordPrompt: this.password !== null ? 'never' : args.passwordPrompt,
        ...(context.promptPassword !== undefined ? { promptPassword: context.promptPassword } : {}),
        recycleReadBuffers: true,
        // Whole XLogData messages (up to 128 kB) per read: fewer reads and slab moves.
        readBytes: 256 * 1024,
        signal: attempt.signal,
      });
      this.password = conn.connectionParameters()['password'] ?? this.password;
      return conn;
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }

  /** File modes, IDENTIFY_SYSTEM, --drop-slot / --create-slot, the WAL segment size. */
  private async prepare(conn: ReplicationConnection): Promise<void> {
    const args = this.args;
    if (conn.serverVersionNum >= 110000 && (await conn.show('data_directory_mode')) === '0750') {
      this.fileMode = 0o640;
      this.directoryMode = 0o750;
    }
    await conn.identifySystem();
    const slot = args.slot as string;
    if (args.action === 'drop-slot') {
      this.verbose(`dropping replication slot "${slot}"`);
      try {
        await conn.dropReplicationSlot(slot);
      } catch (err) {
        throw slotCommandError(`DROP_REPLICATION_SLOT "${slot}"`, err);
      }
    } else if (args.action === 'create-slot') {
      this.verbose(`creating replication slot "${slot}"`);
      try {
        await conn.createReplicationSlot(slot, { temporary: false, reserveWal: false });
      } catch (err) {
        if (!(args.ifNotExists && err instanceof ServerError && err.sqlState === '42710')) {
          throw slotCommandError(`CREATE_REPLICATION_SLOT "${slot}" PHYSICAL`, err);
        }
      }
    }
    this.segmentSize = args.action === 'stream' ? await conn.walSegmentSize() : 0;
  }

  /** One session: connect (unless `first` is open), stream, report how it ended. */
  private async streamOnce(first: ReplicationConnection | null): Promise<'stopped' | 'disconnected'> {
    const { reporter, signal } = this;
    let session = first;
    if (session === null) {
      try {
        session = await this.connect();
      } catch (err) {
        if (err instanceof CancelledError && signal?.aborted) return 'stopped';
        if (isFatal(err)) throw err;
        reporter.error(err);
        return 'disconnected';
      }
    }
    const major = Math.floor(session.serverVersionNum / 10000);
    if (major < OLDEST_MAJOR || major > NEWEST_MAJOR) {
      await session.close().catch(() => undefined);
      throw new NotSupportedError(major > NEWEST_MAJOR
        ? `incompatible server version ${session.serverVersion}; client does not support streaming from server versions newer than ${NEWEST_MAJOR}`
        : `incompatible server version ${session.serverVersion}; client does not support streaming from server versions older than ${OLDEST_MAJOR}`);
    }
    const sink = this.createSink();
    // The directory's start point first: a file that cannot be read there ends the run, as in
    // pg_receivewal, while every later error only ends the session.
    let stored;
    try {
      stored = await sink.findStart();
    } catch (err) {
      await sink.dispose();
      await session.close().catch(() => undefined);
      throw err;
    }
    let receiver: WalReceiver;
    try {
      receiver = await this.startReceiver(session, sink, stored);
    } catch (err) {
      reporter.error(err);
      return 'disconnected';
    }
    return this.awaitSession(receiver);
  }

  private createSink(): DirectoryWalSink {
    const { args } = this;
    return new DirectoryWalSink({
      directory: args.directory as string,
      segmentSize: this.segmentSize,
      sync: args.sync,
      markDone: false,
      partialFiles: true,
      compression: args.compression.method === 'none' ? null : { method: args.compression.method, level: args.compression.level },
      fileMode: this.fileMode,
      directoryMode: this.directoryMode,
      onWarning: (message) => this.reporter.warning(message),
    });
  }

  private startReceiver(
    session: ReplicationConnection, sink: DirectoryWalSink, stored: Awaited<ReturnType<DirectoryWalSink['findStart']>>,
  ): Promise<WalReceiver> {
    const { args } = this;
    return WalReceiver.start({
      connect: async () => session,
      sink,
      ...(stored !== null ? { startLsn: stored.lsn, timeline: stored.timeline } : {}),
      slot: args.slot,
      temporarySlot: false,
      statusIntervalSec: args.statusIntervalSec,
      synchronous: args.synchronous,
      recordSegments: false,
      onEvent: (event) => this.onEvent(sink, event),
      ...(args.endPosition !== null ? { endLsn: args.endPosition + 1n } : {}),
    });
  }

  private onEvent(sink: DirectoryWalSink, event: WalReceiverEvent): void {
    switch (event.kind) {
      case 'streaming-started':
        this.verbose(`starting log streaming at ${formatLsn(event.lsn)} (timeline ${event.timeline})`);
        break;
      case 'segment-finished':
        this.verbose(`finished segment at ${formatLsn(event.lsn)} (timeline ${event.timeline})`);
        break;
      case 'segment-incomplete':
        this.reporter.info(`not renaming "${sink.writingName(event.segment)}", segment is not complete`);
        break;
      case 'timeline-switched':
        this.verbose(`switched to timeline ${event.timeline} at ${formatLsn(event.lsn)}`);
        break;
      case 'stopped':
        this.verbose(event.reason === 'requested'
          ? 'received interrupt signal, exiting'
          : `stopped log streaming at ${formatLsn(event.lsn)} (timeline ${event.timeline})`);
        break;
    }
  }

  /** Until the session ends: stopped (-E reached, or told to stop) or disconnected (reported). */
  private async awaitSession(receiver: WalReceiver): Promise<'stopped' | 'disconnected'> {
    const { args, signal } = this;
    const onAbort = (): void => { void receiver.stop().catch(() => undefined); };
    if (signal?.aborted) onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const result = await receiver.done;
      if (args.endPosition !== null && result.endLsn > args.endPosition && !signal?.aborted) {
        // pg_receivewal's stop callback runs once more when the stream has ended, and says so again.
        this.verbose(`stopped log streaming at ${formatLsn(result.endLsn)} (timeline ${result.timeline})`);
      }
      return 'stopped';
    } catch (err) {
      this.reporter.error(err);
      return 'disconnected';
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }
}
