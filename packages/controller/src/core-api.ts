/** The base backup engine and version from @pgfleet/core, re-exported in one place. */
export { runBaseBackup, PGFLEET_VERSION } from '@pgfleet/core';
export type {
  BackupReporter, BackupTablespace, BaseBackupResult, BaseBackupRunOptions, ProgressState,
} from '@pgfleet/core';
