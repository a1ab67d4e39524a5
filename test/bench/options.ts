// Command-line options of `npm run bench` (test/bench/run.mjs forwards its arguments here).
//
// parseBenchOptions() turns argv into a complete BenchOptions (every default filled in) or
// throws an Error whose message says which flag is wrong; --help returns {help: true}.
// The dataset size is chosen with --scale (pgbench scale factor, exact) or --size-gb (converted
// with the estimate in dataset.ts); --scale wins when both are given.

import { parseArgs } from 'node:util';
import {
  FLEET_COMPRESSIONS, FLEET_JOB_NAMES, FLEET_TOOL_NAMES, type FleetCompression, type FleetJobName, type FleetToolName,
} from './fleet-summary.js';
import { VARIANT_NAMES, type VariantName } from './variants.js';

export const DEFAULT_SIZE_GB = 2.2;
export const DEFAULT_RUNS = 3;
export const DEFAULT_CACHE_DIR = '/var/tmp/pgfleet-bench';
export const DEFAULT_TIMEOUT_S = 1800;
export const DEFAULT_WAL_SECONDS = 60;
export const DEFAULT_WAL_SCALE = 20;
/** --quick: a dataset of a few hundred MB and a shorter WAL load. */
export const QUICK_SIZE_GB = 0.3;
export const QUICK_WAL_SECONDS = 20;

export interface BenchOptions {
  help: boolean;
  /** pgbench scale factor; undefined means derive it from sizeGb. */
  scale: number | undefined;
  sizeGb: number;
  runs: number;
  rebuild: boolean;
  cacheDir: string;
  /** Where results go; default <repo>/bench-out (gitignored). */
  outDir: string | undefined;
  variants: VariantName[];
  /** Replaces `node packages/core/dist/bin/pgfleet-basebackup.js` (split on whitespace). */
  pgfleetCmd: string | undefined;
  dropCaches: boolean;
  /** How the basebackup part's tools reach the server: TCP to 127.0.0.1 or its Unix socket. */
  connect: BenchConnect;
  /** Also run pgbackrest when it is installed. */
  pgbackrest: boolean;
  /** Kill one backup after this many seconds and record it as failed. */
  timeoutS: number;
  /** Run the WAL receiver part (pgfleet-receivewal vs pg_receivewal). */
  wal: boolean;
  /** Run only the WAL receiver part (no dataset, no backups). */
  walOnly: boolean;
  /** Seconds of pgbench write load during the WAL part. */
  walSeconds: number;
  /** pgbench scale of the WAL part's cluster. */
  walScale: number;
  /** Run the fleet part (backup into / restore from the repository, against pgBackRest). */
  fleet: boolean;
  /** Run only the fleet part (no pg_basebackup comparison, no WAL part). */
  fleetOnly: boolean;
  /** Small dataset (QUICK_SIZE_GB) and short WAL load, unless given explicitly. */
  quick: boolean;
  /** Run pgfleet-receivewal under node --cpu-prof, writing its profile here. */
  walProfileDir: string | undefined;
  /** Run the fleet part's pgfleet processes under node --cpu-prof, writing their profiles here. */
  fleetProfileDir: string | undefined;
  /** The fleet part's jobs (pgfleet's; pgBackRest runs the same kinds), in canonical order. */
  fleetJobs: FleetJobName[];
  fleetCompressions: FleetCompression[];
  /** pgfleet and/or pgBackRest with process-max=1, =2 (`pgbackrest` on the command line: both). */
  fleetTools: FleetToolName[];
}

