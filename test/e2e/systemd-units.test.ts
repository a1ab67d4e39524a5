// The committed systemd units of both daemons, checked by systemd's own `systemd-analyze
// verify` (with the commands pointed at this checkout's launchers, since nothing is installed
// under /usr/local/bin here), and the promises they make: the agent's unit stops only the agent
// (KillMode=process: servers it started survive its restart), the controller's reloads with
// SIGHUP, and both refuse to start on an invalid configuration (--check-config first).

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { test } from 'node:test';
import { makeTempDir } from '../harness/index.js';
import { REPO } from '../../packages/controller/test/support/fleet-processes.js';

const UNITS = {
  'pgfleet.service': { file: 'packages/controller/systemd/pgfleet.service', bin: 'pgfleet', launcher: 'packages/controller/bin/pgfleet.js' },
  'pgfleet-agent.service': { file: 'packages/agent/systemd/pgfleet-agent.service', bin: 'pgfleet-agent', launcher: 'packages/agent/bin/pgfleet-agent.js' },
};

const settings = (text: string): Map<string, string[]> => {
  const out = new Map<string, string[]>();
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z]+)=(.*)$/.exec(line);
    if (m) out.set(m[1] as string, [...(out.get(m[1] as string) ?? []), m[2] as string]);
  }
  return out;
};

test('both units pass systemd-analyze verify and say what the README promises', async (t) => {
  const analyze = await promisify(execFile)('sh', ['-c', 'command -v systemd-analyze']).then(() => true, () => false);
  const dir = await makeTempDir('systemd-units');
  for (const [name, u] of Object.entries(UNITS)) {
    const text = await readFile(path.join(REPO, u.file), 'utf8');
    const s = settings(text);
    assert.deepEqual(s.get('ExecStart'), [`/usr/local/bin/${u.bin} serve --config /etc/pgfleet/${u.bin === 'pgfleet' ? 'fleet' : 'agent'}.yaml --log-format json`]);
    assert.deepEqual(s.get('ExecStartPre'), [`/usr/local/bin/${u.bin} serve --config /etc/pgfleet/${u.bin === 'pgfleet' ? 'fleet' : 'agent'}.yaml --check-config`]);
    assert.deepEqual(s.get('WantedBy'), ['multi-user.target']);
    if (name === 'pgfleet-agent.service') assert.deepEqual(s.get('KillMode'), ['process']);
    if (name === 'pgfleet.service') assert.deepEqual(s.get('ExecReload'), ['/bin/kill -HUP $MAINPID']);
    await writeFile(path.join(dir, name), text.replaceAll(`/usr/local/bin/${u.bin}`, path.join(REPO, u.launcher)));
  }
  if (!analyze) {
    t.skip('systemd-analyze is not installed');
    return;
  }
  const res = await promisify(execFile)('systemd-analyze', ['verify', ...Object.keys(UNITS).map((n) => path.join(dir, n))]).then(
    (r) => ({ code: 0, out: r.stdout + r.stderr }),
    (e: { code?: number; stdout?: string; stderr?: string }) => ({ code: e.code ?? 1, out: `${e.stdout ?? ''}${e.stderr ?? ''}` }),
  );
  assert.deepEqual(res, { code: 0, out: '' });
});
