/**
 * agent.yaml: what an agent serves and where it may write.
 *
 *     listen: 0.0.0.0:7443            # host:port (":7443" = all interfaces); port 0 picks one
 *     tls:                            # mutual TLS: required unless insecure: true
 *       ca: ca.crt                    #   clients must present a certificate signed by this CA,
 *       cert: agent-db1.crt           #   with role "controller" (urn:pgfleet:role:controller)
 *       key: agent-db1.key
 *       allowedClients: [pgfleet-controller]   # optional: the CNs accepted (default: any)
 *     insecure: false                 # plaintext, no client authentication (local demos only)
 *     allowedRoots: [/srv/postgres]   # the only directories restores may create, write or link into
 *     pgBin: /usr/lib/postgresql/16/bin   # one directory or a list, searched before the usual places
 *     osUser: postgres                # owns restored data directories, runs pg_ctl
 *     socketDir: /var/run/postgresql  # unix socket directory for instances the agent starts (default /tmp)
 *     connectUser: postgres           # role for status queries (default: osUser's name)
 *     shutdownGraceSeconds: 30        # SIGTERM: how long cancelled calls get to undo their work
 *     noProgressTimeoutSeconds: 600   # a backup's server or a call's client silent this long: abort
 *     controller:                     # for archive-push and wal-get (PostgreSQL's archive and restore commands)
 *       address: ctl.example.com:7400 #   the controller's listen address
 *       cluster: main                 #   optional: the cluster this host's server is (default: the
 *                                     #   one whose archive holds the server's system identifier)
 *       tls: { ca, cert, key }        #   optional: default the agent's own tls files (role "agent")
 *       prefetchDir: /var/tmp/pgfleet-wal   # optional: where wal-get keeps segments fetched ahead
 *
 * Validated with zod through @pgfleet/core's configuration fields, as the controller's
 * fleet.yaml is: the same problem shapes (file, key, reason, HINT; "Did you mean ...?" for a
 * misspelt key). Relative file names are relative to the configuration file. Unknown keys are
 * an error (a typo in allowedRoots must not silently allow nothing, or everything).
 */

import path from 'node:path';
import {
  address, commonNames, configProblems, flag, integer, list, mapping, optional, problem, readConfigFile, text, validateConfig,
  type ConfigProblem,
} from '@pgfleet/core/config';

export interface AgentTlsFiles {
  ca: string;
  cert: string;
  key: string;
  /** Common names of the client certificates accepted; null: any with the right role. */
  allowedClients?: string[] | null;
}

export interface AgentConfig {
  /** host:port */
  listen: string;
  tls: AgentTlsFiles | null;
  insecure: boolean;
  allowedRoots: string[];
  pgBin: string[];
  osUser: string;
  socketDir: string | null;
  connectUser: string | null;
  /** On SIGTERM/SIGINT, how long cancelled calls may take to finish before the agent exits anyway. */
  shutdownGraceSeconds: number;
  /**
   * No-progress deadline: a backup's PostgreSQL connections fail when the server sends nothing
   * for this long while the agent waits for it (the server's start checkpoint included), and a
   * Backup or Restore call is aborted when its client takes nothing (Backup) or sends nothing
   * (Restore) for this long.
   */
  noProgressTimeoutSeconds: number;
  /** Where archive-push and wal-get reach the controller; null when not configured. */
  controller: AgentControllerConfig | null;
  /** The file it was read from (for messages). */
  source: string;
}

export interface AgentControllerConfig {
  /** host:port */
  address: string;
  /** The cluster this host's server is, or null: found by its system identifier. */
  cluster: string | null;
  /** Client TLS files (role "agent"); null: plaintext (insecure). */
  tls: { ca: string; cert: string; key: string } | null;
  /** wal-get's prefetch directory; null: under the system's temporary directory. */
  prefetchDir: string | null;
}

export const DEFAULT_SHUTDOWN_GRACE_SECONDS = 30;
/** Longer than a spread checkpoint of a default configuration (checkpoint_timeout 5 min x 0.9). */
export const DEFAULT_NO_PROGRESS_TIMEOUT_SECONDS = 600;

const CERTS_HINT = 'Make them with "pgfleet-agent certs" or "pgfleet certs init".';
const DIRECTORIES = 'a directory or a list of directories';

