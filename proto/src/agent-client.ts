/**
 * The one client of an agent (agent.proto), for the controller and for any program or test:
 * GetInfo (version-checked; every other call checks the version once per channel), Instance, Backup (received
 * through backup-stream.ts into the caller's sinks, or into a directory) and Restore (files
 * sent through file-stream.ts, honouring write() backpressure, while the agent's plan,
 * progress and report come back). Every failure is a catalogue error naming the agent
 * (error-codec.ts); aborting a call's signal cancels it (CancelledError). Mutual TLS with the
 * caller's certificate, plaintext only without TLS material.
 */

import { once } from 'node:events';
import { mkdir, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import type * as grpc from '@grpc/grpc-js';
import { CancelledError, DirectoryNotEmptyError, IncompatibleVersionError, InvalidOptionError, ProtocolError, fileError } from '@pgfleet/core';
import { BACKUP_FILE_NAME, directoryFiles, receiveBackupStream, type BackupOutcome, type ReceiveBackupOptions } from './backup-stream.js';
import { CHANNEL_OPTIONS } from './channel-options.js';
import { fromServiceError } from './error-codec.js';
import { FileStreamWriter, type FileFrame } from './file-stream.js';
import type { AgentClient as AgentServiceClient } from './gen/pgfleet/v1/Agent.js';
import type { AgentInfo__Output } from './gen/pgfleet/v1/AgentInfo.js';
import type { BackupEvent__Output } from './gen/pgfleet/v1/BackupEvent.js';
import type { BackupRequest } from './gen/pgfleet/v1/BackupRequest.js';
import type { BackupResult__Output } from './gen/pgfleet/v1/BackupResult.js';
import type { CheckServerRequest } from './gen/pgfleet/v1/CheckServerRequest.js';
import type { InstanceRequest } from './gen/pgfleet/v1/InstanceRequest.js';
import type { InstanceStatus__Output } from './gen/pgfleet/v1/InstanceStatus.js';
import type { RestoreEvent__Output } from './gen/pgfleet/v1/RestoreEvent.js';
import type { RestoreReport__Output } from './gen/pgfleet/v1/RestoreReport.js';
import type { RestoreRequest } from './gen/pgfleet/v1/RestoreRequest.js';
import type { RestoreSpec } from './gen/pgfleet/v1/RestoreSpec.js';
import type { ServerCheck__Output } from './gen/pgfleet/v1/ServerCheck.js';
import type { WalStreamEvent__Output } from './gen/pgfleet/v1/WalStreamEvent.js';
import type { WalStreamStart } from './gen/pgfleet/v1/WalStreamStart.js';
import { agentServiceClient } from './load.js';
import { clientCredentials, readTlsFiles, type TlsFiles, type TlsMaterial } from './tls.js';
import { AGENT_PROTOCOL_VERSION, checkProtocolCompatibility } from './versions.js';
/** A server check opens two replication connections; a server that does not answer fails it. */
const CHECK_SERVER_TIMEOUT_MS = 30_000;

const GET_INFO_TIMEOUT_MS = 10_000;

export interface AgentClientOptions {
  /** host:port */
  address: string;
  /** The agent's name in messages ('agent "db1"'); default: the address. */
  name?: string;
  /** Free text for the agent's log, e.g. "pgfleet-controller 0.1.0". */
  client?: string;
  /** What the caller is, for version messages ("this controller speaks ..."); default "client". */
  self?: string;
  /** The protocol version this client announces (default AGENT_PROTOCOL_VERSION; other values only to test negotiation). */
  protocolVersion?: string;
}

/** A file of a backup to restore, read from `path`. */
export interface RestoreFile {
  name: string;
  size: number;
  path: string;
}

export interface RestoreCallOptions {
  onEvent?: (event: RestoreEvent__Output) => void;
  /** Bytes of `file` sent so far, after each chunk (and 0 at its start). */
  onSent?: (file: string, bytes: number) => void;
  signal?: AbortSignal;
}

/** One StreamWal call: the agent's events, and the acknowledgements sent back. */
export interface WalStreamSession {
  /** The agent's events in order; iterating throws the call's end as a catalogue error naming the agent. */
  readonly events: AsyncIterable<WalStreamEvent__Output>;
  /** Everything before `flushedLsn` ("X/X") is durable in the caller's archive. */
  ack(flushedLsn: string): void;
  /** Ends the call: the agent stops streaming. */
  cancel(): void;
}

/** The files of a tar-layout backup directory in the order a restore stream sends them. */
export async function backupFilesOf(dir: string): Promise<RestoreFile[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    throw fileError('could not open backup directory', dir, err);
  }
  const files = restoreFileOrder(names.filter((n) => BACKUP_FILE_NAME.test(n)));
  if (!files.some((n) => n.startsWith('base.tar'))) {
    throw new InvalidOptionError(`directory "${dir}" holds no base.tar`, { hint: 'Only tar-layout backups can be sent to an agent.' });
  }
  return Promise.all(files.map(async (name) => ({ name, size: (await stat(path.join(dir, name))).size, path: path.join(dir, name) })));
}

