/**
 * `pgfleet-agent serve --config agent.yaml [--insecure]`: runs the gRPC server until SIGINT or
 * SIGTERM. Logs one line per call to stderr; "listening on HOST:PORT" once bound (tests read
 * the port from it when listen asks for port 0).
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
import { configError } from '@pgfleet/core';
import { readTlsFiles, serverCredentials } from '@pgfleet/proto';
import { checkAgentConfig, loadAgentConfig } from '../config.js';
import { AgentServer, TLS_FILES_HINT } from '../grpc/server.js';
import { resolveOwner } from '../restore/owner.js';
import { info, printError } from './cli-output.js';

const SIGNALS = ['SIGINT', 'SIGTERM'] as const;

/** After stop(), how long the process may take to exit on its own before it is made to. */
const EXIT_GRACE_MS = 500;

export async function runServe(flags: { config: string; insecure?: boolean }): Promise<number> {
  let server: AgentServer;
  let graceSeconds: number;
  try {
    const config = await loadAgentConfig(flags.config, { insecure: flags.insecure === true });
    graceSeconds = config.shutdownGraceSeconds;
    server = await AgentServer.start(config, { log: (line) => info(line) });
    const host = config.listen.replace(/:[0-9]+$/, '');
    info(`listening on ${host}:${server.port}${config.tls ? ' (mutual TLS)' : ' (INSECURE: no TLS, no client authentication)'}`);
  } catch (err) {
    return printError(err);
  }
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    for (const s of SIGNALS) process.once(s, () => resolve(s));
  });
  // The once-listeners are gone: without these, a second signal would kill us silently.
  const again = (s: NodeJS.Signals): void => {
    const left = server.calls;
    info(`${s} received again: exiting now` + (left.length > 0 ? `, abandoning ${left.length} call(s): ${left.join('; ')}` : ''));
    process.exit(128 + (os.constants.signals[s] ?? 0));
  };
  for (const s of SIGNALS) process.on(s, again);
  info(`${signal} received: shutting down (grace period ${graceSeconds} s)`);
  const summary = await server.stop(graceSeconds * 1000);
  const code = summary.unfinished.length > 0 ? 1 : 0;
  info(summary.unfinished.length > 0 ? `stopped; ${summary.unfinished.length} call(s) abandoned` : 'stopped');
  // Whatever an abandoned call left running (a child process, a timer) must not keep us alive.
  setTimeout(() => process.exit(code), EXIT_GRACE_MS).unref();
  return code;
}

/** `serve --check-config`: every problem of the configuration, or "is valid". */
export async function runCheckConfig(flags: { config: string; insecure?: boolean }): Promise<number> {
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
