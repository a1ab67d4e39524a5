// The controller's HTTP listener, seen by real clients: PostgreSQL 15 server A behind a
// `pgfleet-agent serve` (cluster "a", backed up), a second cluster "fresh" on the same server
// with no backup, `pgfleet serve` with `http: { listen: 127.0.0.1:0 }`.
//   - /metrics carries exactly the pgfleet_* metric names of the documentation, and the
//     daemon's own process_* and nodejs_* metrics;
//   - a real Prometheus (Debian's /usr/bin/prometheus, started here on a free port with a
//     temporary configuration and storage) scrapes it every second; through Prometheus's HTTP
//     API the test reads pgfleet_backup_last_success_age_seconds (growing with time) and
//     pgfleet_agent_up, which goes from 1 to 0 when the agent is stopped;
//   - the status page is loaded in headless Chromium (Debian's chromium): a screenshot is saved
//     under test/e2e/output/, and the page's text shows every cluster with its state.
// A's backup is restored by hand at the end and started.

import assert from 'node:assert/strict';
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { freePort, makeTempDir, restoreTarByHand, startCluster, startRestored, type TestCluster } from '../harness/index.js';
import { serveAgent, stopServedAgent, type ServedAgent } from './agent-support.js';
import { runCli, startController, waitFor, type ControllerProcess } from '../../packages/controller/test/support/fleet-processes.js';

const OUTPUT = fileURLToPath(new URL('./output/', import.meta.url));
const PROMETHEUS = '/usr/bin/prometheus';
const CHROMIUM = 'chromium';

const METRIC_NAMES = [
  'pgfleet_backup_last_success_age_seconds', 'pgfleet_backup_last_duration_seconds', 'pgfleet_backup_last_size_bytes',
  'pgfleet_backup_failures_total', 'pgfleet_wal_archive_lag_bytes', 'pgfleet_wal_archive_lag_seconds', 'pgfleet_wal_slot_retained_bytes',
  'pgfleet_wal_gaps', 'pgfleet_restore_window_seconds', 'pgfleet_drill_last_success_age_seconds', 'pgfleet_agent_up',
  'pgfleet_repository_free_bytes', 'pgfleet_operations_running',
];

let A: TestCluster;
let work: string;
let agent: ServedAgent | null = null;
let controller: ControllerProcess;
let http = '';
let prometheus: ChildProcess | null = null;
let prometheusUrl = '';
let prometheusLog = '';

interface PromResult {
  metric: Record<string, string>;
  value: [number, string];
}

async function promQuery(query: string): Promise<PromResult[]> {
  const res = await fetch(`${prometheusUrl}/api/v1/query?query=${encodeURIComponent(query)}`);
  const body = await res.json() as { status: string; data: { result: PromResult[] } };
  assert.equal(body.status, 'success');
  return body.data.result;
}

async function promValue(query: string): Promise<number | null> {
  const r = await promQuery(query);
  return r.length === 0 ? null : Number(r[0]?.value[1]);
}

