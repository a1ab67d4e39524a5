// Original file: ../../proto/pgfleet/v1/controller.proto

import type { ClusterSummary as _pgfleet_v1_ClusterSummary, ClusterSummary__Output as _pgfleet_v1_ClusterSummary__Output } from '../../pgfleet/v1/ClusterSummary.js';

export interface ListClustersResponse {
  'clusters'?: (_pgfleet_v1_ClusterSummary)[];
}

export interface ListClustersResponse__Output {
  'clusters': (_pgfleet_v1_ClusterSummary__Output)[];
}
