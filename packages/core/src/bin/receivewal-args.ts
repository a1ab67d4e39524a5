/**
 * pg_receivewal 17's command line, parsed into ReceiveWalArgs with pg_receivewal's own rules and
 * texts: getopt_long's scanning and complaints (getopt.ts), then each option checked as
 * pg_receivewal's switch checks it, in the order given, then the cross-checks in pg_receivewal's
 * order. What each refusal prints follows pg_receivewal:
 * - a getopt mistake: getopt's line (GetoptComplaint), then the "Try --help" hint;
 * - --help/--version anywhere but first (getopt returns them as options pg_receivewal's switch
 *   does not handle): only the hint;
 * - a bad -E or -s value, a bad compression: only the error line (InvalidOptionError, no hint);
 * - a conflict between options, a missing directory, extra arguments: the error and the hint.
 * `--help`/`-?` and `--version`/`-V` count only as the first argument, as in PostgreSQL.
 */

import { parseCompressionDetail, type CompressionMethod } from '../archive/compression-spec.js';
import { InvalidOptionError } from '../errors.js';
import type { Lsn } from '../wal/lsn.js';
import { GetoptComplaint, getoptLong, type LongOption } from './getopt.js';
import { tryHelpHint } from './program.js';

export interface ReceiveWalArgs {
  connection: { connectionString?: string; host?: string; port?: string; user?: string };
  /** -w never, -W force (ask before connecting), else auto. */
  passwordPrompt: 'never' | 'force' | 'auto';
  /** -D; null only with --create-slot / --drop-slot. */
  directory: string | null;
  /** -E: stop once the WAL at this position has been received; null streams for ever. */
  endPosition: Lsn | null;
  action: 'stream' | 'create-slot' | 'drop-slot';
  ifNotExists: boolean;
  /** -n turns it off: reconnect after a lost connection. */
  loop: boolean;
  /** --no-sync turns it off. */
  sync: boolean;
  synchronous: boolean;
  statusIntervalSec: number;
  slot: string | null;
  verbose: number;
  compression: { method: Exclude<CompressionMethod, 'zstd'>; level: number };
}

export type ParsedReceiveWalArgs =
  | { action: 'help' }
  | { action: 'version' }
  | { action: 'run'; args: ReceiveWalArgs };

/** How the program was started: its name (for messages) and argv[0] (for getopt's). */
export interface ReceiveWalProgram {
  name: string;
  argv0: string;
}

const DEFAULT_PROGRAM: ReceiveWalProgram = { name: 'pgfleet-receivewal', argv0: 'pgfleet-receivewal' };

const SHORT_OPTIONS = 'd:D:E:h:np:s:S:U:vwWZ:';

const LONG_OPTIONS: readonly LongOption[] = [
  { name: 'help', hasArg: false, key: '?' },
  { name: 'version', hasArg: false, key: 'V' },
  { name: 'directory', hasArg: true, key: 'D' },
  { name: 'dbname', hasArg: true, key: 'd' },
  { name: 'endpos', hasArg: true, key: 'E' },
  { name: 'host', hasArg: true, key: 'h' },
  { name: 'port', hasArg: true, key: 'p' },
  { name: 'username', hasArg: true, key: 'U' },
  { name: 'no-loop', hasArg: false, key: 'n' },
  { name: 'no-password', hasArg: false, key: 'w' },
  { name: 'password', hasArg: false, key: 'W' },
  { name: 'status-interval', hasArg: true, key: 's' },
  { name: 'slot', hasArg: true, key: 'S' },
  { name: 'verbose', hasArg: false, key: 'v' },
  { name: 'compress', hasArg: true, key: 'Z' },
  { name: 'create-slot', hasArg: false, key: 'create-slot' },
  { name: 'drop-slot', hasArg: false, key: 'drop-slot' },
  { name: 'if-not-exists', hasArg: false, key: 'if-not-exists' },
  { name: 'synchronous', hasArg: false, key: 'synchronous' },
  { name: 'no-sync', hasArg: false, key: 'no-sync' },
];

/** The largest -s: INT_MAX milliseconds, in seconds. */
const MAX_STATUS_INTERVAL = 2147483;

