/**
 * `pgfleet-agent archive-push %p` and `pgfleet-agent wal-get %f %p`: PostgreSQL's
 * archive_command and restore_command, talking to the controller's WAL archive service with the
 * agent's configuration (`controller:` in agent.yaml; --config, else $PGFLEET_AGENT_CONFIG,
 * else /etc/pgfleet/agent.yaml). PostgreSQL runs both in the data directory, so the server's
 * system identifier (and segment size) come from ./global/pg_control when it is readable: the
 * controller finds the cluster by it unless --cluster or controller.cluster names one.
 *
 * archive-push: 0 when the file is archived now or was archived before with the same content;
 * another status (the catalogue's code, e.g. 84 for other content already archived) when not,
 * so that PostgreSQL keeps the file and tries again.
 *
 * wal-get follows PostgreSQL's rules for restore_command: 0 with the file written to %p; 1 when
 * the archive does not hold it (recovery ends there, normally); 255 when the controller cannot
 * be reached or the file arrives damaged, after 3 attempts: a status above 125 makes the
 * server abort recovery instead of ending it early and promoting a copy that misses WAL.
 * After serving a complete segment it starts a detached prefetcher for the next segments
 * (--prefetch N, default 4; 0: none), which fetches them in parallel into the prefetch
 * directory (controller.prefetchDir, default <tmp>/pgfleet-wal-prefetch-<uid>/<cluster>-<system identifier>),
 * never inside the data directory; each file lands there complete and checked (temporary name,
 * then rename), and a later wal-get serves it from there.
 */

import { spawn } from 'node:child_process';
import { copyFile, mkdir, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
// Narrow entry points, not the package's index: PostgreSQL starts these commands once per WAL file.
import { InvalidOptionError, NotFoundError } from '@pgfleet/core/errors';
import { errorText } from '@pgfleet/core/log-basics';
import { checkSegmentContent, isWalSegmentName, parseWalSegmentName, readControlFile, walSegmentName } from '@pgfleet/core/wal-file';
import { loadAgentConfig, type AgentConfig, type AgentControllerConfig } from '../config.js';
import { WalArchiveClient } from '../wal/archive-client.js';
import { printError } from './cli-output.js';

export const WAL_GET_NOT_FOUND = 1;
export const WAL_GET_ABORT = 255;
const ATTEMPTS = 3;
const CALL_TIMEOUT_MS = 120_000;

export interface WalCommandFlags {
  config?: string;
  cluster?: string;
  prefetch?: number;
  prefetchOnly?: boolean;
}

function configPath(flags: WalCommandFlags): string {
  return flags.config ?? process.env['PGFLEET_AGENT_CONFIG'] ?? '/etc/pgfleet/agent.yaml';
}

async function controllerOf(flags: WalCommandFlags): Promise<{ config: AgentConfig; controller: AgentControllerConfig }> {
  const config = await loadAgentConfig(configPath(flags));
  if (config.controller === null) {
    throw new InvalidOptionError(`"${config.source}" does not say where the controller is`, {
      hint: 'Add "controller: { address: HOST:PORT }" to the agent\'s configuration.',
    });
  }
  return { config, controller: config.controller };
}

/** The server's system identifier and segment size from ./global/pg_control (the data directory), when readable. */
async function localServer(): Promise<{ systemIdentifier: string; segmentSize: number } | null> {
  try {
    const reading = readControlFile(await readFile(path.join('global', 'pg_control')));
    return reading.ok ? { systemIdentifier: reading.info.systemIdentifier.toString(), segmentSize: reading.info.walSegmentSize } : null;
  } catch {
    return null;
  }
}

/** archive-push PATH; returns the exit status. */
export async function runArchivePush(file: string, flags: WalCommandFlags): Promise<number> {
  try {
    const { controller } = await controllerOf(flags);
    const content = await readFile(file).catch((err: unknown) => { throw new InvalidOptionError(`could not read "${file}": ${errorText(err)}`); });
    const server = await localServer();
    const client = await WalArchiveClient.open(controller, CALL_TIMEOUT_MS);
    try {
      await client.push({ cluster: flags.cluster ?? controller.cluster ?? '', systemIdentifier: server?.systemIdentifier ?? '', name: path.basename(file) }, content);
    } finally {
      client.close();
    }
    return 0;
  } catch (err) {
    return printError(err);
  }
}

function prefetchDirectory(controller: AgentControllerConfig, key: string): string {
  const base = controller.prefetchDir ?? path.join(os.tmpdir(), `pgfleet-wal-prefetch-${process.getuid?.() ?? 0}`);
  return path.join(base, key.replace(/[^A-Za-z0-9._-]/g, '_'));
}

/** Writes `content` to `target` whole: a temporary name in the same directory, then rename. */
async function writeWhole(target: string, content: Buffer): Promise<void> {
  const tmp = path.join(path.dirname(target), `.${path.basename(target)}.pgfleet-${process.pid}`);
  await writeFile(tmp, content, { mode: 0o600 });
  await rename(tmp, target);
}

/** wal-get FILE PATH; returns the exit status. */
export async function runWalGet(name: string, target: string, flags: WalCommandFlags): Promise<number> {
  let controller: AgentControllerConfig;
  try {
    ({ controller } = await controllerOf(flags));
  } catch (err) {
    printError(err);
    return WAL_GET_ABORT;
  }
  const server = await localServer();
  const cluster = flags.cluster ?? controller.cluster ?? '';
  // Keyed by the server's system identifier too: a segment of the same name prefetched for
  // another server (an earlier cluster of the same name) must never be served to this one.
  const systemIdentifier = server?.systemIdentifier ?? '';
  const prefetchDir = prefetchDirectory(controller, `${cluster !== '' ? cluster : 'cluster'}-${systemIdentifier}`);
  // A prefetch directory inside the data directory would be copied by backups and restores.
  const usePrefetch = systemIdentifier !== '' && !path.resolve(prefetchDir).startsWith(`${process.cwd()}${path.sep}`)
    && (flags.prefetch ?? 4) > 0;
  const prefetched = path.join(prefetchDir, name);
  if (usePrefetch && isWalSegmentName(name) && (await stat(prefetched).catch(() => null)) !== null) {
    try {
      await copyFile(prefetched, target);
      await unlink(prefetched).catch(() => undefined);
      startPrefetch(name, server?.segmentSize ?? null, flags, prefetchDir);
      return 0;
    } catch {
      // Fetch it from the controller instead.
    }
  }
  let lastError: unknown = null;
  for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
    try {
      const client = await WalArchiveClient.open(controller, CALL_TIMEOUT_MS);
      try {
        const { header, content } = await client.get({ cluster, systemIdentifier: server?.systemIdentifier ?? '', name });
        if (isWalSegmentName(name) && !header.partial) checkSegmentContent(content, name, content.length);
        await writeWhole(target, content);
        if (usePrefetch && isWalSegmentName(name) && !header.partial) startPrefetch(name, content.length, flags, prefetchDir);
        return 0;
      } finally {
        client.close();
      }
    } catch (err) {
      if (err instanceof NotFoundError) return WAL_GET_NOT_FOUND;
      lastError = err;
      if (attempt < ATTEMPTS) await sleep(1000 * attempt);
    }
  }
  process.stderr.write(`pgfleet-agent wal-get: could not get "${name}" after ${ATTEMPTS} attempts; aborting recovery (exit status ${WAL_GET_ABORT})\n`);
  printError(lastError);
  return WAL_GET_ABORT;
}

