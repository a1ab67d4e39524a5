// The WAL part of `npm run bench`: pgfleet-receivewal and pg_receivewal 15 stream the same
// server's WAL at the same time, each through a physical slot reserved at the same position,
// while pgbench writes (tpcb-like: 5 s of warm-up, then --wal-seconds measured). Measured for
// each receiver:
//   - lag: every 100 ms, pg_current_wal_flush_lsn() minus pg_stat_replication.sent_lsn of its
//     walsender (the server sends only as fast as the receiver reads, so a receiver that falls
//     behind shows here; the kernel's socket buffers, a few MB at most, are counted as sent);
//   - catch-up: after the load, until its walsender has sent everything;
//   - CPU time (utime + stime of /proc/<pid>/stat) while streaming (from the start of the load,
//     both having caught up, to the stop) and for the whole process, and peak RSS (VmHWM), read
//     just before it is stopped with SIGINT.
// Afterwards the completed segments of both directories are compared byte for byte.
//
// The cluster (PostgreSQL 15, 16 MB segments, pgbench scale --wal-scale) is made for the run in
// a temporary directory and removed at the end; receivers write under <cacheDir>/wal.

import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { REPO_ROOT, run, startCluster, systemBin, type TestCluster } from '../harness/index.js';
import { cpuSeconds, mainThreadCpuSeconds, peakRssKb } from './proc-stat.js';
import {
  evaluateWalTargets, walCpuRatio, walTargetsPass, WAL_TOOLS, type WalBenchReport, type WalToolId, type WalToolResult,
} from './wal-report.js';

const PGBENCH = '/usr/lib/postgresql/15/bin/pgbench';
const PGFLEET_SCRIPT = path.join(REPO_ROOT, 'packages', 'core', 'dist', 'bin', 'pgfleet-receivewal.js');
const SAMPLE_MS = 100;
const CLIENTS = 4;
const WARM_UP_SECONDS = 5;

export interface WalBenchOptions {
  seconds: number;
  scale: number;
  workDir: string;
  /** Run pgfleet-receivewal under node --cpu-prof with its profile written here. */
  profileDir?: string;
  commit: string | null;
  log: (line: string) => void;
}

interface Receiver {
  id: WalToolId;
  /** application_name its walsender shows (the program's name). */
  appName: string;
  command: string;
  args: string[];
  dir: string;
  child: ChildProcess | null;
  stderr: string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }> | null;
  lags: number[];
  result: WalToolResult;
}

function versionOf(command: string, args: string[]): string {
  try {
    return execFileSync(command, [...args, '--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return 'unknown version';
  }
}

function startReceiver(r: Receiver, env: Record<string, string>): void {
  const child = spawn(r.command, r.args, { env: { ...process.env, ...env, LC_ALL: 'C' }, stdio: ['ignore', 'ignore', 'pipe'], detached: true });
  r.child = child;
  child.stderr?.on('data', (b: Buffer) => { r.stderr = (r.stderr + b.toString()).slice(-8192); });
  r.exited = new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal })));
}

async function lsnDiff(cluster: TestCluster, sql: string): Promise<Map<string, number>> {
  const rows = (await cluster.query<{ app: string; lag: string | null }>(sql)).rows;
  return new Map(rows.filter((r) => r.lag !== null).map((r) => [r.app, Number(r.lag)]));
}

const LAG_SQL = `SELECT application_name AS app, (pg_current_wal_flush_lsn() - sent_lsn)::text AS lag
                   FROM pg_stat_replication WHERE sent_lsn IS NOT NULL`;