describe('metrics and status page', () => {
  before(async () => {
    A = await startCluster({ version: 15, data: { rows: 200 } });
    work = await makeTempDir('ctl-metrics');
    const root = path.join(work, 'allowed');
    await mkdir(root);
    agent = await serveAgent({ work, allowedRoot: root, tls: false });
    const config = path.join(work, 'fleet.yaml');
    await writeFile(config, [
      'listen: 127.0.0.1:0', `repository: ${path.join(work, 'repo')}`, 'insecure: true', 'http: { listen: "127.0.0.1:0" }',
      `agents: [{ name: db1, address: "${agent.address}" }]`,
      'wal: { archive: none }', 'clusters:',
      `  - { name: a, agent: db1, conninfo: "${A.connectionString}" }`,
      `  - { name: fresh, conninfo: "${A.connectionString}" }`,
      '',
    ].join('\n'));
    controller = await startController(config);
    await waitFor('the HTTP listener', async () => /metrics and status page on http:\/\/(\S+)\//.test(controller.log()), 10_000);
    http = /metrics and status page on http:\/\/(\S+)\//.exec(controller.log())?.[1] ?? '';
    const backup = await runCli(['backup', 'a', '--insecure'], { PGFLEET_CONTROLLER: controller.address });
    assert.equal(backup.code, 0, backup.stderr);

    const promPort = await freePort();
    prometheusUrl = `http://127.0.0.1:${promPort}`;
    const promConfig = path.join(work, 'prometheus.yml');
    await writeFile(promConfig, [
      'global: { scrape_interval: 1s, evaluation_interval: 1s }',
      'scrape_configs:',
      `  - { job_name: pgfleet, scrape_timeout: 1s, static_configs: [{ targets: ["${http}"] }] }`,
      '',
    ].join('\n'));
    prometheus = spawn(PROMETHEUS, [
      `--config.file=${promConfig}`, `--storage.tsdb.path=${path.join(work, 'prometheus-data')}`,
      `--web.listen-address=127.0.0.1:${promPort}`, '--log.level=warn',
    ], { stdio: ['ignore', 'ignore', 'pipe'] });
    prometheus.stderr?.setEncoding('utf8').on('data', (d: string) => { prometheusLog += d; });
    await waitFor('Prometheus to be ready', async () => {
      try {
        return (await fetch(`${prometheusUrl}/-/ready`)).ok;
      } catch {
        return false;
      }
    }, 30_000);
  });

  after(async () => {
    prometheus?.kill('SIGTERM');
    await controller?.stop();
    if (agent) await stopServedAgent(agent.agent).catch(() => {});
  });

  test('/metrics carries exactly the documented metric names, ages in seconds', async () => {
    const res = await fetch(`http://${http}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    const names = [...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => m[1] as string);
    assert.deepEqual(names.filter((n) => n.startsWith('pgfleet_')).sort(), [...METRIC_NAMES].sort());
    assert.deepEqual(names.filter((n) => !/^(pgfleet|process|nodejs)_/.test(n)), []);
    for (const n of ['process_resident_memory_bytes', 'process_cpu_seconds_total', 'nodejs_heap_size_used_bytes', 'nodejs_gc_duration_seconds']) {
      assert.ok(names.includes(n), n);
    }
    const rss = Number(/^process_resident_memory_bytes (\d+)$/m.exec(text)?.[1]);
    assert.ok(rss > 20e6 && rss < 1e9, `the daemon's resident memory: ${rss} bytes`);
    assert.match(text, /^pgfleet_backup_last_success_age_seconds\{cluster="a"\} \d+(\.\d+)?(e[-+]?\d+)?$/m);
    assert.ok(!/pgfleet_backup_last_success_age_seconds\{cluster="fresh"\}/.test(text), 'no age for a cluster without a backup');
    assert.match(text, /^pgfleet_agent_up\{agent="db1"\} 1$/m);
    assert.match(text, /^pgfleet_backup_failures_total\{cluster="a"\} 0$/m);
    assert.match(text, /^pgfleet_operations_running\{kind="backup"\} 0$/m);
    assert.match(text, /^pgfleet_repository_free_bytes \d+/m);
    assert.ok(!/^pgfleet_wal_archive_lag_bytes\{/m.test(text), 'no WAL figures without an archive');
    assert.equal((await fetch(`http://${http}/nothing`)).status, 404);
    assert.equal((await fetch(`http://${http}/metrics`, { method: 'POST' })).status, 405);
  });

  test('Prometheus scrapes them: the backup age grows, pgfleet_agent_up goes to 0 when the agent stops', async () => {
    await waitFor('Prometheus to have scraped pgfleet', async () => (await promValue('pgfleet_agent_up{agent="db1"}')) === 1, 30_000);
    const age1 = await promValue('pgfleet_backup_last_success_age_seconds{cluster="a"}');
    assert.ok(age1 !== null && age1 >= 0 && age1 < 300, `age ${age1}`);
    assert.deepEqual((await promQuery('up{job="pgfleet"}')).map((r) => r.value[1]), ['1']);
    await new Promise((r) => setTimeout(r, 2500));
    await waitFor('a newer age', async () => ((await promValue('pgfleet_backup_last_success_age_seconds{cluster="a"}')) ?? 0) >= (age1 as number) + 2, 10_000);
    await stopServedAgent((agent as ServedAgent).agent);
    agent = null;
    await waitFor('pgfleet_agent_up 0 in Prometheus', async () => (await promValue('pgfleet_agent_up{agent="db1"}')) === 0, 30_000).catch((err: Error) => {
      throw new Error(`${err.message}\n${prometheusLog}`);
    });
  });

  test('the status page in headless Chromium: a screenshot, and every cluster with its state', async () => {
    await mkdir(OUTPUT, { recursive: true });
    const shot = path.join(OUTPUT, 'status-page.png');
    const url = `http://${http}/`;
    const flags = ['--headless', '--no-sandbox', '--disable-gpu', '--hide-scrollbars', `--user-data-dir=${path.join(work, 'chromium')}`];
    await promisify(execFile)(CHROMIUM, [...flags, `--screenshot=${shot}`, '--window-size=1280,600', url], { timeout: 120_000 });
    assert.ok((await stat(shot)).size > 5000, 'a screenshot with something on it');
    const { stdout: dom } = await promisify(execFile)(CHROMIUM, [...flags, '--dump-dom', url], { timeout: 120_000, maxBuffer: 10 * 1024 * 1024 });
    const rows = [...dom.matchAll(/<tr>(.*?)<\/tr>/gs)].map((m) => (m[1] as string).replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ').trim());
    const rowOf = (name: string): string => rows.find((r) => r.startsWith(`${name} `)) ?? '';
    assert.match(rowOf('a'), /^a OK \d+[smhd]/, rows.join('\n'));
    assert.match(rowOf('a'), /archive not configured/);
    assert.match(rowOf('fresh'), /^fresh FAILED no usable backup none/, rows.join('\n'));
    assert.match(dom, /<meta http-equiv="refresh" content="30">/);
    assert.ok(!/<script|<link|src="http/.test(dom), 'no scripts, no external assets');
  });

  test('the backup in the metrics restores by hand and holds the source data', async () => {
    const list = JSON.parse((await runCli(['backups', 'a', '--json', '--insecure'], { PGFLEET_CONTROLLER: controller.address })).stdout) as Array<{ path: string }>;
    const target = await makeTempDir('ctl-metrics-restore');
    const restored = await restoreTarByHand({ backupDir: list[0]?.path as string, targetDir: path.join(target, 'data') });
    const copy = await startRestored({ dataDir: restored.dataDir, version: 15, mode: 'promote' });
    try {
      assert.deepEqual(await copy.snapshot(), await A.snapshot());
    } finally {
      await copy.destroy();
    }
  });
});
