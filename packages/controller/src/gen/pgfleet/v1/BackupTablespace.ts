// Original file: ../../proto/pgfleet/v1/controller.proto


export interface BackupTablespace {
  'oid'?: (number);
  'location'?: (string);
  'archive'?: (string);
}

export interface BackupTablespace__Output {
  'oid': (number);
  'location': (string);
  'archive': (string);
}
