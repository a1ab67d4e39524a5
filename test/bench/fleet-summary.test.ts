import assert from 'node:assert/strict';
import { test } from 'node:test';
import { renderFleetMarkdown, renderFleetText, type FleetBenchReport } from './fleet-report.js';
import {
  evaluateFleetTargets, ownCpuSeconds, perGb, summariseFleet, timeRatio, toolOf, type FleetSample, type ProcessUsage,
} from './fleet-summary.js';
import { parseProcStat } from './proc-stat.js';

const MB = 1024; // KiB

function sample(over: Partial<FleetSample> & Pick<FleetSample, 'job' | 'compression' | 'tool'>): FleetSample {
  return { run: 1, position: 1, ok: true, wallMs: 1000, processes: [], storedBytes: null, ...over };
}

const usage = (role: ProcessUsage['role'], cpuSeconds: number | null, peakMb: number | null): ProcessUsage =>
  ({ role, cpuSeconds, peakRssKb: peakMb === null ? null : peakMb * MB });

/** pgfleet through the agent, pgfleet direct, pgBackRest 1 and 2: one backup row with these times. */
function backupRow(agentMs: number[], pm2Ms: number[], pm1Ms = [4000]): FleetSample[] {
  return [
    ...agentMs.map((wallMs, i) => sample({
      job: 'backup', compression: 'lz4', tool: 'pgfleet-agent', run: i + 1, wallMs, storedBytes: 100 + i,
      processes: [usage('cli', 0.5, 60), usage('agent', 2 + i, 150 + i * 10), usage('controller', 1, 120), usage('server', 0.7, null)],
    })),
    sample({ job: 'backup', compression: 'lz4', tool: 'pgfleet-direct', wallMs: 2500, processes: [usage('cli', 0.5, 60), usage('controller', 3, 190)] }),
    ...pm1Ms.map((wallMs) => sample({ job: 'backup', compression: 'lz4', tool: 'pgbackrest-pm1', wallMs, processes: [usage('pgbackrest', 3, 20)] })),
    ...pm2Ms.map((wallMs) => sample({ job: 'backup', compression: 'lz4', tool: 'pgbackrest-pm2', wallMs, processes: [usage('pgbackrest', 3.5, 25)] })),
  ];
}

test('/proc/<pid>/stat: own and reaped children CPU, even with spaces and parentheses in the name', () => {
  const stat = '4242 (node (x) y) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 50 30 20 20 0 11 0 100 0 0';
  assert.deepEqual(parseProcStat(stat), { self: 3, children: 0.5 });
  assert.equal(parseProcStat('garbage'), null);
});

test('a tool summary: median time and CPU, max peak RSS per process, server CPU not counted as the tool\'s', () => {
  const rows = summariseFleet(backupRow([3000, 1000, 2000], [2000]));
  assert.equal(rows.length, 1);
  const agent = toolOf(rows[0]!, 'pgfleet-agent')!;
  assert.equal(agent.medianMs, 2000);
  assert.equal(agent.okRuns, 3);
  // Runs: cli 0.5 + agent (2, 3, 4) + controller 1 => 3.5, 4.5, 5.5.
  assert.equal(agent.cpuSeconds, 4.5);
  assert.deepEqual(agent.roles.map((r) => [r.role, r.cpuSeconds, r.peakRssKb]), [
    ['cli', 0.5, 60 * MB], ['agent', 3, 170 * MB], ['controller', 1, 120 * MB], ['server', 0.7, null],
  ]);
  assert.equal(agent.storedBytes, 101);
  assert.equal(ownCpuSeconds(sample({ job: 'backup', compression: 'lz4', tool: 'pgfleet-agent', processes: [usage('cli', null, 1)] })), null);
});

