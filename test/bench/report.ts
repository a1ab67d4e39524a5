// Turns a finished bench (BenchReport) into text: an aligned table for the terminal and a
// Markdown table for the README, both with the same columns and notes. The JSON form is the
// BenchReport itself.
//
// Units follow pg_size_pretty: 1 MB = 2^20 bytes, 1 GB = 2^30 bytes. A tool cell that is not a
// number says why ("error", "n/a"); a tool that failed some but not all runs shows how many
// succeeded, e.g. "12.31 s (2/3)".

import type { DatasetInfo } from './dataset.js';
import type { RssSource } from './measure.js';
import type { BenchConnect } from './options.js';
import type { Sample, TargetCheck, ToolSummary, VariantRow } from './summary.js';
import { VARIANTS } from './variants.js';

export interface ExtraResult {
  /** e.g. "pgbackrest (compress-type=gz)". */
  name: string;
  ok: boolean;
  medianMs: number | null;
  peakRssKb: number | null;
  outputBytes: number | null;
  error?: string;
}

/** When, on what and at which commit a part of the bench ran. */
export interface RunHeader {
  startedAt: string;
  finishedAt: string;
  commit: string | null;
  node: string;
  cpus: number;
  memoryBytes: number;
  /** 1-minute load average when the measurements began and ended (other work skews timings). */
  loadAverage: { start: number; end: number };
}

export interface BenchReport extends RunHeader {
  pgBasebackup: { command: string; version: string };
  pgfleet: { command: string; version: string; substituted: boolean };
  dataset: DatasetInfo;
  runs: number;
  /** How the page cache was treated between measurements. */
  pageCache:
    | 'dropped before each backup'
    | 'kept between backups (--no-drop-caches)'
    | 'kept between backups (drop_caches not permitted)';
  /** How both tools reached the server (absent in reports from before the option). */
  connect?: BenchConnect;
  rssSource: RssSource;
  rows: VariantRow[];
  samples: Sample[];
  /** Other tools measured for reference (pgbackrest), or why they were not. */
  extra: { results: ExtraResult[]; note: string | null };
  allTargetsPass: boolean | null;
}

const MB = 2 ** 20;
const GB = 2 ** 30;

export function formatBytes(bytes: number | null): string {
  if (bytes === null) return 'n/a';
  return bytes >= GB ? `${(bytes / GB).toFixed(2)} GB` : `${(bytes / MB).toFixed(1)} MB`;
}

export function formatSeconds(ms: number | null): string {
  return ms === null ? 'n/a' : `${(ms / 1000).toFixed(2)} s`;
}

/**
 * One line that says why a tool failed, out of its output tail: the status prefix ("exit code
 * 1") and the last line that looks like an error message (a crash ends with a stack trace and
 * the node version, which say nothing), else the last non-empty line.
 */
export function errorSummary(text: string): string {
  const lines = text.split('\n').map((l) => l.trim()).filter((l) => l !== '');
  const status = /^(exit code \S+|signal \S+):/.exec(lines[0] ?? '')?.[1];
  const body = status ? [(lines[0] ?? '').slice(status.length + 1).trim(), ...lines.slice(1)].filter((l) => l !== '') : lines;
  const telling = [...body].reverse().find((l) => /error|fatal|failed|could not|cannot|killed|no such|denied/i.test(l) && !/^at /.test(l));
  const line = telling ?? body[body.length - 1] ?? 'no output';
  return status ? `${status}: ${line}` : line;
}

function formatRss(kb: number | null): string {
  return kb === null ? 'n/a' : `${((kb * 1024) / MB).toFixed(0)} MB`;
}

function toolTime(t: ToolSummary): string {
  if (t.runs === 0) return 'not run';
  if (t.okRuns === 0) return 'error';
  const partial = t.okRuns < t.runs ? ` (${t.okRuns}/${t.runs})` : '';
  return `${formatSeconds(t.medianMs)}${partial}`;
}

function compression(datasetBytes: number, output: number | null): string {
  return output === null || output === 0 ? 'n/a' : `${(datasetBytes / output).toFixed(2)}x`;
}

function verdict(pass: boolean | null): string {
  return pass === null ? 'n/a' : pass ? 'PASS' : 'FAIL';
}

function targetsCell(checks: readonly TargetCheck[]): string {
  return checks.map((c) => `${verdict(c.pass)} ${c.name} (${c.detail})`).join('; ');
}

const HEADER = [
  'variant',
  'time pg_basebackup',
  'time pgfleet',
  'ratio',
  'RSS pg_basebackup',
  'RSS pgfleet',
  'size pg_basebackup',
  'size pgfleet',
  'compression pg/pgfleet',
  'targets',
];

