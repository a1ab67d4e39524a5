// Original file: ../../proto/pgfleet/v1/controller.proto


export interface ExpiredBackup {
  'cluster'?: (string);
  'backupId'?: (string);
  'finishedAt'?: (string);
}

export interface ExpiredBackup__Output {
  'cluster': (string);
  'backupId': (string);
  'finishedAt': (string);
}
