/**
 * Size limits of the controller's requests (core's FIELD_LIMITS: names and ids 255 bytes,
 * paths 4096, conninfo 8192, short options 256, lists 4096 entries), checked when a call
 * arrives, before any work: a longer field is an InvalidOptionError naming the field
 * (controller.proto's names), never echoing the value. A 100 KB backup id would otherwise come
 * back inside a "not found" error too large for the connection.
 */
import { FIELD_LIMITS, checkFieldCount, checkFieldLength } from '@pgfleet/core';
import type {
  BackupClustersRequest__Output, CheckClustersRequest__Output, ShowBackupRequest__Output, ExpireBackupsRequest__Output, GetControllerInfoRequest__Output, ListBackupsRequest__Output,
  RestoreBackupRequest__Output, VerifyBackupRequest__Output,
} from '@pgfleet/proto';

export function checkGetControllerInfoRequest(req: GetControllerInfoRequest__Output): void {
  checkFieldLength('GetControllerInfoRequest.client_version', req.clientVersion, FIELD_LIMITS.option);
  checkFieldLength('GetControllerInfoRequest.client_protocol_version', req.clientProtocolVersion, FIELD_LIMITS.option);
}

export function checkBackupClustersRequest(req: BackupClustersRequest__Output): void {
  checkFieldCount('BackupClustersRequest.clusters', req.clusters.length, FIELD_LIMITS.entries);
  for (const c of req.clusters) checkFieldLength('BackupClustersRequest.clusters', c, FIELD_LIMITS.name);
}

export function checkListBackupsRequest(req: ListBackupsRequest__Output): void {
  checkFieldLength('ListBackupsRequest.cluster', req.cluster, FIELD_LIMITS.name);
}

export function checkVerifyBackupRequest(req: VerifyBackupRequest__Output): void {
  checkFieldLength('VerifyBackupRequest.cluster', req.cluster, FIELD_LIMITS.name);
  checkFieldLength('VerifyBackupRequest.backup_id', req.backupId, FIELD_LIMITS.name);
}

export function checkRestoreBackupRequest(req: RestoreBackupRequest__Output): void {
  checkFieldLength('RestoreBackupRequest.cluster', req.cluster, FIELD_LIMITS.name);
  checkFieldLength('RestoreBackupRequest.backup_id', req.backupId, FIELD_LIMITS.name);
  checkFieldLength('RestoreBackupRequest.agent', req.agent, FIELD_LIMITS.name);
  checkFieldLength('RestoreBackupRequest.pgdata', req.pgdata, FIELD_LIMITS.path);
  checkFieldLength('RestoreBackupRequest.waldir', req.waldir, FIELD_LIMITS.path);
  checkFieldLength('RestoreBackupRequest.mode', req.mode, FIELD_LIMITS.option);
  checkFieldLength('RestoreBackupRequest.primary_conninfo', req.primaryConninfo, FIELD_LIMITS.conninfo);
  checkFieldCount('RestoreBackupRequest.tablespace_mappings', req.tablespaceMappings.length, FIELD_LIMITS.entries);
  for (const m of req.tablespaceMappings) {
    checkFieldLength('RestoreBackupRequest.tablespace_mappings.old_dir', m.oldDir, FIELD_LIMITS.path);
    checkFieldLength('RestoreBackupRequest.tablespace_mappings.new_dir', m.newDir, FIELD_LIMITS.path);
  }
}

export function checkExpireBackupsRequest(req: ExpireBackupsRequest__Output): void {
  checkFieldLength('ExpireBackupsRequest.cluster', req.cluster, FIELD_LIMITS.name);
}

export function checkCheckClustersRequest(req: CheckClustersRequest__Output): void {
  checkFieldCount('CheckClustersRequest.clusters', req.clusters.length, FIELD_LIMITS.entries);
  for (const c of req.clusters) checkFieldLength('CheckClustersRequest.clusters', c, FIELD_LIMITS.name);
}

export function checkShowBackupRequest(req: ShowBackupRequest__Output): void {
  checkFieldLength('ShowBackupRequest.cluster', req.cluster, FIELD_LIMITS.name);
  checkFieldLength('ShowBackupRequest.backup_id', req.backupId, FIELD_LIMITS.name);
}
