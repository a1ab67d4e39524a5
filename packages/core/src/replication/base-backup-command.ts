/**
 * The BASE_BACKUP command text, for both grammars, with the options pg_basebackup would send.
 * Servers up to 14 accept only the legacy keyword list; servers from 15 accept only the
 * parenthesised generic option list. Which one is used is decided once per connection
 * (ReplicationConnection.syntax); this module only spells it.
 *
 * Mapping (legacy <- option -> 15+):
 *   LABEL 'x'              <- label                  -> LABEL 'x'
 *   PROGRESS               <- progress               -> PROGRESS
 *   FAST                   <- checkpoint 'fast'      -> CHECKPOINT 'fast'
 *   WAL                    <- wal                    -> WAL
 *   NOWAIT                 <- !wait                  -> WAIT 0
 *   MAX_RATE n             <- maxRateKbPerSec        -> MAX_RATE n
 *   TABLESPACE_MAP         <- tablespaceMap          -> TABLESPACE_MAP
 *   NOVERIFY_CHECKSUMS     <- !verifyChecksums       -> VERIFY_CHECKSUMS 0
 *   MANIFEST 'm'           <- manifest != 'no'       -> MANIFEST 'm'
 *   MANIFEST_CHECKSUMS 'a' <- manifestChecksums      -> MANIFEST_CHECKSUMS 'a'
 *   (not available)        <- compression            -> COMPRESSION 'x' [, COMPRESSION_DETAIL 'd']
 *   (not available)        <- target                 -> TABLESPACE_MAP, TARGET 'x' [, TARGET_DETAIL 'd']
 *                                                    -> otherwise TARGET 'client' (as pg_basebackup)
 * Manifests need servers 13 and later; for older servers none is requested, as pg_basebackup
 * does, and the backup simply arrives without one.
 */

import { InvalidOptionError, NotSupportedError } from '../errors.js';
import type { BaseBackupOptions } from './base-backup-events.js';
import { quoteLiteral } from './command-text.js';

export type ReplicationSyntax = 'legacy' | 'options';

/** The grammar a server version takes: legacy up to 14, option lists from 15. */
export function replicationSyntaxFor(serverVersionNum: number): ReplicationSyntax {
  return serverVersionNum >= 150000 ? 'options' : 'legacy';
}

/** Whether a server of this version can send a backup manifest. */
export function serverSupportsManifest(serverVersionNum: number): boolean {
  return serverVersionNum >= 130000;
}

export function buildBaseBackupCommand(options: BaseBackupOptions, serverVersionNum: number): string {
  const syntax = replicationSyntaxFor(serverVersionNum);
  if (options.maxRateKbPerSec !== null &&
    (!Number.isInteger(options.maxRateKbPerSec) || options.maxRateKbPerSec < 32 || options.maxRateKbPerSec > 1048576)) {
    throw new InvalidOptionError(`transfer rate "${options.maxRateKbPerSec}" is out of range`, {
      hint: 'The maximum transfer rate must be between 32 kB/s and 1048576 kB/s.',
    });
  }
  const manifest = serverSupportsManifest(serverVersionNum) && options.manifest !== 'no';
  const parts: Array<[keyword: string, value: string | null]> = [];
  parts.push(['LABEL', quoteLiteral(options.label)]);
  if (options.progress) parts.push(['PROGRESS', null]);
  if (options.checkpoint === 'fast') {
    parts.push(syntax === 'legacy' ? ['FAST', null] : ['CHECKPOINT', quoteLiteral('fast')]);
  }
  if (options.wal) parts.push(['WAL', null]);
  if (!options.wait) parts.push(syntax === 'legacy' ? ['NOWAIT', null] : ['WAIT', '0']);
  if (options.maxRateKbPerSec !== null) parts.push(['MAX_RATE', String(options.maxRateKbPerSec)]);
  if (options.tablespaceMap) parts.push(['TABLESPACE_MAP', null]);
  if (!options.verifyChecksums) {
    parts.push(syntax === 'legacy' ? ['NOVERIFY_CHECKSUMS', null] : ['VERIFY_CHECKSUMS', '0']);
  }
  if (manifest) {
    parts.push(['MANIFEST', quoteLiteral(options.manifest)]);
    parts.push(['MANIFEST_CHECKSUMS', quoteLiteral(options.manifestChecksums)]);
  }
  if (options.compression !== null) {
    if (syntax === 'legacy') {
      throw new NotSupportedError(
        `server version ${Math.floor(serverVersionNum / 10000)} does not support server-side compression`,
        { hint: 'Server-side compression needs PostgreSQL 15 or later; compress on the client instead.' },
      );
    }
    parts.push(['COMPRESSION', quoteLiteral(options.compression.method)]);
    if (options.compression.detail !== null) {
      parts.push(['COMPRESSION_DETAIL', quoteLiteral(options.compression.detail)]);
    }
  }
  const target = options.target ?? null;
  if (target !== null) {
    if (syntax === 'legacy') throw new NotSupportedError('backup targets are not supported by this server version');
    // The server writes tar archives, so it needs tablespace_map (pg_basebackup sends it too).
    if (!options.tablespaceMap) parts.push(['TABLESPACE_MAP', null]);
    parts.push(['TARGET', quoteLiteral(target.name)]);
    if (target.detail !== null) parts.push(['TARGET_DETAIL', quoteLiteral(target.detail)]);
  } else if (syntax === 'options') {
    parts.push(['TARGET', quoteLiteral('client')]);
  }

  const words = parts.map(([k, v]) => (v === null ? k : `${k} ${v}`));
  return syntax === 'legacy'
    ? `BASE_BACKUP ${words.join(' ')}`
    : `BASE_BACKUP ( ${words.join(', ')} )`;
}
