/**
 * Loads the wire contracts at run time with @grpc/proto-loader, using the same options the
 * type generator uses (package.json "gen": longs=String, enums=String, defaults, oneofs), so
 * the objects on the wire have the shapes of src/gen. Each file is loaded on its own (they
 * share the package pgfleet.v1):
 *   controller.proto  the controller's service (the CLI's client and the daemon's server)
 *   agent.proto       the agent's service (GetInfo, Backup, Restore, Instance)
 */
import { fileURLToPath } from 'node:url';
import type * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: false,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
};

/** proto/pgfleet/v1 of the repository (from src/rpc or dist/rpc alike). */
export const PROTO_DIR = fileURLToPath(new URL('../../../../proto/pgfleet/v1/', import.meta.url));

const cache = new Map<string, protoLoader.PackageDefinition>();

export function loadDefinition(file: string): protoLoader.PackageDefinition {
  let def = cache.get(file);
  if (!def) {
    def = protoLoader.loadSync(file, LOADER_OPTIONS);
    cache.set(file, def);
  }
  return def;
}

export function controllerDefinition(): protoLoader.PackageDefinition {
  return loadDefinition(PROTO_DIR + 'controller.proto');
}

export function agentDefinition(): protoLoader.PackageDefinition {
  return loadDefinition(PROTO_DIR + 'agent.proto');
}

/** The service definition `name` ("pgfleet.v1.Controller") of a loaded file. */
export function serviceDefinition(def: protoLoader.PackageDefinition, name: string): grpc.ServiceDefinition {
  const svc = def[name];
  if (svc === undefined || 'format' in svc) throw new Error(`service "${name}" not found in the loaded proto definition`);
  return svc as grpc.ServiceDefinition;
}
