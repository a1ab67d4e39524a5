/**
 * pg_basebackup 17's command line, parsed into its flags (BaseBackupFlags), and the flags
 * mapped onto the backup engine's options (runOptionsFromFlags). Scanning is getopt_long's
 * (see getopt.ts); each option is checked as pg_basebackup's switch checks it, in the order
 * given, then the cross-checks run in pg_basebackup's order, so that the first mistake of a bad
 * command line is the one pg_basebackup reports, in its words, with its hint ("Try ... --help")
 * exactly where it gives one. `--help`/`-?` and `--version`/`-V` count only as the first
 * argument, as there. Anything invalid throws InvalidOptionError (GetoptComplaint for what
 * getopt itself rejects); `-i` throws NotSupportedError.
 */
import { InvalidOptionError, NotSupportedError } from '../errors.js';
import type { BackupDestination, BackupReporter, BackupTarget, BaseBackupRunOptions, ManifestChecksums } from '../basebackup.js';
import { canonicalizePath, parseTablespaceMapping, type TablespaceMapping } from '../tablespace-mapping.js';
import { parseCompressionSpec, type CompressionSpec } from '../archive/compression-spec.js';
import { GetoptComplaint, getoptLong, type LongOption } from './getopt.js';
import { tryHelpHint } from './program.js';

/** pg_basebackup's flags, as given (defaults are pg_basebackup's). */
export interface BaseBackupFlags {
  connection: BaseBackupRunOptions['connection'];
  /** -w: 'never', -W: 'force', else 'auto'. */
  passwordPrompt: 'never' | 'force' | 'auto';
  /** -D; '-' is standard output; '' with -t. */
  pgdata: string;
  /** -t NAME[:DETAIL]. */
  target: BackupTarget | null;
  format: 'plain' | 'tar';
  walMethod: 'none' | 'fetch' | 'stream';
  slot: string | null;
  createSlot: boolean;
  temporarySlot: boolean;
  compression: CompressionSpec;
  writeRecoveryConf: boolean;
  tablespaceMappings: TablespaceMapping[];
  waldir: string | null;
  checkpoint: 'fast' | 'spread';
  label: string;
  noClean: boolean;
  sync: boolean;
  progress: boolean;
  estimateSize: boolean;
  maxRateKbPerSec: number | null;
  statusIntervalSec: number;
  verbose: number;
  manifest: boolean;
  manifestChecksums: ManifestChecksums;
  manifestForceEncode: boolean;
  verifyChecksums: boolean;
}

export type ParsedArgs =
  | { action: 'help' }
  | { action: 'version' }
  | { action: 'run'; options: BaseBackupFlags };

/** Where pg_basebackup's -D / -F / -t / -T / --waldir / -N / -n put the backup. */
function destinationFromFlags(flags: BaseBackupFlags): BackupDestination {
  if (flags.target !== null) return { kind: 'server', target: flags.target };
  if (flags.pgdata === '-') return { kind: 'stdout' };
  return {
    kind: 'directory', path: flags.pgdata, format: flags.format, tablespaceMappings: flags.tablespaceMappings,
    waldir: flags.waldir, sync: flags.sync, noClean: flags.noClean,
  };
}

/** The engine's options for pg_basebackup's flags. */
export function runOptionsFromFlags(flags: BaseBackupFlags): BaseBackupRunOptions {
  return {
    connection: flags.connection,
    passwordPrompt: flags.passwordPrompt,
    destination: destinationFromFlags(flags),
    walMethod: flags.walMethod,
    slot: flags.slot,
    createSlot: flags.createSlot,
    temporarySlot: flags.temporarySlot,
    compression: flags.compression,
    writeRecoveryConf: flags.writeRecoveryConf,
    checkpoint: flags.checkpoint,
    label: flags.label,
    // pg_basebackup asks for estimates only to show progress.
    estimateSize: flags.progress && flags.estimateSize,
    maxRateKbPerSec: flags.maxRateKbPerSec,
    statusIntervalSec: flags.statusIntervalSec,
    manifest: flags.manifest ? { checksums: flags.manifestChecksums, forceEncode: flags.manifestForceEncode } : null,
    verifyChecksums: flags.verifyChecksums,
  };
}

