/**
 * `pgfleet serve --config fleet.yaml [--log-format text|json] [--log-level LEVEL]`: runs the
 * controller daemon until SIGINT/SIGTERM; SIGHUP reloads the configuration file (clusters,
 * agents, schedules, retention, thresholds) without stopping running work, and an invalid
 * file is logged and ignored (the running configuration stays). Everything it says goes to its log (stderr; time and
 * level on every line, text or JSON; grpc-js's own diagnostics included), its reason not to
 * start too (then the exit status is that error's code).
 * `--check-config` validates instead: every problem of the file (status 31), or that it is
 * valid once its TLS files are read (status 0).
 *
 * Only this command runs the daemon: what it needs (the daemon with its scheduler, metrics, HTTP
 * and RPC services, the configuration parser) is loaded when it runs (serve-daemon.ts), so that
 * every other command starts without it.
 */
import { Option, type Command } from 'commander';
import { LOG_FORMATS, LOG_LEVELS, type LogFormat, type LogLevel } from '@pgfleet/core/log-basics';
import type { CommandContext } from './command-context.js';

export function registerServe(program: Command, ctx: CommandContext): void {
  program.command('serve')
    .description('run the controller daemon')
    .requiredOption('-c, --config <file>', 'fleet configuration file (fleet.yaml)')
    .option('--check-config', 'validate the configuration (and read its TLS files), then exit')
    .addOption(new Option('--log-format <format>', 'log lines as text or as JSON objects').choices(LOG_FORMATS).default('text'))
    .addOption(new Option('--log-level <level>', 'the least important level logged').choices(LOG_LEVELS).default('info'))
    .action(async (opts: { config: string; checkConfig?: boolean; logFormat: LogFormat; logLevel: LogLevel }) => {
      const { checkConfig, serve } = await import('./serve-daemon.js');
      if (opts.checkConfig) await checkConfig(ctx, opts.config);
      else await serve(ctx, opts);
    });
}
