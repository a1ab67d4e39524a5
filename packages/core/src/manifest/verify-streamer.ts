/**
 * A Streamer that checks the members of one parsed tar archive against the manifest, as
 * pg_verifybackup's astreamer_verify does: base.tar members are matched by their own names,
 * a tablespace archive's members as `pg_tblspc/<oid>/<name>`. For each regular member: is it
 * in the manifest (unless ignored), is the size right, and (unless checksums are skipped) does
 * the checksum computed while the data streams past match. global/pg_control also gets the
 * control-file checks of version 2 manifests. Directories are skipped, and so are symbolic
 * links at base.tar's pg_tblspc/<oid> (the tablespace links). Any other symbolic link, hard
 * link or special member is a problem (pg_verifybackup skips links): a base backup never holds
 * one, and a restore that took it (recovery.signal -> /etc/x) could be made to write through
 * it. Where the manifest lists a file at that path, the file counts as bad rather than missing.
 *
 * Entries never seen are reported by VerifyContext.reportMissing() once every archive of the
 * backup has been streamed. Chunks are passed on unchanged to `next` when there is one.
 *
 * When the manifest comes after the archives (a backup being received: the server sends
 * backup_manifest last), nothing can be matched while the data streams. The receiver then
 * computes each member's size and checksum itself as it passes (ObservedMember) and hands them
 * to verifyObserved() once the manifest is in: the same checks, with the same messages, without
 * reading the archive again.
 */

import { InternalError } from '../errors.js';
import { isTablespaceLinkName } from '../archive/tablespace-link.js';
import type { ChunkKind, Streamer, TarMember } from '../archive/streamer.js';
import { createChecksum, type Checksum, type ChecksumAlgorithm } from './checksum.js';
import type { ManifestFile } from './manifest.js';
import { PG_CONTROL_FILE_SIZE } from './control-file.js';
import { canonicalRelativePath, CONTROL_FILE_PATH, type VerifyContext } from './verify-context.js';

export interface ManifestVerifyStreamerOptions {
  context: VerifyContext;
  /** The archive's file name, for messages: "base.tar", "16384.tar.gz". */
  archiveName: string;
  /** The tablespace OID for `<oid>.tar`; null for base.tar. */
  tablespaceOid: number | null;
  next?: Streamer | null;
}

/** What was seen of one archive member while it streamed, before the manifest was known. */
export interface ObservedMember {
  /** The member's header: only its name, size and type are needed. */
  member: Pick<TarMember, 'name' | 'size' | 'type'>;
  /** Contents bytes that streamed past. */
  bytes: number;
  /** The algorithm `digest` was computed with (the one the manifest was asked to use). */
  algorithm: ChecksumAlgorithm;
  /** Checksum of the contents; null when not computed (directories, links). */
  digest: Buffer | null;
  /**
   * The first PG_CONTROL_FILE_SIZE bytes of base.tar's global/pg_control and PG_VERSION (the
   * control-file checks and the WAL check need them); null for every other member.
   */
  head: Buffer | null;
}

export class ManifestVerifyStreamer implements Streamer {
  private readonly context: VerifyContext;
  private readonly archiveName: string;
  private readonly tablespaceOid: number | null;
  private readonly next: Streamer | null;
  // per member
  private entry: ManifestFile | null = null;
  private checksum: Checksum | null = null;
  private checksumBytes = 0;
  private captured: Buffer[] | null = null;
  private capturedBytes = 0;
  private capturing: 'control' | 'version' | null = null;

  constructor(options: ManifestVerifyStreamerOptions) {
    this.context = options.context;
    this.archiveName = options.archiveName;
    this.tablespaceOid = options.tablespaceOid;
    this.next = options.next ?? null;
  }

  async content(member: TarMember | null, data: Buffer, kind: ChunkKind): Promise<void> {
    switch (kind) {
      case 'header':
        if (member === null) throw new InternalError('tar member header without a member');
        this.beginMember(member);
        break;
      case 'contents':
        if (this.checksum !== null) {
          this.checksum.update(data);
          this.checksumBytes += data.length;
        }
        if (this.captured !== null) {
          // Keep at most what the checks need; count everything.
          if (this.capturedBytes < PG_CONTROL_FILE_SIZE) this.captured.push(Buffer.from(data));
          this.capturedBytes += data.length;
        }
        break;
      case 'trailer':
        this.endMember();
        break;
      case 'archive-trailer':
        break;
      default:
        throw new InternalError(`the manifest verifier needs a parsed archive, got a "${kind}" chunk`);
    }
    if (this.next !== null) await this.next.content(member, data, kind);
  }

