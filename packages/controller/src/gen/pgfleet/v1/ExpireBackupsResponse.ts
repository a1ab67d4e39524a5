// Original file: ../../proto/pgfleet/v1/controller.proto

import type { ExpiredBackup as _pgfleet_v1_ExpiredBackup, ExpiredBackup__Output as _pgfleet_v1_ExpiredBackup__Output } from '../../pgfleet/v1/ExpiredBackup.js';

export interface ExpireBackupsResponse {
  'removed'?: (_pgfleet_v1_ExpiredBackup)[];
  'kept'?: (_pgfleet_v1_ExpiredBackup)[];
}

export interface ExpireBackupsResponse__Output {
  'removed': (_pgfleet_v1_ExpiredBackup__Output)[];
  'kept': (_pgfleet_v1_ExpiredBackup__Output)[];
}
