// Shared helpers of the black-box pgfleet-basebackup / pgfleet-verifybackup end-to-end tests:
// how to run the tools under test (or PostgreSQL's own, to validate the tests), how to look
// into the archives with the system tar, and what a correctly restored copy must satisfy.

export {
  assertSucceeded,
  baseBackupBinary,
  binaryAt,
  receiveWalBinary,
  describeRun,
  referenceBaseBackupBinary,
  runBaseBackup,
  runReferenceBaseBackup,
  runSystemVerifyBackup,
  runVerifyBackup,
  spawnBaseBackup,
  startTool,
  verifyBackupBinary,
  type RunningTool,
  type ToolBinary,
  type ToolRunOptions,
} from './tools.js';
export {
  deleteTarMembers,
  dirNames,
  flipByte,
  isWalSegmentName,
  listTar,
  listTarVerbose,
  readTarMember,
  tarMemberLocations,
  walSegmentsIn,
  type TarEntry,
  type TarListing,
  type TarMemberLocation,
} from './archives.js';
export {
  assertRestoredCopy,
  scalar,
  tablespaceLinks,
  type RestoredCopyExpectation,
} from './restore-checks.js';
export { parseConninfo, primaryConninfoOf } from './conninfo.js';
export {
  RECORD_HEADER, SEGMENT_SIZE, damageMiddleRecord, formatLsn, parseLsn, pickMiddleRecord, readAt, segmentName, walRange, walkRecords,
  type WalBytes, type WalRange,
} from './wal-records.js';
export { waitFor } from './wait.js';