/** Runs the WAL measurement (see the module comment). Never throws for a failing receiver. */
export async function runWalBench(opts: WalBenchOptions): Promise<WalBenchReport> {
  const startedAt = new Date();
  const loadStart = os.loadavg()[0] ?? 0;
  const cluster = await startCluster({
    version: 15,
    settings: ['max_wal_size = 2GB', 'checkpoint_timeout = 30min', 'autovacuum = off'],
  });
  const receivers: Receiver[] = [];
  try {
    opts.log(`WAL bench: pgbench -i -s ${opts.scale}`);
    await run(PGBENCH, ['-i', '-q', '-s', String(opts.scale)], { env: cluster.env });
    const segmentBytes = Number((await cluster.query<{ b: string }>(
      "SELECT setting::bigint * (CASE unit WHEN 'B' THEN 1 WHEN '8kB' THEN 8192 ELSE 1048576 END) AS b FROM pg_settings WHERE name = 'wal_segment_size'")).rows[0]!.b);
    await rm(opts.workDir, { recursive: true, force: true });
    const pgDir = path.join(opts.workDir, 'pg_receivewal');
    const oursDir = path.join(opts.workDir, 'pgfleet');
    await mkdir(pgDir, { recursive: true });
    await mkdir(oursDir, { recursive: true });
    // A physical slot reserves WAL from the last checkpoint's redo point: checkpoint first, so
    // that both start streaming where the load begins, not with pgbench -i's WAL.
    await cluster.query('CHECKPOINT');
    for (const slot of ['bench_pg', 'bench_pgfleet']) {
      await cluster.query('SELECT pg_create_physical_replication_slot($1, true)', [slot]);
    }
    const empty = (): WalToolResult => ({
      command: '', version: '', ok: false, cpuSeconds: null, cpuTotalSeconds: null, peakRssKb: null, maxLagBytes: null, meanLagBytes: null, catchUpSeconds: null,
    });
    const pgCommand = systemBin('pg_receivewal');
    receivers.push({
      id: 'pg_receivewal', appName: 'pg_receivewal', command: pgCommand, args: ['-D', pgDir, '-S', 'bench_pg'],
      dir: pgDir, child: null, stderr: '', exited: null, lags: [], result: { ...empty(), command: pgCommand, version: versionOf(pgCommand, []) },
    });
    receivers.push({
      // As its shebang starts it (node --no-memory-reducer).
      id: 'pgfleet', appName: 'pgfleet-receivewal', command: process.execPath,
      args: ['--no-memory-reducer', ...(opts.profileDir ? ['--cpu-prof', '--cpu-prof-dir', opts.profileDir] : []), PGFLEET_SCRIPT, '-D', oursDir, '-S', 'bench_pgfleet'],
      dir: oursDir, child: null, stderr: '', exited: null, lags: [],
      result: { ...empty(), command: `${process.execPath} --no-memory-reducer ${PGFLEET_SCRIPT}`, version: versionOf(process.execPath, [PGFLEET_SCRIPT]) },
    });
    if (!existsSync(PGFLEET_SCRIPT)) throw new Error(`"${PGFLEET_SCRIPT}" does not exist: run npm run build`);
    for (const r of receivers) startReceiver(r, cluster.env);
    for (let i = 0; ; i++) {
      const lags = await lsnDiff(cluster, LAG_SQL);
      if (receivers.every((r) => lags.get(r.appName) === 0)) break;
      if (i > 200) throw new Error(`the receivers did not start streaming: ${receivers.map((r) => `${r.id}: ${r.stderr.trim()}`).join('; ')}`);
      await sleep(50);
    }
    // Warm-up: a few seconds of the same load before the measured one, so that both receivers
    // are measured streaming, not starting (node compiles its hot paths in the first seconds).
    opts.log(`WAL bench: warm-up, pgbench -c ${CLIENTS} -T ${WARM_UP_SECONDS}`);
    await run(PGBENCH, ['-n', '-c', String(CLIENTS), '-j', '2', '-T', String(WARM_UP_SECONDS)], { env: cluster.env });
    for (let i = 0; ; i++) {
      const lags = await lsnDiff(cluster, LAG_SQL);
      if (receivers.every((r) => lags.get(r.appName) === 0)) break;
      if (i > 600) throw new Error('the receivers did not catch up after the warm-up');
      await sleep(50);
    }
    const startLsn = (await cluster.query<{ l: string }>('SELECT pg_current_wal_flush_lsn()::text AS l')).rows[0]!.l;
    const cpuAtStart = new Map(receivers.map((r) => [r, r.child?.pid === undefined ? null : cpuSeconds(r.child.pid)]));
    const mainAtStart = new Map(receivers.map((r) => [r, r.child?.pid === undefined ? null : mainThreadCpuSeconds(r.child.pid)]));

    opts.log(`WAL bench: pgbench -c ${CLIENTS} -T ${opts.seconds}, both receivers streaming`);
    let loading = true;
    const sampler = (async () => {
      let samples = 0;
      while (loading) {
        const lags = await lsnDiff(cluster, LAG_SQL);
        for (const r of receivers) {
          const lag = lags.get(r.appName);
          if (lag !== undefined) r.lags.push(lag);
        }
        samples++;
        await sleep(SAMPLE_MS);
      }
      return samples;
    })();
    const bench = await run(PGBENCH, ['-n', '-c', String(CLIENTS), '-j', '2', '-T', String(opts.seconds)], { env: cluster.env });
    const tps = Number(/tps = ([\d.]+)/.exec(bench.stdout)?.[1] ?? NaN);
    const loadEnd = Date.now();
    const endLsn = (await cluster.query<{ l: string }>('SELECT pg_current_wal_flush_lsn()::text AS l')).rows[0]!.l;
    // Catch-up: until each walsender has sent everything written during the load.
    for (let i = 0; i < 1200 && receivers.some((r) => r.result.catchUpSeconds === null); i++) {
      const behind = await lsnDiff(cluster, `SELECT application_name AS app, ('${endLsn}'::pg_lsn - sent_lsn)::text AS lag FROM pg_stat_replication`);
      for (const r of receivers) {
        const lag = behind.get(r.appName);
        if (r.result.catchUpSeconds === null && lag !== undefined && lag <= 0) r.result.catchUpSeconds = (Date.now() - loadEnd) / 1000;
      }
      await sleep(50);
    }
    loading = false;
    const samples = await sampler;
    // Let the last status interval pass so that both have written what they were sent.
    await sleep(1000);
    for (const r of receivers) {
      const pid = r.child?.pid;
      if (pid === undefined) continue;
      const total = cpuSeconds(pid);
      const before = cpuAtStart.get(r) ?? null;
      r.result.cpuTotalSeconds = total;
      r.result.cpuSeconds = total === null || before === null ? null : total - before;
      const [main, mainBefore] = [mainThreadCpuSeconds(pid), mainAtStart.get(r) ?? null];
      r.result.cpuMainThreadSeconds = main === null || mainBefore === null ? null : main - mainBefore;
      r.result.peakRssKb = peakRssKb(pid);
      r.child?.kill('SIGINT');
    }
    for (const r of receivers) {
      const exit = await Promise.race([r.exited, sleep(30_000).then(() => null)]);
      if (exit === null) {
        r.child?.kill('SIGKILL');
        r.result.error = 'did not stop within 30 s of SIGINT';
      } else if (exit !== undefined && exit.code !== 0) {
        r.result.error = `exit ${String(exit.code ?? exit.signal)}: ${r.stderr.trim().split('\n').slice(-3).join(' / ')}`;
      }
      r.result.ok = r.result.error === undefined && r.result.cpuSeconds !== null;
      if (r.lags.length > 0) {
        r.result.maxLagBytes = Math.max(...r.lags);
        r.result.meanLagBytes = r.lags.reduce((a, b) => a + b, 0) / r.lags.length;
      }
    }

    // The completed segments of both: the same names, the same bytes.
    const complete = async (dir: string) => (await readdir(dir)).filter((n) => /^[0-9A-F]{24}$/.test(n)).sort();
    const [pgFiles, ourFiles] = [await complete(pgDir), await complete(oursDir)];
    const common = pgFiles.filter((n) => ourFiles.includes(n));
    let identical: boolean | null = common.length === 0 ? null : pgFiles.length === ourFiles.length;
    for (const name of common) {
      if (!(await readFile(path.join(pgDir, name))).equals(await readFile(path.join(oursDir, name)))) identical = false;
    }
    const walBytes = Number((await cluster.query<{ b: string }>(`SELECT ('${endLsn}'::pg_lsn - '${startLsn}'::pg_lsn)::text AS b`)).rows[0]!.b);
    const tools = Object.fromEntries(receivers.map((r) => [r.id, r.result])) as Record<WalToolId, WalToolResult>;
    for (const id of WAL_TOOLS) {
      tools[id] ??= {
        command: '', version: '', ok: false, cpuSeconds: null, cpuTotalSeconds: null, peakRssKb: null, maxLagBytes: null,
        meanLagBytes: null, catchUpSeconds: null, error: 'not run',
      };
    }
    const cpuRatio = walCpuRatio(tools);
    const partial = {
      startedAt: startedAt.toISOString(),
      finishedAt: new Date().toISOString(),
      commit: opts.commit,
      node: process.version,
      cpus: os.cpus().length,
      loadAverage: { start: loadStart, end: os.loadavg()[0] ?? 0 },
      serverVersion: (await cluster.query<{ v: string }>('SELECT current_setting(\'server_version\') AS v')).rows[0]!.v,
      segmentBytes,
      pgbench: { scale: opts.scale, clients: CLIENTS, seconds: opts.seconds, tps: Number.isFinite(tps) ? tps : null },
      walBytes,
      samples,
      segmentsCompared: common.length,
      segmentsIdentical: identical,
      tools,
      cpuRatio,
    };
    const targets = evaluateWalTargets(partial);
    return { ...partial, targets, allTargetsPass: walTargetsPass(targets) };
  } finally {
    for (const r of receivers) {
      if (r.child?.pid !== undefined && r.child.exitCode === null && r.child.signalCode === null) {
        try {
          process.kill(-r.child.pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    }
    await cluster.destroy();
    await rm(opts.workDir, { recursive: true, force: true });
  }
}
