/**
 * pg_basebackup 17's command line, parsed into BaseBackupRunOptions. Flags, defaults and the
 * cross-checks between flags follow pg_basebackup so that scripts can swap the binary; the
 * error texts are pg_basebackup's where they exist (lower-case, no final period). Anything
 * invalid throws InvalidOptionError; `-i`/`-t` throw NotSupportedError.
 */
import { Command, CommanderError } from 'commander';
import { InvalidOptionError, NotSupportedError } from '../errors.js';
import type { BaseBackupRunOptions, TablespaceMapping } from '../basebackup.js';
import { parseCompressionSpec } from '../archive/compression-spec.js';

export type ParsedArgs =
  | { action: 'help'; text: string }
  | { action: 'version' }
  | { action: 'run'; options: BaseBackupRunOptions };

const TRY_HELP = 'Try "pgfleet-basebackup --help" for more information.';

function invalid(message: string, hint: string = TRY_HELP): InvalidOptionError {
  return new InvalidOptionError(message, { hint });
}

const MAX_RATE_LOWER = 32;
const MAX_RATE_UPPER = 1048576;

/** -r: kB/s, with an optional "k" or "M" suffix, range 32..1048576 kB/s. */
export function parseMaxRate(src: string): number {
  const m = /^\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*([kM]?)\s*$/.exec(src);
  if (!m) {
    if (!/^\s*[0-9.]/.test(src)) throw invalid(`transfer rate "${src}" is not a valid value`);
    const suffix = src.replace(/^\s*[0-9.eE+-]+\s*/, '');
    throw invalid(`invalid --max-rate unit: "${suffix}"`);
  }
  let value = Number(m[1]);
  if (value <= 0) throw invalid('transfer rate must be greater than zero');
  if (m[2] === 'M') value *= 1024;
  value = Math.trunc(value);
  if (value > 0xffffffff) throw invalid(`transfer rate "${src}" exceeds integer range`);
  if (value < MAX_RATE_LOWER || value > MAX_RATE_UPPER) {
    throw invalid(`transfer rate "${src}" is out of range`);
  }
  return value;
}

/** -T OLDDIR=NEWDIR, with "\=" escaping a literal "=". Both sides must be absolute. */
export function parseTablespaceMapping(arg: string): TablespaceMapping {
  let oldDir = '';
  let newDir = '';
  let inNew = false;
  for (let i = 0; i < arg.length; i++) {
    const c = arg[i];
    if (c === '\\' && arg[i + 1] === '=') continue;
    if (c === '=' && (i === 0 || arg[i - 1] !== '\\')) {
      if (inNew) throw invalid('multiple "=" signs in tablespace mapping');
      inNew = true;
      continue;
    }
    if (inNew) newDir += c;
    else oldDir += c;
  }
  if (!oldDir || !newDir) {
    throw invalid(`invalid tablespace mapping format "${arg}", must be "OLDDIR=NEWDIR"`);
  }
  if (!oldDir.startsWith('/')) {
    throw invalid(`old directory is not an absolute path in tablespace mapping: ${oldDir}`);
  }
  if (!newDir.startsWith('/')) {
    throw invalid(`new directory is not an absolute path in tablespace mapping: ${newDir}`);
  }
  return { oldDir: canonicalizePath(oldDir), newDir: canonicalizePath(newDir) };
}

/** PostgreSQL's canonicalize_path for absolute POSIX paths: collapse "//", "/./", trailing "/"
 * and resolve "..", so that -T OLDDIR compares equal to the server's spclocation. */
export function canonicalizePath(p: string): string {
  const parts: string[] = [];
  for (const part of p.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') parts.pop();
    else parts.push(part);
  }
  return '/' + parts.join('/');
}

const MANIFEST_CHECKSUMS = ['NONE', 'CRC32C', 'SHA224', 'SHA256', 'SHA384', 'SHA512'] as const;

