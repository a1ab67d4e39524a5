/**
 * What one restore knows while it runs, shared by its steps (prepare, extract, verification,
 * finish, commit, bring-up): the options, the plan as it is decided, the staging directories
 * made so far, the facts learnt from the base archive, and the warnings and events for the
 * caller. Each step reads what earlier steps set; nothing here does work of its own beyond
 * events and staging bookkeeping.
 */

import path from 'node:path';
import { CancelledError, InternalError } from '@pgfleet/core';
import type { OsOwner } from '../instance/owner.js';
import type { PostgresInstallation } from '../instance/pg-install.js';
import type { BaseArchiveFacts } from './inspect.js';
import type { RestoreEvent, RestoreOptions } from './options.js';
import type { RestoreTarget, TablespaceTarget } from './plan.js';
import type { BackupSource } from './source.js';
import { StagingDirectory, isMountPoint } from './staging.js';

export class RestoreContext {
  readonly started = Date.now();
  readonly warnings: string[] = [];
  /** Source bytes read, of the archives finished so far. */
  bytesBefore = 0;
  readonly bytesTotal: number;

  owner!: OsOwner;
  dataDir = '';
  walDir: string | null = null;
  /** allowedRoots, canonical; null: anywhere. */
  roots: readonly string[] | null = null;
  /** The targets the options name; the tablespaces' own are added once they are planned. */
  targets: RestoreTarget[] = [];
  /** Decided once, when the base archive has told the original locations (prepare.ts). */
  tablespaces: TablespaceTarget[] | null = null;

  /** Every staging directory made, in order (discard and undo go backwards). */
  readonly stagings: StagingDirectory[] = [];
  dataStaging!: StagingDirectory;
  walStaging: StagingDirectory | null = null;
  readonly tablespaceStagings = new Map<number, StagingDirectory>();

  facts: BaseArchiveFacts | null = null;
  /** Major version from PG_VERSION. */
  major: number | null = null;
  installation: PostgresInstallation | null = null;
  /** backup_manifest's bytes when read before verification (the point-in-time check); undefined: not read yet. */
  manifestBytes: Buffer | null | undefined = undefined;
  /** Point-in-time recovery: the timeline the archive check resolved the target's to. */
  targetTimeline: number | null = null;

  constructor(readonly source: BackupSource, readonly options: RestoreOptions) {
    this.bytesTotal = source.archives.reduce((n, a) => n + (a.size ?? 0), 0);
  }

  emit(event: RestoreEvent): void {
    this.options.onEvent?.(event);
  }

  warn(message: string): void {
    this.warnings.push(message);
    this.emit({ type: 'warning', message });
  }

  /** A progress event of a phase that is not extraction (no file, bytes as read so far). */
  phase(phase: 'verify' | 'finish' | 'start'): void {
    this.emit({ type: 'progress', phase, file: '', bytesDone: this.bytesBefore, bytesTotal: this.bytesTotal });
  }

  checkCancelled(): void {
    if (this.options.signal?.aborted) throw new CancelledError('the restore was cancelled');
  }

  /** Where pg_wal's content goes: --waldir's staging, else pg_wal in the data directory's. */
  walRoot(): string {
    return this.walStaging ? this.walStaging.path : path.join(this.dataStaging.path, 'pg_wal');
  }

  /** Makes (and registers, for discard and undo) the staging directory of `target`. */
  async makeStaging(target: string): Promise<StagingDirectory> {
    const staging = new StagingDirectory(target, this.owner, await isMountPoint(target));
    this.stagings.push(staging);
    await staging.create();
    return staging;
  }

  baseFacts(): BaseArchiveFacts {
    if (this.facts === null) throw new InternalError('the base archive has not been read');
    return this.facts;
  }

  tablespacePlan(): TablespaceTarget[] {
    if (this.tablespaces === null) throw new InternalError('the tablespaces have not been planned');
    return this.tablespaces;
  }
}
