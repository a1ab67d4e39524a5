/**
 * `pgfleet serve --config fleet.yaml`: runs the controller daemon until SIGINT/SIGTERM.
 * `--check-config` validates instead: every problem of the file (status 31), or that it is
 * valid once its TLS files are read (status 0).
 */
import type { Command } from 'commander';
import { configError } from '@pgfleet/core';
import { readTlsFiles, serverCredentials } from '@pgfleet/proto';
import { checkFleetConfig, loadFleetConfig } from '../config.js';
import { TLS_HINT, startDaemon } from '../daemon/daemon.js';
import type { CommandContext } from './command-context.js';
import { printError } from './output.js';

async function checkConfig(ctx: CommandContext, path: string): Promise<void> {
  const { file, problems } = await checkFleetConfig(path);
  if (problems.length > 0) {
    const errors = problems.map((p) => configError(file, p));
    for (const e of errors.slice(0, -1)) printError(ctx.io, e);
    // The last one is printed by main(), which also makes its code the exit status.
    throw errors[errors.length - 1];
  }
  const config = await loadFleetConfig(path);
  if (config.tls !== null) serverCredentials(await readTlsFiles(config.tls, TLS_HINT));
  ctx.io.stdout(`configuration file "${file}" is valid\n`);
  ctx.setExitCode(0);
}

export function registerServe(program: Command, ctx: CommandContext): void {
  program.command('serve')
    .description('run the controller daemon')
    .requiredOption('-c, --config <file>', 'fleet configuration file (fleet.yaml)')
    .option('--check-config', 'validate the configuration (and read its TLS files), then exit')
    .action(async (opts: { config: string; checkConfig?: boolean }) => {
      if (opts.checkConfig) {
        await checkConfig(ctx, opts.config);
        return;
      }
      const config = await loadFleetConfig(opts.config);
      const daemon = await startDaemon(config, {
        logger: {
          info: (m) => ctx.io.stderr(`${new Date().toISOString()} pgfleet: ${m}\n`),
          error: (m) => ctx.io.stderr(`${new Date().toISOString()} pgfleet: error: ${m}\n`),
        },
      });
      await ctx.io.interrupted();
      ctx.io.stderr(`${new Date().toISOString()} pgfleet: shutting down\n`);
      await daemon.stop();
      ctx.setExitCode(0);
    });
}
