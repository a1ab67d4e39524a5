/**
 * What the controller announces in GetControllerInfo besides its protocol version (which, with
 * its negotiation, is @pgfleet/proto's): the release and the capabilities. Features a peer may
 * lack are tested through its capability list.
 */
// The narrow entry point: the CLI prints it for --version without loading core's index.
import { PGFLEET_VERSION } from '@pgfleet/core/version';

export { PGFLEET_VERSION };

/** What the controller can do, announced in GetControllerInfo. */
export const CONTROLLER_CAPABILITIES = ['backup', 'backup-direct', 'backup-agent', 'restore', 'verify', 'expire'];