function buildProgram(): Command {
  const program = new Command('pgfleet-basebackup');
  program
    .exitOverride()
    .configureOutput({ writeErr: () => {}, writeOut: () => {} })
    .helpOption(false)
    .allowExcessArguments(true)
    .option('-D, --pgdata <directory>')
    .option('-F, --format <format>')
    .option('-r, --max-rate <rate>')
    .option('-R, --write-recovery-conf')
    .option('-t, --target <target>')
    .option('-T, --tablespace-mapping <map>', '', (v: string, prev: string[]) => [...prev, v], [] as string[])
    .option('--waldir <waldir>')
    .option('-X, --wal-method <method>')
    .option('-z, --gzip')
    .option('-Z, --compress <spec>')
    .option('-i, --incremental <manifest>')
    .option('-c, --checkpoint <mode>')
    .option('-C, --create-slot')
    .option('-l, --label <label>')
    .option('-n, --no-clean')
    .option('-N, --no-sync')
    .option('-P, --progress')
    .option('-S, --slot <slotname>')
    .option('--x-no-slot')
    .option('-v, --verbose', '', (_v: string, prev: number) => prev + 1, 0)
    .option('-V, --version')
    .option('--manifest-checksums <algorithm>')
    .option('--manifest-force-encode')
    .option('--no-estimate-size')
    .option('--no-manifest')
    .option('--no-verify-checksums')
    .option('--sync-method <method>')
    .option('-d, --dbname <connstr>')
    .option('-h, --host <hostname>')
    .option('-p, --port <port>')
    .option('-s, --status-interval <interval>')
    .option('-U, --username <name>')
    .option('--x-never-prompt')
    .option('-W, --password')
    .option('--help');
  return program;
}

export const HELP_TEXT = `pgfleet-basebackup takes a base backup of a running PostgreSQL server.
It is a drop-in replacement for pg_basebackup (same options, same output files).

Usage:
  pgfleet-basebackup [OPTION]...

Options controlling the output:
  -D, --pgdata=DIRECTORY receive base backup into directory
  -F, --format=p|t       output format (plain (default), tar)
  -r, --max-rate=RATE    maximum transfer rate to transfer data directory
                         (in kB/s, or use suffix "k" or "M")
  -R, --write-recovery-conf
                         write configuration for replication
  -T, --tablespace-mapping=OLDDIR=NEWDIR
                         relocate tablespace in OLDDIR to NEWDIR
      --waldir=WALDIR    location for the write-ahead log directory
  -X, --wal-method=none|fetch|stream
                         include required WAL files with specified method
  -z, --gzip             compress tar output
  -Z, --compress=[{client|server}-]METHOD[:DETAIL]
                         compress on client or server as specified
  -Z, --compress=none    do not compress tar output

General options:
  -c, --checkpoint=fast|spread
                         set fast or spread (default) checkpointing
  -C, --create-slot      create replication slot
  -l, --label=LABEL      set backup label
  -n, --no-clean         do not clean up after errors
  -N, --no-sync          do not wait for changes to be written safely to disk
  -P, --progress         show progress information
  -S, --slot=SLOTNAME    replication slot to use
  -v, --verbose          output verbose messages
  -V, --version          output version information, then exit
      --manifest-checksums=SHA{224,256,384,512}|CRC32C|NONE
                         use algorithm for manifest checksums
      --manifest-force-encode
                         hex encode all file names in manifest
      --no-estimate-size do not estimate backup size in server side
      --no-manifest      suppress generation of backup manifest
      --no-slot          prevent creation of temporary replication slot
      --no-verify-checksums
                         do not verify checksums
  -?, --help             show this help, then exit

Connection options:
  -d, --dbname=CONNSTR   connection string
  -h, --host=HOSTNAME    database server host or socket directory
  -p, --port=PORT        database server port number
  -s, --status-interval=INTERVAL
                         time between status packets sent to server (in seconds)
  -U, --username=NAME    connect as specified database user
  -w, --no-password      never prompt for password
  -W, --password         force password prompt (should happen automatically)

Not supported yet: -i/--incremental, -t/--target.
`;

