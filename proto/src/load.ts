/**
 * The pgfleet/v1 services for grpc-js, with the semantics of @grpc/proto-loader and the options
 * the generated types in src/gen assume (scripts/gen.mjs): 64-bit integers as decimal strings,
 * enums as their names, defaults filled in, the name of the set oneof member in a virtual field
 * (e.g. `item: 'spec'`), camelCase field names. Each file is loaded once, on first use, from the
 * JSON the build parsed it into (src/gen/descriptors.ts), not from its text.
 *
 * The services are built here, with protobufjs's light build (no .proto parser), rather than by
 * proto-loader: proto-loader also loads protobufjs's descriptor extension and encodes a
 * descriptor of every message and file (for server reflection, which pgfleet does not serve),
 * about 30 ms of CPU in every process that makes or serves a call, among them `pgfleet`
 * commands and archive-push and wal-get, which PostgreSQL starts once per WAL file. What a call
 * uses is what proto-loader makes: each method's path, streaming kinds, its name in camelCase,
 * and (de)serializers doing fromObject + encode and decode + toObject with these options
 * (test/load.test.ts holds both to proto-loader's).
 */

import { createRequire } from 'node:module';
import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import type * as protoLoader from '@grpc/proto-loader';
import type * as Protobuf from 'protobufjs';
import { DESCRIPTORS } from './gen/descriptors.js';
import type { AgentClient as AgentServiceClient } from './gen/pgfleet/v1/Agent.js';
import type { ControllerClient as ControllerServiceClient } from './gen/pgfleet/v1/Controller.js';
import type { WalArchiveClient as WalArchiveServiceClient } from './gen/pgfleet/v1/WalArchive.js';

const require = createRequire(import.meta.url);

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

/** lodash's camelCase for a method name (what proto-loader names the method's alias). */
export function camelCaseName(name: string): string {
  const words = name.match(/[A-Z]{2,}(?=[A-Z][a-z]+|[0-9]|\b|_)|[A-Z]?[a-z]+|[A-Z]+|[0-9]+/g) ?? [];
  return words.map((w, i) => (i === 0 ? w.toLowerCase() : w[0]!.toUpperCase() + w.slice(1).toLowerCase())).join('');
}

function serializer(type: Protobuf.Type): grpc.serialize<object> {
  return (value: object): Buffer => {
    if (Array.isArray(value)) throw new Error(`Failed to serialize message: expected object with ${type.name} structure, got array instead`);
    return type.encode(type.fromObject(value)).finish() as Buffer;
  };
}

function deserializer(type: Protobuf.Type): grpc.deserialize<object> {
  return (bytes: Buffer): object => type.toObject(type.decode(bytes), LOADER_OPTIONS as Protobuf.IConversionOptions);
}

function buildService(service: Protobuf.Service): grpc.ServiceDefinition {
  const definition: Record<string, grpc.MethodDefinition<object, object>> = {};
  const name = service.fullName.replace(/^\./, '');
  for (const method of service.methodsArray) {
    method.resolve();
    const request = method.resolvedRequestType!;
    const response = method.resolvedResponseType!;
    definition[method.name] = {
      path: `/${name}/${method.name}`,
      requestStream: method.requestStream === true,
      responseStream: method.responseStream === true,
      requestSerialize: serializer(request),
      requestDeserialize: deserializer(request),
      responseSerialize: serializer(response),
      responseDeserialize: deserializer(response),
      originalName: camelCaseName(method.name),
    };
  }
  return definition;
}

const loaded = new Map<string, grpc.ServiceDefinition>();

function serviceOf(file: string, name: string): grpc.ServiceDefinition {
  const key = `${file}#${name}`;
  let definition = loaded.get(key);
  if (definition === undefined) {
    const json = DESCRIPTORS[basename(file)];
    if (json === undefined) throw new Error(`no descriptor of "${file}" was generated (scripts/gen.mjs)`);
    // The light build: the .proto parser and the descriptor extension are not needed.
    const protobuf = require('protobufjs/light') as typeof Protobuf;
    const root = protobuf.Root.fromJSON(JSON.parse(json) as Protobuf.INamespace);
    root.resolveAll();
    const service = root.lookup(name);
    if (!(service instanceof protobuf.Service)) throw new Error(`service "${name}" not found in "${file}"`);
    definition = buildService(service);
    loaded.set(key, definition);
  }
  return definition;
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
