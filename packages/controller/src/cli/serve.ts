/** `pgfleet serve --config fleet.yaml`: runs the controller daemon until SIGINT/SIGTERM. */
import type { Command } from 'commander';
import { loadFleetConfig } from '../config.js';
import { startDaemon } from '../daemon/daemon.js';
import type { CommandContext } from './command-context.js';

export function registerServe(program: Command, ctx: CommandContext): void {
  program.command('serve')
    .description('run the controller daemon')
    .requiredOption('-c, --config <file>', 'fleet configuration file (fleet.yaml)')
    .action(async (opts: { config: string }) => {
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
