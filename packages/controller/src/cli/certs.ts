/** `pgfleet certs init DIR`: a private CA and certificates for the controller, the CLI and agents. */
import type { Command } from 'commander';
import type { CertTool } from '@pgfleet/core';
import { InvalidOptionError } from '@pgfleet/core/errors';
import type { CommandContext } from './command-context.js';
import { printJson } from './output.js';

const collect = (value: string, previous: string[]): string[] => [...previous, value];

export function registerCerts(program: Command, ctx: CommandContext): void {
  const certs = program.command('certs').description('manage TLS certificates');
  certs.command('init')
    .description('create a CA and certificates in DIR (existing files are kept, missing ones added)')
    .argument('<dir>', 'output directory')
    .option('--agent <name>', 'an agent to make a certificate for (repeatable; default "agent")', collect, [])
    .option('--host <name>', 'extra host name or IP address for every certificate (repeatable)', collect, [])
    .option('--days <n>', 'validity of the leaf certificates in days', '825')
    .option('--tool <tool>', 'openssl, node or auto (openssl when installed)', 'auto')
    .option('--json', 'print the result as JSON')
    .action(async (dir: string, opts: { agent: string[]; host: string[]; days: string; tool: string; json?: boolean }) => {
      if (!['auto', 'openssl', 'node'].includes(opts.tool)) {
        throw new InvalidOptionError(`invalid value "${opts.tool}" for option --tool`, { hint: 'Use openssl, node or auto.' });
      }
      if (!/^\d+$/.test(opts.days)) throw new InvalidOptionError(`invalid value "${opts.days}" for option --days`);
      // core's index (pg, pino, the compressors...) only for the command that uses it.
      const { describeCertificates, initCertificates } = await import('@pgfleet/core');
      const result = await initCertificates({
        dir, agents: opts.agent, hosts: opts.host, days: Number(opts.days), tool: opts.tool as CertTool | 'auto',
      });
      if (opts.json) {
        printJson(ctx.io, result);
      } else {
        for (const line of describeCertificates(dir, result)) ctx.io.stdout(`${line}\n`);
      }
      ctx.setExitCode(0);
    });
}
