// `pgfleet serve --check-config`: validates fleet.yaml (every problem listed, the TLS files
// read) and exits, without starting anything.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { mainAgainst } from '../support/in-process-cli.js';
import { tempDir } from '../repository/fixtures.js';

test('--check-config lists every problem with its hint (31), or says the file is valid (0)', async () => {
  const dir = await tempDir();
  const file = join(dir, 'fleet.yaml');
  await writeFile(file, 'insecure: true\nparalel: 2\nlisten: "127.0.0.1:70000"\n');
  const P = `pgfleet: error: invalid configuration file "${file}"`;
  assert.deepEqual(await mainAgainst(1, ['serve', '--config', file, '--check-config']), {
    code: 31, stdout: '',
    stderr: `${P}: "paralel" is not a known key\n`
      + 'HINT: Did you mean "parallel"? Known keys here: "listen", "repository", "tls", "insecure", "parallel", "noProgressTimeoutSeconds", "agents", "clusters", "schedule", "retention", "checks", "http", "wal".\n'
      + `${P}: "listen" must have a port from 0 to 65535, not 70000\n`
      + `${P}: "repository" is required\nHINT: Set "repository" to the directory that holds the backups.\n`,
  });

  await writeFile(file, 'repository: repo\ntls: { ca: certs/ca.crt, cert: certs/controller.crt, key: certs/controller.key }\n');
  assert.deepEqual(await mainAgainst(1, ['serve', '--config', file, '--check-config']), {
    code: 71, stdout: '',
    stderr: `pgfleet: error: could not read CA certificate "${join(dir, 'certs/ca.crt')}": no such file or directory\n`
      + 'HINT: Run "pgfleet certs init DIR" to create a CA and certificates, or fix the path.\n',
  });

  await writeFile(file, 'repository: repo\ninsecure: true\nclusters: [{ name: main, conninfo: "host=db1", retention: { full: 2 } }]\n');
  assert.deepEqual(await mainAgainst(1, ['serve', '--config', file, '--check-config']), {
    code: 0, stdout: `configuration file "${file}" is valid\n`, stderr: '',
  });
});
