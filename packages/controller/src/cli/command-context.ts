/**
 * What every subcommand shares: the I/O, the connection options every command that talks to
 * the daemon accepts, and how a command's result becomes the exit code (0, or the catalogue
 * code of the error).
 */
import type { Command } from 'commander';
import type { ConnectionOptions } from './client.js';
import type { CliIo } from './output.js';

export interface CommandContext {
  io: CliIo;
  /** Set by a command when it ends; main() returns it. */
  setExitCode(code: number): void;
}

export function addConnectionOptions(cmd: Command): Command {
  return cmd
    .option('--controller <address>', 'controller address HOST:PORT (default: PGFLEET_CONTROLLER or 127.0.0.1:7400)')
    .option('--certs <dir>', 'directory with ca.crt, cli.crt and cli.key (default: PGFLEET_CERTS)')
    .option('--ca <file>', 'CA certificate (default: PGFLEET_CA)')
    .option('--cert <file>', 'client certificate (default: PGFLEET_CERT)')
    .option('--key <file>', 'client private key (default: PGFLEET_KEY)')
    .option('--insecure', 'connect without TLS (daemon started with "insecure: true")');
}

export function connectionOptions(opts: Record<string, unknown>): ConnectionOptions {
  const pick = (k: string): string | undefined => (typeof opts[k] === 'string' ? opts[k] as string : undefined);
  const result: ConnectionOptions = {};
  const controller = pick('controller');
  if (controller !== undefined) result.controller = controller;
  const certs = pick('certs');
  if (certs !== undefined) result.certs = certs;
  const ca = pick('ca');
  if (ca !== undefined) result.ca = ca;
  const cert = pick('cert');
  if (cert !== undefined) result.cert = cert;
  const key = pick('key');
  if (key !== undefined) result.key = key;
  if (opts['insecure'] === true) result.insecure = true;
  return result;
}
