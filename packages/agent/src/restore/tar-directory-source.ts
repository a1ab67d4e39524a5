/**
 * A backup directory in pg_basebackup's tar layout (pg_basebackup -F t or pgfleet-basebackup):
 * base.tar, <oid>.tar and pg_wal.tar, each uncompressed, gzip (.tar.gz or .tgz), lz4 or zstd,
 * plus backup_manifest. Other files (backup.json, notes) are ignored. Two archives of the same
 * kind (base.tar and base.tar.gz) are refused as ambiguous. The base archive and the tablespace
 * archives are read at the same time (stream()).
 */

import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { CancelledError, InvalidOptionError, fileError, isErrno, readArchiveFile, type Streamer } from '@pgfleet/core';
import { archiveOrder, classifyArchiveName, type ArchiveBegin, type ArchiveInfo, type BackupSource } from './source.js';

export class TarDirectorySource implements BackupSource {
  readonly layout = 'tar' as const;
  readonly tablespaceLocations = null;
  readonly dataDirectoryMode = null;

  private constructor(readonly location: string, readonly archives: readonly ArchiveInfo[], private readonly hasManifest: boolean) {}

  /** Lists a directory; null when it holds no base archive (not this layout). */
  static async open(dir: string): Promise<TarDirectorySource | null> {
    let names: string[];
    try {
      names = (await readdir(dir)).sort();
    } catch (err) {
      throw fileError('could not open backup directory', dir, err);
    }
    const archives: ArchiveInfo[] = [];
    for (const name of names) {
      const info = classifyArchiveName(name);
      if (info === null) continue;
      const clash = archives.find((a) => a.kind === info.kind && a.oid === info.oid);
      if (clash) {
        throw new InvalidOptionError(`backup directory "${dir}" holds both "${clash.name}" and "${name}"`, {
          hint: 'Keep only the archive that belongs to this backup.',
        });
      }
      const st = await stat(path.join(dir, name));
      if (!st.isFile()) continue;
      archives.push({ ...info, size: st.size });
    }
    if (!archives.some((a) => a.kind === 'base')) return null;
    archives.sort(archiveOrder);
    return new TarDirectorySource(dir, archives, names.includes('backup_manifest'));
  }

  async readManifest(): Promise<Buffer | null> {
    if (!this.hasManifest) return null;
    const file = path.join(this.location, 'backup_manifest');
    try {
      return await readFile(file);
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return null;
      throw fileError('could not read file', file, err);
    }
  }

  /**
   * Two lanes: the base archive, and beside it the others in order (tablespaces by OID, then
   * WAL); each of those begins when the engine lets it (extract.ts). A failure stops the other
   * lane; the error thrown is the first that is not a consequence of that stop.
   */
  async stream(begin: ArchiveBegin, progress: (info: ArchiveInfo, bytesDone: number) => void, signal?: AbortSignal): Promise<void> {
    const [base, ...rest] = this.archives;
    if (base === undefined) return;
    const stop = new AbortController();
    const stopped = signal ? AbortSignal.any([signal, stop.signal]) : stop.signal;
    const read = async (info: ArchiveInfo, next: Streamer): Promise<void> => {
      // The restore's streamers (manifest check, inspector, extractor) copy what they keep.
      await readArchiveFile(path.join(this.location, info.name), next, {
        compression: info.compression,
        inPlace: true,
        onProgress: (bytes) => progress(info, bytes),
        signal: stopped,
      });
    };
    // In the order they happened: the first that is not a consequence of the stop is thrown.
    const errors: unknown[] = [];
    const lane = (work: () => Promise<void>): Promise<void> => work().catch((error: unknown) => {
      errors.push(error);
      stop.abort(error);
    });
    const baseChain = await begin(base);
    await Promise.all([
      // readArchiveFile disposes the base archive's chain however it ends: that is what
      // releases the other lane if it waits for the base archive.
      lane(() => read(base, baseChain)),
      lane(async () => {
        for (const info of rest) {
          if (stopped.aborted) throw new CancelledError(`reading archive "${info.name}" was cancelled`);
          await read(info, await begin(info));
        }
      }),
    ]);
    if (errors.length > 0) throw errors.find((e) => !(e instanceof CancelledError)) ?? errors[0];
  }
}
