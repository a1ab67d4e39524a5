// `npm run bench`: pgfleet-basebackup against pg_basebackup 15, on one cached PostgreSQL 15
// cluster with a tablespace (dataset.ts), in one run.
//
// For each variant (variants.ts) and each repetition, both tools back up the same running
// cluster with the same flags into a fresh directory; each follows the other in turn
// (order.ts), so that both run on the cache and server state the other left. Each
// backup is timed as a whole process with its peak RSS (measure.ts), its output is measured
// and deleted. A failing backup is recorded and the bench goes on. At the end: a table on
// stdout and bench-out/latest.{json,md} (plus time-stamped copies). The server is stopped; the
// dataset stays cached.
//
// Then the fleet part (fleet.ts) on the same cluster: pgfleet backup into the controller's
// repository and restore from it, through an agent and without, against pgBackRest, written to
// bench-out/fleet-latest.{json,md}; --fleet-only runs only that part, --no-fleet skips it.
//
// Then the WAL part (wal.ts): pgfleet-receivewal against pg_receivewal 15 under a pgbench
// write load, written to bench-out/wal-latest.{json,md}; --wal-only runs only that part.
//
// Exit status: 0 when the bench ran to the end (whatever the targets say), 1 when it could not.

import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { REPO_ROOT, systemBin, type TestCluster } from '../harness/index.js';
import { openDataset, scaleForSize, type DatasetInfo } from './dataset.js';
import { measure, hasGnuTime } from './measure.js';
import { HELP_TEXT, parseBenchOptions, type BenchOptions } from './options.js';
import { outputSize } from './output-size.js';
import { dropPageCache } from './page-cache.js';
import { runPgbackrest } from './pgbackrest.js';
import { errorSummary, renderMarkdown, renderText, formatBytes, formatSeconds, type BenchReport } from './report.js';
import { allTargetsPass, summariseVariant, TOOLS, type Sample, type ToolId } from './summary.js';
import { backupArgs, type VariantName } from './variants.js';
import { runFleetBench } from './fleet.js';
import { renderFleetMarkdown, renderFleetText } from './fleet-report.js';
import { selectFleetTools } from './fleet-summary.js';
import { balancedRounds } from './order.js';
import { runWalBench } from './wal.js';
import { renderWalMarkdown, renderWalText } from './wal-report.js';

const PGFLEET_SCRIPT = path.join(REPO_ROOT, 'packages', 'core', 'dist', 'bin', 'pgfleet-basebackup.js');

interface ToolCommand {
  command: string;
  args: string[];
  /** Why it cannot run at all (e.g. not built); every sample of it fails with this. */
  unavailable?: string;
}

function log(line: string): void {
  process.stdout.write(`${line}\n`);
}

function pgfleetCommand(opts: BenchOptions): ToolCommand {
  if (opts.pgfleetCmd) {
    const [command, ...args] = opts.pgfleetCmd.split(/\s+/).filter((p) => p !== '');
    if (!command) throw new Error('--pgfleet-cmd is empty');
    return { command, args };
  }
  return {
    command: process.execPath,
    args: [PGFLEET_SCRIPT],
    ...(existsSync(PGFLEET_SCRIPT) ? {} : { unavailable: `"${PGFLEET_SCRIPT}" does not exist: run npm run build` }),
  };
}