/** The order agent.proto asks for: backup_manifest, base.tar, tablespaces by OID, pg_wal.tar. */
export function restoreFileOrder(names: readonly string[]): string[] {
  const rank = (n: string): [number, number] => {
    if (n === 'backup_manifest') return [0, 0];
    if (n.startsWith('base.tar')) return [1, 0];
    if (n.startsWith('pg_wal.tar')) return [3, 0];
    return [2, Number.parseInt(n, 10)];
  };
  return [...names].sort((a, b) => {
    const [ra, oa] = rank(a);
    const [rb, ob] = rank(b);
    return ra - rb || oa - ob;
  });
}

export class AgentClient {
  readonly name: string;
  readonly address: string;
  /** 'agent "db1"', for messages. */
  readonly peer: string;
  /** Whether the channel uses TLS (for error hints). */
  readonly usesTls: boolean;
  private readonly client: AgentServiceClient;
  private readonly clientText: string;
  private readonly protocolVersion: string;
  private readonly self: string;
  private info: AgentInfo__Output | null = null;

  constructor(options: AgentClientOptions, tls: TlsMaterial | null) {
    this.address = options.address;
    this.name = options.name ?? options.address;
    this.peer = `agent "${this.name}"`;
    this.usesTls = tls !== null;
    this.clientText = options.client ?? 'pgfleet client';
    this.protocolVersion = options.protocolVersion ?? AGENT_PROTOCOL_VERSION;
    this.self = options.self ?? 'client';
    const Client = agentServiceClient();
    this.client = new Client(options.address, clientCredentials(tls), CHANNEL_OPTIONS);
  }

  /** A client whose TLS material is read from files (null: plaintext). */
  static async connect(options: AgentClientOptions & { tls: TlsFiles | null }): Promise<AgentClient> {
    return new AgentClient(options, options.tls === null ? null : await readTlsFiles(options.tls));
  }

  close(): void {
    this.client.close();
  }

  private error(err: unknown, method: string, midCall = false): Error {
    return fromServiceError(err, { peer: this.peer, method, tls: this.usesTls, midCall });
  }

  /** GetInfo, asked afresh (the agent may have been upgraded since) and version-checked. */
  async getInfo(): Promise<AgentInfo__Output> {
    const info = await new Promise<AgentInfo__Output>((resolve, reject) => {
      this.client.getInfo(
        { protocolVersion: this.protocolVersion, client: this.clientText },
        { deadline: Date.now() + GET_INFO_TIMEOUT_MS },
        (err, value) => (err || !value ? reject(this.error(err, 'GetInfo')) : resolve(value)),
      );
    });
    checkProtocolCompatibility(this.protocolVersion, info.protocolVersion, { peer: this.peer, self: this.self });
    this.info = info;
    return info;
  }

  /** Throws unless the agent announces `capability` (asked afresh: it may have been upgraded since). */
  async requireCapability(capability: string, what: string, hint: string): Promise<void> {
    const info = await this.getInfo();
    if (!info.capabilities.includes(capability)) {
      throw new IncompatibleVersionError(`${this.peer} cannot ${what} (pgfleet-agent ${info.agentVersion || 'unknown version'}, no "${capability}" capability)`, { hint });
    }
  }

  /** CheckServer (2.1, capability "check-server"): the local server as a backup would reach it. */
  async checkServer(request: CheckServerRequest): Promise<ServerCheck__Output> {
    await this.requireCapability('check-server', 'check its server', 'Upgrade the agent to a release with the CheckServer call.');
    return new Promise((resolve, reject) => {
      this.client.checkServer(request, { deadline: Date.now() + CHECK_SERVER_TIMEOUT_MS },
        (err, value) => (err || !value ? reject(this.error(err, 'CheckServer')) : resolve(value)));
    });
  }

