// Original file: ../../proto/pgfleet/v1/controller.proto

import type { TablespaceMapping as _pgfleet_v1_TablespaceMapping, TablespaceMapping__Output as _pgfleet_v1_TablespaceMapping__Output } from '../../pgfleet/v1/TablespaceMapping.js';

export interface RestoreBackupRequest {
  'cluster'?: (string);
  'backupId'?: (string);
  'agent'?: (string);
  'pgdata'?: (string);
  'tablespaceMappings'?: (_pgfleet_v1_TablespaceMapping)[];
  'mode'?: (string);
  'start'?: (boolean);
  'port'?: (number);
  'waldir'?: (string);
  'primaryConninfo'?: (string);
}

export interface RestoreBackupRequest__Output {
  'cluster': (string);
  'backupId': (string);
  'agent': (string);
  'pgdata': (string);
  'tablespaceMappings': (_pgfleet_v1_TablespaceMapping__Output)[];
  'mode': (string);
  'start': (boolean);
  'port': (number);
  'waldir': (string);
  'primaryConninfo': (string);
}
