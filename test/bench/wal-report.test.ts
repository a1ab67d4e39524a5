import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  evaluateWalTargets, renderWalMarkdown, renderWalText, walCpuRatio, walTargetsPass, type WalBenchReport, type WalToolResult,
} from './wal-report.js';

const SEG = 16 * 1024 * 1024;

function tool(over: Partial<WalToolResult>): WalToolResult {
  return {
    command: '/bin/x', version: 'x 1', ok: true, cpuSeconds: 1, cpuTotalSeconds: 1.5, peakRssKb: 10_000, maxLagBytes: SEG / 2,
    meanLagBytes: SEG / 8, catchUpSeconds: 0.2, ...over,
  };
}

function report(pg: Partial<WalToolResult>, ours: Partial<WalToolResult>): WalBenchReport {
  const tools = { pg_receivewal: tool(pg), pgfleet: tool(ours) };
  const cpuRatio = walCpuRatio(tools);
  const targets = evaluateWalTargets({ tools, cpuRatio, segmentBytes: SEG });
  return {
    startedAt: '2026-01-02T03:04:05.000Z', finishedAt: '2026-01-02T03:05:05.000Z', commit: 'abc1234', node: 'v20', cpus: 2,
    loadAverage: { start: 0.5, end: 1.5 }, serverVersion: '15.18', segmentBytes: SEG,
    pgbench: { scale: 20, clients: 4, seconds: 60, tps: 1234.5 }, walBytes: 40 * SEG, samples: 600,
    segmentsCompared: 39, segmentsIdentical: true, tools, cpuRatio, targets, allTargetsPass: walTargetsPass(targets),
  };
}

test('targets: CPU ratio, lag in segments, peak RSS, each PASS, FAIL or n/a', () => {
  const good = report({ cpuSeconds: 2 }, { cpuSeconds: 4, maxLagBytes: 2 * SEG, peakRssKb: 99 * 1024 });
  assert.equal(good.cpuRatio, 2);
  assert.deepEqual(good.targets.map((t) => [t.pass, t.detail]), [[true, 'ratio 2.00'], [true, 'max 2.00'], [true, '99 MB']]);
  assert.equal(good.allTargetsPass, true);
  const bad = report({ cpuSeconds: 1 }, { cpuSeconds: 2.5, maxLagBytes: 2 * SEG + 1, peakRssKb: 100 * 1024 });
  assert.deepEqual(bad.targets.map((t) => t.pass), [false, false, false]);
  assert.equal(bad.allTargetsPass, false);
  const failed = report({ cpuSeconds: null, ok: false }, { maxLagBytes: null, peakRssKb: null });
  assert.deepEqual(failed.targets.map((t) => t.pass), [null, null, null]);
  assert.equal(failed.allTargetsPass, null);
});

test('text and Markdown name both receivers, the ratio and the verdict', () => {
  const r = report({ cpuSeconds: 2 }, { cpuSeconds: 3 });
  const text = renderWalText(r);
  assert.match(text, /^WAL: pgfleet-receivewal vs pg_receivewal\n/);
  assert.match(text, /\npg_receivewal\s+2\.00 s\s+1\.50 s\s+8\.0 MB \(0\.50 seg\)\s+2\.0 MB\s+0\.20 s\s+10 MB\n/);
  assert.match(text, /\npgfleet-receivewal\s+3\.00 s/);
  assert.match(text, /CPU ratio pgfleet \/ pg_receivewal: 1\.50 streaming, 1\.00 with start-up\n/);
  assert.match(text, /completed segments: 39 written by both, byte-identical\n/);
  assert.match(text, /WAL targets overall: PASS\n/);
  const md = renderWalMarkdown(r);
  assert.match(md, /^### pgfleet-receivewal vs pg_receivewal \(2026-01-02\)\n/);
  assert.match(md, /\n\| receiver \| CPU streaming \| CPU total \| max lag \| mean lag \| catch-up \| peak RSS \|\n\| --- \| ---: \| ---: \| ---: \| ---: \| ---: \| ---: \|\n/);
});

test('CPU by thread is printed when measured', () => {
  const text = renderWalText(report({}, { cpuSeconds: 0.75, cpuMainThreadSeconds: 0.5 }));
  assert.match(text, /pgfleet-receivewal CPU streaming by thread: main 0\.50 s, others 0\.25 s/);
  assert.doesNotMatch(renderWalText(report({}, {})), /by thread/);
});
