// Damage is remembered: a backup that failed `pgfleet verify` is listed as damaged with the
// reason (backups, --json), is never chosen for a restore, and verify finds a backup whose
// backup.json is broken and says what is wrong (it used to say "not found"). In-process
// daemon (insecure, port 0), the CLI's own main() as the client, fabricated backups.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { parseFleetConfig } from '../../src/config.js';
import { startDaemon, type RunningDaemon } from '../../src/daemon/daemon.js';
import { fakeBackup, tempDir } from '../repository/fixtures.js';
import { mainAgainst, type MainResult } from '../support/in-process-cli.js';

let daemon: RunningDaemon;
const FAILS_VERIFY = '20250101T000000Z';
const BROKEN_JSON = '20250102T000000Z';

before(async () => {
  const repo = await tempDir();
  // Its backup_manifest ("{}") is no manifest: verify reports it.
  await fakeBackup(repo, 'd', FAILS_VERIFY);
  const broken = await fakeBackup(repo, 'd', BROKEN_JSON);
  await writeFile(join(broken, 'backup.json'), '{"format": 1, "id": ');
  daemon = await startDaemon(parseFleetConfig([
    'listen: 127.0.0.1:0', `repository: ${repo}`, 'insecure: true',
    'agents: [{ name: db1, address: "127.0.0.1:1" }]',
    'clusters: [{ name: d, conninfo: "host=127.0.0.1 port=1", retention: { full: 1 } }]',
  ].join('\n'), join(repo, 'fleet.yaml')), { logger: { info: () => {}, error: () => {} } });
});

after(async () => {
  await daemon?.stop();
});

const cli = (args: string[]): Promise<MainResult> => mainAgainst(daemon.port, args);

type Listed = Array<{ id: string; status: string; damage: string | null }>;

test('a broken backup.json is listed as damaged with the reason, not left out', async () => {
  const listed = JSON.parse((await cli(['backups', 'd', '--json'])).stdout) as Listed;
  assert.deepEqual(listed.map((b) => [b.id, b.status, b.damage]), [
    [FAILS_VERIFY, 'ok', null],
    [BROKEN_JSON, 'damaged', 'backup.json: invalid JSON: Unexpected end of JSON input'],
  ]);
});

test('a backup that fails verify is recorded as damaged, listed so, and never restored', async () => {
  // A manifest that cannot be parsed: the manifest error (80) is the verdict.
  const verify = await cli(['verify', 'd', FAILS_VERIFY]);
  assert.equal(verify.code, 80, verify.stderr);
  const firstProblem = /^pgfleet: error: (.*)$/m.exec(verify.stderr)?.[1] ?? '';
  assert.notEqual(firstProblem, '');
  const listed = JSON.parse((await cli(['backups', 'd', '--json'])).stdout) as Listed;
  const damaged = listed.find((b) => b.id === FAILS_VERIFY);
  assert.equal(damaged?.status, 'damaged');
  assert.match(damaged?.damage ?? '', /^pgfleet verify found it damaged at \d{4}-\d\d-\d\dT[\d:.]+Z: /);
  assert.ok(damaged?.damage?.endsWith(firstProblem), `${damaged?.damage} ends with ${firstProblem}`);
  const table = await cli(['backups', 'd']);
  assert.equal(table.code, 0);
  assert.match(table.stdout, new RegExp(`^backup ${FAILS_VERIFY} of cluster "d" is damaged: pgfleet verify found it damaged at `, 'm'));
  assert.match(table.stdout, new RegExp(`^backup ${BROKEN_JSON} of cluster "d" is damaged: backup.json: invalid JSON`, 'm'));

  // Never chosen for a restore: "latest" finds no usable backup, and naming it is refused.
  assert.deepEqual(await cli(['restore', 'd', '--agent', 'db1', '-D', '/x', '--mode', 'none']), {
    code: 74, stdout: '',
    stderr: 'pgfleet: error: cluster "d" has no usable backup\nHINT: Take one with "pgfleet backup d". "pgfleet backups d" lists the damaged ones.\n',
  });
  const named = await cli(['restore', 'd', '--backup', FAILS_VERIFY, '--agent', 'db1', '-D', '/x', '--mode', 'none']);
  assert.equal(named.code, 81);
  assert.equal(named.stderr, `pgfleet: error: backup "${FAILS_VERIFY}" of cluster "d" is damaged: ${damaged?.damage}\n` +
    'HINT: Choose another backup ("pgfleet backups d" lists them), or take a new one with "pgfleet backup d".\n');
});

test('verify finds a backup whose backup.json is broken and says what is wrong', async () => {
  const verify = await cli(['verify', 'd', BROKEN_JSON]);
  assert.equal(verify.code, 80, verify.stderr);
  assert.match(verify.stderr, /^pgfleet: error: backup.json: invalid JSON: Unexpected end of JSON input\npgfleet: error: could not parse backup manifest /);
});
