/**
 * A client of the agent's gRPC service, for programs and tests (the controller has its own):
 * GetInfo, Instance, Backup into a directory (backup-receive.ts), and Restore of a backup directory in tar layout, streamed as agent.proto
 * says (RestoreSpec with the file list, then backup_manifest, base.tar, <oid>.tar..., pg_wal.tar,
 * each in 256 KiB chunks, honouring write() backpressure). Failures are rethrown as the
 * catalogue error the agent sent (errors.ts).
 */

import { once } from 'node:events';
import { createReadStream } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { InvalidOptionError, ProtocolError, fileError } from '@pgfleet/core';
import type { AgentTlsFiles } from '../config.js';
import type { AgentClient as GeneratedClient } from '../gen/pgfleet/v1/Agent.js';
import type { AgentInfo__Output } from '../gen/pgfleet/v1/AgentInfo.js';
import type { InstanceRequest } from '../gen/pgfleet/v1/InstanceRequest.js';
import type { BackupEvent__Output } from '../gen/pgfleet/v1/BackupEvent.js';
import type { BackupRequest } from '../gen/pgfleet/v1/BackupRequest.js';
import type { BackupResult__Output } from '../gen/pgfleet/v1/BackupResult.js';
import type { InstanceStatus__Output } from '../gen/pgfleet/v1/InstanceStatus.js';
import type { RestoreEvent__Output } from '../gen/pgfleet/v1/RestoreEvent.js';
import type { RestoreReport__Output } from '../gen/pgfleet/v1/RestoreReport.js';
import type { RestoreRequest } from '../gen/pgfleet/v1/RestoreRequest.js';
import type { RestoreSpec } from '../gen/pgfleet/v1/RestoreSpec.js';
import { archiveOrder, classifyArchiveName } from '../restore/source.js';
import { PROTOCOL_VERSION } from '../version.js';
import { receiveBackupStream } from './backup-receive.js';
import { fromServiceError } from './errors.js';
import { KEEPALIVE_OPTIONS } from './keepalive.js';
import { agentProto } from './proto.js';
import { clientCredentials } from './tls.js';

const CHUNK = 256 * 1024;

export interface AgentClientOptions {
  /** host:port */
  address: string;
  /** Client certificate, key and the CA the agent's certificate is signed by; null: plaintext. */
  tls: AgentTlsFiles | null;
}

/** The files of a tar-layout backup directory in the order a restore stream sends them. */
export async function backupFilesOf(dir: string): Promise<Array<{ name: string; size: number }>> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    throw fileError('could not open backup directory', dir, err);
  }
  const archives = names.map((n) => classifyArchiveName(n)).filter((a) => a !== null).sort(archiveOrder);
  if (!archives.some((a) => a.kind === 'base')) {
    throw new InvalidOptionError(`directory "${dir}" holds no base.tar`, { hint: 'Only tar-layout backups can be sent to an agent.' });
  }
  const files = [...(names.includes('backup_manifest') ? ['backup_manifest'] : []), ...archives.map((a) => a.name)];
  return Promise.all(files.map(async (name) => ({ name, size: (await stat(path.join(dir, name))).size })));
}

export class AgentClient {
  private constructor(private readonly client: GeneratedClient, readonly address: string) {}

  static async connect(options: AgentClientOptions): Promise<AgentClient> {
    const Ctor = agentProto().pgfleet.v1.Agent;
    const client = new Ctor(options.address, await clientCredentials(options.tls), KEEPALIVE_OPTIONS);
    return new AgentClient(client, options.address);
  }

  close(): void {
    this.client.close();
  }

  getInfo(): Promise<AgentInfo__Output> {
    return new Promise((resolve, reject) => {
      this.client.getInfo({ protocolVersion: PROTOCOL_VERSION, client: 'pgfleet-agent client' }, (err, info) => {
        if (err || !info) reject(fromServiceError(err, this.address));
        else resolve(info);
      });
    });
  }

