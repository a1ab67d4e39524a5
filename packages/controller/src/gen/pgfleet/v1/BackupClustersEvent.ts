// Original file: ../../proto/pgfleet/v1/controller.proto

import type { BackupRecord as _pgfleet_v1_BackupRecord, BackupRecord__Output as _pgfleet_v1_BackupRecord__Output } from '../../pgfleet/v1/BackupRecord.js';
import type { Error as _pgfleet_v1_Error, Error__Output as _pgfleet_v1_Error__Output } from '../../pgfleet/v1/Error.js';
import type { Long } from '@grpc/proto-loader';

// Original file: ../../proto/pgfleet/v1/controller.proto

export const _pgfleet_v1_BackupClustersEvent_Kind = {
  KIND_UNSPECIFIED: 'KIND_UNSPECIFIED',
  QUEUED: 'QUEUED',
  STARTED: 'STARTED',
  PROGRESS: 'PROGRESS',
  VERIFYING: 'VERIFYING',
  COMPLETED: 'COMPLETED',
  FAILED: 'FAILED',
  FINISHED: 'FINISHED',
} as const;

export type _pgfleet_v1_BackupClustersEvent_Kind =
  | 'KIND_UNSPECIFIED'
  | 0
  | 'QUEUED'
  | 1
  | 'STARTED'
  | 2
  | 'PROGRESS'
  | 3
  | 'VERIFYING'
  | 4
  | 'COMPLETED'
  | 5
  | 'FAILED'
  | 6
  | 'FINISHED'
  | 7

export type _pgfleet_v1_BackupClustersEvent_Kind__Output = typeof _pgfleet_v1_BackupClustersEvent_Kind[keyof typeof _pgfleet_v1_BackupClustersEvent_Kind]

export interface BackupClustersEvent {
  'kind'?: (_pgfleet_v1_BackupClustersEvent_Kind);
  'cluster'?: (string);
  'backupId'?: (string);
  'doneBytes'?: (number | string | Long);
  'totalBytes'?: (number | string | Long);
  'rateBytesPerSecond'?: (number | string);
  'etaSeconds'?: (number | string);
  'backup'?: (_pgfleet_v1_BackupRecord | null);
  'error'?: (_pgfleet_v1_Error | null);
  'via'?: (string);
  'completed'?: (number);
  'failed'?: (number);
}

export interface BackupClustersEvent__Output {
  'kind': (_pgfleet_v1_BackupClustersEvent_Kind__Output);
  'cluster': (string);
  'backupId': (string);
  'doneBytes': (string);
  'totalBytes': (string);
  'rateBytesPerSecond': (number);
  'etaSeconds': (number);
  'backup': (_pgfleet_v1_BackupRecord__Output | null);
  'error': (_pgfleet_v1_Error__Output | null);
  'via': (string);
  'completed': (number);
  'failed': (number);
}
