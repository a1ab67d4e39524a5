import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, test } from 'node:test';
import { configuredPort, readPostmasterPid } from '../../src/restore/start.js';
import { makeDir } from '../helpers/fixtures.js';

describe('start helpers', () => {
  test('configuredPort: postgresql.auto.conf wins over postgresql.conf; 5432 by default', async () => {
    const dir = await makeDir();
    assert.equal(await configuredPort(dir), 5432);
    await writeFile(path.join(dir, 'postgresql.conf'), 'port = 5433\n');
    assert.equal(await configuredPort(dir), 5433);
    await writeFile(path.join(dir, 'postgresql.auto.conf'), "port = '5434'\n");
    assert.equal(await configuredPort(dir), 5434);
  });
  test('readPostmasterPid: pid, port, first socket directory, liveness', async () => {
    const dir = await makeDir();
    assert.equal(await readPostmasterPid(dir), null);
    await writeFile(path.join(dir, 'postmaster.pid'), `${process.pid}\n${dir}\n1700000000\n5999\n/tmp/sock\n127.0.0.1\n  1234  5678\nready   \n`);
    assert.deepEqual(await readPostmasterPid(dir), { pid: process.pid, port: 5999, socketDir: '/tmp/sock', alive: true });
    await writeFile(path.join(dir, 'postmaster.pid'), `999999999\n${dir}\n1700000000\n5999\n/tmp/sock\n`);
    assert.equal((await readPostmasterPid(dir))?.alive, false);
  });
});
