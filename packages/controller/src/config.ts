/**
 * fleet.yaml: the controller daemon's configuration. `loadFleetConfig(path)` reads and
 * validates it; `parseFleetConfig(text, path)` validates text. The schema is zod's, built from
 * @pgfleet/core's configuration fields (the agent's agent.yaml is too), so every problem is an
 * InvalidOptionError in one shape: the file, the key ("clusters[1].retention.full"), the
 * reason, and a HINT where one helps. Unknown keys are errors, with "Did you mean ...?" for a
 * typo: a misspelt "paralel" must not be silently ignored. Relative paths (repository, TLS
 * files) are relative to the file's directory, so a config can be moved together with its
 * certificates.
 *
 *   listen: 127.0.0.1:7400
 *   repository: /var/lib/pgfleet
 *   tls: { ca: ca.crt, cert: controller.crt, key: controller.key }   # or: insecure: true
 *   # tls.allowedClients: [pgfleet-cli]   optional: CNs of the CLI certificates accepted
 *   parallel: 4
 *   noProgressTimeoutSeconds: 600      # a server silent this long while a direct backup waits: fail
 *   agents:   [{ name: db1, address: db1.example.com:7401 }]
 *   clusters: [{ name: main, agent: db1, conninfo: "...", retention: { full: 7 } }]
 *   schedule: { full: "0 3 * * *", timezone: UTC, runMissed: true }   # default of every cluster
 *   retention: { full: 7, days: 14 }   # default of every cluster (absent: DEFAULT_RETENTION)
 *   checks: { maxAge: 26h, minFreeSpace: 1GB, maxArchiveLag: 5m }
 *   http: { listen: 127.0.0.1:9187 }   # /metrics and the status page; off when absent
 *   wal: { archive: stream, compression: lz4, synchronous: false, maxRetainedBytes: 10GB }
 *                                      # fleet-wide defaults; each cluster may have its own "wal:"
 *                                      # (plus "slot", default pgfleet_<cluster>)
 */
import { resolve } from 'node:path';
import { z } from 'zod';
import { parseCompressionSpec } from '@pgfleet/core';
import {
  address, commonNames, configProblems, flag, integer, list, mapping, oneOf, optional, parseConfigText, problem, readConfigFile,
  splitAddress, text, validateConfig, type ConfigDocument, type ConfigProblem,
} from '@pgfleet/core/config';
import { cronExpression, duration, size, timeZone } from './config-fields.js';
import { DEFAULT_LISTEN } from './default-listen.js';

export interface TlsFiles {
  ca: string;
  cert: string;
  key: string;
  /** Common names of the client (CLI) certificates accepted; null: any with role "cli". */
  allowedClients?: string[] | null;
}

export interface ListenAddress {
  host: string;
  port: number;
}

export interface AgentConfig {
  name: string;
  /** host:port of the agent's gRPC server. */
  address: string;
}

/**
 * What expire keeps: the newest `full` full backups, and every backup needed to restore to
 * any moment of the last `days` days (the backups finished within them plus the newest one
 * before them). A backup goes when neither rule keeps it; null: that rule is not used.
 */
export interface RetentionConfig {
  full: number | null;
  days: number | null;
}

/** When a cluster is backed up without being asked. */
export interface ScheduleConfig {
  /** Cron expression of full backups (5 fields, or 6 with seconds first). */
  full: string;
  /** IANA time zone the expression is read in; null: the daemon's local time. */
  timezone: string | null;
  /** A run missed while the daemon was down runs once when it starts. */
  runMissed: boolean;
}

/** Thresholds of `pgfleet check`. */
export interface CheckThresholds {
  /** The newest usable backup must be younger than this (seconds). */
  maxAgeSeconds: number;
  /** The repository's file system must have this much free space (bytes). */
  minFreeBytes: number;
  /** The WAL archive may lag behind the server by this much (seconds). */
  maxArchiveLagSeconds: number;
}