interface RawOpts {
  pgdata?: string; format?: string; maxRate?: string; writeRecoveryConf?: boolean;
  target?: string; tablespaceMapping: string[]; waldir?: string; walMethod?: string;
  gzip?: boolean; compress?: string; incremental?: string; checkpoint?: string;
  createSlot?: boolean; label?: string; clean: boolean; sync: boolean; progress?: boolean;
  slot?: string; xNoSlot?: boolean; xNeverPrompt?: boolean; verbose: number; version?: boolean; manifestChecksums?: string;
  manifestForceEncode?: boolean; estimateSize: boolean; manifest: boolean;
  verifyChecksums: boolean; syncMethod?: string; dbname?: string; host?: string; port?: string;
  statusInterval?: string; username?: string; password?: boolean; help?: boolean;
}

/** Parses pg_basebackup's argv (without node and script). */
export function parseBaseBackupArgs(argv: string[]): ParsedArgs {
  if (argv.includes('-?') || argv.includes('--help')) return { action: 'help', text: HELP_TEXT };
  if (argv[0] === '-V' || argv[0] === '--version') return { action: 'version' };
  const program = buildProgram();
  // --no-slot and -S, -w and -W share a name in commander's model; give the negations their
  // own internal names so that both can be seen and checked against each other.
  const rewritten = argv.map((a) => (a === '--no-slot' ? '--x-no-slot'
    : a === '-w' || a === '--no-password' ? '--x-never-prompt' : a));
  try {
    program.parse(rewritten, { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) {
      throw invalid(err.message.replace(/^error: /, '').replace(/'/g, '"'));
    }
    throw err;
  }
  const o = program.opts() as RawOpts;
  if (o.version) return { action: 'version' };
  if (program.args.length > 0) {
    throw invalid(`too many command-line arguments (first is "${program.args[0]}")`);
  }
  if (o.incremental !== undefined) {
    throw new NotSupportedError('incremental backups (-i/--incremental) are not supported yet', {
      hint: 'Take a full backup, or use pg_basebackup for incremental backups.',
    });
  }
  if (o.target !== undefined) {
    throw new NotSupportedError('backup targets (-t/--target) are not supported yet', {
      hint: 'Write the backup to a directory with -D instead.',
    });
  }
  if (o.pgdata === undefined || o.pgdata === '') throw invalid('no target directory specified');

  let format: 'plain' | 'tar' = 'plain';
  if (o.format !== undefined) {
    if (o.format === 'p' || o.format === 'plain') format = 'plain';
    else if (o.format === 't' || o.format === 'tar') format = 'tar';
    else throw invalid(`invalid output format "${o.format}", must be "plain" or "tar"`);
  }

  let walMethod: 'none' | 'fetch' | 'stream' = 'stream';
  if (o.walMethod !== undefined) {
    const m = o.walMethod;
    if (m === 'n' || m === 'none') walMethod = 'none';
    else if (m === 'f' || m === 'fetch') walMethod = 'fetch';
    else if (m === 's' || m === 'stream') walMethod = 'stream';
    else throw invalid(`invalid wal-method option "${m}", must be "fetch", "stream", or "none"`);
  }

  let checkpoint: 'fast' | 'spread' = 'spread';
  if (o.checkpoint !== undefined) {
    if (o.checkpoint === 'fast' || o.checkpoint === 'spread') checkpoint = o.checkpoint;
    else throw invalid(`invalid checkpoint argument "${o.checkpoint}", must be "fast" or "spread"`);
  }

  // -z is "client gzip at the default level"; -Z takes pg_basebackup's compression spec.
  // The last of -z/-Z wins, as with getopt.
  let compressArg: string | null = null;
  for (const a of argv) {
    if (a === '-z' || a === '--gzip') compressArg = 'gzip';
    else if (a.startsWith('-Z') || a.startsWith('--compress')) compressArg = o.compress ?? null;
  }
  const compression = parseCompressionSpec(compressArg ?? 'none');
  if (format === 'plain' && compression.location === 'client' && compression.method !== 'none') {
    throw invalid('only tar mode backups can be compressed');
  }

  const toStdout = o.pgdata === '-';
  if (toStdout && format === 'plain') {
    throw invalid('cannot write to standard output in plain format', 'Use -F tar to write a tar archive to standard output.');
  }
  if (toStdout && format === 'tar' && walMethod === 'stream') {
    throw invalid('cannot stream write-ahead logs in tar mode to stdout',
      'Use -X none or -X fetch to disable log streaming.');
  }

  const slot = o.slot ?? null;
  const noSlot = Boolean(o.xNoSlot);
  if (slot !== null && walMethod !== 'stream') {
    throw invalid('replication slots can only be used with WAL streaming');
  }
  if (noSlot && slot !== null) throw invalid('--no-slot cannot be used with slot name');
  if (o.createSlot) {
    if (slot === null) throw invalid('--create-slot needs a slot to be specified using --slot');
    if (noSlot) throw invalid('--create-slot and --no-slot are incompatible options');
  }
  if (slot !== null && !/^[a-z0-9_]{1,63}$/.test(slot)) {
    throw invalid(`replication slot name "${slot}" is invalid`,
      'Replication slot names may only contain lower case letters, numbers, and the underscore character, and have at most 63 characters.');
  }

  if (o.waldir !== undefined) {
    if (format !== 'plain') throw invalid('WAL directory location can only be specified in plain mode');
    if (!o.waldir.startsWith('/')) throw invalid('WAL directory location must be an absolute path');
  }

  if (o.progress && !o.estimateSize) {
    throw invalid('--progress and --no-estimate-size are incompatible options');
  }
  if (!o.manifest && o.manifestChecksums !== undefined) {
    throw invalid('--no-manifest and --manifest-checksums are incompatible options');
  }
  if (!o.manifest && o.manifestForceEncode) {
    throw invalid('--no-manifest and --manifest-force-encode are incompatible options');
  }
  let manifestChecksums: BaseBackupRunOptions['manifestChecksums'] = 'CRC32C';
  if (o.manifestChecksums !== undefined) {
    const up = o.manifestChecksums.toUpperCase();
    const found = MANIFEST_CHECKSUMS.find((a) => a === up);
    if (!found) throw invalid(`invalid checksum algorithm "${o.manifestChecksums}"`);
    manifestChecksums = found;
  }
  if (o.syncMethod !== undefined && o.syncMethod !== 'fsync' && o.syncMethod !== 'syncfs') {
    throw invalid(`unrecognized sync method: ${o.syncMethod}`);
  }

  let statusIntervalSec = 10;
  if (o.statusInterval !== undefined) {
    const n = Number(o.statusInterval);
    if (!/^\s*[0-9]+\s*$/.test(o.statusInterval) || !Number.isSafeInteger(n) || n > 2147483) {
      throw invalid(`-s/--status-interval must be in range 0..2147483`);
    }
    statusIntervalSec = n;
  }

  let port: number | undefined;
  if (o.port !== undefined) {
    port = Number(o.port);
    if (!/^[0-9]+$/.test(o.port) || port < 1 || port > 65535) {
      throw invalid(`invalid port number: "${o.port}"`);
    }
  }

  const tablespaceMappings = o.tablespaceMapping.map(parseTablespaceMapping);

  return {
    action: 'run',
    options: {
      connection: {
        ...(o.dbname !== undefined ? { connectionString: o.dbname } : {}),
        ...(o.host !== undefined ? { host: o.host } : {}),
        ...(port !== undefined ? { port } : {}),
        ...(o.username !== undefined ? { user: o.username } : {}),
      },
      passwordPrompt: o.xNeverPrompt ? 'never' : o.password ? 'force' : 'auto',
      pgdata: o.pgdata,
      format,
      walMethod,
      slot,
      createSlot: Boolean(o.createSlot),
      temporarySlot: walMethod === 'stream' && !noSlot && slot === null,
      compression,
      writeRecoveryConf: Boolean(o.writeRecoveryConf),
      tablespaceMappings,
      waldir: o.waldir ?? null,
      checkpoint,
      label: o.label ?? 'pg_basebackup base backup',
      noClean: !o.clean,
      sync: o.sync,
      progress: Boolean(o.progress),
      estimateSize: o.estimateSize,
      maxRateKbPerSec: o.maxRate !== undefined ? parseMaxRate(o.maxRate) : null,
      statusIntervalSec,
      verbose: o.verbose,
      manifest: o.manifest,
      manifestChecksums,
      manifestForceEncode: Boolean(o.manifestForceEncode),
      verifyChecksums: o.verifyChecksums,
    },
  };
}