  async instance(request: InstanceRequest): Promise<InstanceStatus__Output> {
    if (this.info === null) await this.getInfo();
    return new Promise((resolve, reject) => {
      this.client.instance(request, (err, status) => (err || !status ? reject(this.error(err, 'Instance')) : resolve(status)));
    });
  }

  /**
   * Runs the agent's Backup; each file goes to the sink `options.open` gives it. Resolves with
   * the stream's outcome once the agent's result has arrived.
   */
  async receiveBackup(request: BackupRequest, options: Omit<ReceiveBackupOptions, 'peer'> & { signal?: AbortSignal }): Promise<BackupOutcome> {
    await this.requireCapability('backup', 'take backups',
      'Upgrade the agent to a release with the Backup call, or remove "agent" from the cluster so that the controller connects to the server directly.');
    const signal = options.signal;
    if (signal?.aborted) throw new CancelledError(`backup on ${this.peer} cancelled`);
    const call = this.client.backup({ ...request, protocolVersion: this.protocolVersion });
    // grpc-js may end the stream before it emits the call's error: keep the error and the
    // final status, so that an early end is reported as what the agent said, not as a short stream.
    let callError: unknown = null;
    call.on('error', (err) => { callError ??= err; });
    const finalStatus = new Promise<void>((resolve) => call.on('status', () => resolve()));
    const onAbort = (): void => call.cancel();
    signal?.addEventListener('abort', onAbort, { once: true });
    let received = 0;
    const counted = { ...options, peer: this.peer, onEvent: (e: BackupEvent__Output) => { received += 1; options.onEvent?.(e); } };
    try {
      return await receiveBackupStream(call as AsyncIterable<BackupEvent__Output>, counted);
    } catch (err) {
      if (signal?.aborted) throw new CancelledError(`backup on ${this.peer} cancelled`);
      if (callError === null && err instanceof ProtocolError) await Promise.race([finalStatus, new Promise((r) => setTimeout(r, 2000))]);
      throw this.error(callError ?? err, 'Backup', received > 0);
    } finally {
      signal?.removeEventListener('abort', onAbort);
      call.cancel();
    }
  }

  /**
   * Opens a StreamWal call (capability "wal-stream") with its start; the caller reads the events
   * and acknowledges what it made durable.
   */
  async streamWal(start: Omit<WalStreamStart, 'protocolVersion'>): Promise<WalStreamSession> {
    await this.requireCapability('wal-stream', 'stream WAL',
      'Upgrade the agent to a release with the StreamWal call, or set "wal: { archive: none }" for the cluster.');
    const call = this.client.streamWal();
    let callError: unknown = null;
    call.on('error', (err) => { callError ??= err; });
    call.write({ start: { ...start, protocolVersion: this.protocolVersion } });
    const mapError = (err: unknown, midCall: boolean): Error => this.error(callError ?? err, 'StreamWal', midCall);
    async function* events(): AsyncGenerator<WalStreamEvent__Output> {
      let received = 0;
      try {
        for await (const event of call as AsyncIterable<WalStreamEvent__Output>) {
          received += 1;
          yield event;
        }
      } catch (err) {
        throw mapError(err, received > 0);
      }
      if (callError !== null) throw mapError(callError, received > 0);
    }
    return {
      events: events(),
      ack: (flushedLsn) => {
        if (!call.writableEnded && !call.destroyed) call.write({ ack: { flushedLsn } });
      },
      cancel: () => call.cancel(),
    };
  }

  /** Runs the agent's Backup into `dir` (created if absent, must be empty); resolves with its result. */
  async backup(request: BackupRequest, dir: string, options: { onEvent?: (event: BackupEvent__Output) => void; signal?: AbortSignal } = {}): Promise<BackupResult__Output> {
    await mkdir(dir, { recursive: true }).catch((err: unknown) => { throw fileError('could not create directory', dir, err); });
    if ((await readdir(dir)).length > 0) throw new DirectoryNotEmptyError(`directory "${dir}" exists but is not empty`);
    return (await this.receiveBackup(request, { ...options, open: directoryFiles(dir) })).result;
  }

