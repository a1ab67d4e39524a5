/**
 * agent.yaml: what an agent serves and where it may write.
 *
 *     listen: 0.0.0.0:7443            # host:port (":7443" = all interfaces); port 0 picks one
 *     tls:                            # mutual TLS: required unless insecure: true
 *       ca: ca.crt                    #   clients must present a certificate signed by this CA,
 *       cert: server.crt              #   with role "controller" (urn:pgfleet:role:controller)
 *       key: server.key
 *       allowedClients: [pgfleet-controller]   # optional: the CNs accepted (default: any)
 *     insecure: false                 # plaintext, no client authentication (local demos only)
 *     allowedRoots: [/srv/postgres]   # the only directories restores may create, write or link into
 *     pgBin: /usr/lib/postgresql/16/bin   # one directory or a list, searched before the usual places
 *     osUser: postgres                # owns restored data directories, runs pg_ctl
 *     socketDir: /var/run/postgresql  # unix socket directory for instances the agent starts (default /tmp)
 *     connectUser: postgres           # role for status queries (default: osUser's name)
 *     shutdownGraceSeconds: 30        # SIGTERM: how long cancelled calls get to undo their work
 *     noProgressTimeoutSeconds: 600   # a backup's server or a call's client silent this long: abort
 *
 * Relative file names are relative to the configuration file. Unknown keys are an error (a
 * typo in allowedRoots must not silently allow nothing, or everything).
 */

import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { InvalidOptionError, fileError } from '@pgfleet/core';

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
  /** The file it was read from (for messages). */
  source: string;
}

const KEYS = new Set(['listen', 'tls', 'insecure', 'allowedRoots', 'pgBin', 'osUser', 'socketDir', 'connectUser', 'shutdownGraceSeconds',
  'noProgressTimeoutSeconds']);
const TLS_KEYS = ['ca', 'cert', 'key', 'allowedClients'];

export const DEFAULT_SHUTDOWN_GRACE_SECONDS = 30;
/** Longer than a spread checkpoint of a default configuration (checkpoint_timeout 5 min x 0.9). */
export const DEFAULT_NO_PROGRESS_TIMEOUT_SECONDS = 600;

function invalid(file: string, what: string, hint?: string): InvalidOptionError {
  return new InvalidOptionError(`invalid agent configuration "${file}": ${what}`, hint ? { hint } : {});
}

/** tls.allowedClients: absent (any CN), or a non-empty list of distinct non-empty names. */
function allowedClients(file: string, v: unknown): string[] | null {
  if (v === undefined || v === null) return null;
  if (!Array.isArray(v) || v.length === 0 || v.some((n) => typeof n !== 'string' || n === '')) {
    throw invalid(file, '"tls.allowedClients" must be a non-empty list of certificate common names',
      'Remove it to accept any client certificate of the CA with role "controller".');
  }
  const names = v as string[];
  const repeated = names.find((n, i) => names.indexOf(n) !== i);
  if (repeated !== undefined) throw invalid(file, `"tls.allowedClients" lists "${repeated}" twice`);
  return names;
}

