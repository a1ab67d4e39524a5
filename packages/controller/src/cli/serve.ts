/**
 * `pgfleet serve --config fleet.yaml [--log-format text|json] [--log-level LEVEL]`: runs the
 * controller daemon until SIGINT/SIGTERM; SIGHUP reloads the configuration file (clusters,
 * agents, schedules, retention, thresholds) without stopping running work, and an invalid
 * file is logged and ignored (the running configuration stays). Everything it says goes to its log (stderr; time and
 * level on every line, text or JSON; grpc-js's own diagnostics included), its reason not to
 * start too (then the exit status is that error's code).
 * `--check-config` validates instead: every problem of the file (status 31), or that it is
 * valid once its TLS files are read (status 0).
 */
import { Option, type Command } from 'commander';
import { LOG_FORMATS, LOG_LEVELS, configError, createDaemonLog, errorFields, errorText, type LogFormat, type LogLevel } from '@pgfleet/core';
import { asPgFleetError, readTlsFiles, routeGrpcLogs, serverCredentials } from '@pgfleet/proto';
import { checkFleetConfig, loadFleetConfig } from '../config.js';
import { TLS_HINT, startDaemon, type RunningDaemon } from '../daemon/daemon.js';
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
    .addOption(new Option('--log-format <format>', 'log lines as text or as JSON objects').choices(LOG_FORMATS).default('text'))
    .addOption(new Option('--log-level <level>', 'the least important level logged').choices(LOG_LEVELS).default('info'))
    .action(async (opts: { config: string; checkConfig?: boolean; logFormat: LogFormat; logLevel: LogLevel }) => {
      if (opts.checkConfig) {
        await checkConfig(ctx, opts.config);
        return;
      }
      const log = createDaemonLog({ name: 'pgfleet', format: opts.logFormat, level: opts.logLevel, write: (line) => ctx.io.stderr(line) });
      routeGrpcLogs(log);
      let daemon: RunningDaemon;
      try {
        daemon = await startDaemon(await loadFleetConfig(opts.config), { logger: log });
      } catch (err) {
        // A daemon says everything in its log, its reason not to start too.
        const e = asPgFleetError(err);
        log.error(errorText(e), { error: errorFields(e) });
        ctx.setExitCode(e.code);
        return;
      }
      // One reload at a time, in the order asked.
      let reloading: Promise<void> = Promise.resolve();
      const stopReloads = ctx.io.onReload?.(() => {
        reloading = reloading.then(async () => {
          log.info(`reloading "${opts.config}" (SIGHUP)`);
          try {
            await daemon.reload(await loadFleetConfig(opts.config));
          } catch (err) {
            const e = asPgFleetError(err);
            log.error(`reload failed, the configuration in use stays: ${errorText(e)}`, { error: errorFields(e) });
          }
        });
      });
      await ctx.io.interrupted();
      stopReloads?.();
      await reloading;
      log.info('shutting down');
      await daemon.stop();
      log.info('stopped');
      ctx.setExitCode(0);
    });
}
