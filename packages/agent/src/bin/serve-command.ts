/**
 * `pgfleet-agent serve --config agent.yaml [--insecure] [--log-format text|json]
 * [--log-level debug|info|warn|error]`: runs the gRPC server until SIGINT or SIGTERM. Everything
 * it says goes to its log (stderr; @pgfleet/core's daemon log: time and level on every line,
 * text or JSON), grpc-js's own diagnostics included; "listening on HOST:PORT" once bound (tests
 * read the port from it when listen asks for port 0). A configuration that cannot be used is
 * logged as an error and the process exits with its catalogue code.
 *
 * Shutdown is bounded. The first SIGTERM/SIGINT cancels every call in flight (a restore is
 * undone, a backup aborted: AgentServer.stop) and waits for them at most
 * shutdownGraceSeconds (agent.yaml, default 30); then the server is forced down and the
 * process exits, even if something it started has not ended (the log says what was
 * abandoned). Exit status 0 when every call ended in time, 1 when some were abandoned. A
 * second signal during the shutdown exits at once (status 128 + the signal's number),
 * abandoning whatever still runs.
 *
 * `--check-config` validates instead of serving: every problem of the file (status 31), or
 * that it is valid once its TLS files are read and its osUser exists (status 0).
 */

import os from 'node:os';
import path from 'node:path';
import { PgFleetError, createDaemonLog, errorFields, errorText, type LogFormat, type LogLevel } from '@pgfleet/core';
import { configError } from '@pgfleet/core/config';
import { readTlsFiles, routeGrpcLogs, serverCredentials } from '@pgfleet/proto';
import { checkAgentConfig, loadAgentConfig } from '../config.js';
import { AgentServer, TLS_FILES_HINT } from '../grpc/server.js';
import { resolveOwner } from '../instance/owner.js';
import { PROGRAM, printError } from './cli-output.js';

const SIGNALS = ['SIGINT', 'SIGTERM'] as const;

/** After stop(), how long the process may take to exit on its own before it is made to. */
const EXIT_GRACE_MS = 500;

export interface ServeFlags {
  config: string;
  insecure?: boolean;
  logFormat?: LogFormat;
  logLevel?: LogLevel;
}

export async function runServe(flags: ServeFlags): Promise<number> {
  const log = createDaemonLog({ name: PROGRAM, format: flags.logFormat ?? 'text', level: flags.logLevel ?? 'info' });
  routeGrpcLogs(log);
  let server: AgentServer;
  let graceSeconds: number;
  try {
    const config = await loadAgentConfig(flags.config, { insecure: flags.insecure === true });
    graceSeconds = config.shutdownGraceSeconds;
    // Servers this agent starts inherit it: their restore_command (pgfleet-agent wal-get) then
    // reads this configuration without a --config of its own.
    process.env['PGFLEET_AGENT_CONFIG'] ??= path.resolve(config.source);
    server = await AgentServer.start(config, { log });
    const host = config.listen.replace(/:[0-9]+$/, '');
    log.info(`listening on ${host}:${server.port}${config.tls ? ' (mutual TLS)' : ' (INSECURE: no TLS, no client authentication)'}`,
      { port: server.port, tls: config.tls !== null });
  } catch (err) {
    log.error(errorText(err), { error: errorFields(err) });
    return err instanceof PgFleetError ? err.code : 1;
  }
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    for (const s of SIGNALS) process.once(s, () => resolve(s));
  });
  // The once-listeners are gone: without these, a second signal would kill us silently.
  const again = (s: NodeJS.Signals): void => {
    const left = server.calls;
    log.warn(`${s} received again: exiting now` + (left.length > 0 ? `, abandoning ${left.length} call(s): ${left.join('; ')}` : ''));
    process.exit(128 + (os.constants.signals[s] ?? 0));
  };
  for (const s of SIGNALS) process.on(s, again);
  log.info(`${signal} received: shutting down (grace period ${graceSeconds} s)`);
  const summary = await server.stop(graceSeconds * 1000);
  const code = summary.unfinished.length > 0 ? 1 : 0;
  if (summary.unfinished.length > 0) log.warn(`stopped; ${summary.unfinished.length} call(s) abandoned`);
  else log.info('stopped');
  // Whatever an abandoned call left running (a child process, a timer) must not keep us alive.
  setTimeout(() => process.exit(code), EXIT_GRACE_MS).unref();
  return code;
}

/** `serve --check-config`: every problem of the configuration, or "is valid". */
export async function runCheckConfig(flags: ServeFlags): Promise<number> {
  try {
    const options = { insecure: flags.insecure === true };
    const { file, problems } = await checkAgentConfig(flags.config, options);
    if (problems.length > 0) {
      let code = 0;
      for (const p of problems) code = printError(configError(file, p));
      return code;
    }
    const config = await loadAgentConfig(flags.config, options);
    if (config.tls !== null) serverCredentials(await readTlsFiles(config.tls, TLS_FILES_HINT));
    resolveOwner(config.osUser);
    process.stdout.write(`configuration file "${file}" is valid\n`);
    return 0;
  } catch (err) {
    return printError(err);
  }
}
