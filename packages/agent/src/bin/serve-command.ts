/**
 * `pgfleet-agent serve --config agent.yaml [--insecure]`: runs the gRPC server until SIGINT or
 * SIGTERM, then cancels running restores (which clean up after themselves) and stops. Logs one
 * line per call to stderr; "listening on HOST:PORT" once bound (tests read the port from it
 * when listen asks for port 0).
 */

import { loadAgentConfig } from '../config.js';
import { AgentServer } from '../grpc/server.js';
import { info, printError } from './cli-output.js';

export async function runServe(flags: { config: string; insecure?: boolean }): Promise<number> {
  let server: AgentServer;
  try {
    const config = await loadAgentConfig(flags.config, { insecure: flags.insecure === true });
    server = await AgentServer.start(config, { log: (line) => info(line) });
    const host = config.listen.replace(/:[0-9]+$/, '');
    info(`listening on ${host}:${server.port}${config.tls ? ' (mutual TLS)' : ' (INSECURE: no TLS, no client authentication)'}`);
  } catch (err) {
    return printError(err);
  }
  await new Promise<void>((resolve) => {
    const stop = (): void => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  info('shutting down');
  await server.stop();
  return 0;
}
