/**
 * Loads pgfleet/v1/*.proto at run time with @grpc/proto-loader, with the options the generated
 * types in src/gen assume (scripts/gen.mjs): 64-bit integers as decimal strings, enums as
 * their names, defaults filled in, the name of the set oneof member in a virtual field (e.g.
 * `item: 'spec'`), camelCase field names. Each file is loaded once, on first use, from the JSON
 * the build parsed it into (src/gen/descriptors.ts), not from its text.
 */

import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { DESCRIPTORS } from './gen/descriptors.js';
import type { AgentClient as AgentServiceClient } from './gen/pgfleet/v1/Agent.js';
import type { ControllerClient as ControllerServiceClient } from './gen/pgfleet/v1/Controller.js';
import type { WalArchiveClient as WalArchiveServiceClient } from './gen/pgfleet/v1/WalArchive.js';

/** pgfleet/v1 of this package (from src/ or dist/ alike). */
export const PROTO_DIR = fileURLToPath(new URL('../pgfleet/v1/', import.meta.url));
export const AGENT_PROTO = `${PROTO_DIR}agent.proto`;
export const CONTROLLER_PROTO = `${PROTO_DIR}controller.proto`;
export const ARCHIVE_PROTO = `${PROTO_DIR}archive.proto`;

export const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: false,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
};

const loaded = new Map<string, protoLoader.PackageDefinition>();

function serviceOf(file: string, name: string): grpc.ServiceDefinition {
  let definition = loaded.get(file);
  if (definition === undefined) {
    const json = DESCRIPTORS[basename(file)];
    if (json === undefined) throw new Error(`no descriptor of "${file}" was generated (scripts/gen.mjs)`);
    definition = protoLoader.fromJSON(JSON.parse(json) as Parameters<typeof protoLoader.fromJSON>[0], LOADER_OPTIONS);
    loaded.set(file, definition);
  }
  const service = definition[name];
  if (service === undefined || 'format' in service) throw new Error(`service "${name}" not found in "${file}"`);
  return service as grpc.ServiceDefinition;
}

/** pgfleet.v1.Agent, for a server's addService. */
export function agentService(): grpc.ServiceDefinition {
  return serviceOf(AGENT_PROTO, 'pgfleet.v1.Agent');
}

/** pgfleet.v1.Controller, for a server's addService. */
export function controllerService(): grpc.ServiceDefinition {
  return serviceOf(CONTROLLER_PROTO, 'pgfleet.v1.Controller');
}

/** pgfleet.v1.WalArchive (archive.proto), served by the controller to agents. */
export function walArchiveService(): grpc.ServiceDefinition {
  return serviceOf(ARCHIVE_PROTO, 'pgfleet.v1.WalArchive');
}

type ClientConstructor<C> = new (address: string, credentials: grpc.ChannelCredentials, options?: grpc.ChannelOptions) => C;

/** The generated client of the agent's service (typed by src/gen). */
export function agentServiceClient(): ClientConstructor<AgentServiceClient> {
  return grpc.makeClientConstructor(agentService(), 'Agent') as unknown as ClientConstructor<AgentServiceClient>;
}

/** The generated client of the controller's service (typed by src/gen). */
export function controllerServiceClient(): ClientConstructor<ControllerServiceClient> {
  return grpc.makeClientConstructor(controllerService(), 'Controller') as unknown as ClientConstructor<ControllerServiceClient>;
}

/** The generated client of the controller's WAL archive service (typed by src/gen). */
export function walArchiveServiceClient(): ClientConstructor<WalArchiveServiceClient> {
  return grpc.makeClientConstructor(walArchiveService(), 'WalArchive') as unknown as ClientConstructor<WalArchiveServiceClient>;
}
