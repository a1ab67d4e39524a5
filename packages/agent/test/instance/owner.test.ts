import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { InvalidOptionError } from '@pgfleet/core';
import { isRoot, lookupUser, ownerEnv, resolveOwner } from '../../src/instance/owner.js';
import { makeDir } from '../helpers/fixtures.js';

describe('owner', () => {
  test('lookupUser reads passwd by name or uid', async () => {
    const file = path.join(await makeDir(), 'passwd');
    await writeFile(file, 'root:x:0:0:root:/root:/bin/bash\npostgres:x:101:104:PostgreSQL:/var/lib/postgresql:/bin/bash\n');
    assert.deepEqual(lookupUser('postgres', file), { name: 'postgres', uid: 101, gid: 104, home: '/var/lib/postgresql' });
    assert.deepEqual(lookupUser('0', file)?.name, 'root');
    assert.equal(lookupUser('nobody-here', file), null);
  });
  test('as root: a named unprivileged user (postgres by default); root and unknown users are refused', { skip: isRoot() ? false : 'needs root' }, () => {
    const o = resolveOwner(null);
    assert.equal(o.name, 'postgres');
    assert.equal(o.chown, true);
    assert.throws(() => resolveOwner('root'), (err: unknown) => err instanceof InvalidOptionError && err.message === 'OS user "root" is root, which PostgreSQL refuses to run as');
    assert.throws(() => resolveOwner('no-such-user-x'), { message: 'OS user "no-such-user-x" does not exist' });
  });
  test('ownerEnv drops connection PG* variables and sets the owner\'s HOME', () => {
    process.env['PGHOST'] = 'elsewhere';
    try {
      const env = ownerEnv({ name: 'postgres', uid: 101, gid: 104, home: '/var/lib/postgresql', chown: true });
      assert.equal(env['PGHOST'], undefined);
      assert.equal(env['HOME'], '/var/lib/postgresql');
      assert.equal(env['USER'], 'postgres');
      assert.equal(ownerEnv({ name: 'me', uid: 1, gid: 1, chown: false })['HOME'], process.env['HOME'] ?? os.homedir());
    } finally {
      delete process.env['PGHOST'];
    }
  });
});
