import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { createDaemonLog } from '@pgfleet/core';
import { routeGrpcLogs } from '../src/grpc-log.js';

test("grpc-js's diagnostics go to the daemon's log at their level, without grpc-js's own timestamp", () => {
  const lines: string[] = [];
  routeGrpcLogs(createDaemonLog({ name: 'd', format: 'json', level: 'debug', write: (l) => lines.push(l) }));
  const original = console.error;
  const stray: unknown[] = [];
  console.error = (...args: unknown[]) => { stray.push(args); };
  try {
    grpc.experimental.log(grpc.logVerbosity.ERROR, 'Failed to add server: bind error');
    grpc.experimental.log(grpc.logVerbosity.INFO, `${new Date().toISOString()} | v1.14.0 123 | server | started`);
    grpc.experimental.log(grpc.logVerbosity.DEBUG, 'a trace line');
  } finally {
    console.error = original;
  }
  assert.deepEqual(stray, []);
  assert.deepEqual(lines.map((l) => JSON.parse(l) as Record<string, unknown>).map((e) => [e['level'], e['msg'], e['source']]), [
    ['warn', 'grpc: Failed to add server: bind error', 'grpc-js'],
    ['info', 'grpc: v1.14.0 123 | server | started', 'grpc-js'],
    ['debug', 'grpc: a trace line', 'grpc-js'],
  ]);
});
