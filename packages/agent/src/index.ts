/**
 * @pgfleet/agent: the restore engine and the agent's gRPC server (its client, like everything
 * else of the wire contract, is @pgfleet/proto's). Explicit named re-exports only; each module
 * documents its own contract.
 */

export { AGENT_VERSION } from './version.js';

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
export { findInstallations, installationFor } from './instance/pg-install.js';
export type { PostgresInstallation } from './instance/pg-install.js';
export type { InstanceReport, TablespaceReport, WalReceiverReport } from './instance/report.js';

// Agent configuration and gRPC server
export { loadAgentConfig, parseAgentConfig } from './config.js';
export type { AgentConfig, AgentTlsFiles } from './config.js';
export { AgentServer, CAPABILITIES } from './grpc/server.js';
export type { AgentServerOptions } from './grpc/server.js';
