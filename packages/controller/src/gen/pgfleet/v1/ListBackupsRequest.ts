// Original file: ../../proto/pgfleet/v1/controller.proto


export interface ListBackupsRequest {
  'cluster'?: (string);
}

export interface ListBackupsRequest__Output {
  'cluster': (string);
}
