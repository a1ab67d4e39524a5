/**
 * @pgfleet/proto: the wire contract between pgfleet processes, the only thing the agent and
 * the controller share besides @pgfleet/core. Explicit named re-exports; each module documents
 * its own contract.
 */

// The contracts: generated types (every message and enum of pgfleet/v1), services, loading.
export type * from './gen/messages.js';
export type { AgentHandlers, AgentClient as AgentServiceClient } from './gen/pgfleet/v1/Agent.js';
export type { ControllerHandlers, ControllerClient as ControllerServiceClient } from './gen/pgfleet/v1/Controller.js';
export type { WalArchiveHandlers, WalArchiveClient as WalArchiveServiceClient } from './gen/pgfleet/v1/WalArchive.js';
export {
  AGENT_PROTO, ARCHIVE_PROTO, CONTROLLER_PROTO, LOADER_OPTIONS, PROTO_DIR, agentService, agentServiceClient, controllerService, controllerServiceClient,
  walArchiveService, walArchiveServiceClient,
} from './load.js';

// Versions and their negotiation.
export {
  AGENT_PROTOCOL_VERSION, CONTROLLER_PROTOCOL_VERSION, checkProtocolCompatibility, parseProtocolVersion, speaksAtLeast,
} from './versions.js';
export type { CompatibilityContext, ProtocolVersion } from './versions.js';

// Errors across the wire.
export {
  ERROR_CLASSES, ERROR_CODE_KEY, ERROR_HINT_BIN_KEY, ERROR_HINT_KEY, ERROR_ID_KEY, ERROR_RAISED_FROM_KEY, RemoteError,
  asPgFleetError, errorFromId, errorOrigin, fromServiceError, originSuffix, toServiceError, toStatus,
} from './error-codec.js';
export type { ErrorOrigin, FromServiceErrorContext } from './error-codec.js';

// Channels: TLS, options, the guard of every server call.
export { clientCredentials, readTlsFiles, serverCredentials } from './tls.js';
export type { TlsFiles, TlsMaterial } from './tls.js';
export { CHANNEL_OPTIONS, FLOW_CONTROL_WINDOW_BYTES, widenReceiveWindows } from './channel-options.js';
export { guardHandlers, peerInterceptor } from './call-guard.js';
export { routeGrpcLogs } from './grpc-log.js';
export { DaemonHealth, HEALTH_SERVICE } from './health.js';

// File streams and the Backup stream.
export { CHUNK_BYTES, FileStreamReader, FileStreamWriter, OutgoingFile } from './file-stream.js';
export type { FileAnnouncement, FileFrame, FileStreamReaderOptions, IncomingFile } from './file-stream.js';
export { BACKUP_FILE_NAME, directoryFiles, receiveBackupStream } from './backup-stream.js';
export type { BackupOutcome, DirectoryFilesOptions, ReceiveBackupOptions, ReceivedFile, ReceivingFile } from './backup-stream.js';

// The client of an agent.
export { AgentClient, backupFilesOf, restoreFileOrder } from './agent-client.js';
export type { AgentClientOptions, RestoreCallOptions, RestoreFile, WalStreamSession } from './agent-client.js';
