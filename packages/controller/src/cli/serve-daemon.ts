/**
 * What `pgfleet serve` runs (serve.ts loads this module only then): the controller daemon until
 * SIGINT/SIGTERM, with SIGHUP reloads, or `--check-config`'s validation.
 */
import { createDaemonLog, errorFields, errorText, type LogFormat, type LogLevel } from '@pgfleet/core';
import { configError } from '@pgfleet/core/config';
import { asPgFleetError, readTlsFiles, routeGrpcLogs, serverCredentials } from '@pgfleet/proto';
import { checkFleetConfig, loadFleetConfig } from '../config.js';
import { TLS_HINT, startDaemon, type RunningDaemon } from '../daemon/daemon.js';
import type { CommandContext } from './command-context.js';
import { printError } from './output.js';

export async function checkConfig(ctx: CommandContext, path: string): Promise<void> {
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

export async function serve(ctx: CommandContext, opts: { config: string; logFormat: LogFormat; logLevel: LogLevel }): Promise<void> {
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
}
