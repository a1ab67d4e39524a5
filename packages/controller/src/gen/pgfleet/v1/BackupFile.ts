// Original file: ../../proto/pgfleet/v1/controller.proto

import type { Long } from '@grpc/proto-loader';

export interface BackupFile {
  'name'?: (string);
  'size'?: (number | string | Long);
}

export interface BackupFile__Output {
  'name': (string);
  'size': (string);
}
