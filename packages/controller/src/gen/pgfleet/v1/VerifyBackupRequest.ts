// Original file: ../../proto/pgfleet/v1/controller.proto


export interface VerifyBackupRequest {
  'cluster'?: (string);
  'backupId'?: (string);
}

export interface VerifyBackupRequest__Output {
  'cluster': (string);
  'backupId': (string);
}
