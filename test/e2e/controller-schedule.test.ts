// The controller runs backups on its own: a real `pgfleet serve` with per-second schedules
// (croner reads six fields with seconds first) backs up one PostgreSQL 15 server as three
// clusters, each a real direct backup:
//   - "sec"        `* * * * * *`, retention { full: 2 }: backups start on the tick after the
//                  previous one ended, never overlap, and retention runs after each;
//   - "daily"      `0 3 * * *` whose last run the repository says was days ago: it runs once at
//                  start (however many days were missed), then not again;
//   - "daily-skip" the same with `runMissed: false`: logged, not run.
// Then: SIGHUP with a changed file reloads it while a backup runs (that backup completes), an
// invalid file on SIGHUP is logged and the schedules go on; the daemon is stopped for more than
// two ticks and "sec" runs its missed backup once at the restart. The newest scheduled backup is
// restored by hand, started, and holds the source's data.

import assert from 'node:assert/strict';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { makeTempDir, restoreTarByHand, startCluster, startRestored, type TestCluster } from '../harness/index.js';
import { cliJson, startController, waitFor, type ControllerProcess } from '../../packages/controller/test/support/fleet-processes.js';

interface LogEvent {
  time: string;
  level: string;
  msg: string;
  cluster?: string;
  backupId?: string;
  trigger?: string;
}

let source: TestCluster;
let work: string;
let repository: string;
let configFile: string;
let controller: ControllerProcess | null = null;
let firstRun = '';
let secondRun = '';
let restartedAt = 0;
let reloadSentAt = 0;
let runningAtReload = '';

