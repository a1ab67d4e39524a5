// Original file: ../../proto/pgfleet/v1/controller.proto


export interface ControllerInfo {
  'pgfleetVersion'?: (string);
  'protocolVersion'?: (string);
  'capabilities'?: (string)[];
  'repository'?: (string);
  'parallel'?: (number);
}

export interface ControllerInfo__Output {
  'pgfleetVersion': (string);
  'protocolVersion': (string);
  'capabilities': (string)[];
  'repository': (string);
  'parallel': (number);
}
