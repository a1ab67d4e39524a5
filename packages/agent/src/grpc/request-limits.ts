/**
 * Size limits of the agent's requests (core's FIELD_LIMITS: paths 4096 bytes, conninfo 8192,
 * label 1024, names 255, short options 256, lists 4096 entries), checked when a call arrives,
 * before any work: a longer field is an InvalidOptionError naming the field (agent.proto's
 * names), never echoing the value. A huge path would otherwise come back inside an error too
 * large for the connection it shares with other calls.
 */

import { FIELD_LIMITS, checkFieldCount, checkFieldLength } from '@pgfleet/core';
import type {
  CheckServerRequest__Output,
  BackupRequest__Output, GetInfoRequest__Output, InstanceRequest__Output, RestoreRequest__Output, RestoreSpec__Output,
} from '@pgfleet/proto';

export function checkGetInfoRequest(req: GetInfoRequest__Output): void {
  checkFieldLength('GetInfoRequest.protocol_version', req.protocolVersion, FIELD_LIMITS.option);
  checkFieldLength('GetInfoRequest.client', req.client, FIELD_LIMITS.option);
}

export function checkInstanceRequest(req: InstanceRequest__Output): void {
  checkFieldLength('InstanceRequest.data_dir', req.dataDir, FIELD_LIMITS.path);
  checkFieldLength('InstanceRequest.socket_dir', req.socketDir, FIELD_LIMITS.path);
  checkFieldLength('InstanceRequest.connect_user', req.connectUser, FIELD_LIMITS.name);
}

export function checkRestoreSpec(spec: RestoreSpec__Output): void {
  checkFieldLength('RestoreSpec.data_dir', spec.dataDir, FIELD_LIMITS.path);
  checkFieldLength('RestoreSpec.wal_dir', spec.walDir, FIELD_LIMITS.path);
  checkFieldLength('RestoreSpec.socket_dir', spec.socketDir, FIELD_LIMITS.path);
  checkFieldLength('RestoreSpec.primary_conninfo', spec.primaryConninfo, FIELD_LIMITS.conninfo);
  checkFieldLength('RestoreSpec.connect_user', spec.connectUser, FIELD_LIMITS.name);
  checkFieldCount('RestoreSpec.tablespace_mappings', spec.tablespaceMappings.length, FIELD_LIMITS.entries);
  for (const m of spec.tablespaceMappings) {
    checkFieldLength('RestoreSpec.tablespace_mappings.old_dir', m.oldDir, FIELD_LIMITS.path);
    checkFieldLength('RestoreSpec.tablespace_mappings.new_dir', m.newDir, FIELD_LIMITS.path);
  }
  checkFieldCount('RestoreSpec.files', spec.files.length, FIELD_LIMITS.entries);
  for (const f of spec.files) checkFieldLength('RestoreSpec.files.name', f.name, FIELD_LIMITS.path);
}

/** A FileBegin of the restore stream (its name is checked again against the spec later). */
export function checkRestoreMessage(req: RestoreRequest__Output): void {
  if (req.fileBegin) checkFieldLength('FileBegin.name', req.fileBegin.name, FIELD_LIMITS.path);
}

export function checkCheckServerRequest(req: CheckServerRequest__Output): void {
  checkFieldLength('CheckServerRequest.data_dir', req.dataDir, FIELD_LIMITS.path);
  checkFieldLength('CheckServerRequest.conninfo', req.conninfo, FIELD_LIMITS.conninfo);
}

export function checkBackupRequest(req: BackupRequest__Output): void {
  checkFieldLength('BackupRequest.data_dir', req.dataDir, FIELD_LIMITS.path);
  checkFieldLength('BackupRequest.conninfo', req.conninfo, FIELD_LIMITS.conninfo);
  checkFieldLength('BackupRequest.label', req.label, FIELD_LIMITS.label);
  checkFieldLength('BackupRequest.checkpoint', req.checkpoint, FIELD_LIMITS.option);
  checkFieldLength('BackupRequest.wal_method', req.walMethod, FIELD_LIMITS.option);
  checkFieldLength('BackupRequest.compression', req.compression, FIELD_LIMITS.option);
  checkFieldLength('BackupRequest.manifest_checksums', req.manifestChecksums, FIELD_LIMITS.option);
  checkFieldLength('BackupRequest.protocol_version', req.protocolVersion, FIELD_LIMITS.option);
}
