// `pgfleet check` against real processes: PostgreSQL 15 server A behind a `pgfleet-agent serve`
// (cluster "a"), server B backed up directly by the controller (cluster "b"), one
// `pgfleet serve`. After `pgfleet backup --all` every check is OK (slot and archive SKIPPED:
// no continuous WAL archive; drill SKIPPED: no drills), `--nagios` says OK with 0. Then each
// failure is made for real and check names the failing check (exit 1, Nagios 2):
//   - no recent backup: b's maxAge lowered to 1 s by SIGHUP;
//   - server stopped: B stopped;
//   - repository full: a second daemon whose repository is a 20 MB tmpfs, filled up;
//   - agent stopped: the agent's process ended (`pgfleet agents` exits 40 too);
//   - slot dropped and archive stalled: b's continuous WAL archive (the controller's own
//     receiver; off until then, wal: { archive: none }) switched on by SIGHUP; its slot dropped
//     on B with every other slot taken, so the archive cannot create it again; then the slot
//     held by a pg_receivewal (the archive's reconnects fail) with maxArchiveLag 2 s. Each is
//     repaired and checked OK again; another reload leaves the streaming archive alone.
// b's backup is restored by hand at the end and started.

import assert from 'node:assert/strict';
import { execFileSync, type ChildProcess } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { makeTempDir, restoreTarByHand, startCluster, startRestored, type TestCluster } from '../harness/index.js';
import { serveAgent, stopServedAgent, type ServedAgent } from './agent-support.js';
import { takeSlot } from './support/fleet.js';
import { cliJson, runCli, startController, waitFor, type ControllerProcess } from '../../packages/controller/test/support/fleet-processes.js';

interface CheckJson {
  cluster: string;
  ok: boolean;
  checks: Array<{ name: string; status: 'ok' | 'failed' | 'skipped'; message: string; hint: string | null }>;
}

let A: TestCluster;
let B: TestCluster;
let work: string;
let agent: ServedAgent | null = null;
let controller: ControllerProcess;
let configFile: string;
let env: NodeJS.ProcessEnv;
let fullDir = '';
let mounted = false;
let fullController: ControllerProcess | null = null;
let receivewal: ChildProcess | null = null;

interface FleetOptions {
  bMaxAge?: string;
  /** b's continuous WAL archive (the fleet's default stays none). */
  bArchive?: 'stream' | 'none';
  maxArchiveLag?: string;
}

function fleetYaml(o: FleetOptions = {}): string {
  return [
    'listen: 127.0.0.1:0',
    `repository: ${path.join(work, 'repo')}`,
    'insecure: true',
    `checks: { minFreeSpace: 1MB${o.maxArchiveLag !== undefined ? `, maxArchiveLag: ${o.maxArchiveLag}` : ''} }`,
    `agents: [{ name: db1, address: "${agent?.address}" }]`,
    'wal: { archive: none }', 'clusters:',
    `  - { name: a, agent: db1, conninfo: "${A.connectionString}" }`,
    `  - { name: b, conninfo: "${B.connectionString}", maxAge: ${o.bMaxAge ?? '1h'}, wal: { archive: ${o.bArchive ?? 'none'} } }`,
    '',
  ].join('\n');
}

/** Rewrites fleet.yaml (current ports and addresses) and reloads it with SIGHUP. */
async function reload(o: FleetOptions = {}): Promise<void> {
  const count = (): number => (controller.log().match(/configuration reloaded/g) ?? []).length;
  const before = count();
  await writeFile(configFile, fleetYaml(o));
  controller.child.kill('SIGHUP');
  await waitFor('the reload', async () => count() > before, 10_000);
}

