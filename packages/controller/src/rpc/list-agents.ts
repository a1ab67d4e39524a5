/** ListAgents: each configured agent asked for its GetInfo (version-checked); unreachable or incompatible ones say why. */
import { asPgFleetError, type AgentStatus, type ControllerHandlers } from '@pgfleet/proto';
import { errorInfo } from '../daemon/records.js';
import { agentByName, type ControllerState } from './service-context.js';
import { unary } from './unary-call.js';

export function listAgents(state: ControllerState): ControllerHandlers['ListAgents'] {
  return unary(async () => {
    const agents = await Promise.all(state.config.agents.map(async (a): Promise<AgentStatus> => {
      const client = agentByName(state, a.name);
      try {
        const info = await client.getInfo();
        return {
          name: a.name, address: a.address, reachable: true, compatible: true,
          pgfleetVersion: info.agentVersion, protocolVersion: info.protocolVersion,
          capabilities: info.capabilities, hostname: info.hostname,
        };
      } catch (err) {
        const e = asPgFleetError(err);
        return { name: a.name, address: a.address, reachable: e.id === 'incompatible-version', compatible: false, error: errorInfo(e) };
      }
    }));
    return { agents };
  });
}
