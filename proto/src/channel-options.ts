/**
 * Options of every pgfleet channel and server. gRPC keepalive: a peer that stops answering (a
 * dead host, a stopped process, a broken network path) is noticed within about 15 s and its
 * calls end (a Backup then stops and drops its temporary slot; a Restore is undone); TCP
 * keepalives alone never notice a stopped process, whose kernel still answers. Messages up to
 * 8 MiB (file streams send 256 KiB chunks).
 */

import type * as grpc from '@grpc/grpc-js';

export const CHANNEL_OPTIONS: grpc.ChannelOptions = {
  'grpc.keepalive_time_ms': 10_000,
  'grpc.keepalive_timeout_ms': 5_000,
  'grpc.keepalive_permit_without_calls': 1,
  'grpc.max_receive_message_length': 8 * 1024 * 1024,
  'grpc.max_send_message_length': 8 * 1024 * 1024,
};