export const HELP_TEXT = `Usage: npm run bench -- [options]

Times pgfleet-basebackup against pg_basebackup 15 on one PostgreSQL 15 cluster with a
tablespace (built once, cached, reused); then the fleet paths (pgfleet backup into the
controller's repository through an agent and directly, restore from it through an agent and
locally) against pgBackRest (process-max 1 and 2) on the same cluster; then
pgfleet-receivewal against pg_receivewal 15 streaming one server's WAL under a pgbench write
load (the WAL part).

Options:
  --size-gb N        dataset size to build, in GB (default ${DEFAULT_SIZE_GB})
  --quick            a small dataset (${QUICK_SIZE_GB} GB) and ${QUICK_WAL_SECONDS} s of WAL load, unless given
  --scale N          pgbench scale factor of the dataset (overrides --size-gb)
  --rebuild          build the dataset again even if a cached copy exists
  --runs N           measurements per tool and variant; the median is reported (default ${DEFAULT_RUNS})
  --variants LIST    comma-separated subset of: ${VARIANT_NAMES.join(', ')}
  --cache-dir DIR    where datasets and backup outputs live (default ${DEFAULT_CACHE_DIR})
  --out-dir DIR      where the JSON and Markdown results go (default <repo>/bench-out)
  --pgfleet-cmd CMD  command used instead of pgfleet-basebackup (env PGFLEET_BENCH_CMD),
                     e.g. /usr/lib/postgresql/15/bin/pg_basebackup to test the bench itself
  --no-drop-caches   do not drop the page cache before each measurement
  --connect HOW      how pg_basebackup and pgfleet-basebackup reach the server: tcp
                     (127.0.0.1, the default) or socket (its Unix socket directory)
  --no-pgbackrest    do not run pgbackrest even if it is installed
  --timeout-s N      give up on one backup after N seconds (default ${DEFAULT_TIMEOUT_S})
  --fleet-only       run only the fleet part: pgfleet backup/restore through the repository
                     against pgBackRest process-max=1 and 2, compression none, lz4, zstd
  --no-fleet         skip the fleet part
  --fleet-jobs LIST  comma-separated subset of: ${FLEET_JOB_NAMES.join(', ')}
                     (pgBackRest runs the backups and/or restores that are picked)
  --fleet-compressions LIST  comma-separated subset of: ${FLEET_COMPRESSIONS.join(', ')}
  --fleet-tools LIST comma-separated subset of: pgfleet, pgbackrest (both process-max),
                     pgbackrest-pm1, pgbackrest-pm2
                     A restore whose backup is not among the picked jobs restores one taken
                     (untimed) just before.
  --fleet-profile DIR  run the agent, the controller, the CLI and pgfleet-agent restore under
                     node --cpu-prof, their .cpuprofile files into DIR (named by program and pid)
  --wal-only         run only the WAL part: pgfleet-receivewal vs pg_receivewal 15 under a
                     pgbench write load (lag, CPU time, peak RSS); no dataset, no backups
  --no-wal           skip the WAL part
  --wal-seconds N    seconds of pgbench load in the WAL part (default ${DEFAULT_WAL_SECONDS})
  --wal-scale N      pgbench scale of the WAL part's own cluster (default ${DEFAULT_WAL_SCALE})
  --wal-profile DIR  run pgfleet-receivewal under node --cpu-prof, its .cpuprofile into DIR
                     (the profiler's own cost then shows in its CPU time)
  -h, --help         show this help
`;

function positiveNumber(flag: string, text: string, { integer }: { integer: boolean }): number {
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value) || value <= 0 || (integer && !Number.isInteger(value))) {
    throw new Error(`invalid value "${text}" for ${flag}: expected a positive ${integer ? 'integer' : 'number'}`);
  }
  return value;
}

/**
 * A comma-separated subset of `allowed`, in `allowed`'s order whatever order the user typed,
 * without duplicates; `aliases` name several at once.
 */
function parseList<T extends string>(
  flag: string, what: string, text: string, allowed: readonly T[], aliases: Record<string, readonly T[]> = {},
): T[] {
  const names: T[] = [];
  const choices = [...allowed, ...Object.keys(aliases)];
  for (const part of text.split(',')) {
    const name = part.trim();
    if (name === '') continue;
    const meant = aliases[name] ?? ((allowed as readonly string[]).includes(name) ? [name as T] : undefined);
    if (meant === undefined) throw new Error(`unknown ${what} "${name}": choose from ${choices.join(', ')}`);
    for (const n of meant) if (!names.includes(n)) names.push(n);
  }
  if (names.length === 0) throw new Error(`${flag} names no ${what}`);
  return allowed.filter((n) => names.includes(n));
}

function parseVariants(text: string): VariantName[] {
  return parseList('--variants', 'variant', text, VARIANT_NAMES);
}

const PGBACKREST_BOTH: readonly FleetToolName[] = ['pgbackrest-pm1', 'pgbackrest-pm2'];

interface FleetSubset {
  fleetJobs: FleetJobName[];
  fleetCompressions: FleetCompression[];
  fleetTools: FleetToolName[];
}

function parseFleetSubset(values: { [flag: string]: string | boolean | undefined }): FleetSubset {
  const text = (flag: string): string | undefined => {
    const v = values[flag];
    return typeof v === 'string' ? v : undefined;
  };
  const [jobs, compressions, tools] = [text('fleet-jobs'), text('fleet-compressions'), text('fleet-tools')];
  if (values['no-fleet'] === true && (jobs ?? compressions ?? tools) !== undefined) {
    throw new Error('--fleet-jobs, --fleet-compressions and --fleet-tools pick from the fleet part, which --no-fleet skips');
  }
  return {
    fleetJobs: jobs === undefined ? [...FLEET_JOB_NAMES] : parseList('--fleet-jobs', 'fleet job', jobs, FLEET_JOB_NAMES),
    fleetCompressions: compressions === undefined ? [...FLEET_COMPRESSIONS]
      : parseList('--fleet-compressions', 'compression', compressions, FLEET_COMPRESSIONS),
    fleetTools: tools === undefined ? [...FLEET_TOOL_NAMES]
      : parseList('--fleet-tools', 'fleet tool', tools, FLEET_TOOL_NAMES, { pgbackrest: PGBACKREST_BOTH }),
  };
}

