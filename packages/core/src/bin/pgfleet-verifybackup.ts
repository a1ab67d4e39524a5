#!/usr/bin/env node
/**
 * pgfleet-verifybackup: checks a backup against its backup_manifest, with pg_verifybackup's
 * options: -e, -F p|t (detected when absent), -i (repeatable), -m, -n, -P, -q, -s,
 * -w/--wal-path/--wal-directory, -V, -?. Instead of running pg_waldump it checks the WAL
 * itself (presence, size and page-header continuity, see wal/wal-check.ts; then every record's
 * header and CRC, see wal/record-reader.ts), for plain and tar backups alike; -n skips both. Every problem is printed to stderr as "pgfleet-verifybackup: error: ..."
 * (with a "HINT: ..." line when there is advice); "backup successfully verified" goes to
 * stdout unless -q. Exit status 0 when the backup verified, 1 on any problem.
 */

import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError } from 'commander';
import { InvalidOptionError, PgFleetError } from '../errors.js';
import { PGFLEET_VERSION } from '../version.js';
import {
  parseBackupFormat, verifyBackup, type VerifyBackupOptions, type VerifyProgress,
} from '../verify/verify-backup.js';

const PROG = 'pgfleet-verifybackup';

export const HELP_TEXT = `${PROG} verifies a backup against the backup manifest.

Usage:
  ${PROG} [OPTION]... BACKUPDIR

Options:
  -e, --exit-on-error         exit immediately on error
  -F, --format=p|t            backup format (plain, tar)
  -i, --ignore=RELATIVE_PATH  ignore indicated path
  -m, --manifest-path=PATH    use specified path for manifest
  -n, --no-parse-wal          do not check WAL files
  -P, --progress              show progress information
  -q, --quiet                 do not print any output, except for errors
  -s, --skip-checksums        skip checksum verification
  -w, --wal-path=PATH         use specified path for WAL files
      --wal-directory=PATH    (same as --wal-path, deprecated)
  -V, --version               output version information, then exit
  -?, --help                  show this help, then exit
`;

export interface VerifyBackupCommand {
  action: 'verify';
  backupDir: string;
  options: VerifyBackupOptions;
  quiet: boolean;
  progress: boolean;
}

export type ParsedVerifyArgs = VerifyBackupCommand | { action: 'help' } | { action: 'version' };

const TRY_HELP = `Try "${PROG} --help" for more information.`;

/** Parses the command line (without node and script); InvalidOptionError on mistakes. */
export function parseVerifyBackupArgs(argv: readonly string[]): ParsedVerifyArgs {
  // pg_verifybackup looks at the first argument alone for --help and --version.
  if (argv[0] === '--help' || argv[0] === '-?') return { action: 'help' };
  if (argv[0] === '--version' || argv[0] === '-V') return { action: 'version' };

  const program = new Command(PROG)
    .helpOption(false)
    .exitOverride()
    .configureOutput({ writeErr: () => undefined, writeOut: () => undefined })
    .allowExcessArguments(true)
    .argument('[backupdir...]')
    .option('-e, --exit-on-error')
    .option('-F, --format <format>')
    .option('-i, --ignore <path>', '', (v: string, prev: string[]) => [...prev, v], [] as string[])
    .option('-m, --manifest-path <path>')
    .option('-n, --no-parse-wal')
    .option('-P, --progress')
    .option('-q, --quiet')
    .option('-s, --skip-checksums')
    .option('-w, --wal-path <path>')
    .option('--wal-directory <path>')
    .option('-?, --help')
    .option('-V, --version');
  try {
    program.parse([...argv], { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) {
      throw new InvalidOptionError(err.message.replace(/^error: /, ''), { hint: TRY_HELP });
    }
    throw err;
  }
  const o = program.opts<{
    exitOnError?: boolean; format?: string; ignore: string[]; manifestPath?: string; parseWal: boolean;
    progress?: boolean; quiet?: boolean; skipChecksums?: boolean; walPath?: string; walDirectory?: string;
    help?: boolean; version?: boolean;
  }>();
  if (o.help) return { action: 'help' };
  if (o.version) return { action: 'version' };
  const args = program.args;
  if (args.length === 0) throw new InvalidOptionError('no backup directory specified', { hint: TRY_HELP });
  if (args.length > 1) {
    throw new InvalidOptionError(`too many command-line arguments (first is "${args[1]}")`, { hint: TRY_HELP });
  }
  if (o.progress && o.quiet) throw new InvalidOptionError('cannot specify both -P/--progress and -q/--quiet');

  const options: VerifyBackupOptions = {
    ignore: o.ignore,
    skipChecksums: o.skipChecksums === true,
    checkWal: o.parseWal,
    exitOnError: o.exitOnError === true,
  };
  if (o.format !== undefined) options.format = parseBackupFormat(o.format);
  if (o.manifestPath !== undefined) options.manifestPath = o.manifestPath;
  const walPath = o.walPath ?? o.walDirectory;
  if (walPath !== undefined) options.walPath = walPath;
  return { action: 'verify', backupDir: args[0]!, options, quiet: o.quiet === true, progress: o.progress === true };
}

export interface CliOutput {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  /** Progress lines end in \r on a terminal, \n otherwise. */
  isTty: boolean;
  /** For throttling progress; default Date.now. */
  now?: () => number;
}

function errorLines(message: string, hint: string | undefined): string {
  return `${PROG}: error: ${message}\n${hint ? `HINT: ${hint}\n` : ''}`;
}

function progressLine(p: VerifyProgress): string {
  const total = String(Math.floor(p.totalBytes / 1024));
  const done = String(Math.floor(p.doneBytes / 1024)).padStart(total.length);
  const percent = p.totalBytes > 0 ? Math.floor((p.doneBytes * 100) / p.totalBytes) : 0;
  return `${done}/${total} kB (${percent}%) verified`;
}

/** Runs the command; returns the exit status. */
export async function main(argv: readonly string[], out: CliOutput): Promise<number> {
  let parsed: ParsedVerifyArgs;
  try {
    parsed = parseVerifyBackupArgs(argv);
  } catch (err) {
    if (!(err instanceof PgFleetError)) throw err;
    out.stderr(errorLines(err.message, err.hint));
    return 1;
  }
  if (parsed.action === 'help') {
    out.stdout(HELP_TEXT);
    return 0;
  }
  if (parsed.action === 'version') {
    out.stdout(`${PROG} (pgfleet) ${PGFLEET_VERSION}\n`);
    return 0;
  }

  const now = out.now ?? Date.now;
  let lastProgress = -Infinity;
  let latest: VerifyProgress | null = null;
  const options: VerifyBackupOptions = {
    ...parsed.options,
    onProblem: (p) => out.stderr(errorLines(p.message, p.hint)),
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
    if (result.ok && !parsed.quiet) out.stdout('backup successfully verified\n');
    return result.ok ? 0 : 1;
  } catch (err) {
    if (!(err instanceof PgFleetError)) throw err;
    out.stderr(errorLines(err.message, err.hint));
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

if (isMainModule()) {
  main(process.argv.slice(2), {
    stdout: (t) => process.stdout.write(t),
    stderr: (t) => process.stderr.write(t),
    isTty: process.stderr.isTTY === true,
  }).then((code) => {
    process.exitCode = code;
  }, (err: unknown) => {
    process.stderr.write(`${PROG}: error: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
    process.exitCode = 1;
  });
}
