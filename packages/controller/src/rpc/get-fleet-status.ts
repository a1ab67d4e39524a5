/** GetFleetStatus: the fleet at a glance (daemon/fleet-status.ts), read from the repository and the daemon's state. */
import type { ControllerHandlers } from '@pgfleet/proto';
import { fleetStatus } from '../daemon/fleet-status.js';
import type { ControllerState } from './service-context.js';
import { unary } from './unary-call.js';

export function getFleetStatus(state: ControllerState): ControllerHandlers['GetFleetStatus'] {
  return unary(async () => fleetStatus(state));
}
