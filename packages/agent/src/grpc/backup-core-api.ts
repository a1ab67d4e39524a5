/**
 * The parts of @pgfleet/core the Backup call needs that core's package index does not export
 * yet (runBaseBackup and its options type), loaded from core's built files by relative path in
 * this one place (as the controller's core-api.ts does). Once the index exports them, this
 * becomes `from '@pgfleet/core'`.
 */
export { runBaseBackup } from '../../../core/dist/basebackup.js';
export type { BaseBackupRunOptions } from '../../../core/dist/basebackup.js';
