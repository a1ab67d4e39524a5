// Original file: ../../proto/pgfleet/v1/controller.proto


export interface ClusterSummary {
  'name'?: (string);
  'agent'?: (string);
  'conninfo'?: (string);
  'retentionFull'?: (number);
  'compression'?: (string);
  'backupCount'?: (number);
  'latestBackupId'?: (string);
  'latestBackupFinishedAt'?: (string);
}

export interface ClusterSummary__Output {
  'name': (string);
  'agent': (string);
  'conninfo': (string);
  'retentionFull': (number);
  'compression': (string);
  'backupCount': (number);
  'latestBackupId': (string);
  'latestBackupFinishedAt': (string);
}
