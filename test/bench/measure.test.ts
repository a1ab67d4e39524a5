import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hasGnuTime, measure, parseGnuTimeOutput, parseVmHwm } from './measure.js';

// A node process that touches ~80 MiB and holds it briefly (long enough for the 50 ms poller).
const ALLOC_80MB = 'const b = Buffer.alloc(80 * 1024 * 1024, 1); setTimeout(() => process.exit(b[7] === 1 ? 0 : 9), 300)';

test('GNU time output: the marker line is found after a non-zero status line', () => {
  assert.deepEqual(parseGnuTimeOutput('PGFLEET_BENCH_TIME 1.25 81234\n'), { elapsedS: 1.25, peakRssKb: 81234, cpuSeconds: null });
  assert.deepEqual(parseGnuTimeOutput('Command exited with non-zero status 3\nPGFLEET_BENCH_TIME 0.00 1500 0.25 0.50\n'), {
    elapsedS: 0,
    peakRssKb: 1500,
    cpuSeconds: 0.75,
  });
  assert.equal(parseGnuTimeOutput('Command terminated by signal 9\n'), null);
  assert.equal(parseGnuTimeOutput(''), null);
});

test('VmHWM is read from /proc status text', () => {
  assert.equal(parseVmHwm('Name:\tnode\nVmPeak:\t  999 kB\nVmHWM:\t   51234 kB\nVmRSS:\t 100 kB\n'), 51234);
  assert.equal(parseVmHwm('Name:\tzombie\n'), null);
});

for (const forcePoll of [false, true]) {
  test(`peak RSS of a process holding 80 MiB (${forcePoll ? '/proc polling' : 'GNU time'})`, async (t) => {
    if (!forcePoll && !(await hasGnuTime())) return t.skip('no GNU time');
    const m = await measure({ command: process.execPath, args: ['-e', ALLOC_80MB], timeoutMs: 20_000, forcePoll });
    assert.equal(m.ok, true, m.outputTail);
    assert.equal(m.rssSource, forcePoll ? 'proc-poll' : 'gnu-time');
    assert.ok(m.peakRssKb !== null && m.peakRssKb >= 80 * 1024 && m.peakRssKb < 300 * 1024, String(m.peakRssKb));
    assert.ok(m.wallMs >= 300 && m.wallMs < 10_000, String(m.wallMs));
  });
}

test('a failing command is a result with its exit code and output tail', async () => {
  const m = await measure({ command: 'sh', args: ['-c', 'echo out; echo err >&2; exit 3'], timeoutMs: 20_000 });
  assert.equal(m.ok, false);
  assert.equal(m.exitCode, 3);
  assert.equal(m.timedOut, false);
  assert.match(m.outputTail, /out\n/);
  assert.match(m.outputTail, /err\n/);
});

test('a command that cannot start is a failed result, not an exception', async () => {
  const m = await measure({ command: '/nonexistent/tool', args: [], timeoutMs: 20_000 });
  assert.equal(m.ok, false);
  assert.notEqual(m.exitCode, 0);
});

test('a timeout kills the whole process group', async () => {
  const started = Date.now();
  const m = await measure({ command: 'sh', args: ['-c', 'sleep 30 & sleep 30; wait'], timeoutMs: 300 });
  assert.equal(m.ok, false);
  assert.equal(m.timedOut, true);
  assert.match(m.outputTail, /killed after 0.3 s$/);
  assert.ok(Date.now() - started < 5000, 'the background sleep must have been killed too');
});
