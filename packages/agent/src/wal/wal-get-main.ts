/**
 * `pgfleet-agent wal-get --archive DIR FILE PATH` as its own small program: the installed
 * `pgfleet-agent` command (bin/pgfleet-agent.js) runs this for `wal-get --archive` instead of
 * the whole command line, because the server starts restore_command once per WAL file and
 * loading every module of the agent costs most of a second each time. Usage errors exit 255:
 * a restore_command that cannot run must abort recovery, not look like the archive's end.
 */

import { WAL_GET_ABORT, walGetLocal } from './wal-get-local.js';

const PROGRAM = 'pgfleet-agent';

function usage(message: string): number {
  process.stderr.write(`${PROGRAM}: error: ${message}\nusage: ${PROGRAM} wal-get --archive DIR FILE PATH\n`);
  return WAL_GET_ABORT;
}

/** Runs `wal-get` with the arguments after the command name; returns the exit status. */
export async function walGetMain(args: readonly string[]): Promise<number> {
  let archive: string | null = null;
  const positional: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    if (arg === '--archive') {
      const value = args[++i];
      if (value === undefined) return usage('option "--archive" needs a directory');
      archive = value;
    } else if (arg.startsWith('--archive=')) {
      archive = arg.slice('--archive='.length);
    } else if (arg.startsWith('-')) {
      return usage(`unknown option "${arg}"`);
    } else {
      positional.push(arg);
    }
  }
  if (archive === null || archive === '') return usage('no WAL archive given (--archive DIR)');
  if (positional.length !== 2) return usage(`expected FILE and PATH, got ${positional.length} arguments`);
  const result = await walGetLocal(archive, positional[0] as string, positional[1] as string);
  if (result.status !== 0) process.stderr.write(`${PROGRAM}: ${result.status === 1 ? '' : 'error: '}${result.message}\n`);
  return result.status;
}

process.exitCode = await walGetMain(process.argv.slice(3));
