// The WAL line of the bench: what wal.ts measured for pgfleet-receivewal and pg_receivewal 15
// under one pgbench write load, the issue's targets, and its text and Markdown forms.
//
// The targets (from the issue): pgfleet-receivewal's CPU time at most 2x pg_receivewal's in the
// same run, its lag never above 2 WAL segments, its peak RSS under 100 MB. A target that could
// not be evaluated (a receiver failed) is n/a, never a pass. The CPU target compares the time
// spent streaming (the measured load, after a warm-up load): a receiver runs for days, and
// node's start-up (~0.3 s of CPU loading its modules, then compiling its hot paths in the first
// seconds of streaming, once) would otherwise weigh as much as pg_receivewal's whole minute of
// streaming; the ratio of the whole processes, start-up and warm-up included, is printed beside it.

import { formatBytes } from './report.js';

export const WAL_CPU_RATIO_MAX = 2;
export const WAL_LAG_MAX_SEGMENTS = 2;
export const WAL_RSS_MAX_BYTES = 100 * 1024 * 1024;

export type WalToolId = 'pg_receivewal' | 'pgfleet';
export const WAL_TOOLS: readonly WalToolId[] = ['pg_receivewal', 'pgfleet'];

export interface WalToolResult {
  /** The command line that ran. */
  command: string;
  version: string;
  ok: boolean;
  /** user + system CPU seconds of the process while streaming: from the start of the measured
   * load (after the warm-up) to the stop. */
  cpuSeconds: number | null;
  /** The same for the whole process, start-up included (node loading its modules: ~0.3 s). */
  cpuTotalSeconds: number | null;
  /** Of cpuSeconds, the process's main thread (the rest: other threads, e.g. node's GC helpers,
   * compiler and file system threadpool); absent when not measured. */
  cpuMainThreadSeconds?: number | null;
  peakRssKb: number | null;
  /** Largest and mean distance between the server's flushed WAL and what it had sent to this receiver. */
  maxLagBytes: number | null;
  meanLagBytes: number | null;
  /** Seconds from the end of the load until the receiver had everything. */
  catchUpSeconds: number | null;
  error?: string;
}

export interface WalCheck {
  name: string;
  pass: boolean | null;
  detail: string;
}

export interface WalBenchReport {
  startedAt: string;
  finishedAt: string;
  commit: string | null;
  node: string;
  cpus: number;
  loadAverage: { start: number; end: number };
  serverVersion: string;
  segmentBytes: number;
  pgbench: { scale: number; clients: number; seconds: number; tps: number | null };
  /** WAL written by the server during the load. */
  walBytes: number;
  /** How often the lag was sampled. */
  samples: number;
  /** Complete segments both receivers wrote, and whether they are byte-identical. */
  segmentsCompared: number;
  segmentsIdentical: boolean | null;
  tools: Record<WalToolId, WalToolResult>;
  cpuRatio: number | null;
  targets: WalCheck[];
  allTargetsPass: boolean | null;
}

/** pgfleet's CPU time / pg_receivewal's while streaming (or, with `total`, whole processes), or null. */
export function walCpuRatio(tools: Record<WalToolId, WalToolResult>, total = false): number | null {
  const a = total ? tools.pgfleet.cpuTotalSeconds : tools.pgfleet.cpuSeconds;
  const b = total ? tools.pg_receivewal.cpuTotalSeconds : tools.pg_receivewal.cpuSeconds;
  return a === null || b === null || b <= 0 ? null : a / b;
}

export function evaluateWalTargets(report: Pick<WalBenchReport, 'tools' | 'cpuRatio' | 'segmentBytes'>): WalCheck[] {
  const ours = report.tools.pgfleet;
  const cpuName = `CPU streaming <= ${WAL_CPU_RATIO_MAX}x pg_receivewal`;
  const lagName = `lag <= ${WAL_LAG_MAX_SEGMENTS} segments`;
  const rssName = `peak RSS < ${WAL_RSS_MAX_BYTES / 2 ** 20} MB`;
  const lagSegments = ours.maxLagBytes === null ? null : ours.maxLagBytes / report.segmentBytes;
  return [
    report.cpuRatio === null
      ? { name: cpuName, pass: null, detail: 'not measured' }
      : { name: cpuName, pass: report.cpuRatio <= WAL_CPU_RATIO_MAX, detail: `ratio ${report.cpuRatio.toFixed(2)}` },
    lagSegments === null
      ? { name: lagName, pass: null, detail: 'not measured' }
      : { name: lagName, pass: lagSegments <= WAL_LAG_MAX_SEGMENTS, detail: `max ${lagSegments.toFixed(2)}` },
    ours.peakRssKb === null
      ? { name: rssName, pass: null, detail: 'not measured' }
      : { name: rssName, pass: ours.peakRssKb * 1024 < WAL_RSS_MAX_BYTES, detail: `${Math.round(ours.peakRssKb / 1024)} MB` },
  ];
}

export function walTargetsPass(checks: readonly WalCheck[]): boolean | null {
  if (checks.some((c) => c.pass === false)) return false;
  if (checks.length === 0 || checks.some((c) => c.pass === null)) return null;
  return true;
}

function verdict(pass: boolean | null): string {
  return pass === null ? 'n/a' : pass ? 'PASS' : 'FAIL';
}

