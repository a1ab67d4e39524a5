/**
 * @pgfleet/agent: the restore engine, the agent's gRPC server and a client for it.
 * Explicit named re-exports only; each module documents its own contract.
 */

export { AGENT_VERSION, PROTOCOL_VERSION } from './version.js';

// Restore engine
export { restoreBackup } from './restore/restore.js';
export type { RestoreReport, RestoredTablespace, StartedInstanceReport } from './restore/restore.js';
export { describeMode, parseRecoveryMode, parseTablespaceMapping, RECOVERY_MODES } from './restore/options.js';
export type { RecoveryMode, RestoreEvent, RestoreOptions, TablespaceMapping } from './restore/options.js';
export { openBackupDirectory } from './restore/layout.js';
export { TarDirectorySource } from './restore/tar-directory-source.js';
export { PlainDirectorySource } from './restore/plain-source.js';
export { archiveOrder, classifyArchiveName } from './restore/source.js';
export type { ArchiveInfo, ArchiveKind, BackupSource } from './restore/source.js';
export { formatTablespaceMap, parseTablespaceMap, planTablespaces } from './restore/tablespaces.js';
export type { PlannedTablespace } from './restore/tablespaces.js';
export { findInstallations, installationFor } from './restore/pg-install.js';
export type { PostgresInstallation } from './restore/pg-install.js';
export type { InstanceReport, TablespaceReport, WalReceiverReport } from './restore/report.js';

// Agent configuration, gRPC server and client
export { loadAgentConfig, parseAgentConfig } from './config.js';
export type { AgentConfig, AgentTlsFiles } from './config.js';
export { AgentServer, CAPABILITIES } from './grpc/server.js';
export type { AgentServerOptions } from './grpc/server.js';
export { AgentClient, backupFilesOf } from './grpc/client.js';
export type { AgentClientOptions } from './grpc/client.js';
export { ERROR_CODE_KEY, ERROR_HINT_KEY, ERROR_ID_KEY, fromServiceError, toServiceError } from './grpc/errors.js';
export { makeCertificates } from './grpc/certs.js';
export type { CertificateFiles } from './grpc/certs.js';
export { AGENT_PROTO } from './grpc/proto.js';
