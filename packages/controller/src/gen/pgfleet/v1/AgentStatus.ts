// Original file: ../../proto/pgfleet/v1/controller.proto

import type { Error as _pgfleet_v1_Error, Error__Output as _pgfleet_v1_Error__Output } from '../../pgfleet/v1/Error.js';

export interface AgentStatus {
  'name'?: (string);
  'address'?: (string);
  'reachable'?: (boolean);
  'error'?: (_pgfleet_v1_Error | null);
  'pgfleetVersion'?: (string);
  'protocolVersion'?: (string);
  'capabilities'?: (string)[];
  'compatible'?: (boolean);
  'hostname'?: (string);
}

export interface AgentStatus__Output {
  'name': (string);
  'address': (string);
  'reachable': (boolean);
  'error': (_pgfleet_v1_Error__Output | null);
  'pgfleetVersion': (string);
  'protocolVersion': (string);
  'capabilities': (string)[];
  'compatible': (boolean);
  'hostname': (string);
}
