/**
 * The controller's client of one agent (agent.proto: GetInfo, Backup, Restore). Every call checks the agent's protocol version first (GetInfo, cached for
 * the life of the channel) and every failure comes back as a catalogue error naming the agent
 * (wire-errors.ts). Mutual TLS with the controller's own certificate unless insecure.
 */
import * as grpc from '@grpc/grpc-js';
import { CancelledError, IncompatibleVersionError } from '@pgfleet/core';
import type { AgentConfig } from '../config.js';
import type { AgentClient as GeneratedAgentClient } from '../gen/agent/pgfleet/v1/Agent.js';
import type { AgentInfo__Output } from '../gen/agent/pgfleet/v1/AgentInfo.js';
import type { RestoreEvent__Output } from '../gen/agent/pgfleet/v1/RestoreEvent.js';
import type { RestoreRequest } from '../gen/agent/pgfleet/v1/RestoreRequest.js';
import type { BackupEvent__Output } from '../gen/agent/pgfleet/v1/BackupEvent.js';
import type { BackupRequest } from '../gen/agent/pgfleet/v1/BackupRequest.js';
import { agentDefinition, serviceDefinition } from '../rpc/proto.js';
import { fromServiceError } from '../rpc/wire-errors.js';
import { clientCredentials, type TlsMaterial } from '../tls/credentials.js';
import { AGENT_PROTOCOL_VERSION, PGFLEET_VERSION, checkProtocolCompatibility } from '../version.js';

/** Channel options: notice a dead peer within seconds, allow 8 MiB messages. */
export const CHANNEL_OPTIONS: grpc.ChannelOptions = {
  'grpc.keepalive_time_ms': 10_000,
  'grpc.keepalive_timeout_ms': 5_000,
  'grpc.keepalive_permit_without_calls': 1,
  'grpc.max_receive_message_length': 8 * 1024 * 1024,
  'grpc.max_send_message_length': 8 * 1024 * 1024,
};

const GET_INFO_TIMEOUT_MS = 10_000;

export class AgentClient {
  readonly name: string;
  readonly address: string;
  readonly peer: string;
  private readonly client: GeneratedAgentClient;
  private info: AgentInfo__Output | null = null;
  private readonly tls: boolean;

  constructor(config: AgentConfig, tls: TlsMaterial | null) {
    this.name = config.name;
    this.address = config.address;
    this.peer = `agent "${config.name}"`;
    this.tls = tls !== null;
    const Ctor = grpc.makeClientConstructor(serviceDefinition(agentDefinition(), 'pgfleet.v1.Agent'), 'Agent');
    this.client = new Ctor(config.address, clientCredentials(tls), CHANNEL_OPTIONS) as unknown as GeneratedAgentClient;
  }

  /** GetInfo, version-checked. `fresh` asks again instead of using the cached answer. */
  async getInfo(options: { fresh?: boolean } = {}): Promise<AgentInfo__Output> {
    if (this.info !== null && !options.fresh) return this.info;
    const info = await new Promise<AgentInfo__Output>((resolve, reject) => {
      this.client.getInfo(
        { protocolVersion: AGENT_PROTOCOL_VERSION, client: `pgfleet-controller ${PGFLEET_VERSION}` },
        { deadline: Date.now() + GET_INFO_TIMEOUT_MS },
        (err, value) => (err || !value ? reject(fromServiceError(err, { peer: this.peer, method: 'GetInfo', tls: this.tls })) : resolve(value)),
      );
    });
    checkProtocolCompatibility(AGENT_PROTOCOL_VERSION, info.protocolVersion, { peer: this.peer, self: 'controller' });
    this.info = info;
    return info;
  }

  /** Throws unless the agent announces `capability`. */
  async requireCapability(capability: string, what: string, hint: string): Promise<void> {
    // Asked afresh: the agent may have been upgraded (or replaced) since the last call.
    const info = await this.getInfo({ fresh: true });
    if (!info.capabilities.includes(capability)) {
      throw new IncompatibleVersionError(`${this.peer} cannot ${what} (pgfleet-agent ${info.agentVersion || 'unknown version'}, no "${capability}" capability)`, { hint });
    }
  }

  /**
   * Starts the agent's Backup and yields its events. Aborting `signal` cancels the call (the
   * agent stops the backup). Errors are catalogue errors naming the agent.
   */
  async *backup(request: BackupRequest, signal?: AbortSignal): AsyncGenerator<BackupEvent__Output> {
    await this.requireCapability('backup', 'take backups',
      'Upgrade the agent to a release with the Backup call, or remove "agent" from the cluster so that the controller connects to the server directly.');
    const call = this.client.backup(request);
    const onAbort = (): void => call.cancel();
    signal?.addEventListener('abort', onAbort, { once: true });
    let received = 0;
    try {
      for await (const event of call) {
        received += 1;
        yield event as BackupEvent__Output;
      }
    } catch (err) {
      if (signal?.aborted) throw new CancelledError(`backup on ${this.peer} cancelled`);
      throw fromServiceError(err, { peer: this.peer, method: 'Backup', tls: this.tls, midCall: received > 0 });
    } finally {
      signal?.removeEventListener('abort', onAbort);
      call.cancel();
    }
  }

  /** Whether the channel uses TLS (for error hints). */
  get usesTls(): boolean {
    return this.tls;
  }

  /** Opens the agent's Restore stream (bidirectional); errors are mapped by the caller. */
  openRestore(): grpc.ClientDuplexStream<RestoreRequest, RestoreEvent__Output> {
    return this.client.restore();
  }

  close(): void {
    this.client.close();
  }
}
