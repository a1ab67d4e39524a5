// Original file: ../../proto/pgfleet/v1/controller.proto


export interface ExpireBackupsRequest {
  'cluster'?: (string);
  'dryRun'?: (boolean);
}

export interface ExpireBackupsRequest__Output {
  'cluster': (string);
  'dryRun': (boolean);
}
