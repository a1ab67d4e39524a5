/**
 * Verification of a tar-format backup while its files arrive, so that it never has to be read
 * again: the server sends backup_manifest last, so while an archive streams in, each member's
 * size and checksum (with the algorithm the manifest was asked to use) are computed and
 * remembered, and once the manifest is stored, finish() parses it and runs the checks of one
 * BackupVerification (backup-verification.ts) on what was remembered: the same checks, order
 * and messages as verifyBackup gives for the stored directory, by construction.
 *
 *   observe(name)  -> a Streamer that sees the file's bytes as stored ('unknown' chunks), next
 *                     to the writer: decompress -> parse tar -> remember (name, size, checksum)
 *   finish()       -> manifest parsed (its own checksum checked), members compared, missing
 *                     entries reported, then the WAL check
 *   dispose()      -> on failure: closes what is open (the staging directory goes anyway)
 *
 * Memory: one small record per archive member (name, size, 4-byte CRC-32C) plus the first 8 kB
 * of global/pg_control and PG_VERSION; the data itself is only passed through.
 *
 * WAL: its check needs the manifest's WAL-Ranges, known only at the end. pg_wal.tar (-X stream)
 * is read again from the staging directory then: it holds only the WAL written during the
 * backup, small next to the data, and buffering it would cost memory proportional to it. With
 * -X fetch the segments are inside base.tar, which must not be read again: its pg_wal/ segment
 * members are copied as they pass into a spool directory inside the staging directory
 * (".wal-spool", removed by finish()), and checked from there.
 *
 * A damaged archive (the decompressor or the tar parser fails) does not stop the transfer: the
 * failure is remembered and reported by finish() as verifyBackup reports it, after the members
 * read before it. Should the manifest use another checksum algorithm than was computed, finish()
 * falls back to verifyBackup on the stored files.
 */
