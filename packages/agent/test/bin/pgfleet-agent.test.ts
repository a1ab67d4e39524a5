// The command line's argument handling and error output, as a user sees them (the restore
// itself is covered by the engine's tests and the end-to-end tests).

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, test } from 'node:test';
import { commandArgv } from '../../../../test/harness/built-entry.js';
import { makeDir } from '../helpers/fixtures.js';

const command = commandArgv('agent', 'pgfleet-agent');

function agent(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [...command, ...args], { encoding: 'utf8', env: { ...process.env, LC_ALL: 'C' } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('pgfleet-agent command line', () => {
  test('usage errors exit 31 with a message and, where useful, a HINT', () => {
    assert.deepEqual(agent('restore', '--from', '/x', '-D', '/y'), {
      code: 31, stdout: '',
      stderr: 'pgfleet-agent: error: no recovery mode given\nHINT: Choose what the restored copy becomes with --mode standby, --mode promote or --mode none.\n',
    });
    assert.deepEqual(agent('restore', '--from', '/x', '-D', '/y', '--mode', 'primary'), {
      code: 31, stdout: '', stderr: 'pgfleet-agent: error: invalid recovery mode "primary", must be "standby", "promote" or "none"\n',
    });
    assert.deepEqual(agent('restore', '--from', '/x', '-D', '/y', '--mode', 'none', '-T', '/a'), {
      code: 31, stdout: '', stderr: 'pgfleet-agent: error: invalid tablespace mapping format "/a", must be "OLDDIR=NEWDIR"\n',
    });
    const missing = agent('restore', '-D', '/y', '--mode', 'none');
    assert.equal(missing.code, 31);
    assert.equal(missing.stderr, "error: required option '--from <dir>' not specified\n");
  });

  test('a restore error exits with its catalogue code', async () => {
    const dir = await makeDir();
    const r = agent('restore', '--from', path.join(dir, 'none'), '-D', path.join(dir, 'data'), '--mode', 'none');
    assert.deepEqual(r, { code: 71, stdout: '', stderr: `pgfleet-agent: error: could not open backup directory "${path.join(dir, 'none')}": no such file or directory\n` });
  });

  test('--json: a failure is also a JSON document on stdout', async () => {
    const dir = await makeDir();
    const r = agent('restore', '--from', path.join(dir, 'none'), '-D', path.join(dir, 'data'), '--mode', 'none', '--json');
    assert.equal(r.code, 71);
    assert.deepEqual(JSON.parse(r.stdout), { error: { id: 'file-io', code: 71, message: `could not open backup directory "${path.join(dir, 'none')}": no such file or directory` } });
  });

  test('serve refuses a configuration without TLS unless --insecure, in its log', async () => {
    const dir = await makeDir();
    const file = path.join(dir, 'agent.yaml');
    const { writeFile } = await import('node:fs/promises');
    await writeFile(file, 'listen: 127.0.0.1:0\nallowedRoots: [/srv]\n');
    // A daemon says it in its log: time, level, then the error and its hint on one line.
    const refused = agent('serve', '--config', file);
    assert.deepEqual({ ...refused, stderr: refused.stderr.replace(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z /, 'TIME ') }, {
      code: 31, stdout: '',
      stderr: `TIME ERROR pgfleet-agent: invalid configuration file "${file}": "tls" is required HINT: Give tls: {ca, cert, key} ("pgfleet-agent certs" makes certificates), or run with --insecure for a local demo.\n`,
    });
  });

  test('serve --check-config lists every problem (31), or says the file is valid (0)', async () => {
    const dir = await makeDir();
    const file = path.join(dir, 'agent.yaml');
    const { writeFile } = await import('node:fs/promises');
    await writeFile(file, 'listen: 127.0.0.1:70000\ninsecure: true\nallowedroots: [/srv]\n');
    const P = `pgfleet-agent: error: invalid configuration file "${file}"`;
    assert.deepEqual(agent('serve', '--config', file, '--check-config'), {
      code: 31, stdout: '',
      stderr: `${P}: "allowedroots" is not a known key\n`
        + 'HINT: Did you mean "allowedRoots"? Known keys here: "listen", "tls", "insecure", "allowedRoots", "pgBin", "osUser", "socketDir", "connectUser", "shutdownGraceSeconds", "noProgressTimeoutSeconds", "controller".\n'
        + `${P}: "listen" must have a port from 0 to 65535, not 70000\n`
        + `${P}: "allowedRoots" is required\nHINT: Name the directories restores may write into, e.g. allowedRoots: [/srv/postgres].\n`,
    });
    await writeFile(file, 'listen: 127.0.0.1:0\ntls: { ca: ca.crt, cert: agent.crt, key: agent.key }\nallowedRoots: [/srv]\nosUser: postgres\n');
    assert.deepEqual(agent('serve', '--config', file, '--check-config'), {
      code: 71, stdout: '',
      stderr: `pgfleet-agent: error: could not read CA certificate "${path.join(dir, 'ca.crt')}": no such file or directory\n`
        + 'HINT: Make them with "pgfleet-agent certs" or "pgfleet certs init", or fix the path in the configuration.\n',
    });
    await writeFile(file, 'listen: 127.0.0.1:0\ninsecure: true\nallowedRoots: [/srv]\nosUser: postgres\n');
    assert.deepEqual(agent('serve', '--config', file, '--check-config'), { code: 0, stdout: `configuration file "${file}" is valid\n`, stderr: '' });
  });

  test('certs: the naming scheme of "pgfleet certs init"; existing files are never overwritten, half a CA is refused with a HINT', async () => {
    const dir = path.join(await makeDir(), 'certs');
    const { readFile, readdir, rm } = await import('node:fs/promises');
    const made = agent('certs', '--out', dir, '--name', 'db1', '--tool', 'node');
    assert.equal(made.code, 0, made.stderr);
    const names = ['agent-db1.crt', 'agent-db1.key', 'ca.crt', 'ca.key', 'cli.crt', 'cli.key', 'controller.crt', 'controller.key'];
    assert.deepEqual((await readdir(dir)).sort(), names);
    assert.equal(made.stdout.split('\n')[0], `created a new CA in "${dir}" (node)`);
    const before = await Promise.all(names.map((n) => readFile(path.join(dir, n))));

    const again = agent('certs', '--out', dir, '--name', 'db1');
    assert.deepEqual(again, {
      code: 0, stderr: '',
      stdout: `used the existing CA in "${dir}" (openssl)\nkept existing "controller" certificate\nkept existing "cli" certificate\nkept existing "agent-db1" certificate\n`,
    });
    assert.deepEqual(await Promise.all(names.map((n) => readFile(path.join(dir, n)))), before, 'not a byte changed');

    await rm(path.join(dir, 'ca.key'));
    assert.deepEqual(agent('certs', '--out', dir, '--name', 'db2'), {
      code: 71, stdout: '',
      stderr: `pgfleet-agent: error: found "${path.join(dir, 'ca.crt')}" without "${path.join(dir, 'ca.key')}"\nHINT: Restore the missing file, or move both away to create a new CA.\n`,
    });
    assert.deepEqual((await readdir(dir)).sort(), names.filter((n) => n !== 'ca.key'), 'nothing written');
  });
});
