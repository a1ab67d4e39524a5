/**
 * The streamer chain one archive of BASE_BACKUP goes through, built backwards from where it
 * ends (as pg_basebackup's astreamer chains are):
 *  - plain format: extracted into the data directory (the main archive) or the tablespace's
 *    (mapped) location; before that the recovery configuration is injected (-R); before that
 *    the tar stream is parsed; before that a server-compressed archive is decompressed.
 *  - tar format: written as it comes (a file, the caller's sink, or stdout), compressed on the
 *    client first when asked; when something must be injected into base.tar (-R, or the
 *    manifest of a backup to stdout) it is parsed and archived again around the injection.
 */
import { join } from 'node:path';
import { InvalidOptionError } from '../errors.js';
import type { Streamer } from '../archive/streamer.js';
import { TarParser } from '../archive/tar-parser.js';
import { SyncTarParser } from '../archive/sync-tar-parser.js';
import { TarArchiver } from '../archive/tar-archiver.js';
import { RecoveryConfigInjector } from '../archive/recovery-injector.js';
import { MemberAppender } from '../archive/member-appender.js';
import { createCompressor, createDecompressor } from '../archive/compression.js';
import { compressionFromFileName, compressionSuffix, type CompressionSpec } from '../archive/compression-spec.js';
import { StdoutSink } from '../archive/stdout-sink.js';
import { DirectoryExtractor } from '../archive/directory-extractor.js';
import type { TablespaceInfo } from '../replication/base-backup-events.js';

export interface ArchiveChainOptions {
  /** Where the archives end: extracted (plain), written as files (tar), or stdout. */
  output: 'plain' | 'files' | 'stdout';
  /** plain: the data directory. */
  dataDir: string;
  /** plain: where a tablespace's original location is restored (-T). */
  mapLocation: (location: string) => string;
  /** plain: written on the calling thread. */
  blocking: boolean;
  /** Client-side compression of the files written (tar). */
  clientCompression: CompressionSpec | null;
  /** -R: postgresql.auto.conf / standby.signal contents; null: none. */
  recoveryText: string | null;
  serverVersionNum: number;
  groupAccess: boolean;
  /** stdout: the manifest goes into base.tar (it arrives after base.tar's data). */
  injectManifest: boolean;
  /** tar: a file of the layout ("base.tar.gz"), recorded among the files written. */
  createFile: (name: string) => Promise<Streamer>;
  /** plain: the extractor's fsync at the end of the run. */
  syncAtEnd: (sync: () => Promise<void>) => void;
  /** plain: that fsync will run, so big files may start on their way to disk as they are written. */
  writeback: boolean;
  /** The file being written, for progress. */
  onFile: (name: string) => void;
}

export interface ArchiveChain {
  /** Where the archive's bytes go ('unknown' chunks). */
  head: Streamer;
  /** base.tar to stdout: where the manifest is appended once it is in; null otherwise. */
  manifestAppender: MemberAppender | null;
}

export class ArchiveChainBuilder {
  constructor(private readonly o: ArchiveChainOptions) {}

  async build(name: string, ts: TablespaceInfo): Promise<ArchiveChain> {
    return this.o.output === 'plain' ? { head: this.extraction(name, ts), manifestAppender: null } : this.archive(name, ts);
  }

  /** Plain format: the main archive into the data directory, a tablespace into its (mapped) location. */
  private extraction(name: string, ts: TablespaceInfo): Streamer {
    const { o } = this;
    const isBase = ts.oid === null;
    const root = isBase ? o.dataDir : o.mapLocation(ts.location ?? '');
    // pg_tblspc/<oid> symlinks arrive pointing at the original locations: map them (-T).
    const extractor = new DirectoryExtractor({
      root,
      sync: false,
      writeback: o.writeback,
      blocking: o.blocking,
      mapLinkTarget: (target, member) => (/^pg_tblspc\/[0-9]+$/.test(member.name) ? o.mapLocation(target) : target),
      onFile: (f) => o.onFile(f),
    });
    o.syncAtEnd(() => extractor.syncCreated());
    let chain: Streamer = extractor;
    if (isBase && o.recoveryText !== null) {
      chain = new RecoveryConfigInjector(chain, { serverVersionNum: o.serverVersionNum, contents: o.recoveryText, groupAccess: o.groupAccess });
    }
    // Parsed in place (no copy per chunk): extraction is the heaviest consumer of the parser.
    chain = new SyncTarParser(chain, { archiveName: name });
    const method = compressionFromFileName(name) ?? 'none';
    if (method !== 'none') chain = createDecompressor(method, chain);
    return chain;
  }

  /** Tar format: the archive as it comes, unless something must be injected into it. */
  private async archive(name: string, ts: TablespaceInfo): Promise<ArchiveChain> {
    const { o } = this;
    const isBase = ts.oid === null;
    const serverCompressed = (compressionFromFileName(name) ?? 'none') !== 'none';
    const injectManifest = isBase && o.injectManifest;
    const injectRecovery = isBase && o.recoveryText !== null;
    if ((injectManifest || injectRecovery) && serverCompressed) {
      throw new InvalidOptionError(`cannot parse archive "${name}"`, {
        hint: injectManifest
          ? 'Using - as the output directory requires parsing the archive: use client-side compression.'
          : 'The -R option requires parsing the archive: use client-side compression.',
      });
    }
    const compression = o.clientCompression && o.clientCompression.method !== 'none' ? o.clientCompression : null;
    const fileName = compression ? name + compressionSuffix(compression.method) : name;
    let chain: Streamer;
    if (o.output === 'stdout') {
      chain = new StdoutSink();
      o.onFile('-');
    } else {
      chain = await o.createFile(fileName);
      o.onFile(join(o.dataDir, fileName));
    }
    if (compression) chain = createCompressor(compression, chain);
    let manifestAppender: MemberAppender | null = null;
    if (injectManifest || injectRecovery) {
      chain = new TarArchiver(chain);
      if (injectManifest) {
        manifestAppender = new MemberAppender(chain);
        chain = manifestAppender;
      }
      if (injectRecovery) {
        chain = new RecoveryConfigInjector(chain, { serverVersionNum: o.serverVersionNum, contents: o.recoveryText as string, groupAccess: o.groupAccess });
      }
      chain = new TarParser(chain, { archiveName: name });
    }
    return { head: chain, manifestAppender };
  }
}