/** The `count` segment names after `name` on its timeline. */
function nextSegments(name: string, segmentSize: number, count: number): string[] {
  const id = parseWalSegmentName(name, segmentSize);
  if (id === null) return [];
  return Array.from({ length: count }, (_, i) => walSegmentName(id.timeline, id.segno + BigInt(i + 1), segmentSize));
}

/** Starts the detached prefetcher for the segments after `name` (see the module comment). */
function startPrefetch(name: string, segmentSize: number | null, flags: WalCommandFlags, dir: string): void {
  const count = flags.prefetch ?? 4;
  if (segmentSize === null || count <= 0) return;
  const names = nextSegments(name, segmentSize, count);
  if (names.length === 0) return;
  const args = [...process.execArgv, process.argv[1] as string, 'wal-get', '--prefetch-only', '--prefetch', String(count),
    ...(flags.config !== undefined ? ['--config', flags.config] : []), ...(flags.cluster !== undefined ? ['--cluster', flags.cluster] : []),
    '--prefetch-dir', dir, ...names];
  try {
    spawn(process.execPath, args, { detached: true, stdio: 'ignore', cwd: process.cwd() }).unref();
  } catch {
    // Prefetching is an optimisation only.
  }
}

/** The prefetcher: fetches `names` in parallel into `dir`; complete, checked segments only. Never fails. */
export async function runPrefetch(names: string[], dir: string, flags: WalCommandFlags): Promise<number> {
  try {
    const { controller } = await controllerOf(flags);
    const server = await localServer();
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const client = await WalArchiveClient.open(controller, CALL_TIMEOUT_MS);
    try {
      await Promise.all(names.map(async (n) => {
        const file = path.join(dir, n);
        if ((await stat(file).catch(() => null)) !== null) return;
        try {
          const { header, content } = await client.get({ cluster: flags.cluster ?? controller.cluster ?? '', systemIdentifier: server?.systemIdentifier ?? '', name: n });
          if (header.partial) return;
          checkSegmentContent(content, n, content.length);
          await writeWhole(file, content);
        } catch {
          // Not archived yet, or unreachable: wal-get asks the controller itself.
        }
      }));
    } finally {
      client.close();
    }
  } catch {
    // Prefetching is an optimisation only.
  }
  return 0;
}
