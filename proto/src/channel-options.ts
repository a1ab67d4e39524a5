/**
 * Options of every pgfleet channel and server. gRPC keepalive: a peer that stops answering (a
 * dead host, a stopped process, a broken network path) is noticed within about 15 s and its
 * calls end (a Backup then stops and drops its temporary slot; a Restore is undone); TCP
 * keepalives alone never notice a stopped process, whose kernel still answers. Messages up to
 * 8 MiB (file streams send 256 KiB chunks).
 *
 * HTTP/2 flow control: a receiver lets its peer send only as far as its window, 64 KiB by
 * default, and widens it as it reads. A 256 KiB message then needs four round trips of window
 * updates, and a receiver busy decompressing or writing sends none: the sender waits, then
 * the receiver waits for the next message. Both ends of every pgfleet connection open a 1 MiB
 * window instead (clients through grpc-js's option, servers through widenReceiveWindows), so
 * data keeps flowing while the receiver works. Measured on the bench's quick dataset (one run
 * each, alternating, load 4-5), 4 MiB against 64 KiB: a backup through an agent 1.5-2.3 s
 * instead of 1.8-3.6 s with lz4, 2.6-5.0 s instead of 3.4-6.9 s uncompressed; a restore through
 * it 2.4-4.2 s instead of 3.3-4.3 s uncompressed, no change seen with lz4. 1 MiB against 4 MiB:
 * the same times (backup 1.55 s and 1.75 s, restore 2.5 s and 3.0 s uncompressed), the
 * controller's peak RSS 6 MB lower. A receiver holds at most that much more per connection.
 */

import type { EventEmitter } from 'node:events';
import type { Http2Session } from 'node:http2';
import type * as grpc from '@grpc/grpc-js';

/** Each end's HTTP/2 receive window, per stream and per connection. */
export const FLOW_CONTROL_WINDOW_BYTES = 1024 * 1024;

export const CHANNEL_OPTIONS: grpc.ChannelOptions = {
  'grpc.keepalive_time_ms': 10_000,
  'grpc.keepalive_timeout_ms': 5_000,
  'grpc.keepalive_permit_without_calls': 1,
  'grpc.max_receive_message_length': 8 * 1024 * 1024,
  'grpc.max_send_message_length': 8 * 1024 * 1024,
  'grpc-node.flow_control_window': FLOW_CONTROL_WINDOW_BYTES,
};

/**
 * Opens FLOW_CONTROL_WINDOW_BYTES receive windows on every connection a bound server accepts
 * from now on. grpc-js has no server option for it: its HTTP/2 servers are reached through a
 * private field, so this returns false (and changes nothing) once a grpc-js release renames it;
 * proto's tests fail then.
 */
export function widenReceiveWindows(server: grpc.Server): boolean {
  const http2Servers = (server as unknown as { http2Servers?: unknown }).http2Servers;
  if (!(http2Servers instanceof Map) || http2Servers.size === 0) return false;
  for (const http2Server of http2Servers.keys() as IterableIterator<EventEmitter>) {
    http2Server.on('session', (session: Http2Session) => {
      session.settings({ initialWindowSize: FLOW_CONTROL_WINDOW_BYTES });
      session.setLocalWindowSize(FLOW_CONTROL_WINDOW_BYTES);
    });
  }
  return true;
}