export const BENCH_CONNECTS = ['tcp', 'socket'] as const;
export type BenchConnect = (typeof BENCH_CONNECTS)[number];

function parseConnect(text: string | undefined): BenchConnect {
  if (text === undefined) return 'tcp';
  if ((BENCH_CONNECTS as readonly string[]).includes(text)) return text as BenchConnect;
  throw new Error(`--connect: "${text}" is not one of ${BENCH_CONNECTS.join(', ')}`);
}

export function parseBenchOptions(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): BenchOptions {
  const { values } = parseArgs({
    args: [...argv],
    strict: true,
    allowPositionals: false,
    options: {
      help: { type: 'boolean', short: 'h' },
      'size-gb': { type: 'string' },
      scale: { type: 'string' },
      rebuild: { type: 'boolean' },
      runs: { type: 'string' },
      variants: { type: 'string' },
      'cache-dir': { type: 'string' },
      'out-dir': { type: 'string' },
      'pgfleet-cmd': { type: 'string' },
      'no-drop-caches': { type: 'boolean' },
      connect: { type: 'string' },
      'no-pgbackrest': { type: 'boolean' },
      'timeout-s': { type: 'string' },
      'wal-only': { type: 'boolean' },
      'no-wal': { type: 'boolean' },
      'wal-seconds': { type: 'string' },
      'wal-scale': { type: 'string' },
      'fleet-only': { type: 'boolean' },
      'no-fleet': { type: 'boolean' },
      quick: { type: 'boolean' },
      'wal-profile': { type: 'string' },
      'fleet-profile': { type: 'string' },
      'fleet-jobs': { type: 'string' },
      'fleet-compressions': { type: 'string' },
      'fleet-tools': { type: 'string' },
    },
  });
  const pgfleetCmd = values['pgfleet-cmd'] ?? (env['PGFLEET_BENCH_CMD']?.trim() || undefined);
  if (values['wal-only'] === true && values['no-wal'] === true) throw new Error('--wal-only and --no-wal exclude each other');
  if (values['fleet-only'] === true && values['no-fleet'] === true) throw new Error('--fleet-only and --no-fleet exclude each other');
  if (values['fleet-only'] === true && values['wal-only'] === true) throw new Error('--fleet-only and --wal-only exclude each other');
  const quick = values.quick === true;
  return {
    help: values.help === true,
    scale: values.scale === undefined ? undefined : positiveNumber('--scale', values.scale, { integer: true }),
    sizeGb: values['size-gb'] === undefined ? (quick ? QUICK_SIZE_GB : DEFAULT_SIZE_GB) : positiveNumber('--size-gb', values['size-gb'], { integer: false }),
    runs: values.runs === undefined ? DEFAULT_RUNS : positiveNumber('--runs', values.runs, { integer: true }),
    rebuild: values.rebuild === true,
    cacheDir: values['cache-dir'] ?? DEFAULT_CACHE_DIR,
    outDir: values['out-dir'],
    variants: values.variants === undefined ? [...VARIANT_NAMES] : parseVariants(values.variants),
    pgfleetCmd,
    dropCaches: values['no-drop-caches'] !== true,
    connect: parseConnect(values.connect),
    pgbackrest: values['no-pgbackrest'] !== true,
    timeoutS: values['timeout-s'] === undefined ? DEFAULT_TIMEOUT_S : positiveNumber('--timeout-s', values['timeout-s'], { integer: false }),
    wal: values['no-wal'] !== true,
    walOnly: values['wal-only'] === true,
    walSeconds: values['wal-seconds'] === undefined ? (quick ? QUICK_WAL_SECONDS : DEFAULT_WAL_SECONDS) : positiveNumber('--wal-seconds', values['wal-seconds'], { integer: true }),
    walScale: values['wal-scale'] === undefined ? DEFAULT_WAL_SCALE : positiveNumber('--wal-scale', values['wal-scale'], { integer: true }),
    fleet: values['no-fleet'] !== true,
    fleetOnly: values['fleet-only'] === true,
    quick,
    walProfileDir: values['wal-profile'],
    fleetProfileDir: values['fleet-profile'],
    ...parseFleetSubset(values),
  };
}