/** An error pg_receivewal reports with pg_log_error alone (pg_fatal: no hint). */
function plain(message: string): InvalidOptionError {
  return new InvalidOptionError(message);
}

/** One `%X` of sscanf: optional blanks, sign and 0x, hex digits; the value wraps at 32 bits. */
function scanHex(text: string, at: number): { value: bigint; end: number } | null {
  const m = /^[ \t\n\v\f\r]*([+-]?)(?:0[xX](?=[0-9a-fA-F]))?([0-9a-fA-F]+)/.exec(text.slice(at));
  if (m === null) return null;
  let value = BigInt(`0x${m[2] as string}`);
  if (value > 0xFFFF_FFFFn) value = 0xFFFF_FFFFn; // strtoul saturates
  if (m[1] === '-') value = (0x1_0000_0000n - value) & 0xFFFF_FFFFn;
  return { value, end: at + m[0].length };
}

/** -E as pg_receivewal reads it: sscanf("%X/%X"), so trailing text is ignored. */
export function parseEndPosition(text: string): Lsn | null {
  const hi = scanHex(text, 0);
  if (hi === null || text[hi.end] !== '/') return null;
  const lo = scanHex(text, hi.end + 1);
  if (lo === null) return null;
  return (hi.value << 32n) | lo.value;
}

/** option_parse_int: a decimal integer, blanks around it allowed, within the range. */
function parseStatusInterval(text: string): number {
  // strtol reads nothing from blanks only (0, accepted); a sign needs digits.
  const m = /^[ \t\n\v\f\r]*(?:([+-]?\d+)[ \t\n\v\f\r]*)?$/.exec(text);
  if (m === null) throw plain(`invalid value "${text}" for option -s/--status-interval`);
  const value = m[1] === undefined ? 0 : Number(m[1]);
  if (value < 0 || value > MAX_STATUS_INTERVAL) {
    throw plain(`-s/--status-interval must be in range 0..${MAX_STATUS_INTERVAL}`);
  }
  return value;
}

/**
 * -Z METHOD[:DETAIL], or a bare integer (0 = none, otherwise a gzip level), as
 * parse_compress_options splits it; then the method and the detail are validated.
 */
function parseCompression(option: string): ReceiveWalArgs['compression'] {
  let method: string;
  let detail: string | null;
  // strtol consuming the whole option: digits (after blanks and a sign), or nothing at all.
  if (option === '' || /^[ \t\n\v\f\r]*[+-]?\d+$/.test(option)) {
    const n = option === '' ? 0 : Number.parseInt(option, 10);
    [method, detail] = n === 0 ? ['none', null] : ['gzip', option];
  } else {
    const colon = option.indexOf(':');
    [method, detail] = colon < 0 ? [option, null] : [option.slice(0, colon), option.slice(colon + 1)];
  }
  if (method !== 'none' && method !== 'gzip' && method !== 'lz4' && method !== 'zstd') {
    throw plain(`unrecognized compression algorithm: "${method}"`);
  }
  let level: number;
  try {
    level = parseCompressionDetail(method, detail).level;
  } catch (err) {
    throw plain((err as Error).message);
  }
  if (method === 'zstd') throw plain('compression with ZSTD is not yet supported');
  return { method, level };
}