function rowCells(row: VariantRow, datasetBytes: number): string[] {
  return [
    row.variant,
    toolTime(row.pg_basebackup),
    toolTime(row.pgfleet),
    row.timeRatio === null ? 'n/a' : row.timeRatio.toFixed(2),
    formatRss(row.pg_basebackup.peakRssKb),
    formatRss(row.pgfleet.peakRssKb),
    formatBytes(row.pg_basebackup.outputBytes),
    formatBytes(row.pgfleet.outputBytes),
    `${compression(datasetBytes, row.pg_basebackup.outputBytes)} / ${compression(datasetBytes, row.pgfleet.outputBytes)}`,
    targetsCell(row.targets),
  ];
}

function headline(report: BenchReport): string[] {
  const d = report.dataset;
  const lines = [
    `dataset ${d.key}: ${formatBytes(d.sizes.totalBytes)} = main directory ${formatBytes(d.sizes.mainBytes)} ` +
      `(pgbench scale ${d.scale}) + tablespace ts1 ${formatBytes(d.sizes.tablespaceBytes)} (${d.eventsRows} rows)`,
    `runs: ${report.runs} per tool and variant after one backup not counted (warm-up), median time, max peak RSS; each tool follows the other in turn; page cache ${report.pageCache}`,
    `peak RSS from ${report.rssSource === 'gnu-time' ? 'GNU time %M (max over the process and its children)' : '/proc VmHWM polled every 50 ms'}`,
    `pg_basebackup: ${report.pgBasebackup.command} (${report.pgBasebackup.version})`,
    `pgfleet: ${report.pgfleet.command} (${report.pgfleet.version})` +
      (report.pgfleet.substituted ? ' -- SUBSTITUTED, not pgfleet-basebackup' : ''),
    `machine: ${report.cpus} CPUs, ${formatBytes(report.memoryBytes)} RAM, load average ${report.loadAverage.start.toFixed(2)} at start, ` +
      `${report.loadAverage.end.toFixed(2)} at end; node ${report.node}, commit ${report.commit ?? 'unknown'}`,
  ];
  return lines;
}

function notes(report: BenchReport): string[] {
  const lines: string[] = [];
  for (const row of report.rows) {
    for (const tool of ['pg_basebackup', 'pgfleet'] as const) {
      for (const error of row[tool].errors) {
        lines.push(`${row.variant} / ${tool} failed: ${errorSummary(error)}`);
      }
    }
  }
  lines.push(
    'compression = dataset size / output size (output includes WAL and backup_manifest); ratio = pgfleet time / pg_basebackup time',
  );
  lines.push(`flags: ${report.rows.map((r) => `${r.variant}: ${VARIANTS[r.variant].flags}`).join('; ')}`);
  lines.push(`connection: ${report.connect === 'socket' ? 'the server\'s Unix socket (--connect socket)' : 'TCP to 127.0.0.1'}`);
  for (const extra of report.extra.results) {
    lines.push(
      extra.ok
        ? `${extra.name}: ${formatSeconds(extra.medianMs)}, peak RSS ${formatRss(extra.peakRssKb)}, size ${formatBytes(extra.outputBytes)}`
        : `${extra.name}: error: ${errorSummary(extra.error ?? '')}`,
    );
  }
  if (report.extra.note) lines.push(report.extra.note);
  const overall = verdict(report.allTargetsPass);
  lines.push(`targets overall: ${overall}`);
  return lines;
}

export function renderText(report: BenchReport): string {
  const rows = [HEADER, ...report.rows.map((r) => rowCells(r, report.dataset.sizes.totalBytes))];
  // Every column but the last (targets, free text) is padded to its widest cell.
  const widths = HEADER.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string =>
    cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ').trimEnd();
  return [
    ...headline(report),
    '',
    line(rows[0] as string[]),
    ...rows.slice(1).map(line),
    '',
    ...notes(report),
    '',
  ].join('\n');
}

function mdEscape(text: string): string {
  return text.replace(/\|/g, '\\|');
}

export function renderMarkdown(report: BenchReport): string {
  const rows = report.rows.map((r) => rowCells(r, report.dataset.sizes.totalBytes));
  return [
    `### pgfleet-basebackup vs pg_basebackup (${report.finishedAt.slice(0, 10)})`,
    '',
    ...headline(report).map((l) => `- ${mdEscape(l)}`),
    '',
    `| ${HEADER.join(' | ')} |`,
    `|${HEADER.map((_, i) => (i === 0 || i === HEADER.length - 1 ? ' --- ' : ' ---: ')).join('|')}|`,
    ...rows.map((cells) => `| ${cells.map(mdEscape).join(' | ')} |`),
    '',
    ...notes(report).map((l) => `- ${mdEscape(l)}`),
    '',
  ].join('\n');
}