/** Continuous WAL archive of a cluster (fleet.yaml `wal:`, per cluster over the fleet's default). */
export interface WalConfig {
  /** "stream": a receiver keeps the archive (the cluster's agent, or the controller without one); "none": no archive. */
  archive: 'stream' | 'none';
  /** The physical replication slot streamed through (created when missing); also the walsender's application_name. */
  slot: string;
  compression: 'none' | 'lz4' | 'zstd' | 'gzip';
  /** Acknowledge every write at once, so the archive can be a synchronous standby (its application_name is the slot name). */
  synchronous: boolean;
  /** A slot retaining more WAL than this on the server is reported (log, `pgfleet wal`); null: no limit. */
  maxRetainedBytes: number | null;
}

export interface ClusterConfig {
  name: string;
  /** The agent that backs this cluster up on its host; null: direct replication connection. */
  agent: string | null;
  /** libpq connection string. Required without an agent; with one, passed to the agent
   * (empty: the agent's own local connection). */
  conninfo: string;
  retention: RetentionConfig;
  /** null: backed up only when asked. */
  schedule: ScheduleConfig | null;
  /** `pgfleet check`: the newest usable backup must be younger than this (seconds). */
  maxAgeSeconds: number;
  /** pg_basebackup -Z spec ("none", "client-gzip", "server-zstd:level=5", ...). */
  compression: string;
  checkpoint: 'fast' | 'spread';
  walMethod: 'stream' | 'fetch';
  /** pg_basebackup -r in kB/s, or null. */
  maxRateKb: number | null;
  wal: WalConfig;
}

export interface FleetConfig {
  /** The file it was read from (absolute), for messages. */
  path: string;
  listen: ListenAddress;
  repository: string;
  tls: TlsFiles | null;
  insecure: boolean;
  parallel: number;
  /** Direct backups: a PostgreSQL connection fails when the server sends nothing for this long
   * while the controller waits for it (the start checkpoint included). */
  noProgressTimeoutSeconds: number;
  agents: AgentConfig[];
  clusters: ClusterConfig[];
  checks: CheckThresholds;
  /** Where /metrics and the status page are served; null: no HTTP listener. */
  http: { listen: ListenAddress } | null;
}

/** Names become directory names in the repository: keep them portable and safe. */
const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

export { DEFAULT_LISTEN };
export const DEFAULT_PARALLEL = 4;
/** Retention of a cluster when neither it nor the fleet says. */
export const DEFAULT_RETENTION: RetentionConfig = { full: 7, days: null };
/** A daily schedule leaves a backup at most a day old, plus the time it takes. */
export const DEFAULT_CHECKS: CheckThresholds = { maxAgeSeconds: 26 * 3600, minFreeBytes: 1e9, maxArchiveLagSeconds: 300 };
/** Longer than a spread checkpoint of a default configuration (checkpoint_timeout 5 min x 0.9). */
export const DEFAULT_NO_PROGRESS_TIMEOUT_SECONDS = 600;

const CERTS_HINT = 'Run "pgfleet certs init DIR" to create a CA and certificates.';

/** An agent's or a cluster's name. */
const name = (): z.ZodType<string> => text({ numbersAsText: true }).superRefine((value, ctx) => {
  if (!NAME_PATTERN.test(value)) {
    ctx.addIssue({
      code: 'custom',
      message: problem(`is not a valid name: "${value}"`, 'Use letters, digits, ".", "_" and "-" (at most 63), starting with a letter or digit.'),
    });
  }
});

const tlsSchema = mapping({
  ca: text({ requiredHint: CERTS_HINT }),
  cert: text({ requiredHint: CERTS_HINT }),
  key: text({ requiredHint: CERTS_HINT }),
  allowedClients: optional(commonNames('Remove it to accept any client certificate of the CA with role "cli".')),
}, { describe: 'with "ca", "cert" and "key"' });

const agentSchema = mapping({
  name: name(),
  address: address({ minPort: 1 }),
}, { describe: 'with "name" and "address"' });

