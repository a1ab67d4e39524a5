// Original file: ../../proto/pgfleet/v1/controller.proto

import type { RestoredTablespace as _pgfleet_v1_RestoredTablespace, RestoredTablespace__Output as _pgfleet_v1_RestoredTablespace__Output } from '../../pgfleet/v1/RestoredTablespace.js';
import type { Long } from '@grpc/proto-loader';

// Original file: ../../proto/pgfleet/v1/controller.proto

export const _pgfleet_v1_RestoreBackupEvent_Kind = {
  KIND_UNSPECIFIED: 'KIND_UNSPECIFIED',
  STARTED: 'STARTED',
  PROGRESS: 'PROGRESS',
  MESSAGE: 'MESSAGE',
  DONE: 'DONE',
} as const;

export type _pgfleet_v1_RestoreBackupEvent_Kind =
  | 'KIND_UNSPECIFIED'
  | 0
  | 'STARTED'
  | 1
  | 'PROGRESS'
  | 2
  | 'MESSAGE'
  | 3
  | 'DONE'
  | 4

export type _pgfleet_v1_RestoreBackupEvent_Kind__Output = typeof _pgfleet_v1_RestoreBackupEvent_Kind[keyof typeof _pgfleet_v1_RestoreBackupEvent_Kind]

export interface RestoreBackupEvent {
  'kind'?: (_pgfleet_v1_RestoreBackupEvent_Kind);
  'backupId'?: (string);
  'doneBytes'?: (number | string | Long);
  'totalBytes'?: (number | string | Long);
  'rateBytesPerSecond'?: (number | string);
  'etaSeconds'?: (number | string);
  'message'?: (string);
  'dataDirectory'?: (string);
  'started'?: (boolean);
  'inRecovery'?: (boolean);
  'timeline'?: (number);
  'port'?: (number);
  'tablespaces'?: (_pgfleet_v1_RestoredTablespace)[];
  'mode'?: (string);
}

export interface RestoreBackupEvent__Output {
  'kind': (_pgfleet_v1_RestoreBackupEvent_Kind__Output);
  'backupId': (string);
  'doneBytes': (string);
  'totalBytes': (string);
  'rateBytesPerSecond': (number);
  'etaSeconds': (number);
  'message': (string);
  'dataDirectory': (string);
  'started': (boolean);
  'inRecovery': (boolean);
  'timeline': (number);
  'port': (number);
  'tablespaces': (_pgfleet_v1_RestoredTablespace__Output)[];
  'mode': (string);
}