  /**
   * Streams a backup to the agent's Restore: the tar-layout backup directory `backup`, or the
   * given files (in agent.proto's order); resolves with the agent's report. Once the report
   * has arrived the restore is complete: it is returned even when the call then ends with an
   * error (a cancel that crossed the call's end, a dropped connection).
   */
  async restore(spec: Omit<RestoreSpec, 'files'>, backup: string | readonly RestoreFile[], options: RestoreCallOptions = {}): Promise<RestoreReport__Output> {
    const files = typeof backup === 'string' ? await backupFilesOf(backup) : backup;
    await this.requireCapability('restore', 'restore backups', 'Upgrade the agent to a release with the Restore call.');
    return new RestoreCall(this.client.restore(), this.peer, (err, midCall) => this.error(err, 'Restore', midCall))
      .run({ ...spec, files: files.map((f) => ({ name: f.name, size: String(f.size) })) }, files, options);
  }
}

/** One Restore call: files sent while the agent's events are read; whichever side fails first stops the other. */
class RestoreCall {
  private readonly stop = new AbortController();
  private report: RestoreReport__Output | null = null;
  private sendDone = false;
  private cancelledBySender = false;

  constructor(
    private readonly call: grpc.ClientDuplexStream<RestoreRequest, RestoreEvent__Output>,
    private readonly peer: string,
    private readonly mapError: (err: unknown, midCall: boolean) => Error,
  ) {}

  private async write(frame: RestoreRequest | FileFrame): Promise<void> {
    if (this.stop.signal.aborted) throw this.stop.signal.reason;
    if (this.call.write(frame as RestoreRequest)) return;
    try {
      await once(this.call, 'drain', { signal: this.stop.signal });
    } catch (err) {
      throw this.stop.signal.aborted ? this.stop.signal.reason : err;
    }
  }

  private async send(spec: RestoreSpec, files: readonly RestoreFile[], options: RestoreCallOptions): Promise<void> {
    await this.write({ spec });
    const writer = new FileStreamWriter((frame) => this.write(frame));
    for (const f of files) {
      options.onSent?.(f.name, 0);
      await writer.sendFile(f.path, { name: f.name, size: f.size }, { signal: this.stop.signal, onChunk: (sent) => options.onSent?.(f.name, sent) });
    }
    this.sendDone = true;
    this.call.end();
  }

  private async receive(options: RestoreCallOptions): Promise<void> {
    let received = 0;
    try {
      for await (const event of this.call as AsyncIterable<RestoreEvent__Output>) {
        received += 1;
        if (event.report) this.report = event.report;
        options.onEvent?.(event);
      }
    } catch (err) {
      if (options.signal?.aborted && this.report === null) throw new CancelledError(`the call to ${this.peer} was cancelled`);
      throw this.mapError(err, received > 0);
    }
    // An agent that ends the call while files are still being sent would leave the sender
    // waiting for 'drain' forever.
    if (!this.sendDone) this.stop.abort(new ProtocolError(`${this.peer} ended the restore before all files were sent`));
  }

  async run(spec: RestoreSpec, files: readonly RestoreFile[], options: RestoreCallOptions): Promise<RestoreReport__Output> {
    const onAbort = (): void => {
      this.stop.abort(new CancelledError(`the call to ${this.peer} was cancelled`));
      this.call.cancel();
    };
    if (options.signal?.aborted) onAbort();
    options.signal?.addEventListener('abort', onAbort, { once: true });
    const [sent, received] = await Promise.allSettled([
      this.send(spec, files, options).catch((err: unknown) => {
        if (!this.stop.signal.aborted) {
          this.cancelledBySender = true;
          this.stop.abort(err);
          this.call.cancel();
        }
        throw err;
      }),
      this.receive(options).catch((err: unknown) => {
        if (!this.stop.signal.aborted) this.stop.abort(err);
        throw err;
      }),
    ]);
    options.signal?.removeEventListener('abort', onAbort);
    // The agent sends the report only once the restore is complete (and its server running),
    // and nothing undoes it after that: a failure after the report does not change that.
    if (this.report !== null) return this.report;
    // The agent's error explains more than ours (a refused spec makes our writes fail too),
    // unless the sender cancelled the call itself.
    if (received.status === 'rejected' && !this.cancelledBySender) throw received.reason;
    if (sent.status === 'rejected') throw sent.reason;
    if (received.status === 'rejected') throw received.reason;
    throw new ProtocolError(`restore stream from ${this.peer} ended without a report`);
  }
}