const retentionSchema = mapping({
  full: optional(integer()),
  days: optional(integer({ unit: 'days' })),
}, { describe: 'such as "{ full: 7 }" or "{ days: 14 }"' }).superRefine((r, ctx) => {
  if (r.full === undefined && r.days === undefined) {
    ctx.addIssue({ code: 'custom', message: problem('must say "full" or "days" (or both)', 'E.g. "retention: { full: 7 }" keeps the newest 7 full backups.') });
  }
});

const scheduleSchema = mapping({
  full: cronExpression(),
  timezone: optional(timeZone()),
  runMissed: optional(flag()),
}, { describe: 'such as "{ full: \"0 3 * * *\" }"' });

const checksSchema = mapping({
  maxAge: optional(duration()),
  minFreeSpace: optional(size()),
  maxArchiveLag: optional(duration()),
}, { describe: 'such as "{ maxAge: 26h, minFreeSpace: 1GB }"' });

const httpSchema = mapping({
  listen: address({ minPort: 0, requiredHint: 'E.g. "http: { listen: 127.0.0.1:9187 }".' }),
}, { describe: 'such as "{ listen: 127.0.0.1:9187 }"' });

const SIZE_UNITS: Record<string, number> = { B: 1, kB: 1024, MB: 1024 ** 2, GB: 1024 ** 3, TB: 1024 ** 4 };

/** A byte count: an integer, or a text with PostgreSQL's memory units ("512MB", "10GB"). */
const byteSize = (): z.ZodType<number> => z.union([z.number(), z.string()]).transform((value, ctx) => {
  const m = typeof value === 'number' ? null : /^\s*(\d+)\s*(B|kB|MB|GB|TB)?\s*$/.exec(value);
  const bytes = typeof value === 'number' ? value : m === null ? NaN : Number(m[1]) * (SIZE_UNITS[m[2] ?? 'B'] ?? NaN);
  if (!Number.isSafeInteger(bytes) || bytes < 1) {
    ctx.addIssue({ code: 'custom', message: problem(`must be a size such as "10GB", not ${JSON.stringify(value)}`, 'Give bytes, or a number with one of the units B, kB, MB, GB, TB.') });
    return z.NEVER;
  }
  return bytes;
});

/** A physical replication slot's name: what the server accepts. */
const SLOT_PATTERN = /^[a-z0-9_]{1,63}$/;

const walFields = {
  archive: optional(oneOf(['stream', 'none'])),
  compression: optional(oneOf(['none', 'lz4', 'zstd', 'gzip'])),
  synchronous: optional(flag()),
  maxRetainedBytes: optional(byteSize()),
};

const fleetWalSchema = mapping(walFields, { describe: 'such as "{ archive: stream, compression: lz4 }"' });

const clusterWalSchema = mapping({
  ...walFields,
  slot: optional(text().superRefine((value, ctx) => {
    if (!SLOT_PATTERN.test(value)) {
      ctx.addIssue({ code: 'custom', message: problem(`is not a valid replication slot name: "${value}"`, 'Use lower-case letters, digits and "_" (at most 63).') });
    }
  })),
}, { describe: 'such as "{ archive: stream, slot: pgfleet_main }"' });

/** The slot a cluster streams through by default: pgfleet_<name>, in the characters a slot name may have. */
export function defaultSlotName(cluster: string): string {
  return `pgfleet_${cluster.toLowerCase().replace(/[^a-z0-9_]/g, '_')}`.slice(0, 63);
}

const clusterSchema = mapping({
  name: name(),
  agent: optional(text({ numbersAsText: true })),
  conninfo: optional(text({ allowEmpty: true })),
  retention: optional(retentionSchema),
  schedule: optional(scheduleSchema),
  maxAge: optional(duration()),
  compression: optional(text().superRefine((value, ctx) => {
    try {
      parseCompressionSpec(value);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: `is invalid: ${err instanceof Error ? err.message : String(err)}` });
    }
  })),
  checkpoint: optional(oneOf(['fast', 'spread'])),
  walMethod: optional(oneOf(['stream', 'fetch'])),
  // pg_basebackup's limits for -r.
  maxRate: optional(integer({ min: 32, max: 1048576, unit: 'kB/s' })),
  wal: optional(clusterWalSchema),
}, { describe: 'with at least "name"' });

