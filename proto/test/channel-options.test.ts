// Receive windows: what a peer is told it may send before a window update (HTTP/2 SETTINGS and
// WINDOW_UPDATE), read on real connections to a grpc-js server and from a grpc-js client.
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { once } from 'node:events';
import { after, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { CHANNEL_OPTIONS, FLOW_CONTROL_WINDOW_BYTES, widenReceiveWindows } from '../src/index.js';

const servers: grpc.Server[] = [];
after(() => {
  for (const s of servers) s.forceShutdown();
});

async function boundServer(): Promise<{ server: grpc.Server; port: number }> {
  const server = new grpc.Server(CHANNEL_OPTIONS);
  servers.push(server);
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p)));
  });
  return { server, port };
}

/** The stream window a plain HTTP/2 client is granted by the server on 127.0.0.1:port. */
async function grantedWindow(port: number): Promise<number | undefined> {
  const session = http2.connect(`http://127.0.0.1:${port}`);
  try {
    await once(session, 'remoteSettings');
    // The server's SETTINGS frame and its connection WINDOW_UPDATE arrive together.
    await new Promise((resolve) => setTimeout(resolve, 50));
    return session.remoteSettings.initialWindowSize;
  } finally {
    session.destroy();
  }
}

test('a grpc-js server grants 64 KiB unless its receive windows are widened', async () => {
  const plain = await boundServer();
  assert.equal(await grantedWindow(plain.port), 65_535);
  const widened = await boundServer();
  assert.equal(widenReceiveWindows(widened.server), true);
  assert.equal(await grantedWindow(widened.port), FLOW_CONTROL_WINDOW_BYTES);
});

test('a server not bound yet has no connections to widen', () => {
  assert.equal(widenReceiveWindows(new grpc.Server(CHANNEL_OPTIONS)), false);
});

test('a grpc-js client with CHANNEL_OPTIONS grants the server the same window', async () => {
  // A raw HTTP/2 server stands in for the peer, to read what the grpc-js client announces.
  const peer = http2.createServer();
  const settings = new Promise<http2.Settings>((resolve) => peer.on('session', (s) => s.once('remoteSettings', resolve)));
  await new Promise<void>((resolve) => peer.listen(0, '127.0.0.1', resolve));
  const port = (peer.address() as { port: number }).port;
  const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), CHANNEL_OPTIONS);
  try {
    client.getChannel().getConnectivityState(true);
    assert.equal((await settings).initialWindowSize, FLOW_CONTROL_WINDOW_BYTES);
  } finally {
    client.close();
    peer.close();
  }
});
