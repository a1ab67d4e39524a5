// The services are built from the JSON the build parsed each .proto into (src/gen/descriptors.ts),
// not from the .proto text: they must be the services the text describes, with the same methods,
// streaming kinds and encodings, or a peer built otherwise would not understand this one.
import assert from 'node:assert/strict';
import { basename } from 'node:path';
import { test } from 'node:test';
import * as protoLoader from '@grpc/proto-loader';
import protobuf from 'protobufjs';
import type * as grpc from '@grpc/grpc-js';
import {
  AGENT_PROTO, ARCHIVE_PROTO, CONTROLLER_PROTO, LOADER_OPTIONS, agentService, controllerService, walArchiveService,
} from '../src/index.js';
import { DESCRIPTORS } from '../src/gen/descriptors.js';

const SERVICES: Array<[string, string, () => grpc.ServiceDefinition]> = [
  [AGENT_PROTO, 'pgfleet.v1.Agent', agentService],
  [CONTROLLER_PROTO, 'pgfleet.v1.Controller', controllerService],
  [ARCHIVE_PROTO, 'pgfleet.v1.WalArchive', walArchiveService],
];

/** A message of `type` with every field set (each oneof's first member), as proto-loader's objects are. */
function sample(type: protobuf.Type, depth = 0): Record<string, unknown> {
  const value: Record<string, unknown> = {};
  const inOneof = new Set<string>();
  for (const oneof of type.oneofsArray) for (const f of oneof.fieldsArray.slice(1)) inOneof.add(f.name);
  for (const field of type.fieldsArray) {
    if (inOneof.has(field.name)) continue;
    field.resolve();
    let one: unknown;
    if (field.resolvedType instanceof protobuf.Type) {
      if (depth > 3) continue;
      one = sample(field.resolvedType, depth + 1);
    } else if (field.resolvedType instanceof protobuf.Enum) {
      one = Object.keys(field.resolvedType.values).at(-1);
    } else if (field.type === 'string') {
      one = `${field.name}-é`;
    } else if (field.type === 'bytes') {
      one = Buffer.from([1, 2, 3]);
    } else if (field.type === 'bool') {
      one = true;
    } else if (/64$/.test(field.type)) {
      one = '9007199254740993';
    } else {
      one = field.type === 'double' || field.type === 'float' ? 1.5 : 7;
    }
    value[field.name] = field.map ? { k: one } : field.repeated ? [one, one] : one;
  }
  return value;
}

test('each service built from the generated JSON is the one its .proto text describes', () => {
  for (const [file, name, service] of SERVICES) {
    const fromText = protoLoader.loadSync(file, LOADER_OPTIONS)[name] as protoLoader.ServiceDefinition;
    const built = service();
    const types = protobuf.loadSync(file);
    assert.deepEqual(Object.keys(built).sort(), Object.keys(fromText).sort(), name);
    for (const [method, want] of Object.entries(fromText)) {
      const got = built[method]!;
      assert.deepEqual([got.path, got.requestStream, got.responseStream, got.originalName], [want.path, want.requestStream, want.responseStream, want.originalName], `${name}.${method}`);
      // A message with every field set encodes to the same bytes, and decodes to the same object.
      for (const [side, message] of [['request', want.requestType], ['response', want.responseType]] as const) {
        const type = types.lookupType(`${name.replace(/\.[^.]+$/, '')}.${(message.type as { name: string }).name}`);
        const full = sample(type);
        const serialize = side === 'request' ? [got.requestSerialize, want.requestSerialize] : [got.responseSerialize, want.responseSerialize];
        const deserialize = side === 'request' ? [got.requestDeserialize, want.requestDeserialize] : [got.responseDeserialize, want.responseDeserialize];
        const bytes = serialize[1]!(full);
        assert.equal(bytes.length > 0, type.fieldsArray.length > 0, `${name}.${method} ${side}: the sample has every field`);
        assert.deepEqual(serialize[0]!(full), bytes, `${name}.${method} ${side} bytes`);
        assert.deepEqual(deserialize[0]!(bytes), deserialize[1]!(bytes), `${name}.${method} ${side} decoded`);
      }
      // Each side's defaults (every field of the message, with the loader's options) encode and
      // decode alike.
      const request = want.requestDeserialize(Buffer.alloc(0));
      assert.deepEqual(got.requestSerialize(request), want.requestSerialize(request), `${name}.${method} request`);
      assert.deepEqual(got.requestDeserialize(Buffer.alloc(0)), request, `${name}.${method} request defaults`);
      const response = want.responseDeserialize(Buffer.alloc(0));
      assert.deepEqual(got.responseSerialize(response), want.responseSerialize(response), `${name}.${method} response`);
      assert.deepEqual(got.responseDeserialize(Buffer.alloc(0)), response, `${name}.${method} response defaults`);
    }
  }
});

test('every message and enum in the generated JSON has the fields, numbers and types of its .proto text', () => {
  for (const [file] of SERVICES) {
    const fromText = protoLoader.loadSync(file, LOADER_OPTIONS);
    const fromJson = protoLoader.fromJSON(JSON.parse(DESCRIPTORS[basename(file)]!) as Parameters<typeof protoLoader.fromJSON>[0], LOADER_OPTIONS);
    assert.deepEqual(Object.keys(fromJson).sort(), Object.keys(fromText).sort(), file);
    for (const [name, want] of Object.entries(fromText)) {
      if ('format' in want) assert.deepEqual((fromJson[name] as typeof want).type, want.type, name);
    }
  }
});
