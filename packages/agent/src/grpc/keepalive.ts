/**
 * gRPC keepalive, on the agent's server and on AgentClient's channel: a peer that stops
 * answering (a dead host, a stopped process, a broken network path) is noticed within about
 * 15 s, and its calls end (a Backup then stops and drops its temporary slot; a Restore is
 * undone). TCP keepalives alone never notice a stopped process: its kernel still answers.
 */

import type * as grpc from '@grpc/grpc-js';

export const KEEPALIVE_OPTIONS: grpc.ChannelOptions = {
  'grpc.keepalive_time_ms': 10_000,
  'grpc.keepalive_timeout_ms': 5_000,
  'grpc.keepalive_permit_without_calls': 1,
};
