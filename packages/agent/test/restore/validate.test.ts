import assert from 'node:assert/strict';
import { chmod, chown, mkdir, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, test } from 'node:test';
import { DirectoryNotEmptyError, InvalidOptionError, NotAllowedError } from '@pgfleet/core';
import { isRoot, lookupUser } from '../../src/instance/owner.js';
import { canonicalPath, checkAllowed, isWithin } from '../../src/policy/allowed-roots.js';
import { checkNoOverlap, checkReachable, checkTargetUsable } from '../../src/restore/validate.js';
import { makeDir } from '../helpers/fixtures.js';

describe('canonicalPath / isWithin', () => {
  test('resolves symbolic links in the existing part, keeps the missing rest', async () => {
    const dir = await makeDir();
    await mkdir(path.join(dir, 'real'));
    await symlink(path.join(dir, 'real'), path.join(dir, 'link'));
    assert.equal(await canonicalPath(path.join(dir, 'link', 'new', '..', 'data')), path.join(dir, 'real', 'data'));
    assert.equal(await canonicalPath(path.join(dir, 'link')), path.join(dir, 'real'));
  });
  test('isWithin is component-wise', () => {
    assert.equal(isWithin('/a/b', '/a'), true);
    assert.equal(isWithin('/a', '/a'), true);
    assert.equal(isWithin('/ab', '/a'), false);
    assert.equal(isWithin('/a/../b', '/a'), false);
  });
});

describe('checkTargetUsable', () => {
  test('absent or empty is fine; a file or any content is refused with a HINT', async () => {
    const dir = await makeDir();
    assert.equal(await checkTargetUsable(path.join(dir, 'absent'), 'data directory'), 'absent');
    await mkdir(path.join(dir, 'empty'));
    assert.equal(await checkTargetUsable(path.join(dir, 'empty'), 'data directory'), 'empty');
    await mkdir(path.join(dir, 'busy'));
    await writeFile(path.join(dir, 'busy', '.hidden'), '');
    await assert.rejects(checkTargetUsable(path.join(dir, 'busy'), 'data directory'), (err: unknown) => {
      assert.ok(err instanceof DirectoryNotEmptyError);
      assert.equal(err.format(), `data directory "${path.join(dir, 'busy')}" exists but is not empty\nHINT: Remove its contents or choose another directory; pgfleet-agent never restores over existing files.`);
      return true;
    });
    await writeFile(path.join(dir, 'file'), '');
    await assert.rejects(checkTargetUsable(path.join(dir, 'file'), 'WAL directory'), { message: `WAL directory "${path.join(dir, 'file')}" exists but is not a directory` });
  });
  test('staging directories of a mount-point restore do not count as content', async () => {
    const dir = await makeDir();
    await mkdir(path.join(dir, '.pgfleet-staging.1.abcd'));
    assert.equal(await checkTargetUsable(dir, 'data directory'), 'empty');
  });
});

describe('checkNoOverlap / checkAllowed', () => {
  test('targets must be distinct and not nested', () => {
    assert.doesNotThrow(() => checkNoOverlap([{ path: '/a/data', what: 'data directory' }, { path: '/a/ts', what: 'tablespace directory' }]));
    assert.throws(() => checkNoOverlap([{ path: '/a/data', what: 'data directory' }, { path: '/a/data/ts', what: 'tablespace directory' }]),
      (err: unknown) => err instanceof InvalidOptionError && err.message === 'tablespace directory "/a/data/ts" lies within data directory "/a/data"');
    assert.throws(() => checkNoOverlap([{ path: '/a/x', what: 'data directory' }, { path: '/a/x', what: 'WAL directory' }]),
      { message: 'data directory and WAL directory are the same directory "/a/x"' });
  });
  test('allowedRoots: within one root, or refused naming the roots', () => {
    checkAllowed({ path: '/srv/pg/data', what: 'data directory' }, ['/srv/pg']);
    checkAllowed({ path: '/anywhere', what: 'data directory' }, null);
    assert.throws(() => checkAllowed({ path: '/srv/pgx/data', what: 'data directory' }, ['/srv/pg', '/mnt']), (err: unknown) => {
      assert.ok(err instanceof NotAllowedError);
      assert.equal(err.format(), 'data directory "/srv/pgx/data" is outside the directories this agent may write to\nHINT: Choose a directory under "/srv/pg", "/mnt", or add it to allowedRoots in agent.yaml.');
      return true;
    });
  });
});

describe('checkReachable', { skip: isRoot() ? false : 'needs root to make directories of other owners' }, () => {
  test('a directory above the target that the user cannot search is refused', async () => {
    const user = lookupUser('postgres') ?? lookupUser('nobody');
    assert.ok(user);
    const dir = await makeDir();
    const closed = path.join(dir, 'closed');
    await mkdir(closed, { mode: 0o700 });
    await chmod(closed, 0o700);
    await chown(closed, 0, 0);
    await assert.rejects(checkReachable({ path: path.join(closed, 'data'), what: 'data directory' }, user), {
      message: `OS user "${user.name}" cannot reach data directory "${path.join(closed, 'data')}": directory "${closed}" is not searchable by it`,
    });
    await chmod(closed, 0o711);
    await checkReachable({ path: path.join(closed, 'data'), what: 'data directory' }, user);
    await chmod(closed, 0o700);
    await chown(closed, user.uid, user.gid);
    await checkReachable({ path: path.join(closed, 'data', 'deeper'), what: 'data directory' }, user);
  });
});
