// An in-process agent for unit tests of the callers of agent.proto (AgentClient, the
// controller): version negotiation, capability checks, Backup stream handling, error
// propagation. It never fakes PostgreSQL: a Backup script either replays events or streams
// files taken from a real server. The real agent's tests are in packages/agent.
import * as grpc from '@grpc/grpc-js';
import {
  AGENT_PROTOCOL_VERSION, agentService, serverCredentials, toServiceError,
  type AgentHandlers, type AgentInfo, type BackupEvent, type BackupRequest__Output, type RestoreEvent, type RestoreRequest__Output,
  type TlsMaterial,
} from '../../src/index.js';

export interface FakeAgentOptions {
  info?: Partial<AgentInfo>;
  tls?: TlsMaterial | null;
  /** Writes the events of one Backup call; throwing ends the call with that error. */
  backup?: (req: BackupRequest__Output, write: (e: BackupEvent) => Promise<void>, call: grpc.ServerWritableStream<BackupRequest__Output, BackupEvent>) => Promise<void>;
  /** Handles one Restore call; throwing ends the call with that error. */
  restore?: (call: grpc.ServerDuplexStream<RestoreRequest__Output, RestoreEvent>) => Promise<void>;
}

export interface FakeAgent {
  address: string;
  requests: BackupRequest__Output[];
  /** Set when the caller cancelled a Backup call. */
  cancelled: boolean;
  stop(): Promise<void>;
  kill(): void;
}

export async function startFakeAgent(options: FakeAgentOptions = {}): Promise<FakeAgent> {
  const server = new grpc.Server();
  const state: FakeAgent = {
    address: '', requests: [], cancelled: false,
    stop: () => new Promise((r) => server.tryShutdown(() => r())),
    kill: () => server.forceShutdown(),
  };
  const handlers: Partial<AgentHandlers> = {
    GetInfo: (_call, cb) => cb(null, {
      agentVersion: '0.1.0', protocolVersion: AGENT_PROTOCOL_VERSION, hostname: 'fake', capabilities: ['restore', 'backup'], ...options.info,
    }),
    Backup: (call) => {
      state.requests.push(call.request);
      call.on('cancelled', () => { state.cancelled = true; });
      const write = (e: BackupEvent): Promise<void> => new Promise((resolve) => {
        if (call.cancelled) { resolve(); return; }
        if (call.write(e)) resolve(); else call.once('drain', () => resolve());
      });
      (options.backup ?? (async () => {}))(call.request, write, call).then(
        () => call.end(),
        (err: unknown) => call.emit('error', toServiceError(err)),
      );
    },
    Restore: (call) => {
      (options.restore ?? (async () => {}))(call).then(
        () => call.end(),
        (err: unknown) => call.emit('error', toServiceError(err)),
      );
    },
  };
  server.addService(agentService(), handlers as grpc.UntypedServiceImplementation);
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync('127.0.0.1:0', serverCredentials(options.tls ?? null), (err, p) => (err ? reject(err) : resolve(p)));
  });
  state.address = `127.0.0.1:${port}`;
  return state;
}