function versionOf(tool: ToolCommand): string {
  if (tool.unavailable) return 'not available';
  try {
    return execFileSync(tool.command, [...tool.args, '--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
  } catch {
    return 'unknown version';
  }
}

function gitCommit(): string | null {
  try {
    const commit = execFileSync('git', ['-C', REPO_ROOT, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const dirty = execFileSync('git', ['-C', REPO_ROOT, 'status', '--porcelain', '--untracked-files=no'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    return dirty ? `${commit} (with uncommitted changes)` : commit;
  } catch {
    return null;
  }
}

function stamp(date: Date): string {
  return date.toISOString().replace(/[:]/g, '').replace(/\..*$/, 'Z');
}

interface RunContext {
  opts: BenchOptions;
  cluster: TestCluster;
  outRoot: string;
  tools: Record<ToolId, ToolCommand>;
  dropCaches: boolean;
}

async function backupOnce(ctx: RunContext, tool: ToolId, variant: VariantName, run: number, position: number): Promise<Sample> {
  const base = path.join(ctx.outRoot, `${tool}-${variant}`);
  const target = {
    dataDir: path.join(base, 'data'),
    tablespaceMap: ctx.cluster.tablespaces.map((t) => ({ from: t.location, to: path.join(base, t.name) })),
  };
  await rm(base, { recursive: true, force: true });
  await mkdir(base, { recursive: true });
  const spec = ctx.tools[tool];
  const sample: Sample = { tool, variant, run, position, ok: false, wallMs: 0, peakRssKb: null, outputBytes: null };
  if (spec.unavailable) {
    sample.error = spec.unavailable;
    return sample;
  }
  if (ctx.dropCaches) dropPageCache();
  const result = await measure({
    command: spec.command,
    args: [...spec.args, ...backupArgs(variant, target)],
    // The harness's environment connects over TCP; PGHOST a directory means its Unix socket.
    env: ctx.opts.connect === 'socket' ? { ...ctx.cluster.env, PGHOST: ctx.cluster.host } : ctx.cluster.env,
    cwd: base,
    timeoutMs: ctx.opts.timeoutS * 1000,
  });
  sample.ok = result.ok;
  sample.wallMs = result.wallMs;
  sample.peakRssKb = result.peakRssKb;
  if (result.ok) {
    sample.outputBytes = await outputSize([target.dataDir, ...target.tablespaceMap.map((m) => m.to)]);
  } else {
    const status = result.signal ? `signal ${result.signal}` : `exit code ${String(result.exitCode)}`;
    sample.error = `${status}: ${result.outputTail.trim().split('\n').slice(-20).join('\n')}`;
  }
  await rm(base, { recursive: true, force: true });
  return sample;
}

function describe(sample: Sample): string {
  const head = `  ${sample.variant} run ${sample.run}/${sample.position === 1 ? 'first' : 'second'} ${sample.tool}:`;
  if (!sample.ok) return `${head} FAILED: ${errorSummary(sample.error ?? '')}`;
  const rss = sample.peakRssKb === null ? 'n/a' : `${Math.round(sample.peakRssKb / 1024)} MB`;
  return `${head} ${formatSeconds(sample.wallMs)}, peak RSS ${rss}, ${formatBytes(sample.outputBytes)}`;
}

async function main(argv: string[]): Promise<number> {
  let opts: BenchOptions;
  try {
    opts = parseBenchOptions(argv);
  } catch (error) {
    process.stderr.write(`bench: ${(error as Error).message}\n${HELP_TEXT}`);
    return 1;
  }
  if (opts.help) {
    process.stdout.write(HELP_TEXT);
    return 0;
  }
  const startedAt = new Date();
  const outDir = opts.outDir ?? path.join(REPO_ROOT, 'bench-out');
  if (opts.walOnly) {
    await walPart(opts, outDir);
    return 0;
  }
  const pgBasebackup: ToolCommand = { command: systemBin('pg_basebackup'), args: [] };
  const pgfleet = pgfleetCommand(opts);
  const tools: Record<ToolId, ToolCommand> = { pg_basebackup: pgBasebackup, pgfleet };
  if (opts.pgfleetCmd) log(`NOTE: the pgfleet column runs "${opts.pgfleetCmd}", not pgfleet-basebackup`);
  if (pgfleet.unavailable) log(`NOTE: ${pgfleet.unavailable}; its column will show errors`);

  const gnuTime = await hasGnuTime();
  if (!gnuTime) {
    log('NOTE: GNU time (/usr/bin/time) is missing: peak RSS is polled from /proc instead (apt-get install time for exact values)');
  }

  const scale = opts.scale ?? scaleForSize(opts.sizeGb);
  const dataset = await openDataset({ cacheDir: opts.cacheDir, scale, rebuild: opts.rebuild, log });
  const { cluster, info } = dataset;
  const outRoot = path.join(opts.cacheDir, 'out');
  try {
    log(
      `dataset ${info.key} ${dataset.built ? `built in ${info.buildSeconds} s` : 'reused from the cache'}: ` +
        `${formatBytes(info.sizes.totalBytes)} (main directory ${formatBytes(info.sizes.mainBytes)} + tablespace ts1 ` +
        `${formatBytes(info.sizes.tablespaceBytes)}; sum of pg_database_size ${formatBytes(info.sizes.databasesBytes)})`,
    );
    let pageCache: BenchReport['pageCache'] = 'kept between backups (--no-drop-caches)';
    if (opts.dropCaches) {
      pageCache = dropPageCache() ? 'dropped before each backup' : 'kept between backups (drop_caches not permitted)';
    }
    log(`page cache: ${pageCache}`);
    await rm(outRoot, { recursive: true, force: true });
    await mkdir(outRoot, { recursive: true });
    const ctx: RunContext = { opts, cluster, outRoot, tools, dropCaches: pageCache === 'dropped before each backup' };
    if (!opts.fleetOnly) await basebackupPart(ctx, { startedAt, outDir, pgBasebackup, pgfleet, gnuTime, info, pageCache });
    if (opts.fleet) {
      const fleetReport = await runFleetBench({
        cluster, dataset: info, runs: opts.runs, workDir: path.join(outRoot, 'fleet'), timeoutMs: opts.timeoutS * 1000,
        compressions: opts.fleetCompressions, tools: selectFleetTools(opts.fleetJobs, opts.fleetTools),
        dropCaches: ctx.dropCaches, pageCache: pageCache.replace('each backup', 'each job'), pgbackrest: opts.pgbackrest, commit: gitCommit(), log,
        ...(opts.fleetProfileDir !== undefined ? { profileDir: path.resolve(opts.fleetProfileDir) } : {}),
      });
      await writeReport(outDir, `fleet-${stamp(new Date(fleetReport.startedAt))}`, 'fleet-latest', fleetReport, renderFleetMarkdown(fleetReport));
      log('');
      log(renderFleetText(fleetReport));
    }
  } finally {
    await rm(outRoot, { recursive: true, force: true });
    await cluster.stop();
  }
  if (opts.wal && !opts.fleetOnly) await walPart(opts, outDir);
  return 0;
}

/** Writes <outDir>/<name>.{json,md} and <latest>.{json,md}, and says where. */
async function writeReport(outDir: string, name: string, latest: string, report: object, markdown: string): Promise<void> {
  await mkdir(outDir, { recursive: true });
  const json = `${JSON.stringify(report, null, 2)}\n`;
  for (const base of [name, latest]) {
    await writeFile(path.join(outDir, `${base}.json`), json);
    await writeFile(path.join(outDir, `${base}.md`), markdown);
  }
  log(`written: ${path.join(outDir, `${name}.json`)}, ${path.join(outDir, `${name}.md`)} (and ${latest}.json, ${latest}.md)`);
}

interface BasebackupPartContext {
  startedAt: Date;
  outDir: string;
  pgBasebackup: ToolCommand;
  pgfleet: ToolCommand;
  gnuTime: boolean;
  info: DatasetInfo;
  pageCache: BenchReport['pageCache'];
}

/** pgfleet-basebackup against pg_basebackup: measured, printed, written to <outDir>/bench-<stamp>.* and latest.*. */
async function basebackupPart(ctx: RunContext, part: BasebackupPartContext): Promise<void> {
  const { opts, cluster, outRoot } = ctx;
  const { startedAt, outDir, pgBasebackup, pgfleet, gnuTime, info, pageCache } = part;
  const loadAtStart = os.loadavg()[0] ?? 0;
  const samples: Sample[] = [];
  for (const [index, variant] of opts.variants.entries()) {
    // Shifted by variant, so that no tool always opens a variant.
    const rounds = balancedRounds(TOOLS, opts.runs, index);
    const opener = rounds[0]?.[0];
    if (index === 0 && opener !== undefined) {
      // The first backup after the dataset is ready took up to twice as long as the same backup
      // later, whichever tool ran it: it is run once more first, and not counted.
      log(`${describe(await backupOnce(ctx, opener, variant, 0, 0))} (warm-up, not counted)`);
    }
    for (const [r, order] of rounds.entries()) {
      for (const [position, tool] of order.entries()) {
        const sample = await backupOnce(ctx, tool, variant, r + 1, position + 1);
        samples.push(sample);
        log(describe(sample));
      }
    }
  }

  const extra = await runPgbackrest({
    enabled: opts.pgbackrest,
    cluster,
    variants: opts.variants,
    runs: opts.runs,
    workDir: path.join(outRoot, 'pgbackrest'),
    timeoutMs: opts.timeoutS * 1000,
    dropCaches: ctx.dropCaches,
    log,
  });

  const rows = opts.variants.map((v) => summariseVariant(v, samples));
  const report: BenchReport = {
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    commit: gitCommit(),
    node: process.version,
    cpus: os.cpus().length,
    memoryBytes: os.totalmem(),
    loadAverage: { start: loadAtStart, end: os.loadavg()[0] ?? 0 },
    pgBasebackup: { command: pgBasebackup.command, version: versionOf(pgBasebackup) },
    pgfleet: { command: [pgfleet.command, ...pgfleet.args].join(' '), version: versionOf(pgfleet), substituted: opts.pgfleetCmd !== undefined },
    dataset: info,
    runs: opts.runs,
    pageCache,
    connect: opts.connect,
    rssSource: gnuTime ? 'gnu-time' : 'proc-poll',
    rows,
    samples,
    extra,
    allTargetsPass: allTargetsPass(rows),
  };

  log('');
  log(renderText(report));
  await writeReport(outDir, `bench-${stamp(startedAt)}`, 'latest', report, renderMarkdown(report));
}

/** The WAL part: measured, printed, written to <outDir>/wal-<stamp>.{json,md} and wal-latest.*. */
async function walPart(opts: BenchOptions, outDir: string): Promise<void> {
  const report = await runWalBench({
    seconds: opts.walSeconds, scale: opts.walScale, workDir: path.join(opts.cacheDir, 'wal'), commit: gitCommit(), log,
    ...(opts.walProfileDir !== undefined ? { profileDir: path.resolve(opts.walProfileDir) } : {}),
  });
  log('');
  log(renderWalText(report));
  await writeReport(outDir, `wal-${stamp(new Date(report.startedAt))}`, 'wal-latest', report, renderWalMarkdown(report));
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`bench: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = 1;
  },
);
