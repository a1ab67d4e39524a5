/**
 * grpc-js writes its own diagnostics with console.error ("E 2026-... | ..."), outside the
 * daemon's log: without a timestamp in its format, without a level it can filter, and in the
 * middle of JSON lines. routeGrpcLogs() hands them to the daemon's log instead, at their level
 * (grpc-js's ERROR as warn: it reports what it recovers from itself; a failing call reaches
 * the daemon as the call's error), marked with `source: "grpc-js"`. Which of them are kept is
 * the daemon's --log-level (grpc-js's own verbosity is opened fully for that; GRPC_VERBOSITY no
 * longer matters). Tracing (GRPC_TRACE) still works, and arrives as debug lines.
 */
import * as grpc from '@grpc/grpc-js';
import type { DaemonLog } from '@pgfleet/core';

/** grpc-js's text without the timestamp it puts first. */
function textOf(args: unknown[]): string {
  return args.map((a) => (a instanceof Error ? a.message : String(a))).join(' ').replace(/^\d{4}-\d\d-\d\dT[^ ]+ \| /, '');
}

/** Sends grpc-js's diagnostics to `log` (the setting is process-wide). */
export function routeGrpcLogs(log: DaemonLog): void {
  grpc.setLogger({
    error: (...args: unknown[]) => log.warn(`grpc: ${textOf(args)}`, { source: 'grpc-js' }),
    info: (...args: unknown[]) => log.info(`grpc: ${textOf(args)}`, { source: 'grpc-js' }),
    debug: (...args: unknown[]) => log.debug(`grpc: ${textOf(args)}`, { source: 'grpc-js' }),
  } as unknown as Partial<Console>);
  grpc.setLogVerbosity(grpc.logVerbosity.DEBUG);
}
