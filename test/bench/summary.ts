// From individual measurements (samples) to one row per variant: medians, ratios, and the
// issue's targets as pass/fail.
//
// Conventions: times are the median over the successful runs; peak RSS is the maximum over
// the successful runs (the target is about the worst case); output size is the median (it
// barely varies). A tool with no successful run has nulls and its errors. A target that
// could not be evaluated (a tool failed, or the variant was not run) is null, not a pass.
//
// The targets (from the issue):
//   - tar: pgfleet time / pg_basebackup time <= 1.10;
//   - gzip: pgfleet faster than pg_basebackup -z, with an output size within 10% of it;
//   - every variant: pgfleet peak RSS < 150 MB.

import type { VariantName } from './variants.js';

export type ToolId = 'pg_basebackup' | 'pgfleet';
export const TOOLS: readonly ToolId[] = ['pg_basebackup', 'pgfleet'];

export const TAR_TIME_RATIO_MAX = 1.1;
export const GZIP_SIZE_TOLERANCE = 0.1;
export const PEAK_RSS_MAX_BYTES = 150 * 1024 * 1024;

export interface Sample {
  tool: ToolId;
  variant: VariantName;
  /** 1-based repetition. */
  run: number;
  /** 1 when this tool ran first in its repetition, 2 when second. */
  position: number;
  ok: boolean;
  wallMs: number;
  peakRssKb: number | null;
  /** Bytes written (all files of the backup, tablespaces included); null when failed. */
  outputBytes: number | null;
  /** Last lines of the tool's output when it failed. */
  error?: string;
}

export interface ToolSummary {
  runs: number;
  okRuns: number;
  medianMs: number | null;
  peakRssKb: number | null;
  outputBytes: number | null;
  /** Distinct error texts of the failed runs. */
  errors: string[];
}

export interface TargetCheck {
  name: string;
  /** null: could not be evaluated. */
  pass: boolean | null;
  detail: string;
}

export interface VariantRow {
  variant: VariantName;
  pg_basebackup: ToolSummary;
  pgfleet: ToolSummary;
  /** pgfleet median time / pg_basebackup median time. */
  timeRatio: number | null;
  /** pgfleet output size / pg_basebackup output size. */
  sizeRatio: number | null;
  targets: TargetCheck[];
}

export function median(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const upper = sorted[mid] as number;
  return sorted.length % 2 === 1 ? upper : ((sorted[mid - 1] as number) + upper) / 2;
}

export function summariseTool(samples: readonly Sample[]): ToolSummary {
  const ok = samples.filter((s) => s.ok);
  const rss = ok.map((s) => s.peakRssKb).filter((v): v is number => v !== null);
  const sizes = ok.map((s) => s.outputBytes).filter((v): v is number => v !== null);
  const errors = [...new Set(samples.filter((s) => !s.ok).map((s) => s.error ?? 'failed'))];
  return {
    runs: samples.length,
    okRuns: ok.length,
    medianMs: median(ok.map((s) => s.wallMs)),
    peakRssKb: rss.length > 0 ? Math.max(...rss) : null,
    outputBytes: median(sizes),
    errors,
  };
}

function ratio(a: number | null, b: number | null): number | null {
  return a === null || b === null || b === 0 ? null : a / b;
}

const fmt2 = (n: number): string => n.toFixed(2);

function rssTarget(pgfleet: ToolSummary): TargetCheck {
  const name = 'pgfleet peak RSS < 150 MB';
  if (pgfleet.peakRssKb === null) return { name, pass: null, detail: 'not measured' };
  const mb = (pgfleet.peakRssKb * 1024) / (1024 * 1024);
  return { name, pass: pgfleet.peakRssKb * 1024 < PEAK_RSS_MAX_BYTES, detail: `${mb.toFixed(0)} MB` };
}

export function evaluateTargets(variant: VariantName, row: Omit<VariantRow, 'targets'>): TargetCheck[] {
  const checks: TargetCheck[] = [];
  if (variant === 'tar') {
    const name = `time ratio <= ${fmt2(TAR_TIME_RATIO_MAX)}`;
    checks.push(
      row.timeRatio === null
        ? { name, pass: null, detail: 'not measured' }
        : { name, pass: row.timeRatio <= TAR_TIME_RATIO_MAX, detail: fmt2(row.timeRatio) },
    );
  }
  if (variant === 'gzip') {
    const faster = 'faster than pg_basebackup -z';
    checks.push(
      row.timeRatio === null
        ? { name: faster, pass: null, detail: 'not measured' }
        : { name: faster, pass: row.timeRatio < 1, detail: `ratio ${fmt2(row.timeRatio)}` },
    );
    const size = `size within ${Math.round(GZIP_SIZE_TOLERANCE * 100)}%`;
    checks.push(
      row.sizeRatio === null
        ? { name: size, pass: null, detail: 'not measured' }
        : {
            name: size,
            pass: Math.abs(row.sizeRatio - 1) <= GZIP_SIZE_TOLERANCE,
            detail: `${row.sizeRatio >= 1 ? '+' : ''}${((row.sizeRatio - 1) * 100).toFixed(1)}%`,
          },
    );
  }
  checks.push(rssTarget(row.pgfleet));
  return checks;
}

export function summariseVariant(variant: VariantName, samples: readonly Sample[]): VariantRow {
  const mine = samples.filter((s) => s.variant === variant);
  const pg = summariseTool(mine.filter((s) => s.tool === 'pg_basebackup'));
  const pgfleet = summariseTool(mine.filter((s) => s.tool === 'pgfleet'));
  const partial = {
    variant,
    pg_basebackup: pg,
    pgfleet,
    timeRatio: ratio(pgfleet.medianMs, pg.medianMs),
    sizeRatio: ratio(pgfleet.outputBytes, pg.outputBytes),
  };
  return { ...partial, targets: evaluateTargets(variant, partial) };
}

/** Overall verdict: true only when every target of every row was evaluated and passed. */
export function allTargetsPass(rows: readonly VariantRow[]): boolean | null {
  const checks = rows.flatMap((r) => r.targets);
  if (checks.some((c) => c.pass === false)) return false;
  if (checks.length === 0 || checks.some((c) => c.pass === null)) return null;
  return true;
}