/**
 * What pg_basebackup prints for these flags: milestones with -v, progress with -P, "waiting
 * for checkpoint" with -P and without -v. `print` writes one message; `progress` one line.
 */
export function reporterForFlags(
  flags: BaseBackupFlags, print: (message: string) => void,
  progressLine: (state: Parameters<NonNullable<BackupReporter['progress']>>[0], final: boolean) => void, waiting: () => void,
): BackupReporter {
  return {
    info: print,
    ...(flags.verbose > 0 ? { verbose: print } : {}),
    ...(flags.progress ? { progress: progressLine } : {}),
    ...(flags.progress && flags.verbose === 0 ? { waitingForCheckpoint: waiting } : {}),
  };
}

/** How the program was started: its name (for messages) and argv[0] (for getopt's). */
export interface ProgramIdentity {
  name: string;
  argv0: string;
}

const DEFAULT_PROGRAM: ProgramIdentity = { name: 'pgfleet-basebackup', argv0: 'pgfleet-basebackup' };

/** An error pg_basebackup reports with pg_log_error alone (pg_fatal and friends: no hint). */
function invalid(message: string): InvalidOptionError {
  return new InvalidOptionError(message);
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

/** -T and --waldir: one parser and one canonicalization for every program (tablespace-mapping.ts). */
export { canonicalizePath, parseTablespaceMapping } from '../tablespace-mapping.js';

const MANIFEST_CHECKSUMS = ['NONE', 'CRC32C', 'SHA224', 'SHA256', 'SHA384', 'SHA512'] as const;

/** getopt_long's table, in pg_basebackup 17's order (abbreviations and "ambiguous" lists follow it). */
const LONG_OPTIONS: readonly LongOption[] = [
  { name: 'help', hasArg: false, key: '?' },
  { name: 'version', hasArg: false, key: 'V' },
  { name: 'pgdata', hasArg: true, key: 'D' },
  { name: 'format', hasArg: true, key: 'F' },
  { name: 'incremental', hasArg: true, key: 'i' },
  { name: 'checkpoint', hasArg: true, key: 'c' },
  { name: 'create-slot', hasArg: false, key: 'C' },
  { name: 'max-rate', hasArg: true, key: 'r' },
  { name: 'write-recovery-conf', hasArg: false, key: 'R' },
  { name: 'slot', hasArg: true, key: 'S' },
  { name: 'target', hasArg: true, key: 't' },
  { name: 'tablespace-mapping', hasArg: true, key: 'T' },
  { name: 'wal-method', hasArg: true, key: 'X' },
  { name: 'gzip', hasArg: false, key: 'z' },
  { name: 'compress', hasArg: true, key: 'Z' },
  { name: 'label', hasArg: true, key: 'l' },
  { name: 'no-clean', hasArg: false, key: 'n' },
  { name: 'no-sync', hasArg: false, key: 'N' },
  { name: 'dbname', hasArg: true, key: 'd' },
  { name: 'host', hasArg: true, key: 'h' },
  { name: 'port', hasArg: true, key: 'p' },
  { name: 'username', hasArg: true, key: 'U' },
  { name: 'no-password', hasArg: false, key: 'w' },
  { name: 'password', hasArg: false, key: 'W' },
  { name: 'status-interval', hasArg: true, key: 's' },
  { name: 'verbose', hasArg: false, key: 'v' },
  { name: 'progress', hasArg: false, key: 'P' },
  { name: 'waldir', hasArg: true, key: 'waldir' },
  { name: 'no-slot', hasArg: false, key: 'no-slot' },
  { name: 'no-verify-checksums', hasArg: false, key: 'no-verify-checksums' },
  { name: 'no-estimate-size', hasArg: false, key: 'no-estimate-size' },
  { name: 'no-manifest', hasArg: false, key: 'no-manifest' },
  { name: 'manifest-force-encode', hasArg: false, key: 'manifest-force-encode' },
  { name: 'manifest-checksums', hasArg: true, key: 'manifest-checksums' },
  { name: 'sync-method', hasArg: true, key: 'sync-method' },
];
const SHORT_OPTIONS = 'c:Cd:D:F:h:i:l:nNp:Pr:Rs:S:t:T:U:vwWX:zZ:';

/** pg_basebackup's usage(), for the name it was started under. */
export function helpText(prog: string): string {
  return `${prog} takes a base backup of a running PostgreSQL server.

Usage:
  ${prog} [OPTION]...

Options controlling the output:
  -D, --pgdata=DIRECTORY receive base backup into directory
  -F, --format=p|t       output format (plain (default), tar)
  -i, --incremental=OLDMANIFEST
                         take incremental backup (not supported by pgfleet)
  -r, --max-rate=RATE    maximum transfer rate to transfer data directory
                         (in kB/s, or use suffix "k" or "M")
  -R, --write-recovery-conf
                         write configuration for replication
  -t, --target=TARGET[:DETAIL]
                         backup target (if other than client)
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
      --sync-method=METHOD
                         set method for syncing files to disk
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

${prog} is pgfleet's pg_basebackup: same options, same files (see its README).
`;
}

/** C's strtol(text, &end, 10) followed by "only white space may follow": the value, or null. */
function cInteger(text: string): number | null {
  const m = /^[ \t\n\v\f\r]*([+-]?[0-9]+)/.exec(text);
  // Without digits strtol stops at the very start: then the whole text must be blank (value 0).
  const rest = m ? text.slice(m[0].length) : text;
  if (!/^[ \t\n\v\f\r]*$/.test(rest)) return null;
  return m ? Number(m[1]) : 0;
}

/** option_parse_int(): -s/--status-interval in 0..INT_MAX/1000 seconds. */
function parseStatusInterval(text: string): number {
  const n = cInteger(text);
  const option = '-s/--status-interval';
  if (n === null) throw invalid(`invalid value "${text}" for option ${option}`);
  if (n < 0 || n > 2147483) throw invalid(`${option} must be in range 0..2147483`);
  return n;
}

/** libpq's port check: an integer (blanks around it allowed), 1..65535; empty means default. */
function parsePort(text: string): number | undefined {
  if (text === '') return undefined;
  const m = /^[ \t\n\v\f\r]*([+-]?[0-9]+)[ \t\n\v\f\r]*$/.exec(text);
  const n = m ? Number(m[1]) : NaN;
  if (!m || !Number.isSafeInteger(n) || n < -2147483648 || n > 2147483647) {
    throw invalid(`invalid integer value "${text}" for connection option "port"`);
  }
  if (n < 1 || n > 65535) throw invalid(`invalid port number: "${text}"`);
  return n;
}

/**
 * Parses pg_basebackup's argv (without node and script). `program` names the command in
 * messages; `env` is consulted for POSIXLY_CORRECT, as getopt does.
 */
export function parseBaseBackupArgs(
  argv: readonly string[],
  program: ProgramIdentity = DEFAULT_PROGRAM,
  env: NodeJS.ProcessEnv = process.env,
): ParsedArgs {
  if (argv[0] === '--help' || argv[0] === '-?') return { action: 'help' };
  if (argv[0] === '--version' || argv[0] === '-V') return { action: 'version' };
  const tryHelp = tryHelpHint(program.name);
  const usage = (message: string) => new InvalidOptionError(message, { hint: tryHelp });

  let pgdata: string | null = null;
  let format: 'plain' | 'tar' | null = null;
  let incremental: string | null = null;
  let fast = false;
  let createSlot = false;
  let maxRate: number | null = null;
  let writeRecoveryConf = false;
  let slot: string | null = null;
  let target: string | null = null;
  const tablespaceMappings: TablespaceMapping[] = [];
  let walMethod: 'none' | 'fetch' | 'stream' = 'stream';
  let compressArg: string | null = null;
  let label = 'pg_basebackup base backup';
  let noClean = false;
  let sync = true;
  let dbname: string | undefined;
  let host: string | undefined;
  let port: string | undefined;
  let username: string | undefined;
  let passwordPrompt: BaseBackupFlags['passwordPrompt'] = 'auto';
  let statusIntervalSec = 10;
  let verbose = 0;
  let progress = false;
  let waldir: string | null = null;
  let noSlot = false;
  let verifyChecksums = true;
  let estimateSize = true;
  let manifest = true;
  let manifestForceEncode = false;
  let manifestChecksumsArg: string | null = null;

  const operands: string[] = [];
  const scan = getoptLong(argv, { short: SHORT_OPTIONS, long: LONG_OPTIONS },
    { argv0: program.argv0, posixlyCorrect: env['POSIXLY_CORRECT'] !== undefined }, operands);
  for (const item of scan) {
    if (item.kind === 'error') throw new GetoptComplaint(item.complaint, tryHelp);
    const value = item.value ?? '';
    switch (item.key) {
      case 'c':
        if (value.toLowerCase() === 'fast') fast = true;
        else if (value.toLowerCase() === 'spread') fast = false;
        else throw invalid(`invalid checkpoint argument "${value}", must be "fast" or "spread"`);
        break;
      case 'C': createSlot = true; break;
      case 'd': dbname = value; break;
      case 'D': pgdata = value; break;
      case 'F':
        if (value === 'p' || value === 'plain') format = 'plain';
        else if (value === 't' || value === 'tar') format = 'tar';
        else throw invalid(`invalid output format "${value}", must be "plain" or "tar"`);
        break;
      case 'h': host = value; break;
      case 'i': incremental = value; break;
      case 'l': label = value; break;
      case 'n': noClean = true; break;
      case 'N': sync = false; break;
      case 'p': port = value; break;
      case 'P': progress = true; break;
      case 'r': maxRate = parseMaxRate(value); break;
      case 'R': writeRecoveryConf = true; break;
      case 's': statusIntervalSec = parseStatusInterval(value); break;
      case 'S': slot = value; break;
      case 't': target = value; break;
      case 'T': tablespaceMappings.push(parseTablespaceMapping(value)); break;
      case 'U': username = value; break;
      case 'v': verbose++; break;
      case 'w': passwordPrompt = 'never'; break;
      case 'W': passwordPrompt = 'force'; break;
      case 'X':
        if (value === 'n' || value === 'none') walMethod = 'none';
        else if (value === 'f' || value === 'fetch') walMethod = 'fetch';
        else if (value === 's' || value === 'stream') walMethod = 'stream';
        else throw invalid(`invalid wal-method option "${value}", must be "fetch", "stream", or "none"`);
        break;
      case 'z': compressArg = 'gzip'; break;
      case 'Z': compressArg = value; break;
      case 'waldir': waldir = value; break;
      case 'no-slot': noSlot = true; break;
      case 'no-verify-checksums': verifyChecksums = false; break;
      case 'no-estimate-size': estimateSize = false; break;
      case 'no-manifest': manifest = false; break;
      case 'manifest-force-encode': manifestForceEncode = true; break;
      case 'manifest-checksums': manifestChecksumsArg = value; break;
      case 'sync-method':
        if (value !== 'fsync' && value !== 'syncfs') throw invalid(`unrecognized sync method: ${value}`);
        break;
      default:
        // --help or --version after the first argument: getopt accepts them, the switch does not.
        throw new GetoptComplaint(null, tryHelp);
    }
  }

  if (operands.length > 0) throw usage(`too many command-line arguments (first is "${operands[0]}")`);
  if (target === 'client') target = null;
  if (target !== null && format !== null) throw usage('cannot specify both format and backup target');
  const outputFormat = format ?? 'plain';
  if (pgdata === null && target === null) throw usage('must specify output directory or backup target');
  if (pgdata !== null && target !== null) throw usage('cannot specify both output directory and backup target');

  const compression = parseCompressionSpec(compressArg ?? 'none', { target: target !== null });
  const clientCompressed = compression.location === 'client' && compressArg !== null;
  if (target !== null && clientCompressed) {
    throw usage('client-side compression is not possible when a backup target is specified');
  }
  if (outputFormat === 'plain' && compression.location === 'client' && compression.method !== 'none') {
    throw usage('only tar mode backups can be compressed');
  }
  if (target !== null && walMethod === 'stream') throw usage('WAL cannot be streamed when a backup target is specified');
  if (outputFormat === 'tar' && walMethod === 'stream' && pgdata === '-') {
    throw usage('cannot stream write-ahead logs in tar mode to stdout');
  }
  if (slot !== null && walMethod !== 'stream') throw usage('replication slots can only be used with WAL streaming');
  if (noSlot && slot !== null) throw usage('--no-slot cannot be used with slot name');
  if (createSlot) {
    if (slot === null) throw usage('--create-slot needs a slot to be specified using --slot');
    if (noSlot) throw usage('--create-slot and --no-slot are incompatible options');
  }
  if (waldir !== null) {
    if (target !== null) throw usage('WAL directory location cannot be specified along with a backup target');
    if (outputFormat !== 'plain') throw usage('WAL directory location can only be specified in plain mode');
    waldir = canonicalizePath(waldir);
    if (!waldir.startsWith('/')) throw usage('WAL directory location must be an absolute path');
  }
  if (progress && !estimateSize) throw usage('--progress and --no-estimate-size are incompatible options');
  if (!manifest && manifestChecksumsArg !== null) throw usage('--no-manifest and --manifest-checksums are incompatible options');
  if (!manifest && manifestForceEncode) throw usage('--no-manifest and --manifest-force-encode are incompatible options');
  if (incremental !== null) {
    throw new NotSupportedError('incremental backups (-i/--incremental) are not supported yet', {
      hint: 'Take a full backup, or use pg_basebackup for incremental backups.',
    });
  }
  if (pgdata === '-' && outputFormat === 'plain') {
    throw new InvalidOptionError('cannot write to standard output in plain format', {
      hint: 'Use -F tar to write a tar archive to standard output.',
    });
  }
  // What libpq would refuse when connecting.
  const portNumber = port === undefined ? undefined : parsePort(port);

  let manifestChecksums: ManifestChecksums = 'CRC32C';
  if (manifestChecksumsArg !== null) {
    const up = manifestChecksumsArg.toUpperCase();
    const found = MANIFEST_CHECKSUMS.find((a) => a === up);
    // The server names an unknown algorithm itself ("unrecognized checksum algorithm"): pass it on.
    manifestChecksums = found ?? (manifestChecksumsArg as ManifestChecksums);
  }

  let backupTarget: BackupTarget | null = null;
  if (target !== null) {
    const colon = target.indexOf(':');
    backupTarget = colon < 0 ? { name: target, detail: null } : { name: target.slice(0, colon), detail: target.slice(colon + 1) };
  }

  return {
    action: 'run',
    options: {
      connection: {
        ...(dbname !== undefined ? { connectionString: dbname } : {}),
        ...(host !== undefined ? { host } : {}),
        ...(portNumber !== undefined ? { port: portNumber } : {}),
        ...(username !== undefined ? { user: username } : {}),
      },
      passwordPrompt,
      pgdata: pgdata ?? '',
      target: backupTarget,
      format: outputFormat,
      walMethod,
      slot,
      createSlot,
      temporarySlot: walMethod === 'stream' && !noSlot && slot === null,
      compression,
      writeRecoveryConf,
      tablespaceMappings,
      waldir,
      checkpoint: fast ? 'fast' : 'spread',
      label,
      noClean,
      sync,
      progress,
      estimateSize,
      maxRateKbPerSec: maxRate,
      statusIntervalSec,
      verbose,
      manifest,
      manifestChecksums,
      manifestForceEncode,
      verifyChecksums,
    },
  };
}
