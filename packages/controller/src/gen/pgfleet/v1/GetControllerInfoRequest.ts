// Original file: ../../proto/pgfleet/v1/controller.proto


export interface GetControllerInfoRequest {
  'clientVersion'?: (string);
  'clientProtocolVersion'?: (string);
}

export interface GetControllerInfoRequest__Output {
  'clientVersion': (string);
  'clientProtocolVersion': (string);
}