/** agent.yaml's schema. */
export const agentSchema = mapping({
  listen: address({ minPort: 0, allowEmptyHost: true, requiredHint: 'Say where to serve the controller, e.g. "listen: 0.0.0.0:7443".' }),
  tls: optional(mapping({
    ca: text({ requiredHint: CERTS_HINT }),
    cert: text({ requiredHint: CERTS_HINT }),
    key: text({ requiredHint: CERTS_HINT }),
    allowedClients: optional(commonNames('Remove it to accept any client certificate of the CA with role "controller".')),
  }, { describe: 'with "ca", "cert" and "key"' })),
  insecure: optional(flag()),
  allowedRoots: list(text(), {
    single: true, min: 1, describe: DIRECTORIES,
    hint: 'Name the directories restores may write into, e.g. allowedRoots: [/srv/postgres].',
    requiredHint: 'Name the directories restores may write into, e.g. allowedRoots: [/srv/postgres].',
  }).superRefine((roots, ctx) => {
    if (roots.includes('/')) ctx.addIssue({ code: 'custom', message: 'must not contain "/"' });
  }),
  pgBin: optional(list(text(), { single: true, describe: DIRECTORIES })),
  osUser: optional(text()),
  socketDir: optional(text()),
  connectUser: optional(text()),
  shutdownGraceSeconds: optional(integer({ max: 3600, unit: 'seconds' })),
  noProgressTimeoutSeconds: optional(integer({ max: 86400, unit: 'seconds' })),
  controller: optional(mapping({
    address: address({ minPort: 1, requiredHint: 'Give the controller\'s address, e.g. "address: ctl.example.com:7400".' }),
    cluster: optional(text({ numbersAsText: true })),
    tls: optional(mapping({
      ca: text({ requiredHint: CERTS_HINT }),
      cert: text({ requiredHint: CERTS_HINT }),
      key: text({ requiredHint: CERTS_HINT }),
    }, { describe: 'with "ca", "cert" and "key"' })),
    prefetchDir: optional(text()),
  }, { describe: 'with "address"' })),
});

/** The schema, with what depends on the command line (--insecure) checked too. */
function schemaFor(options: { insecure?: boolean }) {
  return agentSchema.superRefine((doc, ctx) => {
    if (doc.tls === undefined && doc.insecure !== true && options.insecure !== true) {
      ctx.addIssue({
        code: 'custom', path: ['tls'],
        message: problem('is required', 'Give tls: {ca, cert, key} ("pgfleet-agent certs" makes certificates), or run with --insecure for a local demo.'),
      });
    }
  });
}

/** Validates a parsed agent.yaml document; `baseDir` resolves relative paths. */
export function parseAgentConfig(doc: unknown, file: string, baseDir: string, options: { insecure?: boolean } = {}): AgentConfig {
  const d = validateConfig(schemaFor(options), doc, file);
  const abs = (p: string): string => path.resolve(baseDir, p);
  const insecure = options.insecure === true || d.insecure === true;
  return {
    listen: d.listen,
    tls: insecure || d.tls === undefined ? null : {
      ca: abs(d.tls.ca), cert: abs(d.tls.cert), key: abs(d.tls.key), allowedClients: d.tls.allowedClients ?? null,
    },
    insecure,
    allowedRoots: d.allowedRoots.map(abs),
    pgBin: (d.pgBin ?? []).map(abs),
    osUser: d.osUser ?? 'postgres',
    socketDir: d.socketDir !== undefined ? abs(d.socketDir) : null,
    connectUser: d.connectUser ?? null,
    shutdownGraceSeconds: d.shutdownGraceSeconds ?? DEFAULT_SHUTDOWN_GRACE_SECONDS,
    noProgressTimeoutSeconds: d.noProgressTimeoutSeconds ?? DEFAULT_NO_PROGRESS_TIMEOUT_SECONDS,
    controller: d.controller === undefined ? null : {
      address: d.controller.address,
      cluster: d.controller.cluster ?? null,
      tls: insecure ? null : d.controller.tls !== undefined
        ? { ca: abs(d.controller.tls.ca), cert: abs(d.controller.tls.cert), key: abs(d.controller.tls.key) }
        : d.tls !== undefined ? { ca: abs(d.tls.ca), cert: abs(d.tls.cert), key: abs(d.tls.key) } : null,
      prefetchDir: d.controller.prefetchDir !== undefined ? abs(d.controller.prefetchDir) : null,
    },
    source: file,
  };
}

export async function loadAgentConfig(file: string, options: { insecure?: boolean } = {}): Promise<AgentConfig> {
  const read = await readConfigFile(file);
  return parseAgentConfig(read.doc, read.file, read.baseDir, options);
}

/** Every problem of an agent.yaml (`pgfleet-agent serve --check-config`); empty when it is valid. */
export async function checkAgentConfig(file: string, options: { insecure?: boolean } = {}): Promise<{ file: string; problems: ConfigProblem[] }> {
  const read = await readConfigFile(file);
  return { file: read.file, problems: configProblems(schemaFor(options), read.doc) };
}