/** `pgfleet check --json` (and, with `withText`, the human form too, which must exit alike). */
async function check(args: string[] = [], e: NodeJS.ProcessEnv = env, withText = false): Promise<{ code: number; results: CheckJson[]; text: string }> {
  const json = await runCli(['check', ...args, '--json', '--insecure'], e);
  const text = withText ? await runCli(['check', ...args, '--insecure'], e) : null;
  if (text !== null) assert.equal(text.code, json.code, text.stderr);
  return { code: json.code, results: JSON.parse(json.stdout) as CheckJson[], text: text?.stdout ?? '' };
}

const statusOf = (r: CheckJson[], cluster: string): Record<string, string> =>
  Object.fromEntries((r.find((c) => c.cluster === cluster)?.checks ?? []).map((k) => [k.name, k.status]));
const messageOf = (r: CheckJson[], cluster: string, name: string): string =>
  r.find((c) => c.cluster === cluster)?.checks.find((k) => k.name === name)?.message ?? '';

const SLOT = 'pgfleet_b';

/** Runs `pgfleet check b` until `done` holds of its result (or the deadline passes) and returns that result. */
async function checkUntil(what: string, done: (r: CheckJson[]) => boolean, timeoutMs = 30_000): Promise<CheckJson[]> {
  let last: CheckJson[] = [];
  try {
    await waitFor(what, async () => done(last = (await check(['b'])).results), timeoutMs);
  } catch (err) {
    throw new Error(`${(err as Error).message}; last check: ${JSON.stringify(last)}`);
  }
  return last;
}

interface WalJson { state: string; since: string; stalledSince: string | null; flushedLsn: string | null; lagSeconds: number | null; reason: string | null }
const walOfB = async (): Promise<WalJson> => (await cliJson<WalJson[]>(['wal', 'b', '--json', '--insecure'], env))[0] as WalJson;

const HEALTHY_DIRECT = { replication: 'ok', wal_level: 'ok', wal_senders: 'ok', slot: 'skipped', archive: 'skipped', backup: 'ok', drill: 'skipped', repository: 'ok' };

