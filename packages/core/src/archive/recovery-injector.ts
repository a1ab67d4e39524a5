/**
 * Putting -R's recovery settings into a parsed base archive, as pg_basebackup's
 * astreamer_recovery_injector does:
 * - servers >= 12: the text is appended to the postgresql.auto.conf member (its TarMember gets
 *   the new size and mtime now, and an empty header chunk so the archiver writes a new header);
 *   if the archive has no such member, one is added just before the end of the archive. Any
 *   standby.signal in the archive is dropped and an empty one is added after that.
 * - servers < 12: any recovery.conf is dropped and a new one holding the text is added at the end.
 * Added members get mode 0600 (0640 with group access), uid 2048, gid 1024, mtime now.
 *
 * Members pass through otherwise untouched; members are expected (put it after a TarParser).
 */

import { InternalError } from '../errors.js';
import { ChainedStreamer, EMPTY_BUFFER } from './chained-streamer.js';
import { injectMember } from './member-appender.js';
import type { ChunkKind, Streamer, TarMember } from './streamer.js';
import { TAR_BLOCK_SIZE, tarPaddingFor } from './tar-header.js';

export interface RecoveryConfigInjectorOptions {
  /** server_version_num of the server the backup comes from. */
  serverVersionNum: number;
  /** The text from recoveryConfigContents(). */
  contents: string | Buffer;
  /** The data directory allows group access (data_directory_mode 0750): added files get 0640. */
  groupAccess?: boolean;
  /** Clock for mtimes, for tests. */
  now?: () => Date;
}

const ZERO_BLOCK = Buffer.alloc(TAR_BLOCK_SIZE);

export class RecoveryConfigInjector extends ChainedStreamer {
  private readonly text: Buffer;
  private readonly gucs: boolean;
  private readonly mode: number;
  private readonly now: () => Date;
  private foundAutoConf = false;
  /** How the current member is handled. */
  private current: { action: 'pass' | 'skip' | 'append'; member: TarMember | null } = { action: 'pass', member: null };

  constructor(next: Streamer, options: RecoveryConfigInjectorOptions) {
    super(next);
    this.text = Buffer.isBuffer(options.contents) ? Buffer.from(options.contents) : Buffer.from(options.contents, 'utf8');
    this.gucs = options.serverVersionNum >= 120000;
    this.mode = options.groupAccess ? 0o640 : 0o600;
    this.now = options.now ?? (() => new Date());
  }

  async content(member: TarMember | null, data: Buffer, kind: ChunkKind): Promise<void> {
    switch (kind) {
      case 'header': {
        if (member === null) throw new InternalError('recovery injector received a header chunk without a member');
        if (this.gucs && member.name === 'postgresql.auto.conf' && member.type === 'file') {
          this.foundAutoConf = true;
          const edited: TarMember = { ...member, size: member.size + this.text.length, mtime: this.now() };
          this.current = { action: 'append', member: edited };
          // The server's header no longer matches: send none, so the archiver writes a new one.
          await this.next.content(edited, EMPTY_BUFFER, 'header');
          return;
        }
        const dropped = this.gucs ? 'standby.signal' : 'recovery.conf';
        this.current = { action: member.name === dropped ? 'skip' : 'pass', member };
        if (this.current.action === 'pass') await this.next.content(member, data, kind);
        return;
      }
      case 'contents':
        if (this.current.action === 'skip') return;
        await this.next.content(this.current.action === 'append' ? this.current.member : member, data, kind);
        return;
      case 'trailer': {
        const { action, member: edited } = this.current;
        this.current = { action: 'pass', member: null };
        if (action === 'skip') return;
        if (action === 'append' && edited !== null) {
          await this.next.content(edited, this.text, 'contents');
          await this.next.content(edited, ZERO_BLOCK.subarray(0, tarPaddingFor(edited.size)), 'trailer');
          return;
        }
        await this.next.content(member, data, kind);
        return;
      }
      case 'archive-trailer': {
        const options = { mode: this.mode, mtime: this.now() };
        if (this.gucs) {
          if (!this.foundAutoConf) await injectMember(this.next, 'postgresql.auto.conf', this.text, options);
          await injectMember(this.next, 'standby.signal', EMPTY_BUFFER, options);
        } else {
          await injectMember(this.next, 'recovery.conf', this.text, options);
        }
        await this.next.content(member, data, kind);
        return;
      }
      case 'unknown':
        throw new InternalError('recovery injector received raw bytes; it expects parsed members');
    }
  }
}