function cpu(t: WalToolResult): string {
  return t.ok && t.cpuSeconds !== null ? `${t.cpuSeconds.toFixed(2)} s` : 'error';
}

function lag(t: WalToolResult, segmentBytes: number): string {
  if (t.maxLagBytes === null) return 'n/a';
  return `${formatBytes(t.maxLagBytes)} (${(t.maxLagBytes / segmentBytes).toFixed(2)} seg)`;
}

const HEADER = ['receiver', 'CPU streaming', 'CPU total', 'max lag', 'mean lag', 'catch-up', 'peak RSS'];

function rows(report: WalBenchReport): string[][] {
  return WAL_TOOLS.map((id) => {
    const t = report.tools[id];
    return [
      id === 'pgfleet' ? 'pgfleet-receivewal' : 'pg_receivewal',
      cpu(t),
      t.ok && t.cpuTotalSeconds !== null ? `${t.cpuTotalSeconds.toFixed(2)} s` : 'error',
      lag(t, report.segmentBytes),
      t.meanLagBytes === null ? 'n/a' : formatBytes(t.meanLagBytes),
      t.catchUpSeconds === null ? 'n/a' : `${t.catchUpSeconds.toFixed(2)} s`,
      t.peakRssKb === null ? 'n/a' : `${Math.round(t.peakRssKb / 1024)} MB`,
    ];
  });
}

function headline(report: WalBenchReport): string[] {
  const p = report.pgbench;
  const lines = [
    `load: pgbench -c ${p.clients} -T ${p.seconds} (scale ${p.scale}${p.tps === null ? '' : `, ${p.tps.toFixed(0)} tps`}) on PostgreSQL ${report.serverVersion}; ` +
      `${formatBytes(report.walBytes)} of WAL in ${formatBytes(report.segmentBytes)} segments, both receivers streaming it at once through slots`,
    `lag = the server's flushed WAL minus what it has sent to the receiver (pg_stat_replication.sent_lsn; a receiver that falls behind stops reading and holds the server back), sampled ${report.samples} times`,
    `CPU = user + system time of the receiver process (/proc): streaming = the measured load, after 5 s of warm-up load, to the stop (the target); total = the whole process, start-up and warm-up included; peak RSS = VmHWM`,
    `pg_receivewal: ${report.tools.pg_receivewal.command} (${report.tools.pg_receivewal.version})`,
    `pgfleet: ${report.tools.pgfleet.command} (${report.tools.pgfleet.version})`,
    `machine: ${report.cpus} CPUs, load average ${report.loadAverage.start.toFixed(2)} at start, ${report.loadAverage.end.toFixed(2)} at end; ` +
      `node ${report.node}, commit ${report.commit ?? 'unknown'}`,
  ];
  return lines;
}

function notes(report: WalBenchReport): string[] {
  const lines: string[] = [];
  for (const id of WAL_TOOLS) {
    const e = report.tools[id].error;
    if (e) lines.push(`${id} failed: ${e}`);
  }
  lines.push(report.segmentsIdentical === null
    ? 'completed segments: not compared'
    : `completed segments: ${report.segmentsCompared} written by both, ${report.segmentsIdentical ? 'byte-identical' : 'DIFFERENT'}`);
  for (const id of WAL_TOOLS) {
    const t = report.tools[id];
    if (t.cpuMainThreadSeconds !== undefined && t.cpuMainThreadSeconds !== null && t.cpuSeconds !== null) {
      lines.push(`${id === 'pgfleet' ? 'pgfleet-receivewal' : id} CPU streaming by thread: main ${t.cpuMainThreadSeconds.toFixed(2)} s, ` +
        `others ${(t.cpuSeconds - t.cpuMainThreadSeconds).toFixed(2)} s`);
    }
  }
  const total = walCpuRatio(report.tools, true);
  lines.push(`CPU ratio pgfleet / pg_receivewal: ${report.cpuRatio === null ? 'n/a' : report.cpuRatio.toFixed(2)} streaming, ` +
    `${total === null ? 'n/a' : total.toFixed(2)} with start-up`);
  lines.push(`targets: ${report.targets.map((c) => `${verdict(c.pass)} ${c.name} (${c.detail})`).join('; ')}`);
  lines.push(`WAL targets overall: ${verdict(report.allTargetsPass)}`);
  return lines;
}

export function renderWalText(report: WalBenchReport): string {
  const table = [HEADER, ...rows(report)];
  const widths = HEADER.map((_, i) => Math.max(...table.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd();
  return ['WAL: pgfleet-receivewal vs pg_receivewal', ...headline(report), '', ...table.map(line), '', ...notes(report), ''].join('\n');
}

export function renderWalMarkdown(report: WalBenchReport): string {
  const esc = (t: string) => t.replace(/\|/g, '\\|');
  return [
    `### pgfleet-receivewal vs pg_receivewal (${report.finishedAt.slice(0, 10)})`,
    '',
    ...headline(report).map((l) => `- ${esc(l)}`),
    '',
    `| ${HEADER.join(' | ')} |`,
    `|${HEADER.map((_, i) => (i === 0 ? ' --- ' : ' ---: ')).join('|')}|`,
    ...rows(report).map((cells) => `| ${cells.map(esc).join(' | ')} |`),
    '',
    ...notes(report).map((l) => `- ${esc(l)}`),
    '',
  ].join('\n');
}
