// Original file: ../../proto/pgfleet/v1/controller.proto

import type { Long } from '@grpc/proto-loader';

// Original file: ../../proto/pgfleet/v1/controller.proto

export const _pgfleet_v1_VerifyBackupEvent_Kind = {
  KIND_UNSPECIFIED: 'KIND_UNSPECIFIED',
  PROGRESS: 'PROGRESS',
  PROBLEM: 'PROBLEM',
  DONE: 'DONE',
} as const;

export type _pgfleet_v1_VerifyBackupEvent_Kind =
  | 'KIND_UNSPECIFIED'
  | 0
  | 'PROGRESS'
  | 1
  | 'PROBLEM'
  | 2
  | 'DONE'
  | 3

export type _pgfleet_v1_VerifyBackupEvent_Kind__Output = typeof _pgfleet_v1_VerifyBackupEvent_Kind[keyof typeof _pgfleet_v1_VerifyBackupEvent_Kind]

export interface VerifyBackupEvent {
  'kind'?: (_pgfleet_v1_VerifyBackupEvent_Kind);
  'backupId'?: (string);
  'doneBytes'?: (number | string | Long);
  'totalBytes'?: (number | string | Long);
  'message'?: (string);
  'ok'?: (boolean);
  'filesMatched'?: (number);
  'walSegments'?: (string)[];
}

export interface VerifyBackupEvent__Output {
  'kind': (_pgfleet_v1_VerifyBackupEvent_Kind__Output);
  'backupId': (string);
  'doneBytes': (string);
  'totalBytes': (string);
  'message': (string);
  'ok': (boolean);
  'filesMatched': (number);
  'walSegments': (string)[];
}
