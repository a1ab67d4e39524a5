/** The release the agent announces in GetInfo; its protocol version is @pgfleet/proto's AGENT_PROTOCOL_VERSION. */
export const AGENT_VERSION = '0.1.0';
