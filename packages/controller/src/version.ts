/**
 * What the controller announces in GetControllerInfo besides its protocol version (which, with
 * its negotiation, is @pgfleet/proto's): the release and the capabilities. Features a peer may
 * lack are tested through its capability list.
 */
import { PGFLEET_VERSION } from './core-api.js';

export { PGFLEET_VERSION };

/** What the controller can do, announced in GetControllerInfo. */
export const CONTROLLER_CAPABILITIES = ['backup', 'backup-direct', 'backup-agent', 'restore', 'verify', 'expire'];
