#!/usr/bin/env node
/**
 * pgfleet-verifybackup: checks a backup against its backup_manifest, with pg_verifybackup 18's
 * command line (-e, -F p|t (detected when absent), -i (repeatable), -m, -n, -P, -q, -s,
 * -w/--wal-directory (also --wal-path), -V, -?), scanned by getopt_long's rules and reporting
 * mistakes in its words. It names itself after argv[0] (a symlink `pg_verifybackup` makes it say
 * "pg_verifybackup: error: ..."). Instead of running pg_waldump it checks the WAL itself
 * (presence, size and page-header continuity, see wal/wal-check.ts; then every record's header
 * and CRC, see wal/record-reader.ts), for plain and tar backups alike; -n skips both. Every
 * problem is printed to stderr as "<prog>: error: ..." (with "<prog>: hint: ..." when there is
 * advice); "backup successfully verified" goes to stdout unless -q. Exit status 0 when the
 * backup verified, 1 on any problem.
 *
 * One departure: a plain backup whose PG_VERSION is gone is taken for a tar backup, as
 * pg_verifybackup 18 takes it, and gets its complaints about the top-level entries; but instead
 * of one "present in the manifest but not on disk" line per file of the backup, it gets one line
 * counting them and a hint to use -F p.
 */

import { realpathSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { enableYoungGarbageCollection } from '../archive/young-garbage.js';
import { InvalidOptionError, PgFleetError } from '../errors.js';
import {
  parseBackupFormat, verifyBackup, type VerifyBackupOptions, type VerifyProgress,
} from '../verify/verify-backup.js';
import { canonicalizePath } from './basebackup-args.js';
import { GetoptComplaint, getoptLong, type LongOption } from './getopt.js';
import { describeError, errorText, programName, tryHelpHint, versionText } from './program.js';

const DEFAULT_PROG = 'pgfleet-verifybackup';

// The tar parser frees its per-chunk garbage early (young-garbage.ts).
enableYoungGarbageCollection();

/** pg_verifybackup 18's usage(), for the name it was started under. */
export function helpText(prog: string): string {
  return `${prog} verifies a backup against the backup manifest.

Usage:
  ${prog} [OPTION]... BACKUPDIR

Options:
  -e, --exit-on-error         exit immediately on error
  -F, --format=p|t            backup format (plain, tar)
  -i, --ignore=RELATIVE_PATH  ignore indicated path
  -m, --manifest-path=PATH    use specified path for manifest
  -n, --no-parse-wal          do not try to parse WAL files
  -P, --progress              show progress information
  -q, --quiet                 do not print any output, except for errors
  -s, --skip-checksums        skip checksum verification
  -w, --wal-directory=PATH    use specified path for WAL files
  -V, --version               output version information, then exit
  -?, --help                  show this help, then exit

${prog} is pgfleet's pg_verifybackup: it checks WAL records itself, without pg_waldump.
`;
}

export interface VerifyBackupCommand {
  action: 'verify';
  backupDir: string;
  options: VerifyBackupOptions;
  quiet: boolean;
  progress: boolean;
}

export type ParsedVerifyArgs = VerifyBackupCommand | { action: 'help' } | { action: 'version' };

/** getopt_long's table, pg_verifybackup 18's order; --wal-path is 19's name for -w. */
const LONG_OPTIONS: readonly LongOption[] = [
  { name: 'exit-on-error', hasArg: false, key: 'e' },
  { name: 'ignore', hasArg: true, key: 'i' },
  { name: 'manifest-path', hasArg: true, key: 'm' },
  { name: 'format', hasArg: true, key: 'F' },
  { name: 'no-parse-wal', hasArg: false, key: 'n' },
  { name: 'progress', hasArg: false, key: 'P' },
  { name: 'quiet', hasArg: false, key: 'q' },
  { name: 'skip-checksums', hasArg: false, key: 's' },
  { name: 'wal-directory', hasArg: true, key: 'w' },
  { name: 'wal-path', hasArg: true, key: 'w' },
];

/**
 * Parses the command line (without node and script); InvalidOptionError on mistakes, as
 * pg_verifybackup reports them (GetoptComplaint for what getopt itself rejects).
 */
export function parseVerifyBackupArgs(
  argv: readonly string[],
  program: { name: string; argv0: string } = { name: DEFAULT_PROG, argv0: DEFAULT_PROG },
  env: NodeJS.ProcessEnv = process.env,
): ParsedVerifyArgs {
  // pg_verifybackup looks at the first argument alone for --help and --version.
  if (argv[0] === '--help' || argv[0] === '-?') return { action: 'help' };
  if (argv[0] === '--version' || argv[0] === '-V') return { action: 'version' };
  const tryHelp = tryHelpHint(program.name);

  const ignore: string[] = [];
  const options: VerifyBackupOptions = { ignore, skipChecksums: false, checkWal: true, exitOnError: false };
  let quiet = false;
  let progress = false;
  const operands: string[] = [];
  const scan = getoptLong(argv, { short: 'eF:i:m:nPqsw:', long: LONG_OPTIONS },
    { argv0: program.argv0, posixlyCorrect: env['POSIXLY_CORRECT'] !== undefined }, operands);
  for (const item of scan) {
    if (item.kind === 'error') throw new GetoptComplaint(item.complaint, tryHelp);
    const value = item.value ?? '';
    switch (item.key) {
      case 'e': options.exitOnError = true; break;
      case 'i': ignore.push(value); break;
      case 'm': options.manifestPath = canonicalizePath(value); break;
      case 'F': options.format = parseBackupFormat(value); break;
      case 'n': options.checkWal = false; break;
      case 'P': progress = true; break;
      case 'q': quiet = true; break;
      case 's': options.skipChecksums = true; break;
      case 'w': options.walPath = canonicalizePath(value); break;
      default: throw new GetoptComplaint(null, tryHelp);
    }
  }
  if (operands.length === 0) throw new InvalidOptionError('no backup directory specified', { hint: tryHelp });
  if (operands.length > 1) {
    throw new InvalidOptionError(`too many command-line arguments (first is "${operands[1]}")`, { hint: tryHelp });
  }
  if (progress && quiet) throw new InvalidOptionError('cannot specify both -P/--progress and -q/--quiet');
  return { action: 'verify', backupDir: canonicalizePath(operands[0]!), options, quiet, progress };
}

export interface CliOutput {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  /** Progress lines end in \r on a terminal, \n otherwise. */
  isTty: boolean;
  /** For throttling progress; default Date.now. */
  now?: () => number;
}

function progressLine(p: VerifyProgress): string {
  const total = String(Math.floor(p.totalBytes / 1024));
  const done = String(Math.floor(p.doneBytes / 1024)).padStart(total.length);
  const percent = p.totalBytes > 0 ? Math.floor((p.doneBytes * 100) / p.totalBytes) : 0;
  return `${done}/${total} kB (${percent}%) verified`;
}

/** True for a directory that holds a plain backup's "global" directory but no PG_VERSION. */
async function plainWithoutVersion(dir: string): Promise<boolean> {
  const isDir = (path: string) => stat(path).then((st) => st.isDirectory(), () => false);
  const exists = (path: string) => stat(path).then(() => true, () => false);
  return !(await exists(join(dir, 'PG_VERSION'))) && await isDir(join(dir, 'global'));
}

/** Runs the command; returns the exit status. */
export async function main(
  argv: readonly string[],
  out: CliOutput,
  program: { name: string; argv0: string } = { name: DEFAULT_PROG, argv0: DEFAULT_PROG },
): Promise<number> {
  const prog = program.name;
  let parsed: ParsedVerifyArgs;
  try {
    parsed = parseVerifyBackupArgs(argv, program);
  } catch (err) {
    if (!(err instanceof PgFleetError)) throw err;
    out.stderr(describeError(prog, err));
    return 1;
  }
  if (parsed.action === 'help') {
    out.stdout(helpText(prog));
    return 0;
  }
  if (parsed.action === 'version') {
    out.stdout(versionText(prog));
    return 0;
  }

  const now = out.now ?? Date.now;
  let lastProgress = -Infinity;
  let latest: VerifyProgress | null = null;
  // A plain backup read as tar (PG_VERSION gone): every file of it would be "missing".
  const misread = parsed.options.format === undefined && await plainWithoutVersion(parsed.backupDir);
  let missing = 0;
  const options: VerifyBackupOptions = {
    ...parsed.options,
    onProblem: (p) => {
      if (misread && p.kind === 'missing') missing++;
      else out.stderr(errorText(prog, p.message, p.hint));
    },
  };
  if (parsed.progress) {
    options.onProgress = (p) => {
      latest = p;
      if (now() - lastProgress < 1000) return; // at most once a second, like pg_verifybackup
      lastProgress = now();
      out.stderr(progressLine(p) + (out.isTty ? '\r' : '\n'));
    };
  }
  try {
    const result = await verifyBackup(parsed.backupDir, options);
    if (parsed.progress) {
      out.stderr(`${progressLine(latest ?? { doneBytes: 0, totalBytes: 0 })}\n`);
    }
    if (missing > 0) {
      out.stderr(errorText(prog, `${missing} files of the backup manifest are in no tar archive of "${parsed.backupDir}"`,
        `"${join(parsed.backupDir, 'PG_VERSION')}" is missing, so the backup was read as a tar-format backup; if it is a plain-format backup, verify it with -F p.`));
    }
    if (result.ok && !parsed.quiet) out.stdout('backup successfully verified\n');
    return result.ok ? 0 : 1;
  } catch (err) {
    if (!(err instanceof PgFleetError)) throw err;
    out.stderr(describeError(prog, err));
    return 1;
  }
}

function isMainModule(): boolean {
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

/** Runs the command in this process, on process.argv; sets the exit status. */
export function runCommandLine(): void {
  const prog = programName(DEFAULT_PROG);
  main(process.argv.slice(2), {
    stdout: (t) => process.stdout.write(t),
    stderr: (t) => process.stderr.write(t),
    isTty: process.stderr.isTTY === true,
  }, { name: prog, argv0: process.argv[1] ?? prog }).then((code) => {
    process.exitCode = code;
  }, (err: unknown) => {
    process.stderr.write(errorText(prog, err instanceof Error ? err.stack ?? err.message : String(err)));
    process.exitCode = 1;
  });
}

// Run directly (node dist/bin/pgfleet-verifybackup.js, or a symlink to it): the installed
// launcher calls runCommandLine itself.
if (isMainModule()) runCommandLine();
