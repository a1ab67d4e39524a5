// pgbackrest as an optional reference point: a full backup of the same cluster into a local
// repository, once per compressed/uncompressed tar variant (plain has no equivalent), timed
// and measured like the other tools. When `pgbackrest` is not on PATH the bench installs it
// (ensurePgbackrest: apt-get install pgbackrest, said on the output), and skips it with a note
// when that fails. Everything it writes lives under workDir (removed afterwards).
//
// pgbackrest reads the data directory itself, so it runs as the PostgreSQL OS user. The
// cluster does not archive WAL, so archive-check is off: the backups are timed, not restorable.
// Never throws for a pgbackrest failure: the error is part of the result.

import { execFileSync, spawnSync } from 'node:child_process';
import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { chownR, mkdirOwned, pgOsUser, runAs, type TestCluster } from '../harness/index.js';
import { measure } from './measure.js';
import { outputSize } from './output-size.js';
import { dropPageCache } from './page-cache.js';
import type { ExtraResult } from './report.js';
import { median } from './summary.js';
import type { VariantName } from './variants.js';

const COMPRESS_TYPE: Partial<Record<VariantName, string>> = { tar: 'none', gzip: 'gz', lz4: 'lz4', zstd: 'zst' };
export const STANZA = 'bench';

export interface PgbackrestOptions {
  enabled: boolean;
  cluster: TestCluster;
  variants: readonly VariantName[];
  runs: number;
  workDir: string;
  timeoutMs: number;
  dropCaches: boolean;
  log: (line: string) => void;
}

export interface PgbackrestOutcome {
  results: ExtraResult[];
  note: string | null;
}

/** Absolute path of pgbackrest on PATH, or undefined. */
export function findPgbackrest(): string | undefined {
  try {
    const found = execFileSync('sh', ['-c', 'command -v pgbackrest'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    return found === '' ? undefined : found;
  } catch {
    return undefined;
  }
}

export interface InstalledPgbackrest {
  command: string;
  version: string;
  /** This run installed it. */
  installedByBench: boolean;
}

let installed: InstalledPgbackrest | null | undefined;

/**
 * pgbackrest on PATH, installed with apt-get when missing (once per bench run, said through
 * `log`); null when it is missing and could not be installed.
 */
export function ensurePgbackrest(log: (line: string) => void): InstalledPgbackrest | null {
  if (installed !== undefined) return installed;
  let command = findPgbackrest();
  let installedByBench = false;
  if (command === undefined) {
    log('pgbackrest is not installed: installing it for the comparison (apt-get install -y pgbackrest)');
    // Another apt-get may hold the lock for a while: wait for it rather than fail.
    const result = spawnSync('apt-get', ['-o', 'DPkg::Lock::Timeout=600', 'install', '-y', '-q', 'pgbackrest'], {
      encoding: 'utf8', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    command = findPgbackrest();
    if (command === undefined) {
      log(`could not install pgbackrest: ${(result.stderr || result.stdout || String(result.error ?? '')).trim().split('\n').slice(-3).join(' ')}`);
      return (installed = null);
    }
    installedByBench = true;
    log(`pgbackrest installed: ${command}`);
  }
  let version = 'unknown version';
  try {
    version = execFileSync(command, ['version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    // keep "unknown version"
  }
  return (installed = { command, version, installedByBench });
}

/** pgbackrest.conf for one stanza on `cluster`, its repository and work files under workDir. */
export function pgbackrestConfig(cluster: TestCluster, workDir: string): string {
  return [
    '[global]',
    `repo1-path=${path.join(workDir, 'repo')}`,
    `lock-path=${path.join(workDir, 'lock')}`,
    `log-path=${path.join(workDir, 'log')}`,
    `spool-path=${path.join(workDir, 'spool')}`,
    'log-level-console=warn',
    'log-level-file=off',
    'start-fast=y',
    'archive-check=n',
    'process-max=1',
    '',
    `[${STANZA}]`,
    `pg1-path=${cluster.dataDir}`,
    `pg1-port=${cluster.port}`,
    `pg1-socket-path=${cluster.host}`,
    `pg1-user=${cluster.user}`,
    '',
  ].join('\n');
}

export async function runPgbackrest(opts: PgbackrestOptions): Promise<PgbackrestOutcome> {
  if (!opts.enabled) return { results: [], note: 'pgbackrest: skipped (--no-pgbackrest)' };
  const binary = ensurePgbackrest(opts.log)?.command;
  if (!binary) {
    return { results: [], note: 'pgbackrest: not installed and could not be installed, skipped' };
  }
  const variants = opts.variants.filter((v) => COMPRESS_TYPE[v] !== undefined);
  if (variants.length === 0) return { results: [], note: 'pgbackrest: no tar variant selected, skipped' };

  const user = pgOsUser();
  const config = path.join(opts.workDir, 'pgbackrest.conf');
  const base = [`--config=${config}`, `--stanza=${STANZA}`];
  const results: ExtraResult[] = [];
  try {
    for (const variant of variants) {
      const compressType = COMPRESS_TYPE[variant] as string;
      const name = `pgbackrest full backup (compress-type=${compressType}, process-max=1)`;
      const times: number[] = [];
      const rss: number[] = [];
      const sizes: number[] = [];
      let error: string | undefined;
      for (let run = 1; run <= opts.runs && error === undefined; run++) {
        // A fresh repository each time, so every run is a full backup of the same size.
        await rm(opts.workDir, { recursive: true, force: true });
        await mkdirOwned(opts.workDir, 0o700);
        await writeFile(config, pgbackrestConfig(opts.cluster, opts.workDir));
        await chownR(opts.workDir);
        const created = await runAs(binary, [...base, 'stanza-create'], { allowFailure: true });
        if (created.code !== 0) {
          error = `stanza-create: ${(created.stderr || created.stdout).trim()}`;
          break;
        }
        if (opts.dropCaches) dropPageCache();
        const result = await measure({
          command: binary,
          args: [...base, `--compress-type=${compressType}`, '--type=full', 'backup'],
          timeoutMs: opts.timeoutMs,
          cwd: opts.workDir,
          uid: user.uid,
          gid: user.gid,
        });
        if (!result.ok) {
          error = result.outputTail.trim() || `exit code ${String(result.exitCode)}`;
          break;
        }
        times.push(result.wallMs);
        if (result.peakRssKb !== null) rss.push(result.peakRssKb);
        sizes.push(await outputSize([path.join(opts.workDir, 'repo', 'backup')]));
        opts.log(`  ${variant} run ${run} pgbackrest: ${(result.wallMs / 1000).toFixed(2)} s`);
      }
      results.push({
        name,
        ok: error === undefined,
        medianMs: median(times),
        peakRssKb: rss.length > 0 ? Math.max(...rss) : null,
        outputBytes: median(sizes),
        ...(error === undefined ? {} : { error }),
      });
    }
  } finally {
    await rm(opts.workDir, { recursive: true, force: true });
  }
  return { results, note: null };
}