test('ratios against pgBackRest, and the lz4 targets: equal time passes, slower fails, missing is n/a', () => {
  const even = summariseFleet(backupRow([2000], [2000]));
  assert.equal(timeRatio(even[0]!, 'pgfleet-agent', 'pgbackrest-pm2'), 1);
  assert.equal(timeRatio(even[0]!, 'pgfleet-agent', 'pgbackrest-pm1'), 0.5);
  const targets = evaluateFleetTargets(even);
  assert.deepEqual(targets[0], { name: 'backup through an agent, lz4: time <= pgBackRest process-max=2', pass: true, detail: 'ratio 1.00' });
  assert.deepEqual(targets[1], { name: 'restore through an agent, lz4: time <= pgBackRest process-max=2', pass: null, detail: 'not measured' });
  assert.equal(evaluateFleetTargets(summariseFleet(backupRow([2100], [2000])))[0]?.pass, false);
});

test('peak RSS target: the largest pgfleet process is named; pgBackRest and the server are not judged', () => {
  const rows = summariseFleet(backupRow([1000], [1000]));
  const rss = evaluateFleetTargets(rows)[2]!;
  assert.equal(rss.pass, true);
  assert.equal(rss.detail, 'largest: controller 190 MB (backup lz4, pgfleet backup, direct)');
  const big = summariseFleet([...backupRow([1000], [1000]), sample({
    job: 'restore', compression: 'none', tool: 'pgfleet-local', processes: [usage('agent', 1, 200)],
  })]);
  assert.equal(evaluateFleetTargets(big)[2]?.pass, false);
});

test('a tool that failed every run has no numbers, keeps its errors, and makes its ratio n/a', () => {
  const rows = summariseFleet([
    ...backupRow([1000], [1000]).filter((s) => s.tool !== 'pgbackrest-pm2'),
    sample({ job: 'backup', compression: 'lz4', tool: 'pgbackrest-pm2', ok: false, error: 'exit code 1: boom' }),
  ]);
  const pm2 = toolOf(rows[0]!, 'pgbackrest-pm2')!;
  assert.equal(pm2.medianMs, null);
  assert.deepEqual(pm2.errors, ['exit code 1: boom']);
  assert.equal(timeRatio(rows[0]!, 'pgfleet-agent', 'pgbackrest-pm2'), null);
});

test('CPU per GiB of dataset', () => {
  assert.equal(perGb(3, 2 * 2 ** 30), 1.5);
  assert.equal(perGb(null, 2 ** 30), null);
});

test('text and Markdown: one line per tool with ratios, per-process CPU s/GB and RSS, targets and load', () => {
  const samples = backupRow([2000], [1000]);
  const rows = summariseFleet(samples);
  const report: FleetBenchReport = {
    startedAt: '2026-01-01T00:00:00.000Z', finishedAt: '2026-01-01T00:10:00.000Z', commit: 'abc1234', node: 'v20', cpus: 2,
    memoryBytes: 8 * 2 ** 30, loadAverage: { start: 1.5, end: 2.25 },
    dataset: { key: 'pg15-v1-s12', totalBytes: 2 ** 30, mainBytes: 2 ** 29, tablespaceBytes: 2 ** 29 },
    runs: 1, pageCache: 'dropped before each backup', pgbackrest: { command: '/usr/bin/pgbackrest', version: 'pgBackRest 2.45', installedByBench: true },
    notes: ['a note'], rows, targets: evaluateFleetTargets(rows), samples,
  };
  const text = renderFleetText(report);
  assert.match(text, /load average 1\.50 at start, 2\.25 at end/);
  assert.match(text, /installed by this bench run/);
  assert.match(text, /backup {2}lz4 +pgfleet backup, agent +2\.00 s +2\.00 +0\.50 +3\.50 +cli 0\.50 60 MB, agent 2\.00 150 MB, controller 1\.00 120 MB, server 0\.70/);
  assert.match(text, /pgBackRest pm=2 +1\.00 s +1\.00 +3\.50/);
  assert.match(text, /FAIL backup through an agent, lz4: time <= pgBackRest process-max=2 \(ratio 2\.00\)/);
  assert.match(text, /pgfleet slower than pgBackRest process-max=2: backup lz4 pgfleet backup, agent 2\.00x/);
  const md = renderFleetMarkdown(report);
  assert.match(md, /^### pgfleet fleet paths vs pgBackRest \(2026-01-01\)/);
  assert.match(md, /\| backup \| lz4 \| pgfleet backup, agent \| 2\.00 s \| 2\.00 \| 0\.50 \|/);
});
