/**
 * The WAL archive module on its own (`@pgfleet/core/wal-archive`): reading an archive in either
 * layout, timelines, coverage, the pre-restore plan and recovery targets. A restore_command
 * runs once per WAL file, so it imports this rather than the whole of @pgfleet/core.
 */

export {
  findArchivedSegment, listWalArchive, locateWalArchiveFile, parseWalArchiveHistoryName, parseWalArchiveSegmentName,
  walArchiveSuffix, walArchiveTimelineDir,
} from './wal-archive-listing.js';
export type {
  ListWalArchiveOptions, LocatedWalArchiveFile, WalArchiveHistoryFile, WalArchiveLayout, WalArchiveListing,
  WalArchiveSegmentFile,
} from './wal-archive-listing.js';
export { openWalArchive, readWalArchiveFile, restoreWalArchiveFile } from './wal-archive-read.js';
export type { ArchivedWalFileRef, WalArchiveReadOptions } from './wal-archive-read.js';
export { newestArchivedTimeline, readArchivedTimelineHistory, resolveTargetTimeline } from './wal-archive-timelines.js';
export type { TargetTimeline } from './wal-archive-timelines.js';
export { checkWalArchiveCoverage, timelineForSegment } from './wal-archive-coverage.js';
export type { WalArchiveCoverage, WalArchiveCoverageOptions } from './wal-archive-coverage.js';
export { describeRecoveryTarget, parseRecoveryTarget, parseTargetTime, recoveryTargetSettings } from './recovery-target.js';
export type {
  RecoveryTarget, RecoveryTargetAction, RecoveryTargetFlags, RecoveryTargetKind,
} from './recovery-target.js';
export { backupOnHistory, planArchiveRecovery } from './wal-archive-plan.js';
export type { ArchiveRecoveryBackup, ArchiveRecoveryPlan, ArchiveRecoveryPlanOptions } from './wal-archive-plan.js';
