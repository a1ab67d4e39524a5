/**
 * `pgfleet agents`: the configured agents, reachable or not, with versions and capabilities.
 * Exit status 0 when every agent answered with a compatible protocol; otherwise the code of
 * the first agent's error in the listed order (40 unreachable, 53 incompatible, ...).
 */
import type { Command } from 'commander';
import type { ListAgentsResponse__Output } from '@pgfleet/proto';
import { callUnary, connectController } from './client.js';
import { addConnectionOptions, connectionOptions, type CommandContext } from './command-context.js';
import { formatTable, printJson } from './output.js';

export function registerAgents(program: Command, ctx: CommandContext): void {
  addConnectionOptions(program.command('agents').description('list the agents and whether they answer'))
    .option('--json', 'print the result as JSON')
    .action(async (opts: Record<string, unknown>) => {
      const conn = await connectController(connectionOptions(opts), ctx.io.env);
      try {
        const res = await callUnary<object, ListAgentsResponse__Output>(conn, conn.client.listAgents.bind(conn.client), {}, 'ListAgents');
        if (opts['json']) {
          printJson(ctx.io, res.agents.map((a) => ({
            name: a.name, address: a.address, reachable: a.reachable, compatible: a.compatible,
            version: a.pgfleetVersion, protocolVersion: a.protocolVersion, hostname: a.hostname, capabilities: a.capabilities,
            error: a.error ? { id: a.error.id, code: a.error.code, message: a.error.message, hint: a.error.hint } : null,
          })));
        } else {
          ctx.io.stdout(formatTable(['NAME', 'ADDRESS', 'STATUS', 'VERSION', 'HOST'], res.agents.map((a) => [
            a.name, a.address, a.compatible ? 'ok' : a.reachable ? 'incompatible' : 'unreachable',
            a.pgfleetVersion ? `${a.pgfleetVersion} (protocol ${a.protocolVersion})` : '', a.hostname,
          ])));
          for (const a of res.agents) {
            if (a.error) ctx.io.stdout(`agent "${a.name}": ${a.error.message}${a.error.hint ? `\nHINT: ${a.error.hint}` : ''}\n`);
          }
        }
        const bad = res.agents.find((a) => !a.compatible);
        ctx.setExitCode(bad === undefined ? 0 : bad.error?.code || 40);
      } finally {
        conn.close();
      }
    });
}
