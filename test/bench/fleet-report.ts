// The fleet part's report: what fleet.ts measured (FleetBenchReport, also the JSON form) as an
// aligned table for the terminal and a Markdown table for the README, with the same columns.
//
// One line per job, compression and tool: median time, the ratio against pgBackRest with
// process-max=2 and =1 (pgfleet / pgBackRest: below 1 pgfleet is faster), CPU seconds per GiB of
// dataset of the tool's own processes, then each process's CPU s/GiB and peak RSS (cli, agent,
// controller; pgbackrest = all of pgBackRest's processes; server = PostgreSQL backends that
// ended during the job), and the size stored in the repository (backups).

import { errorSummary, formatBytes, formatSeconds, type RunHeader } from './report.js';
import {
  isPgfleet, perGb, timeRatio, toolLabel, type FleetRow, type FleetSample, type FleetTarget, type FleetToolSummary, type RoleSummary,
} from './fleet-summary.js';

export interface FleetBenchReport extends RunHeader {
  dataset: { key: string; totalBytes: number; mainBytes: number; tablespaceBytes: number };
  runs: number;
  pageCache: string;
  pgbackrest: { command: string; version: string; installedByBench: boolean } | null;
  /** Things the reader must know (how each tool was run, what failed to set up). */
  notes: string[];
  rows: FleetRow[];
  targets: FleetTarget[];
  samples: FleetSample[];
}

const HEADER = ['job', 'compression', 'tool', 'time', 'vs pm=2', 'vs pm=1', 'CPU s/GB', 'processes: CPU s/GB, peak RSS', 'stored'];

function verdict(pass: boolean | null): string {
  return pass === null ? 'n/a' : pass ? 'PASS' : 'FAIL';
}

function toolTime(t: FleetToolSummary): string {
  if (t.runs === 0) return 'not run';
  if (t.okRuns === 0) return 'error';
  return `${formatSeconds(t.medianMs)}${t.okRuns < t.runs ? ` (${t.okRuns}/${t.runs})` : ''}`;
}

function ratioCell(value: number | null): string {
  return value === null ? 'n/a' : value.toFixed(2);
}

function perGbCell(seconds: number | null, datasetBytes: number): string {
  const v = perGb(seconds, datasetBytes);
  return v === null ? 'n/a' : v.toFixed(2);
}

function roleCell(role: RoleSummary, datasetBytes: number): string {
  const cpu = perGbCell(role.cpuSeconds, datasetBytes);
  return role.peakRssKb === null ? `${role.role} ${cpu}` : `${role.role} ${cpu} ${Math.round(role.peakRssKb / 1024)} MB`;
}

export function fleetRowCells(row: FleetRow, datasetBytes: number): string[][] {
  return row.tools.filter((t) => t.runs > 0).map((t) => {
    const versus = (base: 'pgbackrest-pm1' | 'pgbackrest-pm2'): string =>
      (t.tool.startsWith('pgbackrest') ? (t.tool === base ? '1.00' : '') : ratioCell(timeRatio(row, t.tool, base)));
    return [
      row.job,
      row.compression,
      toolLabel(row.job, t.tool),
      toolTime(t),
      t.okRuns === 0 ? '' : versus('pgbackrest-pm2'),
      t.okRuns === 0 ? '' : versus('pgbackrest-pm1'),
      t.okRuns === 0 ? '' : perGbCell(t.cpuSeconds, datasetBytes),
      t.roles.map((r) => roleCell(r, datasetBytes)).join(', '),
      row.job === 'backup' ? formatBytes(t.storedBytes) : '',
    ];
  });
}

function headline(report: FleetBenchReport): string[] {
  const d = report.dataset;
  return [
    `dataset ${d.key}: ${formatBytes(d.totalBytes)} (main directory ${formatBytes(d.mainBytes)} + tablespace ts1 ${formatBytes(d.tablespaceBytes)})`,
    `runs: ${report.runs} per tool, job and compression after one job not counted (warm-up); medians (peak RSS: max); each tool follows each other tool in turn; page cache ${report.pageCache}`,
    `pgBackRest: ${report.pgbackrest === null ? 'not run (see below)' : `${report.pgbackrest.command} (${report.pgbackrest.version})` +
      `${report.pgbackrest.installedByBench ? ', installed by this bench run (apt-get install pgbackrest)' : ''}`}`,
    `machine: ${report.cpus} CPUs, ${formatBytes(report.memoryBytes)} RAM, load average ${report.loadAverage.start.toFixed(2)} at start, ` +
      `${report.loadAverage.end.toFixed(2)} at end; node ${report.node}, commit ${report.commit ?? 'unknown'}`,
  ];
}

function notes(report: FleetBenchReport): string[] {
  const lines = [...report.notes];
  for (const row of report.rows) {
    for (const t of row.tools) {
      for (const e of t.errors) lines.push(`${row.job} ${row.compression} / ${toolLabel(row.job, t.tool)} failed: ${errorSummary(e)}`);
    }
  }
  lines.push('vs pm=N = pgfleet time / pgBackRest process-max=N time (below 1.00: pgfleet is faster); CPU s/GB = user + system seconds per GiB of dataset');
  lines.push(`targets: ${report.targets.map((t) => `${verdict(t.pass)} ${t.name} (${t.detail})`).join('; ')}`);
  const pgfleetBehind = report.rows.flatMap((r) => r.tools.filter((t) => isPgfleet(t.tool)).map((t) => ({ r, t, ratio: timeRatio(r, t.tool, 'pgbackrest-pm2') })))
    .filter((x) => x.ratio !== null && x.ratio > 1);
  if (pgfleetBehind.length > 0) {
    lines.push(`pgfleet slower than pgBackRest process-max=2: ${pgfleetBehind.map((x) => `${x.r.job} ${x.r.compression} ${toolLabel(x.r.job, x.t.tool)} ${(x.ratio as number).toFixed(2)}x`).join(', ')}`);
  }
  return lines;
}

function table(report: FleetBenchReport): string[][] {
  return report.rows.flatMap((r) => fleetRowCells(r, report.dataset.totalBytes));
}

export function renderFleetText(report: FleetBenchReport): string {
  const rows = [HEADER, ...table(report)];
  const widths = HEADER.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd();
  return ['Fleet: pgfleet backup into / restore from the repository vs pgBackRest', ...headline(report), '', ...rows.map(line), '', ...notes(report), ''].join('\n');
}

export function renderFleetMarkdown(report: FleetBenchReport): string {
  const esc = (t: string): string => t.replace(/\|/g, '\\|');
  return [
    `### pgfleet fleet paths vs pgBackRest (${report.finishedAt.slice(0, 10)})`,
    '',
    ...headline(report).map((l) => `- ${esc(l)}`),
    '',
    `| ${HEADER.join(' | ')} |`,
    `|${HEADER.map((_, i) => (i < 3 || i === 7 ? ' --- ' : ' ---: ')).join('|')}|`,
    ...table(report).map((cells) => `| ${cells.map(esc).join(' | ')} |`),
    '',
    ...notes(report).map((l) => `- ${esc(l)}`),
    '',
  ].join('\n');
}
