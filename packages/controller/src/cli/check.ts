/**
 * `pgfleet check [CLUSTER...] [--json | --nagios]`: is every cluster protected right now? Per
 * cluster one line per check, OK, FAILED or SKIPPED with what was found (daemon/cluster-checks.ts).
 * Exit status 0 when every check passed, 1 when one failed (a command that could not run at
 * all exits with its error's catalogue code). `--nagios` prints one line and exits with
 * Nagios's codes: 0 OK, 2 CRITICAL (a check failed), 3 UNKNOWN (no answer from the controller).
 */
import type { Command } from 'commander';
import type { CheckClustersResponse__Output } from '@pgfleet/proto';
import { callUnary, connectController, loadWire } from './client.js';
import { addConnectionOptions, connectionOptions, type CommandContext } from './command-context.js';
import { printJson } from './output.js';

/** The exit status when a check failed. */
export const CHECK_FAILED_EXIT = 1;
export const NAGIOS = { ok: 0, warning: 1, critical: 2, unknown: 3 } as const;

const oneLine = (s: string): string => s.replace(/\s*\n\s*/g, ' ').replace(/\|/g, '/');

function nagiosLine(res: CheckClustersResponse__Output): { line: string; code: number } {
  const all = res.clusters.flatMap((c) => c.checks.map((k) => ({ cluster: c.cluster, ...k })));
  const failed = all.filter((k) => !k.ok);
  const perf = `| clusters=${res.clusters.length} checks=${all.length} failed=${failed.length}`;
  if (failed.length === 0) return { line: `PGFLEET OK - ${res.clusters.length} clusters, ${all.length} checks passed ${perf}`, code: NAGIOS.ok };
  const what = failed.map((k) => `${k.cluster} ${k.name}: ${oneLine(k.message)}`).join('; ');
  return { line: `PGFLEET CRITICAL - ${failed.length} of ${all.length} checks failed: ${what} ${perf}`, code: NAGIOS.critical };
}

export function registerCheck(program: Command, ctx: CommandContext): void {
  addConnectionOptions(program.command('check').description('check that every cluster is protected (agent, server, WAL, backups, repository)'))
    .argument('[clusters...]', 'only these clusters (default: all)')
    .option('--json', 'print the result as JSON')
    .option('--nagios', 'print one line and exit with Nagios codes (0 OK, 2 CRITICAL, 3 UNKNOWN)')
    .action(async (clusters: string[], opts: Record<string, unknown>) => {
      let res: CheckClustersResponse__Output;
      try {
        const conn = await connectController(connectionOptions(opts), ctx.io.env);
        try {
          res = await callUnary<object, CheckClustersResponse__Output>(conn, conn.client.checkClusters.bind(conn.client), { clusters }, 'CheckClusters');
        } finally {
          conn.close();
        }
      } catch (err) {
        if (!opts['nagios']) throw err;
        const { asPgFleetError } = await loadWire();
        ctx.io.stdout(`PGFLEET UNKNOWN - ${oneLine(asPgFleetError(err).message)}\n`);
        ctx.setExitCode(NAGIOS.unknown);
        return;
      }
      const failed = res.clusters.some((c) => c.checks.some((k) => !k.ok));
      if (opts['nagios']) {
        const { line, code } = nagiosLine(res);
        ctx.io.stdout(`${line}\n`);
        ctx.setExitCode(code);
        return;
      }
      if (opts['json']) {
        printJson(ctx.io, res.clusters.map((c) => ({
          cluster: c.cluster,
          ok: c.checks.every((k) => k.ok),
          checks: c.checks.map((k) => ({ name: k.name, status: k.skipped ? 'skipped' : k.ok ? 'ok' : 'failed', message: k.message, hint: k.hint || null })),
        })));
      } else {
        const width = Math.max(...res.clusters.flatMap((c) => c.checks.map((k) => k.name.length)), 4);
        for (const c of res.clusters) {
          ctx.io.stdout(`cluster "${c.cluster}"\n`);
          for (const k of c.checks) {
            ctx.io.stdout(`  ${`${k.name}:`.padEnd(width + 1)} ${k.skipped ? 'SKIPPED' : k.ok ? 'OK' : 'FAILED'} (${oneLine(k.message)})\n`);
            if (!k.ok && k.hint) ctx.io.stdout(`  ${' '.repeat(width + 1)} HINT: ${k.hint}\n`);
          }
        }
      }
      ctx.setExitCode(failed ? CHECK_FAILED_EXIT : 0);
    });
}
