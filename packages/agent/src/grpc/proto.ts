/**
 * Loads proto/pgfleet/v1/agent.proto at runtime with proto-loader, with the options the
 * generated types in src/gen assume (scripts/gen.mjs): 64-bit integers as decimal strings,
 * enums as their names, defaults filled in, the name of the set oneof field in a virtual
 * field (e.g. `item: 'spec'`), camelCase field names.
 */

import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { ProtoGrpcType } from '../gen/agent.js';

export const AGENT_PROTO = fileURLToPath(new URL('../../../../proto/pgfleet/v1/agent.proto', import.meta.url));

export const LOADER_OPTIONS: protoLoader.Options = {
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
  keepCase: false,
};

let loaded: ProtoGrpcType | null = null;

export function agentProto(): ProtoGrpcType {
  if (loaded === null) {
    const definition = protoLoader.loadSync(AGENT_PROTO, LOADER_OPTIONS);
    loaded = grpc.loadPackageDefinition(definition) as unknown as ProtoGrpcType;
  }
  return loaded;
}