/** fleet.yaml's schema: each key's own rules, then what relates keys to each other. */
export const fleetSchema = mapping({
  listen: optional(address({ minPort: 0 })),
  repository: text({ requiredHint: 'Set "repository" to the directory that holds the backups.' }),
  tls: optional(tlsSchema),
  insecure: optional(flag()),
  parallel: optional(integer()),
  noProgressTimeoutSeconds: optional(integer({ max: 86400, unit: 'seconds' })),
  agents: optional(list(agentSchema)),
  clusters: optional(list(clusterSchema)),
  schedule: optional(scheduleSchema),
  retention: optional(retentionSchema),
  checks: optional(checksSchema),
  http: optional(httpSchema),
  wal: optional(fleetWalSchema),
}).superRefine((doc, ctx) => {
  const add = (path: PropertyKey[], reason: string, hint?: string): void => {
    ctx.addIssue({ code: 'custom', path, message: problem(reason, hint) });
  };
  if (doc.tls !== undefined && doc.insecure === true) add(['insecure'], 'cannot be combined with "tls"', 'Remove one of them.');
  if (doc.tls === undefined && doc.insecure !== true) {
    add(['tls'], 'is required', 'Set "tls" (ca, cert, key) for mutual TLS, or "insecure: true" for a local demo without TLS.');
  }
  const agents = doc.agents ?? [];
  agents.forEach((a, i) => {
    if (agents.findIndex((x) => x.name === a.name) < i) add(['agents', i, 'name'], `repeats agent name "${a.name}"`);
  });
  (doc.clusters ?? []).forEach((c, i) => {
    const same = (doc.clusters ?? []).slice(0, i).find((x) => x.name.toLowerCase() === c.name.toLowerCase());
    if (same?.name === c.name) {
      add(['clusters', i, 'name'], `repeats cluster name "${c.name}"`);
    } else if (same !== undefined) {
      // A cluster's name is its directory in the repository: on a file system that ignores
      // case, two such clusters would share their backups.
      add(['clusters', i, 'name'], `"${c.name}" differs from cluster "${same.name}" only in case`, 'Give clusters names that differ in more than case.');
    }
    if (c.agent !== undefined && !agents.some((a) => a.name === c.agent)) {
      add(['clusters', i, 'agent'], `names unknown agent "${c.agent}"`,
        agents.length === 0 ? 'Declare the agent under "agents".' : `Known agents: ${agents.map((a) => `"${a.name}"`).join(', ')}.`);
    }
    const slot = c.wal?.slot ?? defaultSlotName(c.name);
    const sameSlot = (doc.clusters ?? []).slice(0, i).find((x) => (x.wal?.slot ?? defaultSlotName(x.name)) === slot && (x.conninfo ?? '') === (c.conninfo ?? '') && x.agent === c.agent);
    if (sameSlot !== undefined && (c.wal?.archive ?? doc.wal?.archive ?? 'stream') === 'stream' && (sameSlot.wal?.archive ?? doc.wal?.archive ?? 'stream') === 'stream') {
      add(['clusters', i, 'wal', 'slot'], `"${slot}" is also cluster "${sameSlot.name}"'s slot on the same server`, 'Give one of them another "wal.slot", or "wal: { archive: none }".');
    }
    if (c.agent === undefined && (c.conninfo ?? '') === '') {
      add(['clusters', i, 'conninfo'], 'is required for a cluster without an agent',
        'Give a connection string the controller can use for replication, or an "agent".');
    }
  });
});

/** Reads and validates fleet.yaml. */
export async function loadFleetConfig(path: string): Promise<FleetConfig> {
  return fleetConfigOf(await readConfigFile(path));
}