  async finalize(): Promise<void> {
    if (this.entry !== null || this.captured !== null) {
      throw new InternalError(`archive "${this.archiveName}" ended inside a member`);
    }
    if (this.next !== null) await this.next.finalize();
  }

  async dispose(): Promise<void> {
    if (this.next !== null) await this.next.dispose();
  }

  /**
   * Checks one member of this archive from what was observed while it streamed, exactly as if
   * it had streamed through content() now. Throws InternalError when the manifest wants a
   * checksum of another algorithm than the one observed: the caller must check that first.
   */
  verifyObserved(observed: ObservedMember): void {
    this.beginMember(observed.member);
    const entry = this.entry;
    if (this.checksum !== null && entry !== null) {
      const digest = observed.digest;
      if (digest === null || entry.checksumAlgorithm !== observed.algorithm) {
        throw new InternalError(`file "${entry.path}" in archive "${this.archiveName}" has a ${entry.checksumAlgorithm} ` +
          `checksum in the manifest, but ${digest === null ? 'no checksum' : observed.algorithm} was computed`);
      }
      this.checksum = { algorithm: observed.algorithm, update: () => {}, digest: () => digest };
      this.checksumBytes = observed.bytes;
    }
    if (this.captured !== null) {
      if (observed.head !== null) this.captured.push(observed.head);
      this.capturedBytes = observed.bytes;
    }
    this.endMember();
  }

  private beginMember(member: Pick<TarMember, 'name' | 'size' | 'type'>): void {
    this.entry = null;
    this.checksum = null;
    this.checksumBytes = 0;
    this.captured = null;
    this.capturedBytes = 0;
    this.capturing = null;
    if (member.type === 'directory') return;

    const relpath = this.tablespaceOid !== null
      ? `pg_tblspc/${this.tablespaceOid}/${canonicalRelativePath(member.name)}`
      : canonicalRelativePath(member.name);

    if (member.type !== 'file') {
      const tablespaceLink = member.type === 'symlink' && this.tablespaceOid === null && isTablespaceLinkName(relpath);
      if (tablespaceLink || this.context.shouldIgnoreLink(relpath)) return;
      const what = member.type === 'symlink' ? 'a symbolic link' : member.type === 'link' ? 'a hard link' : 'a special file';
      this.context.reportNotRegular(relpath, member.name, what, ` in archive "${this.archiveName}"`);
      return;
    }

    // PG_VERSION tells the WAL check which page magic to expect; pg_control its geometry.
    if (this.tablespaceOid === null && relpath === 'PG_VERSION' && member.size < 64) this.capturing = 'version';
    if (this.tablespaceOid === null && relpath === CONTROL_FILE_PATH) this.capturing = 'control';
    if (this.capturing !== null) this.captured = [];

    if (this.context.shouldIgnore(relpath)) return;
    const entry = this.context.lookup(relpath);
    if (entry === null) {
      this.context.report('extra',
        `file "${member.name}" is present in archive "${this.archiveName}" but not in the manifest`, { path: relpath });
      return;
    }
    this.entry = entry;
    if (entry.size !== member.size) {
      this.context.markBad(entry);
      this.context.report('size',
        `file "${member.name}" has size ${member.size} in archive "${this.archiveName}" but size ${entry.size} in the manifest`,
        { path: relpath });
      return;
    }
    if (this.context.shouldVerifyChecksum(entry)) this.checksum = createChecksum(entry.checksumAlgorithm);
  }

  private endMember(): void {
    const entry = this.entry;
    const checksum = this.checksum;
    const where = ` in archive "${this.archiveName}"`;
    if (entry !== null && checksum !== null) {
      if (this.checksumBytes !== entry.size) {
        this.context.report('size',
          `file "${entry.path}"${where} should contain ${entry.size} bytes, but ${this.checksumBytes} bytes were read`,
          { path: entry.path });
      } else {
        this.context.compareChecksum(entry, checksum.digest(), where);
      }
    }
    const captured = this.captured;
    const capturing = this.capturing;
    this.entry = null;
    this.checksum = null;
    this.captured = null;
    this.capturing = null;
    if (captured === null) return;
    const bytes = Buffer.concat(captured);
    if (capturing === 'version') {
      this.context.pgVersion = bytes.toString('utf8').trim();
    } else if (capturing === 'control') {
      // Like pg_verifybackup: the version 2 checks only for a manifest entry of the right size.
      const verify = entry !== null && !this.context.isBad(entry);
      this.context.checkControlFile(bytes.subarray(0, PG_CONTROL_FILE_SIZE), `"${CONTROL_FILE_PATH}"${where}`,
        { verify, size: this.capturedBytes });
    }
  }
}
