// Original file: ../../proto/pgfleet/v1/controller.proto

import type { BackupTablespace as _pgfleet_v1_BackupTablespace, BackupTablespace__Output as _pgfleet_v1_BackupTablespace__Output } from '../../pgfleet/v1/BackupTablespace.js';
import type { BackupFile as _pgfleet_v1_BackupFile, BackupFile__Output as _pgfleet_v1_BackupFile__Output } from '../../pgfleet/v1/BackupFile.js';
import type { Long } from '@grpc/proto-loader';

export interface BackupRecord {
  'id'?: (string);
  'cluster'?: (string);
  'label'?: (string);
  'status'?: (string);
  'startLsn'?: (string);
  'endLsn'?: (string);
  'timeline'?: (number);
  'systemIdentifier'?: (string);
  'serverVersionNum'?: (number);
  'tablespaces'?: (_pgfleet_v1_BackupTablespace)[];
  'files'?: (_pgfleet_v1_BackupFile)[];
  'sizeBytes'?: (number | string | Long);
  'dataBytes'?: (number | string | Long);
  'compression'?: (string);
  'walMethod'?: (string);
  'via'?: (string);
  'startedAt'?: (string);
  'finishedAt'?: (string);
  'verifiedAt'?: (string);
  'type'?: (string);
  'pgfleetVersion'?: (string);
  'path'?: (string);
}

export interface BackupRecord__Output {
  'id': (string);
  'cluster': (string);
  'label': (string);
  'status': (string);
  'startLsn': (string);
  'endLsn': (string);
  'timeline': (number);
  'systemIdentifier': (string);
  'serverVersionNum': (number);
  'tablespaces': (_pgfleet_v1_BackupTablespace__Output)[];
  'files': (_pgfleet_v1_BackupFile__Output)[];
  'sizeBytes': (string);
  'dataBytes': (string);
  'compression': (string);
  'walMethod': (string);
  'via': (string);
  'startedAt': (string);
  'finishedAt': (string);
  'verifiedAt': (string);
  'type': (string);
  'pgfleetVersion': (string);
  'path': (string);
}
