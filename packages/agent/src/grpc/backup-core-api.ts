/** The base backup engine from @pgfleet/core, re-exported in one place for the Backup call. */
export { runBaseBackup } from '@pgfleet/core';
export type { BaseBackupRunOptions } from '@pgfleet/core';