describe('pgfleet check', () => {
  before(async () => {
    [A, B] = await Promise.all([startCluster({ version: 15, data: { rows: 200 } }), startCluster({ version: 15, data: { rows: 300 } })]);
    work = await makeTempDir('ctl-check');
    const root = path.join(work, 'allowed');
    await mkdir(root);
    agent = await serveAgent({ work, allowedRoot: root, tls: false });
    configFile = path.join(work, 'fleet.yaml');
    await writeFile(configFile, fleetYaml());
    controller = await startController(configFile);
    env = { PGFLEET_CONTROLLER: controller.address };
    const backup = await runCli(['backup', '--all', '--insecure'], env);
    assert.equal(backup.code, 0, backup.stderr);
  });

  after(async () => {
    receivewal?.kill();
    await controller?.stop();
    await fullController?.kill();
    if (mounted) execFileSync('umount', [fullDir]);
    if (agent) await stopServedAgent(agent.agent).catch(() => {});
  });

  test('a healthy fleet: every check OK (slot, archive and drill skipped, saying why), exit 0; --nagios OK', async () => {
    const { code, results, text } = await check([], env, true);
    assert.equal(code, 0, text);
    assert.deepEqual(statusOf(results, 'a'), { agent: 'ok', ...HEALTHY_DIRECT });
    assert.deepEqual(statusOf(results, 'b'), HEALTHY_DIRECT);
    assert.match(messageOf(results, 'a', 'agent'), /^agent "db1" answers \(pgfleet-agent \S+, protocol 2\.\d+\)$/);
    assert.match(messageOf(results, 'a', 'replication'), /^connected for replication to "[^"]+" by agent "db1" \(PostgreSQL 15\.\d+, system \d+, timeline 1\)$/);
    assert.match(messageOf(results, 'b', 'replication'), /by the controller/);
    assert.equal(messageOf(results, 'b', 'wal_level'), 'wal_level is replica');
    assert.equal(messageOf(results, 'b', 'slot'), 'archive not configured');
    assert.equal(messageOf(results, 'b', 'drill'), 'no drills configured');
    assert.match(text, /^cluster "a"\n {2}agent: +OK \(agent "db1" answers/m);
    assert.match(text, /^ {2}archive: +SKIPPED \(archive not configured\)$/m);
    const nagios = await runCli(['check', '--nagios', '--insecure'], env);
    assert.equal(nagios.code, 0);
    assert.match(nagios.stdout, /^PGFLEET OK - 2 clusters, 17 checks passed \| clusters=2 checks=17 failed=0\n$/);
    // Only the named cluster.
    assert.deepEqual((await check(['b'])).results.map((r) => r.cluster), ['b']);
  });

  test('status and show: the fleet at a glance, one backup in detail', async () => {
    const status = await cliJson<{ clusters: Array<Record<string, unknown> & { name: string; lastBackup: Record<string, unknown> | null }> }>(['status', '--insecure'], env);
    for (const c of status.clusters) {
      assert.deepEqual([c.name, c['state'], c['problems'], c['nextRunAt'], c['wal'], c['drill'], c['lastFailure']],
        [c.name, 'ok', [], null, { available: false, reason: 'not configured' }, 'no drills configured', null]);
      assert.ok((c.lastBackup?.['ageSeconds'] as number) >= 0 && (c.lastBackup?.['sizeBytes'] as number) > 0);
    }
    const show = await cliJson<Record<string, unknown>>(['show', 'b', '--insecure'], env);
    assert.equal(show['id'], status.clusters.find((c) => c.name === 'b')?.lastBackup?.['id']);
    assert.deepEqual([show['previousId'], show['nextId'], show['status']], [null, null, 'ok']);
    assert.match(String(show['startWalFile']), /^00000001[0-9A-F]{16}$/);
    assert.ok((show['durationSeconds'] as number) > 0 && (show['throughputBytesPerSecond'] as number) > 0 && (show['walBytes'] as number) > 0);
    // Uncompressed: the data archives are stored as the server sent them.
    assert.ok(Math.abs((show['compressionRatio'] as number) - 1) < 0.01, String(show['compressionRatio']));
    const text = await runCli(['show', 'b', '--insecure'], env);
    assert.match(text.stdout, /^begin: +\S+ {2}WAL \S+ \(00000001\S+, timeline 1\)$/m);
  });

  test('no recent backup: the backup check fails naming its age and maxAge (maxAge lowered by SIGHUP)', async () => {
    await reload({ bMaxAge: '1s' });
    await new Promise((r) => setTimeout(r, 1100));
    const { code, results, text } = await check([], env, true);
    assert.equal(code, 1, text);
    assert.deepEqual(statusOf(results, 'b'), { ...HEALTHY_DIRECT, backup: 'failed' });
    assert.match(messageOf(results, 'b', 'backup'), /^newest usable backup \d{8}T\d{6}Z is \d+s old, more than maxAge 1s$/);
    assert.equal(statusOf(results, 'a')['backup'], 'ok');
    assert.match(text, /^ {2}backup: +FAILED \(newest usable backup/m);
    const nagios = await runCli(['check', '--nagios', '--insecure'], env);
    assert.equal(nagios.code, 2);
    assert.match(nagios.stdout, /^PGFLEET CRITICAL - 1 of 17 checks failed: b backup: newest usable backup \S+ is \d+s old, more than maxAge 1s \| clusters=2 checks=17 failed=1\n$/);
    await reload();
    assert.equal((await check()).code, 0);
  });

  test('server stopped: replication fails with the connection error, the checks that need it say so', async () => {
    await B.stop();
    try {
      const { code, results } = await check(['b']);
      assert.equal(code, 1);
      assert.deepEqual(statusOf(results, 'b'), { ...HEALTHY_DIRECT, replication: 'failed', wal_level: 'failed', wal_senders: 'failed' });
      assert.match(messageOf(results, 'b', 'replication'), /^could not connect/);
      assert.equal(messageOf(results, 'b', 'wal_level'), 'not checked: no replication connection');
      // A backup now fails, and the repository remembers why.
      assert.equal((await runCli(['backup', 'b', '--insecure'], env)).code, 40);
      const all = await cliJson<{ attempts: Array<{ cluster: string; status: string; trigger: string; error: { code: number; message: string } }> }>(['backups', 'b', '--all', '--insecure'], env);
      assert.deepEqual(all.attempts.map((x) => [x.cluster, x.status, x.trigger, x.error.code]), [['b', 'failed', 'request', 40]]);
      assert.match(all.attempts[0]?.error.message ?? '', /^could not connect/);
      const status = await cliJson<{ clusters: Array<{ name: string; state: string; problems: string[] }> }>(['status', '--insecure'], env);
      const b = status.clusters.find((c) => c.name === 'b');
      assert.equal(b?.state, 'warning');
      assert.match(b?.problems[0] ?? '', /^the last backup attempt failed: could not connect/);
    } finally {
      // On a new port: the file says so, and SIGHUP tells the daemon.
      await B.start();
      await reload();
    }
    const again = await check(['b']);
    assert.equal(again.code, 0, again.text);
  });

  test('b\'s WAL archive switched on by SIGHUP: slot and archive OK; a reload that changes nothing of it leaves it streaming', async () => {
    await reload({ bArchive: 'stream' });
    const r = await checkUntil('b\'s archive to stream', (x) => statusOf(x, 'b')['slot'] === 'ok' && statusOf(x, 'b')['archive'] === 'ok');
    assert.deepEqual(statusOf(r, 'b'), { ...HEALTHY_DIRECT, slot: 'ok', archive: 'ok' });
    assert.equal(messageOf(r, 'b', 'slot'), `replication slot "${SLOT}" is active`);
    assert.match(messageOf(r, 'b', 'archive'), /^streaming, \S+ \S+ and \d+s behind \(limit 5m 0s\)$/);
    // What arrives is durable within about a second, not only once its 16 MB segment is closed.
    await B.query("SELECT pg_logical_emit_message(false, 'pgfleet check', 'x')");
    const target = (await B.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn')).rows[0]?.lsn;
    await waitFor(`the archive's flushed position to reach ${target}`, async () => {
      const flushed = (await walOfB()).flushedLsn;
      return flushed !== null && (await B.query<{ ok: boolean }>('SELECT $1::pg_lsn >= $2::pg_lsn AS ok', [flushed, target])).rows[0]?.ok === true;
    }, 15_000);
    const before = await walOfB();
    assert.deepEqual([before.state, before.stalledSince], ['streaming', null]);
    await reload({ bArchive: 'stream', bMaxAge: '2h' });
    const after = await walOfB();
    assert.deepEqual([after.state, after.since], ['streaming', before.since]);
  });

  test('slot dropped: the slot check fails naming the slot and why the archive cannot create it; OK again once it can', async () => {
    // In one statement, well within the archive's 1 s pause before it reconnects: end its
    // walsender, drop the slot and take every free slot, so that the archive cannot create it.
    await B.query(`DO $$
      DECLARE n int;
      BEGIN
        PERFORM pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = '${SLOT}' AND active_pid IS NOT NULL;
        WHILE EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = '${SLOT}' AND active) LOOP PERFORM pg_sleep(0.01); END LOOP;
        PERFORM pg_drop_replication_slot('${SLOT}');
        SELECT current_setting('max_replication_slots')::int - count(*) INTO n FROM pg_replication_slots;
        FOR i IN 1..n LOOP PERFORM pg_create_physical_replication_slot('check_filler_' || i); END LOOP;
      END $$`);
    try {
      // Until the archive has tried to create the slot again, its last error is the termination.
      await checkUntil('the slot check to fail with the archive\'s failed attempt', (x) => {
        const message = messageOf(x, 'b', 'slot');
        return message.includes('does not exist') && message.includes('all replication slots are in use');
      });
      const { code, results, text } = await check([], env, true);
      assert.equal(code, 1, text);
      assert.deepEqual(statusOf(results, 'b'), { ...HEALTHY_DIRECT, slot: 'failed', archive: 'ok' });
      assert.deepEqual(statusOf(results, 'a'), { agent: 'ok', ...HEALTHY_DIRECT });
      assert.match(messageOf(results, 'b', 'slot'), new RegExp(`^replication slot "${SLOT}" does not exist on the server \\(the archive: .*all replication slots are in use.*\\)$`));
      assert.match(results.find((c) => c.cluster === 'b')?.checks.find((k) => k.name === 'slot')?.hint ?? '', /creates it again/);
      assert.match(text, new RegExp(`^ {2}slot: +FAILED \\(replication slot "${SLOT}" does not exist on the server`, 'm'));
      const nagios = await runCli(['check', '--nagios', '--insecure'], env);
      assert.equal(nagios.code, 2);
      assert.match(nagios.stdout, new RegExp(`^PGFLEET CRITICAL - 1 of 17 checks failed: b slot: replication slot "${SLOT}" does not exist on the server \\(the archive: [^|]+\\) \\| clusters=2 checks=17 failed=1\\n$`));
    } finally {
      await B.query("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name LIKE 'check_filler_%'");
    }
    // The archive's pause between attempts grows to 10 s.
    await checkUntil('the archive to create its slot again and stream', (x) => statusOf(x, 'b')['slot'] === 'ok' && statusOf(x, 'b')['archive'] === 'ok');
    assert.equal((await B.query(`SELECT 1 FROM pg_replication_slots WHERE slot_name = '${SLOT}' AND active`)).rowCount, 1);
  });

  test('archive stalled: the archive check fails with its lag once it is over maxArchiveLag; OK again once it streams', async () => {
    await reload({ bArchive: 'stream', maxArchiveLag: '2s' });
    // A pg_receivewal takes the slot while the archive pauses before reconnecting; the
    // archive's attempts then fail (the slot is active for another PID) while B writes WAL.
    receivewal = await takeSlot(B, SLOT);
    try {
      // WAL, and no table the restore at the end would miss.
      await B.query("SELECT pg_logical_emit_message(false, 'pgfleet check', repeat('x', 200000))");
      await checkUntil('the archive check to fail', (x) => statusOf(x, 'b')['archive'] === 'failed');
      const { code, results, text } = await check([], env, true);
      assert.equal(code, 1, text);
      // The slot is held, but not by the archive: nothing of it streams.
      assert.deepEqual(statusOf(results, 'b'), { ...HEALTHY_DIRECT, slot: 'failed', archive: 'failed' });
      assert.deepEqual(statusOf(results, 'a'), { agent: 'ok', ...HEALTHY_DIRECT });
      assert.match(messageOf(results, 'b', 'archive'), /^the archive is \d+s behind the server \(\S+ \S+; limit 2s\)$/);
      assert.match(messageOf(results, 'b', 'slot'), new RegExp(`^replication slot "${SLOT}" is not active: nothing streams from it \\(the archive: .*"${SLOT}" is active for PID \\d+\\)$`));
      assert.match(text, /^ {2}archive: +FAILED \(the archive is \d+s behind the server/m);
      const nagios = await runCli(['check', '--nagios', '--insecure'], env);
      assert.equal(nagios.code, 2);
      assert.match(nagios.stdout, /^PGFLEET CRITICAL - 2 of 17 checks failed: b slot: [^;|]+; b archive: the archive is \d+s behind the server \([^|]+\) \| clusters=2 checks=17 failed=2\n$/);
      // The stall counts from when the archive stopped streaming, through its reconnect attempts.
      const wal = await walOfB();
      assert.notEqual(wal.state, 'streaming');
      assert.ok(wal.stalledSince !== null && Date.now() - Date.parse(wal.stalledSince) >= 2000, JSON.stringify(wal));
      assert.ok(Date.parse(wal.stalledSince) <= Date.parse(wal.since), JSON.stringify(wal));
    } finally {
      receivewal?.kill();
    }
    await checkUntil('the archive to stream again', (x) => statusOf(x, 'b')['slot'] === 'ok' && statusOf(x, 'b')['archive'] === 'ok');
    assert.equal((await walOfB()).stalledSince, null);
    // Switched off again: SKIPPED, as before.
    await reload();
    const off = await check(['b']);
    assert.equal(off.code, 0);
    assert.deepEqual(statusOf(off.results, 'b'), HEALTHY_DIRECT);
  });

  test('repository full: not writable and below minFreeSpace', async () => {
    fullDir = path.join(work, 'full');
    await mkdir(fullDir);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=20m', 'tmpfs', fullDir]);
    mounted = true;
    const fullConfig = path.join(work, 'fleet-full.yaml');
    await writeFile(fullConfig, ['listen: 127.0.0.1:0', `repository: ${fullDir}`, 'insecure: true', 'checks: { minFreeSpace: 5MB }',
      'wal: { archive: none }', 'clusters:', `  - { name: b, conninfo: "${B.connectionString}" }`, ''].join('\n'));
    fullController = await startController(fullConfig);
    const fullEnv = { PGFLEET_CONTROLLER: fullController.address };
    assert.equal((await check([], fullEnv)).results[0]?.checks.find((k) => k.name === 'repository')?.status, 'ok');
    // Fill it up (dd stops at ENOSPC).
    try {
      execFileSync('dd', ['if=/dev/zero', `of=${path.join(fullDir, 'filler')}`, 'bs=1M', 'count=40'], { stdio: 'ignore' });
    } catch {
      // no space left: that is the point
    }
    const { code, results } = await check([], fullEnv);
    assert.equal(code, 1);
    assert.equal(statusOf(results, 'b')['repository'], 'failed');
    assert.match(messageOf(results, 'b', 'repository'), new RegExp(`^repository "${fullDir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}" is not writable: ENOSPC: no space left on device`));
    await fullController.stop();
    fullController = null;
  });

  test('agent stopped: the agent check fails, the server checks say why they did not run; `pgfleet agents` exits 40', async () => {
    await stopServedAgent((agent as ServedAgent).agent);
    agent = null;
    const { code, results, text } = await check();
    assert.equal(code, 1, text);
    assert.deepEqual(statusOf(results, 'a'), {
      agent: 'failed', replication: 'failed', wal_level: 'failed', wal_senders: 'failed', slot: 'skipped', archive: 'skipped', backup: 'ok', drill: 'skipped', repository: 'ok',
    });
    assert.match(messageOf(results, 'a', 'agent'), /agent "db1"/);
    assert.equal(messageOf(results, 'a', 'replication'), 'not checked: agent "db1" is unreachable');
    assert.deepEqual(statusOf(results, 'b'), HEALTHY_DIRECT);
    const agents = await runCli(['agents', '--insecure'], env);
    assert.equal(agents.code, 40, agents.stdout + agents.stderr);
    assert.match(agents.stdout, /db1 +\S+ +unreachable/);
  });

  test('the backup checked above restores by hand and holds the source data', async () => {
    const list = JSON.parse((await runCli(['backups', 'b', '--json', '--insecure'], env)).stdout) as Array<{ path: string }>;
    const target = await makeTempDir('ctl-check-restore');
    const restored = await restoreTarByHand({ backupDir: list[list.length - 1]?.path as string, targetDir: path.join(target, 'data') });
    const copy = await startRestored({ dataDir: restored.dataDir, version: 15, mode: 'promote' });
    try {
      assert.deepEqual(await copy.snapshot(), await B.snapshot());
    } finally {
      await copy.destroy();
    }
  });
});
