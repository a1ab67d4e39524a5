/** Versions the agent announces in GetInfo; see proto/pgfleet/v1/agent.proto for the rules. */
export const AGENT_VERSION = '0.1.0';
export const PROTOCOL_VERSION = '1.0';
