/** The base backup engine from @pgfleet/core, re-exported in one place for the Backup call. */
export { runBaseBackup } from '@pgfleet/core';
export type { BaseBackupResult, BaseBackupRunOptions, BackupStartInfo } from '@pgfleet/core';
