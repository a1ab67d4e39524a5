/**
 * A pass-through stage for the base archive that remembers what the restore needs to know
 * about the backup while it streams past: tablespace_map, backup_label and PG_VERSION contents,
 * the pg_tblspc/<oid> symbolic links (which it withholds: the engine makes those links itself,
 * pointing at the restore targets), and whether the data directory had group access (mode of
 * "global"). `onFile` is awaited when a remembered file is complete. `onLocations` is awaited
 * exactly once, as soon as the tablespaces' original locations are known: when tablespace_map
 * has been read (it is the second member of a PostgreSQL base archive, so the engine checks the
 * tablespace targets long before the archive ends), else at the end of the archive (the
 * pg_tblspc links, or no tablespaces at all).
 */

import { ChainedStreamer, InternalError, type ChunkKind, type Streamer, type TarMember } from '@pgfleet/core';

export const REMEMBERED_FILES = ['tablespace_map', 'backup_label', 'PG_VERSION'] as const;
export type RememberedFile = (typeof REMEMBERED_FILES)[number];

/** Larger than any sane tablespace_map/backup_label; guards memory against a hostile archive. */
const MAX_REMEMBERED = 1024 * 1024;

export interface BaseArchiveFacts {
  files: Map<RememberedFile, string>;
  /** pg_tblspc/<oid> symbolic links found in the archive: oid -> target as written. */
  tablespaceLinks: Map<number, string>;
  /** Mode of the "global" directory member, when there was one. */
  globalDirMode: number | null;
  /** Signal files present in the archive. */
  signals: Set<'standby.signal' | 'recovery.signal'>;
}

export class BaseArchiveInspector extends ChainedStreamer {
  readonly facts: BaseArchiveFacts = { files: new Map(), tablespaceLinks: new Map(), globalDirMode: null, signals: new Set() };
  private capture: { name: RememberedFile; chunks: Buffer[]; bytes: number } | null = null;
  private withholding = false;
  private locationsTold = false;

  constructor(
    next: Streamer,
    private readonly onFile: (name: RememberedFile, facts: BaseArchiveFacts) => Promise<void>,
    private readonly onLocations: (facts: BaseArchiveFacts) => Promise<void> = async () => undefined,
  ) {
    super(next);
  }

  async content(member: TarMember | null, data: Buffer, kind: ChunkKind): Promise<void> {
    if (kind === 'header') {
      if (member === null) throw new InternalError('tar member header without a member');
      this.begin(member);
    } else if (kind === 'contents' && this.capture !== null) {
      this.capture.bytes += data.length;
      if (this.capture.bytes > MAX_REMEMBERED) {
        throw new InternalError(`file "${this.capture.name}" in the base archive is larger than ${MAX_REMEMBERED} bytes`);
      }
      this.capture.chunks.push(Buffer.from(data));
    }
    const withheld = this.withholding;
    if (kind === 'trailer') {
      this.withholding = false;
      const done = this.capture;
      this.capture = null;
      if (done !== null) {
        this.facts.files.set(done.name, Buffer.concat(done.chunks).toString('utf8'));
        await this.onFile(done.name, this.facts);
        if (done.name === 'tablespace_map') await this.locationsKnown();
      }
    }
    if (!withheld) await this.next.content(member, data, kind);
  }

  protected override async finalizeSelf(): Promise<void> {
    await this.locationsKnown();
  }

  private async locationsKnown(): Promise<void> {
    if (this.locationsTold) return;
    this.locationsTold = true;
    await this.onLocations(this.facts);
  }

  private begin(member: TarMember): void {
    const tablespaceLink = /^pg_tblspc\/([1-9][0-9]*)$/.exec(member.name);
    if (tablespaceLink && member.type === 'symlink') {
      this.facts.tablespaceLinks.set(Number(tablespaceLink[1]), member.linkname ?? '');
      this.withholding = true;
      return;
    }
    if (member.name === 'global' && member.type === 'directory') this.facts.globalDirMode = member.mode & 0o777;
    if (member.type !== 'file') return;
    if (member.name === 'standby.signal' || member.name === 'recovery.signal') this.facts.signals.add(member.name);
    if ((REMEMBERED_FILES as readonly string[]).includes(member.name)) {
      this.capture = { name: member.name as RememberedFile, chunks: [], bytes: 0 };
    }
  }
}
