/** GetControllerInfo: versions and capabilities; a CLI of another protocol major version is refused (IncompatibleVersionError). */
import { checkProtocolCompatibility, type ControllerHandlers } from '@pgfleet/proto';
import { CONTROLLER_CAPABILITIES, PGFLEET_VERSION } from '../version.js';
import { checkGetControllerInfoRequest } from './request-limits.js';
import type { ControllerState } from './service-context.js';
import { unary } from './unary-call.js';

export function getControllerInfo(state: ControllerState): ControllerHandlers['GetControllerInfo'] {
  return unary(async (req) => {
    checkGetControllerInfoRequest(req);
    if (req.clientProtocolVersion !== '') {
      checkProtocolCompatibility(state.protocolVersion, req.clientProtocolVersion, { peer: `client "pgfleet ${req.clientVersion}"`, self: 'controller' });
    }
    return {
      pgfleetVersion: PGFLEET_VERSION,
      protocolVersion: state.protocolVersion,
      capabilities: CONTROLLER_CAPABILITIES,
      repository: state.config.repository,
      parallel: state.config.parallel,
    };
  });
}