const parse = (log: string): LogEvent[] => log.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as LogEvent);
/** A cluster's events whose message, without its 'cluster "NAME": ' prefix, matches. */
const of = (log: string, cluster: string, re: RegExp): LogEvent[] => parse(log)
  .filter((e) => e.cluster === cluster)
  .map((e) => ({ ...e, msg: e.msg.replace(/^cluster "[^"]+": /, '') }))
  .filter((e) => re.test(e.msg));

function fleetYaml(secSchedule: string, extra: string[] = []): string {
  return [
    'listen: 127.0.0.1:0',
    `repository: ${repository}`,
    'insecure: true',
    'clusters:',
    `  - { name: sec, conninfo: "${source.connectionString}", schedule: { full: "${secSchedule}" }, retention: { full: 2 } }`,
    `  - { name: daily, conninfo: "${source.connectionString}", schedule: { full: "0 3 * * *", timezone: UTC } }`,
    `  - { name: daily-skip, conninfo: "${source.connectionString}", schedule: { full: "0 3 * * *", timezone: UTC, runMissed: false } }`,
    ...extra,
    '',
  ].join('\n');
}

async function backupIds(cluster: string): Promise<string[]> {
  try {
    return (await readdir(path.join(repository, cluster, 'backups'))).filter((n) => !n.startsWith('.')).sort();
  } catch {
    return [];
  }
}

describe('scheduled backups', () => {
  before(async () => {
    source = await startCluster({ version: 15, data: { rows: 300 } });
    work = await makeTempDir('ctl-schedule');
    repository = path.join(work, 'repo');
    configFile = path.join(work, 'fleet.yaml');
    await writeFile(configFile, fleetYaml('* * * * * *'));
    // The daily clusters last ran three days ago, as far as the repository knows.
    const long = new Date(Date.now() - 3 * 86_400_000).toISOString();
    for (const c of ['daily', 'daily-skip']) {
      await mkdir(path.join(repository, c), { recursive: true });
      await writeFile(path.join(repository, c, 'schedule.json'), JSON.stringify({ format: 'pgfleet-schedule-1', lastOccurrence: long, lastRunAt: long }));
    }

    controller = await startController(configFile, {}, ['--log-format', 'json']);
    const log = (): string => controller?.log() ?? '';
    await waitFor('four completed scheduled backups of "sec"', async () => of(log(), 'sec', /^backup \S+ completed/).length >= 4, 60_000);
    // A reload while a backup of "sec" runs: it must complete.
    await waitFor('a backup of "sec" under way', async () => {
      const started = of(log(), 'sec', /^backup \S+ started/);
      const ended = of(log(), 'sec', /^backup \S+ (completed)/).length + of(log(), 'sec', /^backup failed/).length;
      return started.length > ended;
    }, 10_000);
    runningAtReload = of(log(), 'sec', /^backup \S+ started/).pop()?.backupId ?? '';
    await writeFile(configFile, fleetYaml('*/2 * * * * *'));
    reloadSentAt = Date.now();
    controller.child.kill('SIGHUP');
    await waitFor('the reload', async () => /configuration reloaded/.test(log()), 10_000);
    await waitFor('the backup under way at the reload to end', async () => of(log(), 'sec', new RegExp(`^backup ${runningAtReload} completed`)).length === 1, 30_000);
    // An invalid file: logged, the running configuration stays and schedules go on.
    await writeFile(configFile, 'repository: [\n');
    controller.child.kill('SIGHUP');
    await waitFor('the failed reload', async () => /reload failed/.test(log()), 10_000);
    const before = of(log(), 'sec', /^backup \S+ completed/).length;
    await waitFor('another scheduled backup after the failed reload', async () => of(log(), 'sec', /^backup \S+ completed/).length > before, 15_000);
    await writeFile(configFile, fleetYaml('* * * * * *'));
    await controller.stop();
    firstRun = controller.log();
    // Down for more than two ticks of "sec".
    await new Promise((r) => setTimeout(r, 2500));
    restartedAt = Date.now();
    controller = await startController(configFile, {}, ['--log-format', 'json']);
    await waitFor('the missed backup of "sec" to complete', async () => of(log(), 'sec', /^backup \S+ completed/).length >= 2, 30_000);
    await controller.stop();
    secondRun = controller.log();
  });

  after(async () => {
    await controller?.kill();
  });

  test('backups run on their ticks and never overlap', () => {
    const starts = of(firstRun, 'sec', /^backup \S+ started/);
    const ends = of(firstRun, 'sec', /^backup \S+ completed|^backup failed/);
    assert.ok(starts.length >= 5, firstRun);
    assert.deepEqual(of(firstRun, 'sec', /^backup failed/), [], 'no scheduled backup failed');
    for (let i = 0; i + 1 < starts.length; i++) {
      const end = Date.parse(ends[i]?.time ?? '');
      const next = Date.parse(starts[i + 1]?.time ?? '');
      assert.ok(next >= end, `backup ${starts[i + 1]?.backupId} started before ${starts[i]?.backupId} ended`);
      // Per second: the next tick after the end; after the reload, every other second.
      const reloaded = next > reloadSentAt;
      assert.ok(next - end <= (reloaded ? 2600 : 1600), `backup ${starts[i + 1]?.backupId} started ${next - end} ms after the previous one ended`);
    }
    for (const s of starts) {
      // The id is the start time in seconds; a tick fires on the second.
      assert.ok(Date.parse(s.time) % 1000 < 900, `${s.backupId} started at ${s.time}, not on its tick`);
      assert.match(s.msg, /\(direct, scheduled\)$/);
    }
  });

  test('retention is applied after each scheduled backup', async () => {
    const lines = of(firstRun, 'sec', /^backup \S+ (started|completed)|^expired /).map((e) => e.msg.replace(/ \(.*$/, ''));
    // From the third backup on, each completion is followed by the expiry of the oldest, before the next start.
    const completions = lines.map((l, i) => [l, i] as const).filter(([l]) => / completed$/.test(l)).slice(2);
    assert.ok(completions.length >= 2, lines.join('\n'));
    for (const [l, i] of completions) assert.match(lines[i + 1] ?? '', /^expired \d{8}T\d{6}Z/, `after "${l}"`);
    assert.equal((await backupIds('sec')).length, 2);
  });

  test('SIGHUP reloads the file without dropping the backup under way; an invalid file keeps the configuration', () => {
    assert.ok(runningAtReload !== '');
    const msgs = parse(firstRun).map((e) => `${e.level} ${e.msg}`);
    assert.ok(msgs.some((m) => /^info configuration reloaded from ".*fleet\.yaml": 3 clusters, 0 agents, 3 scheduled$/.test(m)), firstRun);
    assert.equal(of(firstRun, 'sec', new RegExp(`^backup ${runningAtReload} completed`)).length, 1);
    assert.ok(msgs.some((m) => /^error reload failed, the configuration in use stays: invalid configuration file ".*fleet\.yaml": /.test(m)), firstRun);
  });

  test('a run missed while the daemon was down runs once at start; runMissed: false only logs it', () => {
    const missedSec = of(secondRun, 'sec', /was missed while the daemon was down; running it now$/);
    assert.equal(missedSec.length, 1, secondRun);
    const missedStarts = of(secondRun, 'sec', /^backup \S+ started \(direct, missed run\)$/);
    assert.equal(missedStarts.length, 1, secondRun);
    assert.ok(Date.parse(missedStarts[0]?.time ?? '') - restartedAt < 5000);
    // A tick at the same moment is skipped, not refused as busy.
    assert.deepEqual(of(secondRun, 'sec', /.*/).filter((e) => e.level === 'error').map((e) => e.msg), [], secondRun);
    // The daily cluster: three days missed, one backup, in the first run only.
    assert.equal(of(firstRun, 'daily', /^backup \S+ started \(direct, missed run\)$/).length, 1, firstRun);
    assert.equal(of(firstRun, 'daily', /^backup \S+ completed/).length, 1);
    assert.equal(of(secondRun, 'daily', /^backup/).length, 0, 'not again after the restart');
    assert.equal(of(firstRun, 'daily-skip', /was missed while the daemon was down; not run \(runMissed: false\)$/).length, 1, firstRun);
    assert.equal(of(firstRun, 'daily-skip', /^backup/).length, 0);
  });

  test('status shows the next run; the newest scheduled backup restores and holds the source data', async () => {
    controller = await startController(configFile, {}, ['--log-format', 'json']);
    const env = { PGFLEET_CONTROLLER: controller.address };
    const status = await cliJson<{ clusters: Array<{ name: string; state: string; nextRunAt: string | null; schedule: string | null }> }>(['status', '--insecure'], env);
    await controller.stop();
    const daily = status.clusters.find((c) => c.name === 'daily');
    assert.equal(daily?.state, 'ok');
    assert.equal(daily?.schedule, '0 3 * * * (UTC)');
    assert.match(daily?.nextRunAt ?? '', /T03:00:00\.000Z$/);
    assert.equal(status.clusters.find((c) => c.name === 'daily-skip')?.state, 'failed');

    const newest = (await backupIds('sec')).pop() as string;
    const target = await makeTempDir('ctl-schedule-restore');
    const restored = await restoreTarByHand({ backupDir: path.join(repository, 'sec', 'backups', newest), targetDir: path.join(target, 'data') });
    const copy = await startRestored({ dataDir: restored.dataDir, version: 15, mode: 'promote' });
    try {
      assert.deepEqual(await copy.snapshot(), await source.snapshot());
    } finally {
      await copy.destroy();
    }
  });
});
