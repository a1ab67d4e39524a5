/**
 * The `pgfleet` command line: builds the command tree (one file per command) and runs it.
 * Returns the exit code: 0, the catalogue code of the error (PgFleetError.code), or 31
 * (InvalidOptionError) for a usage error.
 */
import { Command, CommanderError } from 'commander';
import { InvalidOptionError } from '@pgfleet/core/errors';
import { PGFLEET_VERSION } from '../version.js';
import { registerAgents } from './agents.js';
import { registerBackup } from './backup.js';
import { registerBackups } from './backups.js';
import { registerWal } from './wal.js';
import { registerCerts } from './certs.js';
import { registerCheck } from './check.js';
import { registerClusters } from './clusters.js';
import type { CommandContext } from './command-context.js';
import { registerExpire } from './expire.js';
import { loadWire } from './client.js';
import { printError, processIo, type CliIo } from './output.js';
import { registerRestore } from './restore.js';
import { registerServe } from './serve.js';
import { registerShow } from './show.js';
import { registerStatus } from './status.js';
import { registerVerify } from './verify.js';

export async function main(argv: string[], io: CliIo = processIo): Promise<number> {
  let exitCode = 0;
  const ctx: CommandContext = { io, setExitCode: (c) => { exitCode = c; } };
  const program = new Command('pgfleet')
    .description('pgfleet: physical backups of a fleet of PostgreSQL servers, through one controller')
    .version(PGFLEET_VERSION, '-V, --version')
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.stdout(s), writeErr: (s) => io.stderr(s) })
    .showHelpAfterError('(add --help for usage)');
  registerServe(program, ctx);
  registerCerts(program, ctx);
  registerAgents(program, ctx);
  registerClusters(program, ctx);
  registerBackup(program, ctx);
  registerBackups(program, ctx);
  registerRestore(program, ctx);
  registerVerify(program, ctx);
  registerExpire(program, ctx);
  registerCheck(program, ctx);
  registerStatus(program, ctx);
  registerShow(program, ctx);
  registerWal(program, ctx);
  for (const cmd of program.commands) {
    cmd.exitOverride();
    for (const sub of cmd.commands) sub.exitOverride();
  }
  try {
    await program.parseAsync(argv, { from: 'user' });
    return exitCode;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return 0;
      // commander has printed its message already
      return new InvalidOptionError('').code;
    }
    const { asPgFleetError } = await loadWire();
    const e = asPgFleetError(err);
    printError(io, e);
    return e.code;
  }
}
