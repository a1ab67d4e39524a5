// Original file: ../../proto/pgfleet/v1/controller.proto


export interface TablespaceMapping {
  'oldDir'?: (string);
  'newDir'?: (string);
}

export interface TablespaceMapping__Output {
  'oldDir': (string);
  'newDir': (string);
}
