/**
 * What PostgreSQL's archive and restore commands need to name and check one WAL file: segment
 * names, a segment's content check, the server's pg_control. A narrow entry point
 * (@pgfleet/core/wal-file): those commands run once per WAL file, and the package's index loads
 * every module (pg, the compressors, the replication client).
 */
export { isWalSegmentName, parseWalSegmentName, walSegmentName } from './segment.js';
export type { WalSegmentId } from './segment.js';
export { checkSegmentContent } from './segment-header.js';
export { readControlFile } from '../manifest/control-file.js';
