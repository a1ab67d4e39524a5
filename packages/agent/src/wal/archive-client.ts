/**
 * The agent's client of the controller's WAL archive service (archive.proto), for
 * archive-push and wal-get: mutual TLS with the agent's certificate (role "agent"), every
 * failure a catalogue error naming the controller (@pgfleet/proto's error codec). get() checks
 * what arrives against the header (size, SHA-256): a file damaged on the way is a
 * WalFormatError, never a file handed to recovery.
 */

import { createHash } from 'node:crypto';
import { WalFormatError } from '@pgfleet/core/errors';
import {
  CHANNEL_OPTIONS, CONTROLLER_PROTOCOL_VERSION, clientCredentials, fromServiceError, readTlsFiles, walArchiveServiceClient,
  type GetWalEvent__Output, type PushWalResponse__Output, type WalArchiveServiceClient, type WalFileHeader__Output,
} from '@pgfleet/proto/wal-archive-client';
import type { AgentControllerConfig } from '../config.js';

export interface WalFileTarget {
  /** The cluster, or "" to let the controller find it by system identifier. */
  cluster: string;
  systemIdentifier: string;
  name: string;
}

const CHUNK = 1024 * 1024;

export class WalArchiveClient {
  private readonly peer: string;

  private constructor(private readonly client: WalArchiveServiceClient, private readonly config: AgentControllerConfig, private readonly timeoutMs: number) {
    this.peer = `controller "${config.address}"`;
  }

  static async open(config: AgentControllerConfig, timeoutMs: number): Promise<WalArchiveClient> {
    const tls = config.tls === null ? null : await readTlsFiles(config.tls, 'Check "controller.tls" (or "tls") in the agent\'s configuration.');
    const Client = walArchiveServiceClient();
    return new WalArchiveClient(new Client(config.address, clientCredentials(tls), CHANNEL_OPTIONS), config, timeoutMs);
  }

  close(): void {
    this.client.close();
  }

  private error(err: unknown, method: string, midCall = false): Error {
    return fromServiceError(err, { peer: this.peer, method, tls: this.config.tls !== null, midCall });
  }

  private ref(target: WalFileTarget): { cluster: string; systemIdentifier: string; name: string; protocolVersion: string } {
    return { ...target, protocolVersion: CONTROLLER_PROTOCOL_VERSION };
  }

  /** Archives one file's bytes. */
  push(target: WalFileTarget, content: Buffer): Promise<PushWalResponse__Output> {
    return new Promise((resolve, reject) => {
      const call = this.client.pushWal({ deadline: Date.now() + this.timeoutMs }, (err, res) => (err || !res ? reject(this.error(err, 'PushWal')) : resolve(res)));
      call.write({ file: this.ref(target) });
      for (let at = 0; at < content.length; at += CHUNK) call.write({ data: content.subarray(at, at + CHUNK) });
      call.end();
    });
  }

  /** Fetches one file; throws NotFoundError when the archive lacks it. */
  async get(target: WalFileTarget): Promise<{ header: WalFileHeader__Output; content: Buffer }> {
    const call = this.client.getWal({ file: this.ref(target) }, { deadline: Date.now() + this.timeoutMs });
    let header: WalFileHeader__Output | null = null;
    const chunks: Buffer[] = [];
    let received = 0;
    try {
      for await (const event of call as AsyncIterable<GetWalEvent__Output>) {
        received += 1;
        if (event.header) header = event.header;
        else if (event.data) chunks.push(event.data);
      }
    } catch (err) {
      throw this.error(err, 'GetWal', received > 0);
    }
    const content = Buffer.concat(chunks);
    if (header === null) throw new WalFormatError(`${this.peer} sent WAL file "${target.name}" without its header`);
    if (content.length !== Number(header.size)) {
      throw new WalFormatError(`WAL file "${target.name}" from ${this.peer} has ${content.length} bytes, the controller announced ${header.size}`);
    }
    if (createHash('sha256').update(content).digest('hex') !== header.sha256) {
      throw new WalFormatError(`WAL file "${target.name}" from ${this.peer} does not match its SHA-256 checksum`);
    }
    return { header, content };
  }
}
