/**
 * What a client of the controller's WAL archive service needs (pgfleet-agent archive-push and
 * wal-get), as a narrow entry point (@pgfleet/proto/wal-archive-client): PostgreSQL runs those
 * commands once per WAL file, and the package's index loads every contract and helper.
 */
export type { GetWalEvent__Output, PushWalResponse__Output, WalFileHeader__Output } from './gen/messages.js';
export type { WalArchiveClient as WalArchiveServiceClient } from './gen/pgfleet/v1/WalArchive.js';
export { walArchiveServiceClient } from './load.js';
export { CONTROLLER_PROTOCOL_VERSION } from './versions.js';
export { fromServiceError } from './error-codec.js';
export { clientCredentials, readTlsFiles } from './tls.js';
export { CHANNEL_OPTIONS } from './channel-options.js';