import { mkdir, open, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { createDecompressor, compressionFromFileName } from '../archive/compression.js';
import type { ChunkKind, Streamer, TarMember } from '../archive/streamer.js';
import { SyncTarParser } from '../archive/sync-tar-parser.js';
import { FileIoError, InternalError, PgFleetError, fileError } from '../errors.js';
import { createChecksum, type Checksum, type ChecksumAlgorithm } from '../manifest/checksum.js';
import { PG_CONTROL_FILE_SIZE } from '../manifest/control-file.js';
import { readManifestFile } from '../manifest/parser.js';
import { ALWAYS_IGNORED, CONTROL_FILE_PATH, StopVerification, canonicalRelativePath } from '../manifest/verify-context.js';
import type { ObservedMember as ObservedByCore } from '../manifest/verify-streamer.js';
import { checkWalDirectory } from '../wal/wal-check-directory.js';
import { isWalSegmentName } from '../wal/segment.js';
import { BackupVerification } from './backup-verification.js';
import { checkTarBackupWal, classifyTarArchive, listTarBackup, type TarArchiveKind } from './tar-backup.js';
import { verifyBackup, type VerifyBackupResult, type VerifyProgress } from './verify-backup.js';

/** Where -X fetch WAL is copied to while base.tar streams (a name the agent may never send). */
export const WAL_SPOOL_DIR = '.wal-spool';

/** One member as remembered: what core's verifyObserved() takes, and whether it was whole. */
interface ObservedMember extends ObservedByCore {
  /** Its trailer was seen: false only for the member a damaged archive broke off in. */
  ended: boolean;
}

interface ObservedArchive {
  kind: TarArchiveKind;
  tablespaceOid: number | null;
  members: ObservedMember[];
  /** Why reading the archive stopped (decompressor or tar error), as verifyBackup words it. */
  failure: string | null;
  complete: boolean;
}

export interface ArrivalVerifierOptions {
  /** The staging directory the files are written into. */
  dir: string;
  /** The manifest checksum algorithm the backup was asked for (CRC32C by default). */
  algorithm: ChecksumAlgorithm;
}

export interface ObserveOptions {
  /**
   * The caller hands over the buffers it passes to the streamer: none is written again
   * afterwards (gRPC messages are not; a replication connection's recycled slabs are). An lz4
   * archive's bytes are then decompressed without a copy of each chunk.
   */
  inputOwned?: boolean;
}

export interface ArrivalVerifyOptions {
  /** Bytes read for the WAL check (the only reading left). */
  onProgress?: (progress: VerifyProgress) => void;
}

export interface ArrivalVerifyResult extends VerifyBackupResult {
  /** False when the manifest's algorithm forced verifyBackup to read the stored files. */
  onArrival: boolean;
}

export class ArrivalVerifier {
  private readonly dir: string;
  private readonly algorithm: ChecksumAlgorithm;
  private readonly archives = new Map<string, ObservedArchive>();
  private readonly open = new Set<Streamer>();
  /** Segment names spooled from base.tar, in arrival order. */
  private readonly spooled: string[] = [];

  constructor(options: ArrivalVerifierOptions) {
    this.dir = options.dir;
    this.algorithm = options.algorithm;
  }

  /**
   * The streamer to hand one arriving file's bytes to ('unknown' chunks, as they are stored).
   * Archives of data (base.tar, <oid>.tar, compressed or not) are observed; pg_wal.tar and
   * backup_manifest are read after the fact, so their bytes are not looked at here.
   */
  observe(name: string, options: ObserveOptions = {}): Streamer {
    const classified = classifyTarArchive(name);
    const method = compressionFromFileName(name);
    if (classified === null || classified.kind === 'wal' || method === null) return NOTHING;
    const archive: ObservedArchive = {
      kind: classified.kind, tablespaceOid: classified.tablespaceOid, members: [], failure: null, complete: false,
    };
    this.archives.set(name, archive);
    const observer = new MemberObserver({
      archive, algorithm: this.algorithm,
      spool: classified.kind === 'base' ? (segment) => this.spoolFile(segment) : null,
    });
    // Parsed in place: the observer checksums what passes and copies what it keeps (pg_control's
    // head; spooled WAL is written before content() returns).
    const parser = new SyncTarParser(observer, { archiveName: name });
    const chain = createDecompressor(method, parser, { archiveName: name, inputOwned: options.inputOwned === true });
    const guarded = new FailureKeeper(chain, archive);
    this.open.add(guarded);
    return {
      content: (member, data, kind) => guarded.content(member, data, kind),
      finalize: async () => {
        await guarded.finalize();
        archive.complete = true;
        this.open.delete(guarded);
      },
      dispose: async () => {
        this.open.delete(guarded);
        await guarded.dispose();
      },
    };
  }

  /** Closes whatever is still open (after a failed transfer). */
  async dispose(): Promise<void> {
    for (const s of [...this.open]) await s.dispose().catch(() => {});
    this.open.clear();
  }

  /**
   * Verifies the backup from what was observed, once every file (backup_manifest last) is
   * stored. Throws as verifyBackup does when nothing can be verified (ManifestError for an
   * invalid manifest); every problem with the backup itself is in the result.
   */
  async finish(options: ArrivalVerifyOptions = {}): Promise<ArrivalVerifyResult> {
    const manifest = await readManifestFile(join(this.dir, 'backup_manifest'));
    if (manifest.files.some((f) => f.checksumAlgorithm !== 'NONE' && f.checksumAlgorithm !== this.algorithm)) {
      await this.removeSpool();
      const result = await verifyBackup(this.dir, { format: 'tar', ...(options.onProgress ? { onProgress: options.onProgress } : {}) });
      return { ...result, onArrival: false };
    }
    const verification = new BackupVerification({ manifest, walLocation: 'pg_wal.tar' });
    const { context, wal } = verification;
    try {
      await this.compare(verification, options);
    } catch (err) {
      if (!(err instanceof StopVerification)) throw err;
    } finally {
      await this.removeSpool();
    }
    return {
      ok: !context.failed,
      format: 'tar',
      manifest,
      problems: context.problems,
      filesMatched: context.matchedCount,
      walSegmentsChecked: [...wal.checkedSegments],
      walRecordsChecked: wal.walRecordsRead,
      onArrival: true,
    };
  }

  /** verifyTarBackup's passes, on the observed members instead of the stored files. */
  private async compare(verification: BackupVerification, options: ArrivalVerifyOptions): Promise<void> {
    const { context, wal } = verification;
    // The same listing and problems as verifyTarBackup's (tablespaces first, base.tar last).
    const listing = await listTarBackup(context, this.dir, (name) => name === WAL_SPOOL_DIR);
    if (listing === null) return;
    const archives: Array<{ name: string; archive: ObservedArchive }> = [];
    for (const { name } of listing.archives) {
      const archive = this.archives.get(name);
      if (archive === undefined || !archive.complete && archive.failure === null) {
        // Every file of the backup is written through observe(): a bug, not a bad backup.
        throw new InternalError(`archive "${name}" in "${this.dir}" was not observed as it arrived`);
      }
      archives.push({ name, archive });
    }

    for (const { name, archive } of archives) {
      // The member an archive broke off in is left out: verifyBackup stops inside it, fatally.
      verification.observed({ name, tablespaceOid: archive.tablespaceOid }, archive.members.filter((m) => m.ended), archive.failure);
      // -X fetch: verifyBackup checks base.tar's segments as base.tar passes (they are its last
      // members), naming "pg_wal.tar" while it does; the spooled copies are checked likewise.
      if (archive.kind === 'base' && listing.walArchive === null && this.spooled.length > 0) {
        verification.configureWal();
        await checkWalDirectory(wal, join(this.dir, WAL_SPOOL_DIR));
      }
    }
    verification.filesDone();

    verification.configureWal();
    await checkTarBackupWal(context, wal, this.dir, listing, {
      onProgress: (doneBytes, totalBytes) => options.onProgress?.({ doneBytes, totalBytes }),
    });
    verification.finishWal();
  }

  /** Creates the spool file of one -X fetch segment (the spool directory on first use). */
  private async spoolFile(segment: string): Promise<{ handle: FileHandle; path: string }> {
    const dir = join(this.dir, WAL_SPOOL_DIR);
    if (this.spooled.length === 0) {
      try {
        await mkdir(dir, { mode: 0o700 });
      } catch (err) {
        throw fileError('could not create directory', dir, err);
      }
    }
    const path = join(dir, segment);
    try {
      const handle = await open(path, 'wx', 0o600);
      this.spooled.push(segment);
      return { handle, path };
    } catch (err) {
      throw fileError('could not create file', path, err);
    }
  }

  private async removeSpool(): Promise<void> {
    if (this.spooled.length === 0) return;
    const dir = join(this.dir, WAL_SPOOL_DIR);
    try {
      await rm(dir, { recursive: true, force: true });
    } catch (err) {
      throw fileError('could not remove directory', dir, err);
    }
  }
}

/** A streamer that takes nothing in (files checked after they are stored). */
const NOTHING: Streamer = {
  content: async () => {},
  finalize: async () => {},
  dispose: async () => {},
};

/**
 * Keeps a damaged archive from stopping the transfer: the first decompressor or tar error is
 * remembered for finish() and later chunks are dropped. File errors (the WAL spool) still fail.
 */
class FailureKeeper implements Streamer {
  private stopped = false;

  constructor(private readonly chain: Streamer, private readonly archive: ObservedArchive) {}

  async content(member: TarMember | null, data: Buffer, kind: ChunkKind): Promise<void> {
    if (this.stopped) return;
    try {
      await this.chain.content(member, data, kind);
    } catch (err) {
      await this.stop(err);
    }
  }

  async finalize(): Promise<void> {
    if (this.stopped) return;
    try {
      await this.chain.finalize();
    } catch (err) {
      await this.stop(err);
    }
    await this.chain.dispose();
  }

  async dispose(): Promise<void> {
    this.stopped = true;
    await this.chain.dispose();
  }

  private async stop(err: unknown): Promise<void> {
    if (!(err instanceof PgFleetError) || err instanceof FileIoError) throw err;
    this.stopped = true;
    this.archive.failure = err.message;
    await this.chain.dispose().catch(() => {});
  }
}

interface MemberObserverOptions {
  archive: ObservedArchive;
  algorithm: ChecksumAlgorithm;
  /** base.tar: where its pg_wal/ segment members are copied to (-X fetch); null otherwise. */
  spool: ((segment: string) => Promise<{ handle: FileHandle; path: string }>) | null;
}

/** The last stage: remembers each member's size, checksum and (for two files) first bytes. */
class MemberObserver implements Streamer {
  private current: ObservedMember | null = null;
  private checksum: Checksum | null = null;
  private head: Buffer[] | null = null;
  private headBytes = 0;
  private spoolFile: { handle: FileHandle; path: string } | null = null;

  constructor(private readonly options: MemberObserverOptions) {}

  async content(member: TarMember | null, data: Buffer, kind: ChunkKind): Promise<void> {
    switch (kind) {
      case 'header':
        if (member !== null) await this.begin(member);
        break;
      case 'contents': {
        const current = this.current;
        if (current === null) break;
        current.bytes += data.length;
        this.checksum?.update(data);
        if (this.head !== null && this.headBytes < PG_CONTROL_FILE_SIZE) {
          this.head.push(Buffer.from(data.subarray(0, PG_CONTROL_FILE_SIZE - this.headBytes)));
          this.headBytes += Math.min(data.length, PG_CONTROL_FILE_SIZE - this.headBytes);
        }
        if (this.spoolFile !== null) {
          const { handle, path } = this.spoolFile;
          try {
            await handle.write(data);
          } catch (err) {
            throw fileError('could not write to file', path, err);
          }
        }
        break;
      }
      case 'trailer':
        await this.end();
        break;
      default:
        break;
    }
  }

  async finalize(): Promise<void> {
    await this.closeSpool();
  }

  async dispose(): Promise<void> {
    const spool = this.spoolFile;
    this.spoolFile = null;
    await spool?.handle.close().catch(() => {});
  }

  private async begin(member: TarMember): Promise<void> {
    const { archive, algorithm } = this.options;
    const observed: ObservedMember = {
      member: { name: member.name, size: member.size, type: member.type }, bytes: 0, algorithm, digest: null, head: null, ended: false,
    };
    archive.members.push(observed);
    this.current = observed;
    this.checksum = null;
    this.head = null;
    this.headBytes = 0;
    if (member.type !== 'file') return;
    const base = archive.kind === 'base';
    const relpath = canonicalRelativePath(member.name);
    if (base && (relpath === CONTROL_FILE_PATH || relpath === 'PG_VERSION')) this.head = [];
    // What the verifier ignores needs no checksum (pg_wal/, backup_manifest, ...).
    const ignored = base && ALWAYS_IGNORED.some((v) => relpath === v || relpath.startsWith(`${v}/`));
    if (!ignored && algorithm !== 'NONE') this.checksum = createChecksum(algorithm);
    const spool = this.options.spool;
    if (spool !== null && relpath.startsWith('pg_wal/') && isWalSegmentName(relpath.slice('pg_wal/'.length))) {
      this.spoolFile = await spool(relpath.slice('pg_wal/'.length));
    }
  }

  private async end(): Promise<void> {
    const current = this.current;
    if (current !== null) {
      current.ended = true;
      if (this.checksum !== null) current.digest = this.checksum.digest();
      if (this.head !== null) current.head = Buffer.concat(this.head);
    }
    this.current = null;
    this.checksum = null;
    this.head = null;
    await this.closeSpool();
  }

  private async closeSpool(): Promise<void> {
    const spool = this.spoolFile;
    if (spool === null) return;
    this.spoolFile = null;
    try {
      await spool.handle.close();
    } catch (err) {
      throw fileError('could not close file', spool.path, err);
    }
  }
}
