// The fleet part's measurements and their summary: for each job (backup into the repository,
// restore from it) and compression, every tool's median time, CPU time per process, peak RSS
// per process and stored size, the time ratios against pgBackRest, and the targets.
//
// Conventions, as in summary.ts: times and CPU seconds are medians over the successful runs;
// peak RSS is the maximum over them (the target is about the worst case); a tool with no
// successful run has nulls and its errors; a target that could not be evaluated is null, not a
// pass. The PostgreSQL server's CPU ("server": backends that ended during the job, i.e. the
// walsender that streamed a pgfleet backup) is shown, but not counted in a tool's own CPU.
//
// Targets (issue: faster than pgBackRest on the fleet's paths):
//   - backup through an agent with lz4: time <= pgBackRest process-max=2 with lz4;
//   - restore through an agent with lz4: time <= pgBackRest process-max=2 with lz4;
//   - every pgfleet process (CLI, agent, controller) under 200 MB peak RSS, in every job.

import { median } from './summary.js';

export type FleetJob = 'backup' | 'restore';
export const FLEET_JOBS: readonly FleetJob[] = ['backup', 'restore'];

export type FleetCompression = 'none' | 'lz4' | 'zstd';
export const FLEET_COMPRESSIONS: readonly FleetCompression[] = ['none', 'lz4', 'zstd'];

export type FleetTool = 'pgfleet-agent' | 'pgfleet-direct' | 'pgfleet-local' | 'pgbackrest-pm1' | 'pgbackrest-pm2';
/** The tools of each job, in the order of the report. */
export const FLEET_TOOLS: Record<FleetJob, readonly FleetTool[]> = {
  backup: ['pgfleet-agent', 'pgfleet-direct', 'pgbackrest-pm1', 'pgbackrest-pm2'],
  restore: ['pgfleet-agent', 'pgfleet-local', 'pgbackrest-pm1', 'pgbackrest-pm2'],
};

/**
 * The fleet jobs that `--fleet-jobs` picks by name: pgfleet's job, then how it runs. pgBackRest
 * runs a backup or a restore whenever one of that kind is picked (and `--fleet-tools` keeps it).
 */
export type FleetJobName = 'backup-agent' | 'backup-direct' | 'restore-agent' | 'restore-local';
export const FLEET_JOB_NAMES: readonly FleetJobName[] = ['backup-agent', 'backup-direct', 'restore-agent', 'restore-local'];
const JOB_NAME_TOOL: Record<FleetJobName, [FleetJob, FleetTool]> = {
  'backup-agent': ['backup', 'pgfleet-agent'],
  'backup-direct': ['backup', 'pgfleet-direct'],
  'restore-agent': ['restore', 'pgfleet-agent'],
  'restore-local': ['restore', 'pgfleet-local'],
};

/** `--fleet-tools`: pgfleet (its tools of the picked jobs) and pgBackRest (pgbackrest = both). */
export type FleetToolName = 'pgfleet' | 'pgbackrest-pm1' | 'pgbackrest-pm2';
export const FLEET_TOOL_NAMES: readonly FleetToolName[] = ['pgfleet', 'pgbackrest-pm1', 'pgbackrest-pm2'];

/**
 * The tools each job runs, in the report's order, for the jobs and tools picked on the command
 * line; a job with no tool left has an empty list (and is skipped).
 */
export function selectFleetTools(jobs: readonly FleetJobName[], tools: readonly FleetToolName[]): Record<FleetJob, FleetTool[]> {
  const select = (job: FleetJob): FleetTool[] => {
    const picked = jobs.filter((n) => JOB_NAME_TOOL[n][0] === job).map((n) => JOB_NAME_TOOL[n][1]);
    if (picked.length === 0) return [];
    return FLEET_TOOLS[job].filter((t) => (isPgfleet(t) ? tools.includes('pgfleet') && picked.includes(t) : tools.includes(t as FleetToolName)));
  };
  return { backup: select('backup'), restore: select('restore') };
}

export function isPgfleet(tool: FleetTool): boolean {
  return tool.startsWith('pgfleet');
}

export function toolLabel(job: FleetJob, tool: FleetTool): string {
  switch (tool) {
    case 'pgfleet-agent': return job === 'backup' ? 'pgfleet backup, agent' : 'pgfleet restore, agent';
    case 'pgfleet-direct': return 'pgfleet backup, direct';
    case 'pgfleet-local': return 'pgfleet-agent restore';
    case 'pgbackrest-pm1': return 'pgBackRest pm=1';
    case 'pgbackrest-pm2': return 'pgBackRest pm=2';
  }
}

/** The processes measured: pgfleet's three programs, pgBackRest (all its processes), the server. */
export type FleetRole = 'cli' | 'agent' | 'controller' | 'pgbackrest' | 'server';
export const PGFLEET_ROLES: readonly FleetRole[] = ['cli', 'agent', 'controller'];

export interface ProcessUsage {
  role: FleetRole;
  /** user + system CPU seconds during the job; null when not measured. */
  cpuSeconds: number | null;
  /** Peak RSS during the job (KiB); null when not measured (the server's is never). */
  peakRssKb: number | null;
}

export interface FleetSample {
  job: FleetJob;
  compression: FleetCompression;
  tool: FleetTool;
  /** 1-based repetition. */
  run: number;
  /** 1-based place in that repetition's order. */
  position: number;
  ok: boolean;
  wallMs: number;
  processes: ProcessUsage[];
  /** Backup: bytes stored in the repository for this backup; restore: null. */
  storedBytes: number | null;
  error?: string;
}