  instance(request: InstanceRequest): Promise<InstanceStatus__Output> {
    return new Promise((resolve, reject) => {
      this.client.instance(request, (err, status) => {
        if (err || !status) reject(fromServiceError(err, this.address));
        else resolve(status);
      });
    });
  }

  /**
   * Streams `backupDir` to the agent's Restore; resolves with its report. Once the report has
   * arrived the restore is complete: it is returned even when the call then ends with an error
   * (a cancel through `signal` that crossed the call's end, a dropped connection).
   */
  async restore(
    spec: Omit<RestoreSpec, 'files'>,
    backupDir: string,
    options: { onEvent?: (event: RestoreEvent__Output) => void; signal?: AbortSignal } = {},
  ): Promise<RestoreReport__Output> {
    const files = await backupFilesOf(backupDir);
    const call = this.client.restore();
    const stopSending = new AbortController();
    const onAbort = (): void => call.cancel();
    options.signal?.addEventListener('abort', onAbort, { once: true });

    const write = async (message: RestoreRequest): Promise<void> => {
      if (stopSending.signal.aborted) return;
      if (!call.write(message)) await once(call, 'drain', { signal: stopSending.signal }).catch(() => undefined);
    };
    const sending = (async (): Promise<void> => {
      await write({ spec: { ...spec, files: files.map((f) => ({ name: f.name, size: String(f.size) })) } });
      for (const f of files) {
        if (stopSending.signal.aborted) return;
        const file = path.join(backupDir, f.name);
        await write({ fileBegin: { name: f.name, size: String(f.size) } });
        try {
          for await (const chunk of createReadStream(file, { highWaterMark: CHUNK })) {
            if (stopSending.signal.aborted) return;
            await write({ data: chunk as Buffer });
          }
        } catch (err) {
          throw fileError('could not read file', file, err);
        }
        await write({ fileEnd: {} });
      }
      call.end();
    })();

    let report: RestoreReport__Output | null = null;
    try {
      for await (const event of call as AsyncIterable<RestoreEvent__Output>) {
        if (event.report) report = event.report;
        options.onEvent?.(event);
      }
    } catch (err) {
      // The agent failed (or we were cancelled): stop sending, report the agent's error.
      stopSending.abort();
      await sending.catch(() => undefined);
      // The agent sends the report only once the restore is complete (and its server running),
      // and nothing undoes it after that: a cancel or a failure that comes after the report
      // (a race with the call's end) does not change that the restore was done.
      if (report !== null) return report;
      throw fromServiceError(err, this.address);
    } finally {
      options.signal?.removeEventListener('abort', onAbort);
    }
    await sending;
    if (report === null) throw new ProtocolError(`the restore stream from agent "${this.address}" ended without a report`);
    return report;
  }

  /**
   * Runs the agent's Backup and writes the files it streams into `dir` (created if absent,
   * must be empty); resolves with the agent's result. Aborting `signal` cancels the call.
   */
  async backup(
    request: BackupRequest,
    dir: string,
    options: { onEvent?: (event: BackupEvent__Output) => void; signal?: AbortSignal } = {},
  ): Promise<BackupResult__Output> {
    const call = this.client.backup({ protocolVersion: PROTOCOL_VERSION, ...request });
    // grpc-js may end the stream before it emits the call's error: keep the error and the
    // final status, so that an early end is reported as what the agent said, not as a short stream.
    let callError: unknown = null;
    call.on('error', (err) => { callError ??= err; });
    const finalStatus = new Promise<void>((resolve) => call.on('status', () => resolve()));
    const onAbort = (): void => call.cancel();
    if (options.signal?.aborted) call.cancel();
    options.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      return await receiveBackupStream(call as AsyncIterable<BackupEvent__Output>, { dir, peer: this.address, ...(options.onEvent ? { onEvent: options.onEvent } : {}) });
    } catch (err) {
      if (callError === null) await Promise.race([finalStatus, new Promise((r) => setTimeout(r, 2000))]);
      call.cancel();
      throw fromServiceError(callError ?? err, this.address);
    } finally {
      options.signal?.removeEventListener('abort', onAbort);
    }
  }
}
