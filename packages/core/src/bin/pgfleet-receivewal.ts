#!/usr/bin/env -S node --no-memory-reducer
/**
 * pgfleet-receivewal: a drop-in for pg_receivewal 17. Same options, same files in the target
 * directory, exit status 0 on success and 1 on any error, PostgreSQL's texts:
 * "<prog>: error: ...", "<prog>: hint: ...", "<prog>: warning: ...", and getopt's own lines
 * ("<as invoked>: unrecognized option '--x'"). Named after the name it was started by, so a
 * symlink called pg_receivewal says "pg_receivewal: error: ...".
 *
 * Started as an executable, node runs without V8's memory reducer: a receiver is mostly idle
 * between bursts of WAL, and the reducer answers that with full collections of its small heap
 * (~40 ms of CPU each); under a pgbench load they were a fifth of the receiver's CPU time.
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { PgFleetError } from '../errors.js';
import { runReceiveWal } from '../receivewal.js';
import { PGFLEET_VERSION } from '../version.js';
import { parseReceiveWalArgs, receiveWalHelp, ReceiveWalUsageError } from './receivewal-args.js';
import { promptOnTerminal } from './terminal-prompt.js';

/**
 * The script as it was started: the argument node received before its own path resolution
 * (what glibc's getopt would print as argv[0]), from /proc/self/cmdline; argv[1] elsewhere.
 */
function invokedAs(): string {
  const script = process.argv[1] ?? 'pgfleet-receivewal';
  try {
    const args = readFileSync('/proc/self/cmdline', 'utf8').split('\0');
    const found = args.slice(1).find((a) => a !== '' && basename(a) === basename(script));
    if (found !== undefined) return found;
  } catch {
    // Not Linux: the resolved path will do.
  }
  return script;
}

const INVOKED = invokedAs();
/** PostgreSQL's get_progname: the base name, without a script suffix. */
const PROG = basename(INVOKED).replace(/\.(?:[cm]?js|ts)$/, '') || 'pgfleet-receivewal';

function line(text: string): void {
  process.stderr.write(`${text}\n`);
}

function printError(err: unknown): void {
  const message = err instanceof Error ? err.message : String(err);
  line(`${PROG}: error: ${message}`);
  if (err instanceof PgFleetError && err.hint) line(`${PROG}: hint: ${err.hint}`);
}

async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseReceiveWalArgs(argv);
  } catch (err) {
    if (!(err instanceof ReceiveWalUsageError)) throw err;
    if (err.fromGetopt) line(`${INVOKED}: ${err.message}`);
    else if (err.message !== '') line(`${PROG}: error: ${err.message}`);
    if (err.withHint) line(`${PROG}: hint: Try "${PROG} --help" for more information.`);
    return 1;
  }
  if (parsed.action === 'help') {
    process.stdout.write(receiveWalHelp(PROG));
    return 0;
  }
  if (parsed.action === 'version') {
    process.stdout.write(`${PROG} (PostgreSQL) 18.0 (pgfleet ${PGFLEET_VERSION})\n`);
    return 0;
  }
  const stop = new AbortController();
  // Like pg_receivewal: SIGINT/SIGTERM end streaming at the next possible moment; the open
  // segment is closed (kept as .partial) and the exit status is 0.
  const onSignal = (): void => stop.abort('signal');
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    await runReceiveWal(parsed.args, {
      info: (m) => line(`${PROG}: ${m}`),
      warning: (m) => line(`${PROG}: warning: ${m}`),
      error: printError,
    }, { programName: PROG, signal: stop.signal, promptPassword: promptOnTerminal });
    return 0;
  } catch (err) {
    printError(err);
    return 1;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
}, (err) => {
  printError(err);
  process.exitCode = 1;
});
