#!/usr/bin/env node
/**
 * pgfleet-basebackup: a drop-in for pg_basebackup 17. Same options, same output files, exit
 * status 0 on success and 1 on any error. It names itself after argv[0] (installed as a symlink
 * `pg_basebackup` it says "pg_basebackup: error: ..."); messages go to stderr as
 * "<prog>: error: ..." followed by "<prog>: hint: ..." when the user can act on it, and command
 * line mistakes are reported as pg_basebackup reports them (see basebackup-args.ts).
 */
import { enableYoungGarbageCollection } from '../archive/young-garbage.js';
import { helpText, parseBaseBackupArgs, reporterForFlags, runOptionsFromFlags } from './basebackup-args.js';
import { runBaseBackup, type ProgressState } from '../basebackup.js';
import { describeError, programName, versionText } from './program.js';
import { promptOnTerminal } from './terminal-prompt.js';

const PROG = programName('pgfleet-basebackup');
// Compressors and the tar parser free their per-block garbage early (young-garbage.ts).
enableYoungGarbageCollection();
const VERBOSE_FILENAME_LENGTH = 35;

function formatProgress(p: ProgressState, verbose: boolean, final: boolean): string {
  const totalKb = Math.max(p.totalKb, Math.floor(p.doneBytes / 1024));
  const doneKb = Math.floor(p.doneBytes / 1024);
  const percent = totalKb ? Math.min(100, Math.floor((doneKb * 100) / totalKb)) : 0;
  const totalStr = String(totalKb);
  const doneStr = String(doneKb).padStart(totalStr.length);
  const tsWord = p.tablespaceCount === 1 ? 'tablespace' : 'tablespaces';
  if (!verbose) return `${doneStr}/${totalStr} kB (${percent}%), ${p.tablespaceNum}/${p.tablespaceCount} ${tsWord}`;
  if (final || p.filename === null) {
    return `${doneStr}/${totalStr} kB (100%), ${p.tablespaceNum}/${p.tablespaceCount} ${tsWord} ${''.padEnd(VERBOSE_FILENAME_LENGTH + 5)}`;
  }
  const name = p.filename.length > VERBOSE_FILENAME_LENGTH
    ? '...' + p.filename.slice(p.filename.length - VERBOSE_FILENAME_LENGTH + 3)
    : p.filename.padEnd(VERBOSE_FILENAME_LENGTH);
  return `${doneStr}/${totalStr} kB (${percent}%), ${p.tablespaceNum}/${p.tablespaceCount} ${tsWord} (${name})`;
}

function printError(err: unknown): void {
  process.stderr.write(describeError(PROG, err));
}

async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseBaseBackupArgs(argv, { name: PROG, argv0: process.argv[1] ?? PROG });
  } catch (err) {
    printError(err);
    return 1;
  }
  if (parsed.action === 'help') {
    process.stdout.write(helpText(PROG));
    return 0;
  }
  if (parsed.action === 'version') {
    process.stdout.write(versionText(PROG));
    return 0;
  }
  const opts = parsed.options;
  const isTty = process.stderr.isTTY === true;
  const abort = new AbortController();
  const onSignal = (sig: NodeJS.Signals) => {
    process.stderr.write(`${PROG}: received ${sig}, cleaning up\n`);
    abort.abort(sig);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    await runBaseBackup(runOptionsFromFlags(opts), reporterForFlags(opts,
      (m) => process.stderr.write(`${PROG}: ${m}\n`),
      (p, final) => process.stderr.write(formatProgress(p, opts.verbose > 0, final) + (!final && isTty ? '\r' : '\n')),
      () => process.stderr.write(`waiting for checkpoint${isTty ? '\r' : '\n'}`),
    ), {
      signal: abort.signal,
      promptPassword: promptOnTerminal,
      // libpq's default notice processor: the server's WARNINGs (a damaged block during a
      // checksum-verified backup) and NOTICEs (WAL archiving not enabled) reach the user.
      onNotice: (n) => {
        process.stderr.write(`${n.severity}:  ${n.message}\n`);
        if (n.detail) process.stderr.write(`DETAIL:  ${n.detail}\n`);
        if (n.hint) process.stderr.write(`HINT:  ${n.hint}\n`);
      },
    });
    return 0;
  } catch (err) {
    printError(err);
    return 1;
  }
}

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
}, (err) => {
  printError(err);
  process.exitCode = 1;
});
