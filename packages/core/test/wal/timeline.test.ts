import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseTimelineHistory, resumeOnServerHistory, timelineHistory, timelineOfLsn } from '../../src/wal/timeline.js';
import { WalFormatError } from '../../src/errors.js';

const HISTORY_3 = '1\t0/3000158\tno recovery target specified\n\n# comment\n2\t0/5000000\tbefore 2025-01-02 03:04:05.123456+00\n';

test('parses parent timelines and switch points, oldest first', () => {
  assert.deepEqual(parseTimelineHistory(HISTORY_3), [
    { timeline: 1, switchLsn: 0x3000158n, reason: 'no recovery target specified' },
    { timeline: 2, switchLsn: 0x5000000n, reason: 'before 2025-01-02 03:04:05.123456+00' },
  ]);
  assert.deepEqual(parseTimelineHistory(''), []);
  assert.deepEqual(parseTimelineHistory('  1\t0/1\r\n'), [{ timeline: 1, switchLsn: 1n, reason: '' }]);
});

test('builds the history newest first and maps LSNs to timelines', () => {
  const history = timelineHistory(3, parseTimelineHistory(HISTORY_3));
  assert.deepEqual(history, [
    { timeline: 3, begin: 0x5000000n, end: null },
    { timeline: 2, begin: 0x3000158n, end: 0x5000000n },
    { timeline: 1, begin: 0n, end: 0x3000158n },
  ]);
  assert.equal(timelineOfLsn(0x3000157n, history), 1);
  assert.equal(timelineOfLsn(0x3000158n, history), 2);
  assert.equal(timelineOfLsn(0x9000000n, history), 3);
  assert.deepEqual(timelineHistory(1, []), [{ timeline: 1, begin: 0n, end: null }]);
});

function expectError(fn: () => unknown, message: string, hint: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof WalFormatError);
    assert.equal(err.message, message);
    assert.equal(err.hint, hint);
    return true;
  });
}

test('rejects malformed and out-of-order history files', () => {
  expectError(() => parseTimelineHistory('x\t0/1\tr\n', { source: '00000002.history' }),
    'syntax error in history file "00000002.history": "x\t0/1\tr"', 'Expected a numeric timeline ID.');
  expectError(() => parseTimelineHistory('1\n'),
    'syntax error in history file "timeline history": "1"', 'Expected a write-ahead log switchpoint location.');
  expectError(() => parseTimelineHistory('1\t0/ZZ\treason\n'),
    'syntax error in history file "timeline history": "1\t0/ZZ\treason"', 'Expected a write-ahead log switchpoint location.');
  expectError(() => parseTimelineHistory('2\t0/1\n1\t0/2\n'),
    'invalid data in history file "timeline history": "1\t0/2"', 'Timeline IDs must be in increasing sequence.');
  expectError(() => timelineHistory(2, parseTimelineHistory('2\t0/1\n'), { source: '00000002.history' }),
    'invalid data in history file "00000002.history"', "Timeline IDs must be less than child timeline's ID.");
});

test('resume point: moved back to the segment of the switch point when the server left its timeline before it', () => {
  const MB = 1024 * 1024;
  // Server on timeline 3: timeline 1 until 0/3000158, timeline 2 until 0/5000000.
  const switches = parseTimelineHistory(HISTORY_3);
  // The archive went on along timeline 2 up to 0/7000000: the server forked at 0/5000000.
  assert.deepEqual(resumeOnServerHistory({ lsn: 0x7000000n, timeline: 2 }, 3, switches, MB), { lsn: 0x5000000n, timeline: 3 });
  // On timeline 1 past its switch: back to the segment holding 0/3000158, on timeline 2.
  assert.deepEqual(resumeOnServerHistory({ lsn: 0x4000000n, timeline: 1 }, 3, switches, MB), { lsn: 0x3000000n, timeline: 2 });
  // With 64 MB segments that segment starts earlier.
  assert.deepEqual(resumeOnServerHistory({ lsn: 0x4000000n, timeline: 1 }, 3, switches, 64 * MB), { lsn: 0n, timeline: 2 });
  // Before or at the switch point: the server streams the old timeline and then switches itself.
  assert.deepEqual(resumeOnServerHistory({ lsn: 0x3000000n, timeline: 1 }, 3, switches, MB), { lsn: 0x3000000n, timeline: 1 });
  assert.deepEqual(resumeOnServerHistory({ lsn: 0x5000000n, timeline: 2 }, 3, switches, MB), { lsn: 0x5000000n, timeline: 2 });
  // The server's own timeline, a newer one, or one it never had: unchanged (the server decides).
  assert.deepEqual(resumeOnServerHistory({ lsn: 0x9000000n, timeline: 3 }, 3, switches, MB), { lsn: 0x9000000n, timeline: 3 });
  assert.deepEqual(resumeOnServerHistory({ lsn: 0x9000000n, timeline: 4 }, 3, switches, MB), { lsn: 0x9000000n, timeline: 4 });
  assert.deepEqual(resumeOnServerHistory({ lsn: 0x9000000n, timeline: 2 }, 3, parseTimelineHistory('1\t0/3000158\tx\n'), MB),
    { lsn: 0x9000000n, timeline: 2 });
});
