// Original file: ../../proto/pgfleet/v1/controller.proto

import type { BackupRecord as _pgfleet_v1_BackupRecord, BackupRecord__Output as _pgfleet_v1_BackupRecord__Output } from '../../pgfleet/v1/BackupRecord.js';

export interface ListBackupsResponse {
  'backups'?: (_pgfleet_v1_BackupRecord)[];
}

export interface ListBackupsResponse__Output {
  'backups': (_pgfleet_v1_BackupRecord__Output)[];
}