export interface RoleSummary {
  role: FleetRole;
  /** Median CPU seconds. */
  cpuSeconds: number | null;
  /** Maximum peak RSS (KiB). */
  peakRssKb: number | null;
}

export interface FleetToolSummary {
  tool: FleetTool;
  runs: number;
  okRuns: number;
  medianMs: number | null;
  /** Median of each run's CPU seconds summed over the tool's own processes (not the server). */
  cpuSeconds: number | null;
  roles: RoleSummary[];
  storedBytes: number | null;
  errors: string[];
}

export interface FleetRow {
  job: FleetJob;
  compression: FleetCompression;
  tools: FleetToolSummary[];
}

export interface FleetTarget {
  name: string;
  pass: boolean | null;
  detail: string;
}

function summariseRoles(ok: readonly FleetSample[]): RoleSummary[] {
  const roles: FleetRole[] = [];
  for (const s of ok) for (const p of s.processes) if (!roles.includes(p.role)) roles.push(p.role);
  return roles.map((role) => {
    const usages = ok.flatMap((s) => s.processes.filter((p) => p.role === role));
    const cpu = usages.map((u) => u.cpuSeconds).filter((v): v is number => v !== null);
    const rss = usages.map((u) => u.peakRssKb).filter((v): v is number => v !== null);
    return { role, cpuSeconds: median(cpu), peakRssKb: rss.length > 0 ? Math.max(...rss) : null };
  });
}

/** The CPU seconds of one run's own processes (server excluded); null if one was not measured. */
export function ownCpuSeconds(sample: FleetSample): number | null {
  const own = sample.processes.filter((p) => p.role !== 'server');
  if (own.length === 0 || own.some((p) => p.cpuSeconds === null)) return null;
  return own.reduce((sum, p) => sum + (p.cpuSeconds as number), 0);
}

export function summariseFleetTool(tool: FleetTool, samples: readonly FleetSample[]): FleetToolSummary {
  const mine = samples.filter((s) => s.tool === tool);
  const ok = mine.filter((s) => s.ok);
  const cpu = ok.map(ownCpuSeconds).filter((v): v is number => v !== null);
  const stored = ok.map((s) => s.storedBytes).filter((v): v is number => v !== null);
  return {
    tool,
    runs: mine.length,
    okRuns: ok.length,
    medianMs: median(ok.map((s) => s.wallMs)),
    cpuSeconds: cpu.length === ok.length ? median(cpu) : null,
    roles: summariseRoles(ok),
    storedBytes: median(stored),
    errors: [...new Set(mine.filter((s) => !s.ok).map((s) => s.error ?? 'failed'))],
  };
}

export function summariseFleet(samples: readonly FleetSample[], compressions: readonly FleetCompression[] = FLEET_COMPRESSIONS): FleetRow[] {
  const rows: FleetRow[] = [];
  for (const job of FLEET_JOBS) {
    for (const compression of compressions) {
      const here = samples.filter((s) => s.job === job && s.compression === compression);
      if (here.length === 0) continue;
      rows.push({ job, compression, tools: FLEET_TOOLS[job].map((t) => summariseFleetTool(t, here)) });
    }
  }
  return rows;
}

export function toolOf(row: FleetRow, tool: FleetTool): FleetToolSummary | undefined {
  return row.tools.find((t) => t.tool === tool);
}

/** Median time of `tool` / median time of `base` in a row; null when either is missing. */
export function timeRatio(row: FleetRow, tool: FleetTool, base: FleetTool): number | null {
  const a = toolOf(row, tool)?.medianMs ?? null;
  const b = toolOf(row, base)?.medianMs ?? null;
  return a === null || b === null || b === 0 ? null : a / b;
}

/** CPU seconds per GiB of dataset. */
export function perGb(seconds: number | null, datasetBytes: number): number | null {
  return seconds === null || datasetBytes <= 0 ? null : seconds / (datasetBytes / 2 ** 30);
}

export const FLEET_RSS_MAX_BYTES = 200 * 1024 * 1024;

export function evaluateFleetTargets(rows: readonly FleetRow[]): FleetTarget[] {
  const targets: FleetTarget[] = [];
  for (const job of FLEET_JOBS) {
    const name = `${job} through an agent, lz4: time <= pgBackRest process-max=2`;
    const row = rows.find((r) => r.job === job && r.compression === 'lz4');
    const ratio = row === undefined ? null : timeRatio(row, 'pgfleet-agent', 'pgbackrest-pm2');
    targets.push(ratio === null
      ? { name, pass: null, detail: 'not measured' }
      : { name, pass: ratio <= 1, detail: `ratio ${ratio.toFixed(2)}` });
  }
  const rss = rows.flatMap((r) => r.tools.filter((t) => isPgfleet(t.tool)).flatMap((t) =>
    t.roles.filter((p) => PGFLEET_ROLES.includes(p.role)).map((p) => ({ row: r, tool: t.tool, ...p }))));
  const name = 'every pgfleet process < 200 MB peak RSS';
  const measured = rss.filter((p) => p.peakRssKb !== null);
  if (measured.length === 0) {
    targets.push({ name, pass: null, detail: 'not measured' });
  } else {
    const worst = measured.reduce((a, b) => ((b.peakRssKb as number) > (a.peakRssKb as number) ? b : a));
    const mb = Math.round((worst.peakRssKb as number) / 1024);
    targets.push({
      name,
      pass: measured.every((p) => (p.peakRssKb as number) * 1024 < FLEET_RSS_MAX_BYTES),
      detail: `largest: ${worst.role} ${mb} MB (${worst.row.job} ${worst.row.compression}, ${toolLabel(worst.row.job, worst.tool)})`,
    });
  }
  return targets;
}
