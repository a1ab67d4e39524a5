#!/usr/bin/env node
/**
 * pgfleet-receivewal: a drop-in for pg_receivewal 17. Same options, same files in the target
 * directory, exit status 0 on success and 1 on any error, PostgreSQL's texts:
 * "<prog>: error: ...", "<prog>: hint: ...", "<prog>: warning: ...", and getopt's own lines
 * ("<as invoked>: unrecognized option '--x'"). Named after the name it was started by, so a
 * symlink called pg_receivewal says "pg_receivewal: error: ..." (program.ts).
 */
import { enableYoungGarbageCollection } from '../archive/young-garbage.js';
import { runReceiveWal } from '../receivewal.js';
import { describeError, programName, versionText } from './program.js';
import { parseReceiveWalArgs, receiveWalHelp } from './receivewal-args.js';
import { promptOnTerminal } from './terminal-prompt.js';

const PROG = programName('pgfleet-receivewal');
// Compressors and the tar parser free their per-block garbage early (young-garbage.ts).
enableYoungGarbageCollection();

function line(text: string): void {
  process.stderr.write(`${text}\n`);
}

function printError(err: unknown): void {
  process.stderr.write(describeError(PROG, err));
}

async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseReceiveWalArgs(argv, { name: PROG, argv0: process.argv[1] ?? PROG });
  } catch (err) {
    printError(err);
    return 1;
  }
  if (parsed.action === 'help') {
    process.stdout.write(receiveWalHelp(PROG));
    return 0;
  }
  if (parsed.action === 'version') {
    process.stdout.write(versionText(PROG));
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
