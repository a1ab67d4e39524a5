import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseRecoveryTarget, recoveryTargetSettings } from '../../../src/wal/archive/recovery-target.js';
import { InvalidOptionError } from '../../../src/errors.js';

test('parses each target kind with its defaults; LSNs normalized, times with their zone', () => {
  assert.equal(parseRecoveryTarget({}), null);
  assert.deepEqual(parseRecoveryTarget({ targetTime: '2026-12-06 14:01:00.123456+00' }), {
    kind: 'time', value: '2026-12-06 14:01:00.123456+00', timeMs: Date.parse('2026-12-06T14:01:00.123Z'), inclusive: true, timeline: 'latest', action: 'promote',
  });
  assert.equal(parseRecoveryTarget({ targetTime: '2026-12-06T15:01:00+01:00' })?.timeMs, Date.parse('2026-12-06T14:01:00Z'));
  assert.equal(parseRecoveryTarget({ targetLsn: '0/0300a028', targetExclusive: true })?.value, '0/300A028');
  assert.deepEqual(parseRecoveryTarget({ targetXid: '734', targetTimeline: '2', targetAction: 'pause' }), {
    kind: 'xid', value: '734', timeMs: null, inclusive: true, timeline: 2, action: 'pause',
  });
  assert.equal(parseRecoveryTarget({ target: 'latest', targetTimeline: 'current' })?.timeline, 'current');
});

test('refuses what the server would refuse or misread, naming the option', () => {
  const refused = (flags: Parameters<typeof parseRecoveryTarget>[0], message: string): void => {
    assert.throws(() => parseRecoveryTarget(flags), (err: unknown) => err instanceof InvalidOptionError && err.message === message);
  };
  refused({ targetTime: '2026-12-06 14:01:00' }, 'invalid recovery target time "2026-12-06 14:01:00"');
  refused({ targetTime: 'x', targetLsn: '0/1' }, 'only one of --target-time, --target-lsn, --target-xid, --target-name and --target may be given');
  refused({ target: 'now' }, 'invalid recovery target "now", must be "immediate" or "latest"');
  refused({ targetName: 'a', targetExclusive: true }, '--target-exclusive applies only to --target-time, --target-lsn and --target-xid');
  refused({ target: 'latest', targetAction: 'pause' }, '--target-action pause needs a recovery target other than latest');
  refused({ targetTimeline: '2' }, '--target-timeline needs a recovery target');
  refused({ targetXid: '12a' }, 'invalid recovery target transaction ID "12a"');
  refused({ targetName: 'x'.repeat(64) }, `invalid restore point name "${'x'.repeat(64)}"`);
  refused({ targetXid: '1', targetTimeline: '0' }, 'invalid recovery target timeline "0", must be "latest", "current" or a timeline number');
});

test('settings: every recovery_target* given, the empty ones before the one set', () => {
  const t = parseRecoveryTarget({ targetLsn: '0/3000028', targetExclusive: true, targetTimeline: 'current' });
  assert.ok(t);
  assert.deepEqual(recoveryTargetSettings(t, "cp '/a/%f' %p"), [
    ['restore_command', "cp '/a/%f' %p"],
    ['recovery_target', ''], ['recovery_target_time', ''], ['recovery_target_xid', ''], ['recovery_target_name', ''],
    ['recovery_target_lsn', '0/3000028'],
    ['recovery_target_inclusive', 'off'], ['recovery_target_timeline', 'current'], ['recovery_target_action', 'promote'],
  ]);
  const latest = parseRecoveryTarget({ target: 'latest' });
  assert.ok(latest);
  assert.deepEqual(recoveryTargetSettings(latest, 'x').slice(1, 6).map(([, v]) => v), ['', '', '', '', '']);
  assert.throws(() => recoveryTargetSettings(latest, 'a\nb'), InvalidOptionError);
});
