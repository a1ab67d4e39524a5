// Original file: ../../proto/pgfleet/v1/controller.proto


export interface BackupClustersRequest {
  'clusters'?: (string)[];
  'all'?: (boolean);
  'parallel'?: (number);
}

export interface BackupClustersRequest__Output {
  'clusters': (string)[];
  'all': (boolean);
  'parallel': (number);
}
