/**
 * @pgfleet/controller: the fleet controller daemon, its repository and catalog, and the
 * `pgfleet` CLI. Explicit named re-exports; each module documents its contract.
 */
export { main } from './cli/main.js';
export type { CliIo } from './cli/output.js';
export { connectController } from './cli/client.js';
export type { ConnectionOptions, ControllerConnection } from './cli/client.js';
export { DEFAULT_LISTEN, DEFAULT_PARALLEL, loadFleetConfig, parseFleetConfig, parseListenAddress } from './config.js';
export type { AgentConfig, ClusterConfig, FleetConfig, ListenAddress, RetentionConfig, TlsFiles } from './config.js';
export { startDaemon, stderrLogger } from './daemon/daemon.js';
export type { RunningDaemon, StartDaemonOptions } from './daemon/daemon.js';
export { backupCluster } from './daemon/cluster-backup.js';
export type { ClusterBackupEvent, ClusterBackupOptions } from './daemon/cluster-backup.js';
export { relayRestore, parseRestoreMode } from './daemon/restore-relay.js';
export { ClusterLocks, runFleet } from './daemon/fleet-runner.js';
export { ProgressMeter } from './daemon/progress-meter.js';
export { compareBackupIds, isBackupId, newBackupId } from './repository/backup-id.js';
export { METADATA_FORMAT, formatBackupMetadata, parseBackupMetadata } from './repository/backup-metadata.js';
export type { BackupMetadata, BackupMetadataFile, BackupMetadataTablespace } from './repository/backup-metadata.js';
export { findBackup, readClusterCatalog } from './repository/catalog.js';
export type { CatalogEntry, ClusterCatalog, UnusableEntry } from './repository/catalog.js';
export { cleanupCluster } from './repository/cleanup.js';
export { expireCluster, planExpire } from './repository/expire.js';
export { abortBackup, beginBackup, commitBackup } from './repository/staging.js';
export type { StagedBackup } from './repository/staging.js';
export { BACKUP_METADATA_FILE, backupDir, backupsDir, stagingDir } from './repository/layout.js';
export { fsyncDirectory, renameDurably, writeFileAtomic } from './repository/atomic-write.js';
export { initCertificates } from '@pgfleet/core';
export type { CertTool, InitCertificatesOptions, InitCertificatesResult } from '@pgfleet/core';
export { CONTROLLER_CAPABILITIES, PGFLEET_VERSION } from './version.js';
export type { DaemonLogger } from './rpc/service-context.js';
