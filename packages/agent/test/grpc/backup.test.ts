// The Backup call's spool: directories a killed agent (kill -9 mid-backup) left in the system
// temporary directory are removed when an agent starts, and only those.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { parseAgentConfig } from '../../src/config.js';
import { AgentServer } from '../../src/grpc/server.js';
import { resolveOwner } from '../../src/restore/owner.js';
import { makeDir } from '../helpers/fixtures.js';

/** The PID of a process that has exited. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '']);
  await new Promise((resolve) => child.on('exit', resolve));
  return child.pid as number;
}

test('an agent starting removes the backup spools of dead agent processes (and of its own PID), nothing else', async () => {
  const tmp = await makeDir();
  const root = await makeDir();
  const sleeper = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)']);
  try {
    const dead = await deadPid();
    const names = {
      dead: `pgfleet-agent-backup-${dead}-aB3dE9`,
      ownPid: `pgfleet-agent-backup-${process.pid}-Zz0000`,
      live: `pgfleet-agent-backup-${sleeper.pid}-xY12ab`,
      oldStyle: 'pgfleet-agent-backup-aB3dE9',
      other: `other-${dead}-aB3dE9`,
    };
    for (const name of Object.values(names)) {
      await mkdir(path.join(tmp, name));
      await writeFile(path.join(tmp, name, 'pg_wal.tar'), Buffer.alloc(1024));
    }
    const log: string[] = [];
    const saved = process.env['TMPDIR'];
    process.env['TMPDIR'] = tmp;
    let server: AgentServer | undefined;
    try {
      const config = parseAgentConfig({ listen: '127.0.0.1:0', insecure: true, allowedRoots: [root], osUser: resolveOwner(null).name }, 'agent.yaml', root);
      server = await AgentServer.start(config, { log: (line) => log.push(line) });
    } finally {
      if (saved === undefined) delete process.env['TMPDIR'];
      else process.env['TMPDIR'] = saved;
      await server?.stop(1000);
    }
    assert.deepEqual((await readdir(tmp)).sort(), [names.live, names.oldStyle, names.other].sort());
    assert.deepEqual(log.sort(), [
      `removed the backup spool "${path.join(tmp, names.dead)}" a killed agent left`,
      `removed the backup spool "${path.join(tmp, names.ownPid)}" a killed agent left`,
    ].sort());
  } finally {
    sleeper.kill();
  }
});
