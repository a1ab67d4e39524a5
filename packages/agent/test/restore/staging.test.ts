import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readdir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, test } from 'node:test';
import { resolveOwner } from '../../src/instance/owner.js';
import { StagingDirectory, removeLeftoverStaging } from '../../src/restore/staging.js';
import { makeDir } from '../helpers/fixtures.js';

const owner = resolveOwner(null);

describe('StagingDirectory', () => {
  test('stages next to the target under a recognisable name, then renames onto it', async () => {
    const dir = await makeDir();
    const target = path.join(dir, 'data');
    const s = new StagingDirectory(target, owner);
    await s.create();
    assert.match(path.basename(s.path), new RegExp(`^\\.pgfleet-staging\\.data\\.${process.pid}\\.[0-9a-f]{8}$`));
    assert.equal(path.dirname(s.path), dir);
    assert.equal((await stat(s.path)).mode & 0o777, 0o700);
    assert.equal((await stat(s.path)).uid, owner.uid);
    await writeFile(path.join(s.path, 'PG_VERSION'), '15\n');
    assert.ok(!existsSync(target));
    await s.commit();
    assert.deepEqual(await readdir(dir), ['data']);
    assert.deepEqual(await readdir(target), ['PG_VERSION']);
    await s.discard(); // after commit: nothing happens
    assert.ok(existsSync(target));
  });

  test('replaces an empty target directory; refuses one that got content meanwhile', async () => {
    const dir = await makeDir();
    const target = path.join(dir, 'data');
    await mkdir(target);
    const s = new StagingDirectory(target, owner);
    await s.create();
    await writeFile(path.join(s.path, 'f'), 'x');
    await writeFile(path.join(target, 'intruder'), 'y');
    await assert.rejects(s.commit(), (err: unknown) => {
      assert.match((err as Error).message, /^could not rename ".*" to ".*data": directory not empty$/);
      assert.equal((err as { hint?: string }).hint, 'Something wrote into the target while the restore ran; the restore was undone.');
      return true;
    });
    await s.discard();
    assert.deepEqual(await readdir(dir), ['data']);
    assert.deepEqual(await readdir(target), ['intruder']);
  });

  test('missing parents are created for the owner and removed again on discard', async () => {
    const dir = await makeDir();
    const target = path.join(dir, 'a', 'b', 'data');
    const s = new StagingDirectory(target, owner);
    await s.create();
    assert.equal((await stat(path.join(dir, 'a'))).uid, owner.uid);
    await s.discard();
    assert.deepEqual(await readdir(dir), []);
  });

  test('uncommit moves the content back to staging', async () => {
    const dir = await makeDir();
    const target = path.join(dir, 'ts');
    const s = new StagingDirectory(target, owner);
    await s.create();
    await s.commit();
    await s.uncommit();
    assert.ok(!existsSync(target));
    assert.ok(existsSync(s.path));
    await s.discard();
    assert.deepEqual(await readdir(dir), []);
  });

  test('inside mode (a mount point): staged within the target, entries moved up on commit', async () => {
    const dir = await makeDir();
    const target = path.join(dir, 'mnt');
    await mkdir(target);
    const s = new StagingDirectory(target, owner, true);
    await s.create();
    assert.equal(path.dirname(s.path), target);
    await writeFile(path.join(s.path, 'PG_VERSION'), '15\n');
    await mkdir(path.join(s.path, 'base'));
    s.mode = 0o750;
    await s.commit();
    assert.deepEqual((await readdir(target)).sort(), ['PG_VERSION', 'base']);
    assert.equal((await stat(target)).mode & 0o777, 0o750);
  });
});

describe('removeLeftoverStaging', () => {
  test('removes staging directories of dead processes only, for that target only', async () => {
    const dir = await makeDir();
    const target = path.join(dir, 'data');
    // A pid that is surely gone: a child that already exited.
    const dead = spawnSync('true').pid as number;
    // Another live process (our parent) still owns its own.
    const mine = `.pgfleet-staging.data.${process.ppid}.0000aaaa`;
    const gone = `.pgfleet-staging.data.${dead}.0000bbbb`;
    const other = `.pgfleet-staging.data2.${dead}.0000cccc`;
    for (const n of [mine, gone, other]) await mkdir(path.join(dir, n, 'base'), { recursive: true });
    await mkdir(target);
    await mkdir(path.join(target, `.pgfleet-staging.${dead}.0000dddd`));
    const removed = await removeLeftoverStaging(target);
    assert.deepEqual(removed.sort(), [path.join(dir, gone), path.join(target, `.pgfleet-staging.${dead}.0000dddd`)].sort());
    assert.deepEqual((await readdir(dir)).sort(), [mine, other, 'data'].sort());
  });

  test('a staging directory with this process\'s PID that this process did not make is a leftover', async () => {
    // An agent that is PID 1 in a container has the same PID after every restart.
    const dir = await makeDir();
    const target = path.join(dir, 'data');
    const live = new StagingDirectory(target, owner);
    await live.create();
    const earlier = `.pgfleet-staging.data.${process.pid}.0000eeee`;
    await mkdir(path.join(dir, earlier, 'base'), { recursive: true });
    await mkdir(target);
    const inside = `.pgfleet-staging.${process.pid}.0000ffff`;
    await mkdir(path.join(target, inside));
    const removed = await removeLeftoverStaging(target);
    assert.deepEqual(removed.sort(), [path.join(dir, earlier), path.join(target, inside)].sort());
    assert.deepEqual((await readdir(dir)).sort(), [path.basename(live.path), 'data'].sort());
    await live.discard();
    // Once discarded it is no longer this process's: a directory of that name is a leftover.
    await mkdir(live.path);
    assert.deepEqual(await removeLeftoverStaging(target), [live.path]);
  });
});
