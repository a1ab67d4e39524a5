/**
 * The parts of @pgfleet/core the controller uses that the package index does not export yet
 * (runBaseBackup and its types, PGFLEET_VERSION). They are loaded from core's built
 * files by relative path, in this one place, so that switching to `from '@pgfleet/core'` once
 * the index exports them is a one-file change. Everything else comes from '@pgfleet/core'.
 */
export { runBaseBackup } from '../../core/dist/basebackup.js';
export type {
  BackupReporter, BackupTablespace, BaseBackupResult, BaseBackupRunOptions, ProgressState,
} from '../../core/dist/basebackup.js';
export { PGFLEET_VERSION } from '../../core/dist/version.js';
