/**
 * `pgfleet wal [CLUSTER] [--json]`: each cluster's continuous WAL archive: whether its receiver
 * streams (or since when and why not), the received and flushed positions, the lag behind the
 * server in bytes and seconds, what the slot retains on the server, the archive's range per
 * timeline with its gaps, and the restore window (earliest: the end of the oldest backup the
 * archive carries forward; latest: the archive's durable end), and, right below the first line,
 * an ERROR with its HINT for each stretch of WAL the server removed before the archive received
 * it. `--json` prints an array with the same fields (numbers null when unknown; `removedWal`).
 */
import type { Command } from 'commander';
import type { ClusterWalStatus__Output, ListWalResponse__Output } from '@pgfleet/proto';
import { callUnary, connectController } from './client.js';
import { addConnectionOptions, connectionOptions, type CommandContext } from './command-context.js';
import { formatBytes, printJson } from './output.js';

function walJson(c: ClusterWalStatus__Output): object {
  const num = (v: string | number): number | null => (Number(v) < 0 ? null : Number(v));
  const text = (v: string): string | null => (v === '' ? null : v);
  return {
    cluster: c.cluster, archive: c.archive, via: c.via, state: c.state, since: c.since, stalledSince: text(c.stalledSince), reason: text(c.reason), reasonCode: c.reasonCode || null,
    slot: c.slot, applicationName: c.applicationName, synchronous: c.synchronous, compression: c.compression,
    systemIdentifier: text(c.systemIdentifier), timeline: c.timeline || null,
    receivedLsn: text(c.receivedLsn), flushedLsn: text(c.flushedLsn), serverLsn: text(c.serverLsn),
    lagBytes: num(c.lagBytes), lagSeconds: num(c.lagSeconds), slotRetainedBytes: num(c.slotRetainedBytes), maxRetainedBytes: num(c.maxRetainedBytes),
    retainedOverLimit: c.retainedOverLimit, warnings: c.warnings, refusedPushes: c.refusedPushes, lastAckAt: text(c.lastAckAt),
    timelines: c.timelines.map((t) => ({
      timeline: t.timeline, firstSegment: t.firstSegment, lastSegment: t.lastSegment, startLsn: t.startLsn, endLsn: text(t.endLsn),
      completeSegments: t.completeSegments, partial: text(t.partial), history: t.history, gaps: t.gaps,
    })),
    gaps: c.gaps,
    removedWal: c.removedWal.map((n) => ({
      timeline: n.timeline, firstMissing: n.firstMissing, detectedAt: n.detectedAt, resumedAt: text(n.resumedAt), serverError: n.serverError,
      message: n.message, hint: n.hint,
    })),
    restoreWindow: {
      earliest: c.restoreFrom ? { lsn: c.restoreFrom.lsn, time: text(c.restoreFrom.time), backupId: text(c.restoreFrom.backupId) } : null,
      latest: c.restoreTo ? { lsn: c.restoreTo.lsn, time: text(c.restoreTo.time) } : null,
    },
  };
}

function walText(c: ClusterWalStatus__Output): string {
  const lines = [`cluster "${c.cluster}" (${c.via}): ${c.archive === 'none' ? 'no WAL archive (wal: { archive: none })' : `${c.state} since ${c.since.replace(/\.\d+Z$/, 'Z')}`}`];
  if (c.archive === 'none') return `${lines[0]}\n`;
  for (const n of c.removedWal) lines.push(`  ERROR:      ${n.message}`, `  HINT:       ${n.hint}`);
  if (c.reason !== '' && c.state !== 'streaming') lines.push(`  why:        ${c.reason}`);
  if (c.stalledSince !== '' && c.state !== 'streaming') lines.push(`  stalled:    not streaming since ${c.stalledSince.replace(/\.\d+Z$/, 'Z')}`);
  lines.push(`  slot:       ${c.slot} (application_name ${c.applicationName}${c.synchronous ? ', synchronous' : ''}), compression ${c.compression}`);
  lines.push(`  received:   ${c.receivedLsn || '-'}   flushed: ${c.flushedLsn || '-'}   server: ${c.serverLsn || '-'}   timeline ${c.timeline || '-'}`);
  const lag = Number(c.lagBytes) < 0 ? 'unknown' : `${formatBytes(Number(c.lagBytes))}, ${c.lagSeconds.toFixed(1)} s`;
  const retained = Number(c.slotRetainedBytes) < 0 ? 'unknown' : formatBytes(Number(c.slotRetainedBytes));
  lines.push(`  lag:        ${lag}   slot retains: ${retained}${c.retainedOverLimit ? ` (over the limit of ${formatBytes(Number(c.maxRetainedBytes))})` : ''}`);
  for (const t of c.timelines) {
    lines.push(`  timeline ${t.timeline}: ${t.firstSegment} .. ${t.lastSegment}${t.partial ? ' (partial)' : ''}, ${t.completeSegments} complete, ${t.startLsn} - ${t.endLsn || '?'}${t.gaps.length > 0 ? `, gaps: ${t.gaps.map((g) => `${g.from}..${g.to}`).join(', ')}` : ''}`);
  }
  lines.push(`  restore:    ${c.restoreFrom ? `${c.restoreFrom.time || c.restoreFrom.lsn} (backup ${c.restoreFrom.backupId})` : 'no backup the archive carries forward'} .. ${c.restoreTo ? `${c.restoreTo.time || '?'} (${c.restoreTo.lsn})` : '-'}`);
  for (const w of c.warnings) lines.push(`  warning:    ${w}`);
  for (const r of c.refusedPushes) lines.push(`  refused:    ${r}`);
  return `${lines.join('\n')}\n`;
}

export function registerWal(program: Command, ctx: CommandContext): void {
  addConnectionOptions(program.command('wal').description('show each cluster\'s continuous WAL archive: receiver, lag, slot, range, gaps, restore window'))
    .argument('[cluster]', 'only this cluster')
    .option('--json', 'print the result as JSON')
    .action(async (cluster: string | undefined, opts: Record<string, unknown>) => {
      const conn = await connectController(connectionOptions(opts), ctx.io.env);
      try {
        const res = await callUnary<object, ListWalResponse__Output>(conn, conn.client.listWal.bind(conn.client), { cluster: cluster ?? '' }, 'ListWal');
        if (opts['json']) printJson(ctx.io, res.clusters.map(walJson));
        else ctx.io.stdout(res.clusters.map(walText).join('\n'));
        ctx.setExitCode(0);
      } finally {
        conn.close();
      }
    });
}
