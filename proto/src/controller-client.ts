/**
 * What a client of the controller's service needs (the `pgfleet` CLI), as a narrow entry point
 * (@pgfleet/proto/controller-client): the CLI loads it when a command connects, so that its
 * start-up, and commands that never connect (--help, --version, certs), load neither the
 * index's other contracts and helpers (file streams, the agent's client, grpc-health-check)
 * nor, until then, gRPC and the .proto files.
 */
export type * from './gen/messages.js';
export type { ControllerClient as ControllerServiceClient } from './gen/pgfleet/v1/Controller.js';
export { controllerServiceClient } from './load.js';
export { CONTROLLER_PROTOCOL_VERSION, checkProtocolCompatibility, speaksAtLeast } from './versions.js';
export { asPgFleetError, errorFromId, fromServiceError } from './error-codec.js';
export { clientCredentials, readTlsFiles } from './tls.js';
export { CHANNEL_OPTIONS } from './channel-options.js';
