// Original file: ../../proto/pgfleet/v1/controller.proto


export interface RestoredTablespace {
  'oid'?: (number);
  'location'?: (string);
}

export interface RestoredTablespace__Output {
  'oid': (number);
  'location': (string);
}
