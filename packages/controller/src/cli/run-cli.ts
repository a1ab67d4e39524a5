/**
 * Runs the `pgfleet` command line as a process: main()'s result becomes the exit code. A
 * command still waiting when the process runs out of work (every socket and timer gone, so
 * Node would exit with status 0 and print nothing) ends with an error instead: a call that
 * never completes must not look like success. gRPC can leave a call in that state when its
 * connection goes away without a status.
 */
import { ConnectError } from '@pgfleet/core/errors';
import { main } from './main.js';
import { printError, processIo, type CliIo } from './output.js';

export function runCli(argv: string[], command: (argv: string[], io: CliIo) => Promise<number> = main, io: CliIo = processIo): void {
  let settled = false;
  const unfinished = (): void => {
    if (settled) return;
    settled = true;
    const err = new ConnectError('the command ended without an answer: its call to the controller stopped without a status', {
      hint: 'The connection to the controller was lost; check that it is running (its log may say why) and run the command again.',
    });
    printError(io, err);
    process.exitCode = err.code;
  };
  process.once('beforeExit', unfinished);
  command(argv, io).then((code) => {
    settled = true;
    process.exitCode = code;
  }, (err: unknown) => {
    settled = true;
    io.stderr(`pgfleet: error: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 99;
  }).finally(() => process.off('beforeExit', unfinished));
}
