/**
 * The CLI's connection to the controller daemon. Address: --controller, else
 * PGFLEET_CONTROLLER, else 127.0.0.1:7400. TLS (mutual): --ca/--cert/--key, else
 * PGFLEET_CA/PGFLEET_CERT/PGFLEET_KEY, else --certs DIR / PGFLEET_CERTS holding ca.crt,
 * cli.crt and cli.key (what `pgfleet certs init DIR` writes). Plaintext only with --insecure
 * (or PGFLEET_INSECURE=1). Every call first checks the controller's protocol version.
 */
import { join } from 'node:path';
import type * as grpc from '@grpc/grpc-js';
import { InvalidOptionError, ProtocolError } from '@pgfleet/core/errors';
import type { ControllerInfo__Output, ControllerServiceClient } from '@pgfleet/proto';
import { DEFAULT_LISTEN } from '../default-listen.js';
import { PGFLEET_VERSION } from '../version.js';

export interface ConnectionOptions {
  controller?: string;
  ca?: string;
  cert?: string;
  key?: string;
  certs?: string;
  insecure?: boolean;
  /** The protocol version announced (default CONTROLLER_PROTOCOL_VERSION; other values only to test negotiation). */
  protocolVersion?: string;
}

export interface ControllerConnection {
  client: ControllerServiceClient;
  address: string;
  peer: string;
  /** The channel uses TLS. */
  tls: boolean;
  info: ControllerInfo__Output;
  close(): void;
}

type Wire = typeof import('@pgfleet/proto/controller-client');
let wire: Promise<Wire> | undefined;

/**
 * gRPC, controller.proto and the error codec, loaded when a command first needs them (about a
 * third of the CLI's start-up, which --help, --version and `certs` do without).
 */
export function loadWire(): Promise<Wire> {
  return (wire ??= import('@pgfleet/proto/controller-client'));
}

type UnaryMethod<Req, Res> = (req: Req, callback: (err: grpc.ServiceError | null, res?: Res) => void) => grpc.ClientUnaryCall;

/** Calls a unary method, mapping failures to catalogue errors naming the controller. */
export async function callUnary<Req, Res>(conn: Pick<ControllerConnection, 'peer' | 'tls'>, method: UnaryMethod<Req, Res>, req: Req, name: string): Promise<Res> {
  const { fromServiceError } = await loadWire();
  return new Promise<Res>((resolve, reject) => {
    method(req, (err, res) => (err || res === undefined ? reject(fromServiceError(err, { peer: conn.peer, method: name, tls: conn.tls })) : resolve(res)));
  });
}

/** Iterates a server stream, mapping failures to catalogue errors naming the controller. */
export async function* readStream<T>(conn: Pick<ControllerConnection, 'peer' | 'tls'>, stream: grpc.ClientReadableStream<T>, name: string): AsyncGenerator<T> {
  const { fromServiceError } = await loadWire();
  let received = 0;
  try {
    for await (const item of stream) {
      received += 1;
      yield item as T;
    }
  } catch (err) {
    throw fromServiceError(err, { peer: conn.peer, method: name, tls: conn.tls, midCall: received > 0 });
  }
}

/**
 * The error of a stream that ended (with status OK) without the event that carries the
 * command's result: the command has no result, and must not exit 0.
 */
export function endedWithoutResult(conn: Pick<ControllerConnection, 'peer'>, name: string, what: string): ProtocolError {
  return new ProtocolError(`the ${name} call to ${conn.peer} ended without ${what}`, {
    hint: 'The controller stopped the call early; check its log, and run the command again.',
  });
}

export async function connectController(options: ConnectionOptions, env: NodeJS.ProcessEnv = process.env): Promise<ControllerConnection> {
  const address = options.controller ?? env['PGFLEET_CONTROLLER'] ?? DEFAULT_LISTEN;
  const insecure = options.insecure === true || env['PGFLEET_INSECURE'] === '1';
  const { CHANNEL_OPTIONS, CONTROLLER_PROTOCOL_VERSION, checkProtocolCompatibility, clientCredentials, controllerServiceClient, readTlsFiles } = await loadWire();
  let credentials: grpc.ChannelCredentials;
  if (insecure) {
    credentials = clientCredentials(null);
  } else {
    const dir = options.certs ?? env['PGFLEET_CERTS'];
    const ca = options.ca ?? env['PGFLEET_CA'] ?? (dir ? join(dir, 'ca.crt') : undefined);
    const cert = options.cert ?? env['PGFLEET_CERT'] ?? (dir ? join(dir, 'cli.crt') : undefined);
    const key = options.key ?? env['PGFLEET_KEY'] ?? (dir ? join(dir, 'cli.key') : undefined);
    if (!ca || !cert || !key) {
      throw new InvalidOptionError('no client certificate configured', {
        hint: 'Give --certs DIR (or PGFLEET_CERTS) with ca.crt, cli.crt and cli.key, or --ca, --cert and --key; --insecure only for a daemon running without TLS.',
      });
    }
    credentials = clientCredentials(await readTlsFiles({ ca, cert, key }, 'Run "pgfleet certs init DIR" to create a CA and certificates, or fix the path.'));
  }
  const Client = controllerServiceClient();
  // keepalive (CHANNEL_OPTIONS) notices a controller that stopped answering (a stopped process
  // still accepts TCP) within seconds, where the call would wait for ever.
  const client = new Client(address, credentials, CHANNEL_OPTIONS);
  const peer = `controller "${address}"`;
  const protocolVersion = options.protocolVersion ?? CONTROLLER_PROTOCOL_VERSION;
  try {
    const info = await callUnary({ peer, tls: !insecure }, client.getControllerInfo.bind(client) as UnaryMethod<object, ControllerInfo__Output>,
      { clientVersion: PGFLEET_VERSION, clientProtocolVersion: protocolVersion }, 'GetControllerInfo');
    checkProtocolCompatibility(protocolVersion, info.protocolVersion, { peer, self: 'pgfleet CLI' });
    return { client, address, peer, tls: !insecure, info, close: () => client.close() };
  } catch (err) {
    client.close();
    throw err;
  }
}
