/**
 * The Controller service (controller.proto) over a daemon's state: one handler per RPC, each
 * in its own file. Handlers validate names first (NotFoundError naming the cluster, agent or
 * backup), then work; every failure ends the call with the catalogue error (@pgfleet/proto's
 * error codec). Server streams honour gRPC's flow control and stop their work when the client
 * cancels (server-stream.ts).
 */
import type { ControllerHandlers } from '@pgfleet/proto';
import { backupClusters } from './backup-clusters.js';
import { checkClusters } from './check-clusters.js';
import { expireBackups } from './expire-backups.js';
import { getControllerInfo } from './get-controller-info.js';
import { getFleetStatus } from './get-fleet-status.js';
import { listAgents } from './list-agents.js';
import { listBackups } from './list-backups.js';
import { listClusters } from './list-clusters.js';
import { restoreBackupHandler } from './restore-backup.js';
import { listWal } from './list-wal.js';
import type { ControllerState } from './service-context.js';
import { showBackup } from './show-backup.js';
import { verifyBackupHandler } from './verify-backup.js';

export function createControllerHandlers(state: ControllerState): ControllerHandlers {
  return {
    GetControllerInfo: getControllerInfo(state),
    ListAgents: listAgents(state),
    ListClusters: listClusters(state),
    BackupClusters: backupClusters(state),
    ListBackups: listBackups(state),
    VerifyBackup: verifyBackupHandler(state),
    RestoreBackup: restoreBackupHandler(state),
    ExpireBackups: expireBackups(state),
    CheckClusters: checkClusters(state),
    GetFleetStatus: getFleetStatus(state),
    ShowBackup: showBackup(state),
    ListWal: listWal(state),
  };
}