/** Validates a parsed agent.yaml document; `baseDir` resolves relative paths. */
export function parseAgentConfig(doc: unknown, file: string, baseDir: string, options: { insecure?: boolean } = {}): AgentConfig {
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) throw invalid(file, 'the document must be a mapping');
  const d = doc as Record<string, unknown>;
  for (const key of Object.keys(d)) {
    if (!KEYS.has(key)) throw invalid(file, `unknown key "${key}"`, `Known keys: ${[...KEYS].join(', ')}.`);
  }
  const str = (key: string, required: boolean): string | null => {
    const v = d[key];
    if (v === undefined || v === null) {
      if (required) throw invalid(file, `"${key}" is missing`);
      return null;
    }
    if (typeof v !== 'string' || v === '') throw invalid(file, `"${key}" must be a non-empty string`);
    return v;
  };
  const abs = (p: string): string => path.resolve(baseDir, p);
  const list = (key: string): string[] => {
    const v = d[key];
    if (v === undefined || v === null) return [];
    const items = typeof v === 'string' ? [v] : v;
    if (!Array.isArray(items) || items.some((i) => typeof i !== 'string' || i === '')) {
      throw invalid(file, `"${key}" must be a directory or a list of directories`);
    }
    return (items as string[]).map(abs);
  };

  const listen = str('listen', true) as string;
  if (!/^(\[[^\]]+\]|[^:]*):[0-9]{1,5}$/.test(listen)) throw invalid(file, `"listen" must be host:port, not "${listen}"`);
  const insecure = options.insecure === true || d['insecure'] === true;
  if (d['insecure'] !== undefined && typeof d['insecure'] !== 'boolean') throw invalid(file, '"insecure" must be true or false');
  let tls: AgentTlsFiles | null = null;
  if (d['tls'] !== undefined && d['tls'] !== null) {
    const t = d['tls'];
    if (typeof t !== 'object' || Array.isArray(t)) throw invalid(file, '"tls" must be a mapping with ca, cert and key');
    const tt = t as Record<string, unknown>;
    for (const key of Object.keys(tt)) if (!TLS_KEYS.includes(key)) throw invalid(file, `unknown key "tls.${key}"`, `Known keys: ${TLS_KEYS.join(', ')}.`);
    const need = (k: string): string => {
      const v = tt[k];
      if (typeof v !== 'string' || v === '') throw invalid(file, `"tls.${k}" is missing`);
      return abs(v);
    };
    tls = { ca: need('ca'), cert: need('cert'), key: need('key'), allowedClients: allowedClients(file, tt['allowedClients']) };
  }
  if (!tls && !insecure) {
    throw invalid(file, 'no "tls" section', 'Give tls: {ca, cert, key} (pgfleet-agent certs makes test certificates), or run with --insecure for a local demo.');
  }
  const allowedRoots = list('allowedRoots');
  if (allowedRoots.length === 0) {
    throw invalid(file, '"allowedRoots" is empty', 'Name the directories restores may write into, e.g. allowedRoots: [/srv/postgres].');
  }
  if (allowedRoots.some((r) => r === '/')) throw invalid(file, '"allowedRoots" must not contain "/"');
  const grace = d['shutdownGraceSeconds'] ?? DEFAULT_SHUTDOWN_GRACE_SECONDS;
  if (typeof grace !== 'number' || !Number.isInteger(grace) || grace < 1 || grace > 3600) {
    throw invalid(file, '"shutdownGraceSeconds" must be a whole number of seconds from 1 to 3600');
  }
  const noProgress = d['noProgressTimeoutSeconds'] ?? DEFAULT_NO_PROGRESS_TIMEOUT_SECONDS;
  if (typeof noProgress !== 'number' || !Number.isInteger(noProgress) || noProgress < 1 || noProgress > 86400) {
    throw invalid(file, '"noProgressTimeoutSeconds" must be a whole number of seconds from 1 to 86400');
  }
  return {
    listen,
    tls: insecure ? null : tls,
    insecure,
    allowedRoots,
    pgBin: list('pgBin'),
    osUser: str('osUser', false) ?? 'postgres',
    socketDir: str('socketDir', false) ? abs(str('socketDir', false) as string) : null,
    connectUser: str('connectUser', false),
    shutdownGraceSeconds: grace,
    noProgressTimeoutSeconds: noProgress,
    source: file,
  };
}

export async function loadAgentConfig(file: string, options: { insecure?: boolean } = {}): Promise<AgentConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw fileError('could not read agent configuration', file, err);
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw invalid(file, err instanceof Error ? err.message.split('\n')[0] ?? '' : String(err));
  }
  return parseAgentConfig(doc, file, path.dirname(path.resolve(file)), options);
}
