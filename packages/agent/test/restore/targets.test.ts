import assert from 'node:assert/strict';
import { test } from 'node:test';
import { describePointInTime, pointInTimeFromSpec } from '../../src/restore/targets.js';

const spec = {
  kind: 'time', value: '2026-12-06 14:01:00+00', exclusive: false, timeline: '', action: 'promote', cluster: 'db',
  backupId: '20261206T140000Z', targetTimeline: 2, restoreCommand: 'cp /archive/%f %p',
};

test('a fleet restore keeps the timeline the controller resolved, for the plan and the report', () => {
  const pitr = pointInTimeFromSpec(spec, null);
  assert.ok(pitr !== null);
  assert.equal(pitr.checkedTimeline, 2);
  assert.match(describePointInTime(pitr, pitr.checkedTimeline ?? null, null), /\(timeline 2\)/);
});

test('a spec without a resolved timeline says none rather than timeline 0', () => {
  const pitr = pointInTimeFromSpec({ ...spec, targetTimeline: 0 }, null);
  assert.ok(pitr !== null);
  assert.equal(pitr.checkedTimeline, null);
  assert.doesNotMatch(describePointInTime(pitr, pitr.checkedTimeline ?? null, null), /timeline 0/);
});