/** Validates the text of a fleet.yaml that lives (or would live) at `path`. */
export function parseFleetConfig(text: string, path: string): FleetConfig {
  return fleetConfigOf(parseConfigText(text, path));
}

/** Every problem of a fleet.yaml (`pgfleet serve --check-config`); empty when it is valid. */
export async function checkFleetConfig(path: string): Promise<{ file: string; problems: ConfigProblem[] }> {
  const { file, doc } = await readConfigFile(path);
  return { file, problems: configProblems(fleetSchema, doc) };
}

function fleetConfigOf({ file, baseDir, doc }: ConfigDocument): FleetConfig {
  const d = validateConfig(fleetSchema, doc, file);
  const listen = splitAddress(d.listen ?? DEFAULT_LISTEN) as ListenAddress;
  const tls: TlsFiles | null = d.tls === undefined ? null : {
    ca: resolve(baseDir, d.tls.ca), cert: resolve(baseDir, d.tls.cert), key: resolve(baseDir, d.tls.key),
    allowedClients: d.tls.allowedClients ?? null,
  };
  return {
    path: file,
    listen,
    repository: resolve(baseDir, d.repository),
    tls,
    insecure: d.insecure === true,
    parallel: d.parallel ?? DEFAULT_PARALLEL,
    noProgressTimeoutSeconds: d.noProgressTimeoutSeconds ?? DEFAULT_NO_PROGRESS_TIMEOUT_SECONDS,
    agents: (d.agents ?? []).map((a) => ({ name: a.name, address: a.address })),
    clusters: (d.clusters ?? []).map((c) => ({
      name: c.name,
      agent: c.agent ?? null,
      conninfo: c.conninfo ?? '',
      retention: retentionOf(c.retention ?? d.retention),
      schedule: scheduleOf(c.schedule ?? d.schedule),
      maxAgeSeconds: c.maxAge ?? d.checks?.maxAge ?? DEFAULT_CHECKS.maxAgeSeconds,
      compression: c.compression ?? 'none',
      checkpoint: c.checkpoint ?? 'fast',
      walMethod: c.walMethod ?? 'stream',
      maxRateKb: c.maxRate ?? null,
      wal: {
        archive: c.wal?.archive ?? d.wal?.archive ?? 'stream',
        slot: c.wal?.slot ?? defaultSlotName(c.name),
        compression: c.wal?.compression ?? d.wal?.compression ?? 'lz4',
        synchronous: c.wal?.synchronous ?? d.wal?.synchronous ?? false,
        maxRetainedBytes: c.wal?.maxRetainedBytes ?? d.wal?.maxRetainedBytes ?? null,
      },
    })),
    checks: {
      maxAgeSeconds: d.checks?.maxAge ?? DEFAULT_CHECKS.maxAgeSeconds,
      minFreeBytes: d.checks?.minFreeSpace ?? DEFAULT_CHECKS.minFreeBytes,
      maxArchiveLagSeconds: d.checks?.maxArchiveLag ?? DEFAULT_CHECKS.maxArchiveLagSeconds,
    },
    http: d.http === undefined ? null : { listen: splitAddress(d.http.listen) as ListenAddress },
  };
}

function retentionOf(r: { full?: number | undefined; days?: number | undefined } | undefined): RetentionConfig {
  return r === undefined ? { ...DEFAULT_RETENTION } : { full: r.full ?? null, days: r.days ?? null };
}

function scheduleOf(s: { full: string; timezone?: string | undefined; runMissed?: boolean | undefined } | undefined): ScheduleConfig | null {
  return s === undefined ? null : { full: s.full, timezone: s.timezone ?? null, runMissed: s.runMissed ?? true };
}

/** "host:port", "[v6]:port" with a port from 0 to 65535; null when malformed. */
export function parseListenAddress(value: string): ListenAddress | null {
  const parsed = splitAddress(value);
  return parsed !== null && parsed.port <= 65535 ? parsed : null;
}