/** Parses pg_receivewal's argv (without node and the script). Throws InvalidOptionError. */
export function parseReceiveWalArgs(argv: readonly string[], program: ReceiveWalProgram = DEFAULT_PROGRAM,
  env: NodeJS.ProcessEnv = process.env): ParsedReceiveWalArgs {
  const first = argv[0];
  if (first === '--help' || first === '-?') return { action: 'help' };
  if (first === '-V' || first === '--version') return { action: 'version' };
  const tryHelp = tryHelpHint(program.name);
  const usage = (message: string) => new InvalidOptionError(message, { hint: tryHelp });

  const operands: string[] = [];
  const scan = getoptLong(argv, { short: SHORT_OPTIONS, long: LONG_OPTIONS },
    { argv0: program.argv0, posixlyCorrect: env['POSIXLY_CORRECT'] !== undefined }, operands);
  const connection: ReceiveWalArgs['connection'] = {};
  let passwordPrompt: ReceiveWalArgs['passwordPrompt'] = 'auto';
  let directory: string | null = null;
  let endPosition: Lsn | null = null;
  let createSlot = false;
  let dropSlot = false;
  let ifNotExists = false;
  let loop = true;
  let sync = true;
  let synchronous = false;
  let statusIntervalSec = 10;
  let slot: string | null = null;
  let verbose = 0;
  let compressionText = 'none';
  for (const item of scan) {
    if (item.kind === 'error') throw new GetoptComplaint(item.complaint, tryHelp);
    const arg = item.value ?? '';
    switch (item.key) {
      case 'd': connection.connectionString = arg; break;
      case 'D': directory = arg; break;
      case 'E': {
        const lsn = parseEndPosition(arg);
        if (lsn === null) throw plain(`could not parse end position "${arg}"`);
        endPosition = lsn;
        break;
      }
      case 'h': connection.host = arg; break;
      case 'n': loop = false; break;
      case 'p': connection.port = arg; break;
      case 's': statusIntervalSec = parseStatusInterval(arg); break;
      case 'S': slot = arg; break;
      case 'U': connection.user = arg; break;
      case 'v': verbose++; break;
      case 'w': passwordPrompt = 'never'; break;
      case 'W': passwordPrompt = 'force'; break;
      case 'Z': compressionText = arg; break;
      case 'create-slot': createSlot = true; break;
      case 'drop-slot': dropSlot = true; break;
      case 'if-not-exists': ifNotExists = true; break;
      case 'synchronous': synchronous = true; break;
      case 'no-sync': sync = false; break;
      default:
        // --help and --version after the first argument: pg_receivewal's switch has no case
        // for them and prints only the hint.
        throw new GetoptComplaint(null, tryHelp);
    }
  }
  const extra = operands[0];
  if (extra !== undefined) throw usage(`too many command-line arguments (first is "${extra}")`);
  if (dropSlot && createSlot) throw usage('cannot use --create-slot together with --drop-slot');
  if (slot === null && (dropSlot || createSlot)) {
    throw usage(`${dropSlot ? '--drop-slot' : '--create-slot'} needs a slot to be specified using --slot`);
  }
  if (synchronous && !sync) throw usage('cannot use --synchronous together with --no-sync');
  if (directory === null && !dropSlot && !createSlot) throw usage('no target directory specified');
  const compression = parseCompression(compressionText);
  return {
    action: 'run',
    args: {
      connection,
      passwordPrompt,
      directory,
      endPosition,
      action: dropSlot ? 'drop-slot' : createSlot ? 'create-slot' : 'stream',
      ifNotExists,
      loop,
      sync,
      synchronous,
      statusIntervalSec,
      slot,
      verbose,
      compression,
    },
  };
}

/** pg_receivewal's usage text, for `prog`. */
export function receiveWalHelp(prog: string): string {
  return `${prog} receives PostgreSQL streaming write-ahead logs.

Usage:
  ${prog} [OPTION]...

Options:
  -D, --directory=DIR    receive write-ahead log files into this directory
  -E, --endpos=LSN       exit after receiving the specified LSN
      --if-not-exists    do not error if slot already exists when creating a slot
  -n, --no-loop          do not loop on connection lost
      --no-sync          do not wait for changes to be written safely to disk
  -s, --status-interval=SECS
                         time between status packets sent to server (default: 10)
  -S, --slot=SLOTNAME    replication slot to use
      --synchronous      flush write-ahead log immediately after writing
  -v, --verbose          output verbose messages
  -V, --version          output version information, then exit
  -Z, --compress=METHOD[:DETAIL]
                         compress as specified
  -?, --help             show this help, then exit

Connection options:
  -d, --dbname=CONNSTR   connection string
  -h, --host=HOSTNAME    database server host or socket directory
  -p, --port=PORT        database server port number
  -U, --username=NAME    connect as specified database user
  -w, --no-password      never prompt for password
  -W, --password         force password prompt (should happen automatically)

Optional actions:
      --create-slot      create a new replication slot (for the slot's name see --slot)
      --drop-slot        drop the replication slot (for the slot's name see --slot)

${prog} is pgfleet's pg_receivewal: same options, same files. Compression methods: gzip, lz4.
`;
}
