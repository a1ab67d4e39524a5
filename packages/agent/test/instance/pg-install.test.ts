import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { describe, test } from 'node:test';
import { InvalidOptionError } from '@pgfleet/core';
import { findInstallations, installationFor, parsePostgresVersion, probeBinDir } from '../../src/instance/pg-install.js';
import { makeDir } from '../helpers/fixtures.js';

const SYSTEM_15 = '/usr/lib/postgresql/15/bin';

describe('PostgreSQL installations', () => {
  test('parsePostgresVersion reads postgres --version', () => {
    assert.deepEqual(parsePostgresVersion('postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)\n'), { version: '15.18', major: 15 });
    assert.deepEqual(parsePostgresVersion('postgres (PostgreSQL) 18beta1\n'), { version: '18beta1', major: 18 });
    assert.equal(parsePostgresVersion('something else'), null);
  });
  test('a directory without postgres and pg_ctl is no installation', async () => {
    assert.equal(await probeBinDir(await makeDir()), null);
  });
  test('the system PostgreSQL 15 is found; a missing major names what was found', { skip: existsSync(`${SYSTEM_15}/postgres`) ? false : 'no system PostgreSQL 15' }, async () => {
    const all = await findInstallations([]);
    assert.ok(all.some((i) => i.major === 15 && i.binDir === SYSTEM_15));
    assert.equal((await installationFor(15, [SYSTEM_15])).binDir, SYSTEM_15);
    await assert.rejects(installationFor(9, []), (err: unknown) => {
      assert.ok(err instanceof InvalidOptionError);
      assert.equal(err.message, 'no PostgreSQL 9 server binaries found to start the restored instance');
      assert.match(err.hint ?? '', /^Found (.* in ".*", )*15 in "\/usr\/lib\/postgresql\/15\/bin".*; install PostgreSQL 9 or name its bin directory with --pg-bin \(pgBin in agent.yaml\)\.$/);
      return true;
    });
  });
});
