// Original file: ../../proto/pgfleet/v1/controller.proto

import type { AgentStatus as _pgfleet_v1_AgentStatus, AgentStatus__Output as _pgfleet_v1_AgentStatus__Output } from '../../pgfleet/v1/AgentStatus.js';

export interface ListAgentsResponse {
  'agents'?: (_pgfleet_v1_AgentStatus)[];
}

export interface ListAgentsResponse__Output {
  'agents': (_pgfleet_v1_AgentStatus__Output)[];
}
