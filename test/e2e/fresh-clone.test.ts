// A new user's first steps, on the committed repository: `git clone`, `npm ci`, `npm run build`,
// and then every command of every package answers `--version` and `--help` from
// node_modules/.bin (what `npx <command>` runs inside the checkout). npm links a workspace's
// bins at install time, before dist/ exists, and skips a bin whose target is missing: each bin
// is therefore a committed, executable launcher (packages/*/bin/*.js) that loads dist/.
//
// Slow (one to two minutes: a full install and build) and needs the npm registry.

import assert from 'node:assert/strict';
import { access, constants, readlink } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { REPO_ROOT, makeTempDir, run } from '../harness/index.js';

const COMMANDS: Array<{ bin: string; version: RegExp; help: RegExp }> = [
  { bin: 'pgfleet-basebackup', version: /^pgfleet-basebackup \(PostgreSQL\) 18\.0 \(pgfleet 0\.1\.0\)\n$/, help: /^Usage:\n {2}pgfleet-basebackup \[OPTION\]\.\.\.$/m },
  { bin: 'pgfleet-receivewal', version: /^pgfleet-receivewal \(PostgreSQL\) 18\.0 \(pgfleet 0\.1\.0\)\n$/, help: /^Usage:\n {2}pgfleet-receivewal \[OPTION\]\.\.\.$/m },
  { bin: 'pgfleet-verifybackup', version: /^pgfleet-verifybackup \(PostgreSQL\) 18\.0 \(pgfleet 0\.1\.0\)\n$/, help: /^Usage:\n {2}pgfleet-verifybackup \[OPTION\]\.\.\. BACKUPDIR$/m },
  { bin: 'pgfleet-agent', version: /^0\.1\.0\n$/, help: /^Usage: pgfleet-agent /m },
  { bin: 'pgfleet', version: /^0\.1\.0\n$/, help: /^Usage: pgfleet /m },
];

test('a fresh clone has every command in node_modules/.bin after npm ci and npm run build', { timeout: 15 * 60_000 }, async () => {
  const dir = path.join(await makeTempDir('pgfleet-clone'), 'pgfleet');
  await run('git', ['clone', '--quiet', REPO_ROOT, dir]);
  const launchers = await run('git', ['ls-files', '--stage', '--', 'packages/*/bin/*.js'], { cwd: dir });
  const modes = launchers.stdout.trim().split('\n').map((line) => {
    const [mode, , , file] = line.split(/\s+/);
    return `${String(file)} ${String(mode)}`;
  });
  assert.deepEqual(modes.sort(), [
    'packages/agent/bin/pgfleet-agent.js 100755',
    'packages/controller/bin/pgfleet.js 100755',
    'packages/core/bin/pgfleet-basebackup.js 100755',
    'packages/core/bin/pgfleet-receivewal.js 100755',
    'packages/core/bin/pgfleet-verifybackup.js 100755',
  ]);

  const env = { CI: 'true', npm_config_update_notifier: 'false' };
  await run('npm', ['ci', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: dir, env, timeoutMs: 10 * 60_000 });
  await run('npm', ['run', 'build'], { cwd: dir, env, timeoutMs: 5 * 60_000 });

  for (const { bin, version, help } of COMMANDS) {
    const file = path.join(dir, 'node_modules', '.bin', bin);
    await access(file, constants.X_OK);
    assert.match(await readlink(file), new RegExp(`/bin/${bin}\\.js$`), `${bin} links to its launcher`);
    const v = await run(file, ['--version'], { cwd: dir, allowFailure: true });
    assert.equal(v.code, 0, `${bin} --version: ${v.stderr}`);
    assert.match(v.stdout, version, `${bin} --version`);
    const h = await run(file, ['--help'], { cwd: dir, allowFailure: true });
    assert.equal(h.code, 0, `${bin} --help: ${h.stderr}`);
    assert.match(h.stdout, help, `${bin} --help`);
  }
  // The README's `npx pgfleet-basebackup` inside the checkout runs the local command.
  const npx = await run('npx', ['--no-install', 'pgfleet-basebackup', '--version'], { cwd: dir, env, allowFailure: true });
  assert.equal(npx.stdout, 'pgfleet-basebackup (PostgreSQL) 18.0 (pgfleet 0.1.0)\n', npx.stderr);
});
