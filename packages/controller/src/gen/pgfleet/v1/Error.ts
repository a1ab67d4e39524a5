// Original file: ../../proto/pgfleet/v1/controller.proto


export interface Error {
  'id'?: (string);
  'code'?: (number);
  'message'?: (string);
  'hint'?: (string);
}

export interface Error__Output {
  'id': (string);
  'code': (number);
  'message': (string);
  'hint': (string);
}
