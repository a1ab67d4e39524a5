// ReplicationConnection against real servers: PostgreSQL 15 (option-list grammar, one CopyOut
// with n/d/p/m messages) and 14 (legacy grammar, one CopyOut per tablespace), and the mapping of
// every connection failure a user meets to a message and a HINT.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { chownOne, freePort, startCluster, versionsUnderTest, type TestCluster } from '../../../../test/harness/index.js';
import { ReplicationConnection } from '../../src/replication/connection.js';
import { verifyBackup } from '../../src/verify/verify-backup.js';
import type { BaseBackupHandler, BaseBackupOptions, TablespaceInfo } from '../../src/replication/base-backup-events.js';
import {
  AuthenticationError, ConnectError, HbaRejectedError, NotSupportedError, PgFleetError, PrivilegeError,
  ServerError, TooManyConnectionsError,
} from '../../src/errors.js';

const backupOptions: BaseBackupOptions = {
  label: "pgfleet's test",
  progress: true,
  checkpoint: 'fast',
  wal: false,
  wait: false,
  maxRateKbPerSec: null,
  tablespaceMap: true,
  verifyChecksums: true,
  manifest: 'yes',
  manifestChecksums: 'CRC32C',
  compression: null,
};

interface Captured {
  dir: string;
  archives: Array<{ name: string; tablespace: TablespaceInfo; file: string; bytes: number }>;
  manifest: Buffer;
  progress: number[];
  events: string[];
}

/** A handler that writes each archive to a file in `dir` and keeps the manifest. */
function fileHandler(dir: string, delayEvery = 0): { handler: BaseBackupHandler; captured: Captured } {
  const captured: Captured = { dir, archives: [], manifest: Buffer.alloc(0), progress: [], events: [] };
  let chunks: Buffer[] = [];
  let manifest: Buffer[] = [];
  let count = 0;
  const handler: BaseBackupHandler = {
    onStart: (s) => { captured.events.push(`start ${s.timeline}`); },
    onArchiveStart: (name, tablespace) => {
      captured.events.push(`archive ${name}`);
      chunks = [];
      captured.archives.push({ name, tablespace, file: join(dir, name), bytes: 0 });
    },
    onArchiveData: async (data) => {
      chunks.push(Buffer.from(data));
      if (delayEvery > 0 && ++count % delayEvery === 0) await sleep(2);
    },
    onArchiveEnd: () => {
      const a = captured.archives.at(-1)!;
      const bytes = Buffer.concat(chunks);
      a.bytes = bytes.length;
      writeFileSync(a.file, bytes);
      captured.events.push('archive end');
    },
    onManifestStart: () => { captured.events.push('manifest'); manifest = []; },
    onManifestData: (data) => { manifest.push(Buffer.from(data)); },
    onManifestEnd: () => { captured.manifest = Buffer.concat(manifest); captured.events.push('manifest end'); },
    onProgress: (n) => { captured.progress.push(n); },
    onEnd: (e) => { captured.events.push(`end ${e.timeline}`); },
  };
  return { handler, captured };
}

function tarList(file: string): string[] {
  return execFileSync('tar', ['-tf', file], { encoding: 'utf8' }).split('\n').filter((l) => l !== '');
}

const tmpDirs: string[] = [];
function tmp(): string {
  const dir = mkdtempSync(join(tmpdir(), 'pgfleet-repl-'));
  tmpDirs.push(dir);
  return dir;
}
after(() => {
  for (const d of tmpDirs) rmSync(d, { recursive: true, force: true });
});

// One server of each protocol generation by default; PGFLEET_TEST_VERSIONS selects others.
const versions = process.env['PGFLEET_TEST_VERSIONS'] ? versionsUnderTest() : [15, 14] as const;

for (const version of versions) {
  describe(`PostgreSQL ${version}`, () => {
    let cluster: TestCluster;
    before(async () => {
      cluster = await startCluster({ version, tablespaces: 1, data: { rows: 2000 } });
    });
    after(async () => {
      await cluster?.destroy();
    });
    const connect = (extra: object = {}) => ReplicationConnection.connect({ host: '127.0.0.1', port: cluster.port, user: 'postgres', ...extra });

    test('connects with a URI; version, grammar, pid and effective parameters', async () => {
      const conn = await ReplicationConnection.connect(`postgresql://postgres@127.0.0.1:${cluster.port}/postgres?application_name=pgfleet-test`);
      try {
        assert.equal(Math.floor(conn.serverVersionNum / 10000), version);
        assert.equal(conn.syntax, version >= 15 ? 'options' : 'legacy');
        assert.ok(conn.backendPid > 0);
        assert.equal(conn.target, `127.0.0.1:${cluster.port}`);
        assert.equal(conn.parameterStatus('integer_datetimes'), 'on');
        const params = conn.connectionParameters();
        assert.equal(params['user'], 'postgres');
        assert.equal(params['host'], '127.0.0.1');
        assert.equal(params['port'], String(cluster.port));
        assert.equal(params['application_name'], 'pgfleet-test');
        const seen = await cluster.query<{ application_name: string; backend_type: string }>(
          'SELECT application_name, backend_type FROM pg_stat_activity WHERE pid = $1', [conn.backendPid]);
        assert.deepEqual(seen.rows[0], { application_name: 'pgfleet-test', backend_type: 'walsender' });
      } finally {
        await conn.close();
      }
    });

    test('a keyword/value string; the default application name is pgfleet; Unix socket connections work', async () => {
      const conn = await ReplicationConnection.connect(`host='${cluster.host}' port=${cluster.port} user=postgres`);
      try {
        assert.equal(conn.target, `${cluster.host}/.s.PGSQL.${cluster.port}`);
        const seen = await cluster.query<{ application_name: string }>('SELECT application_name FROM pg_stat_activity WHERE pid = $1', [conn.backendPid]);
        assert.equal(seen.rows[0]?.application_name, 'pgfleet');
      } finally {
        await conn.close();
      }
    });

    test('IDENTIFY_SYSTEM, SHOW, TIMELINE_HISTORY errors keep the connection usable', async () => {
      const conn = await connect();
      try {
        const id = await conn.identifySystem();
        const expected = await cluster.query<{ system_identifier: string }>('SELECT system_identifier::text FROM pg_control_system()');
        assert.equal(id.systemId, expected.rows[0]?.system_identifier);
        assert.equal(id.timeline, 1);
        assert.match(id.xlogPos, /^[0-9A-F]+\/[0-9A-F]+$/);
        assert.equal(id.dbName, null);
        assert.equal(await conn.walSegmentSize(), 16 * 1024 * 1024);
        assert.equal(await conn.show('data_directory_mode'), '0700');
        await assert.rejects(conn.timelineHistory(1), (err: unknown) => {
          assert.ok(err instanceof ServerError);
          assert.equal(err.message, 'could not send replication command "TIMELINE_HISTORY": could not open file "pg_wal/00000001.history": No such file or directory');
          assert.equal(err.sqlState, '58P01');
          return true;
        });
        await assert.rejects(conn.show('no_such_setting'), { name: 'ServerError', message: 'could not send replication command "SHOW": unrecognized configuration parameter "no_such_setting"' });
        assert.equal((await conn.identifySystem()).systemId, id.systemId, 'still usable after errors');
      } finally {
        await conn.close();
      }
    });

    test('replication slots: create (temporary and permanent), read, drop, duplicate', async () => {
      const conn = await connect();
      try {
        const temp = await conn.createReplicationSlot(`pg_basebackup_${conn.backendPid}`, { temporary: true });
        assert.equal(temp.slotName, `pg_basebackup_${conn.backendPid}`);
        const slot = await conn.createReplicationSlot('pgfleet_test_slot');
        const rows = await cluster.query<{ slot_name: string; temporary: boolean; restart_lsn: string | null }>(
          'SELECT slot_name, temporary, restart_lsn::text FROM pg_replication_slots ORDER BY slot_name');
        assert.deepEqual(rows.rows.map((r) => [r.slot_name, r.temporary, r.restart_lsn !== null]),
          [[`pg_basebackup_${conn.backendPid}`, true, true], ['pgfleet_test_slot', false, true]]);
        assert.equal(slot.slotName, 'pgfleet_test_slot');
        await assert.rejects(conn.createReplicationSlot('pgfleet_test_slot'), (err: unknown) => {
          assert.ok(err instanceof ServerError);
          assert.equal(err.sqlState, '42710');
          assert.equal(err.message, 'could not send replication command "CREATE_REPLICATION_SLOT": replication slot "pgfleet_test_slot" already exists');
          return true;
        });
        if (version >= 15) {
          const info = await conn.readReplicationSlot('pgfleet_test_slot');
          assert.equal(info?.slotType, 'physical');
          assert.equal(info?.restartTimeline, 1);
          assert.match(info?.restartLsn ?? '', /^[0-9A-F]+\/[0-9A-F]+$/);
          assert.equal(await conn.readReplicationSlot('no_such_slot'), null);
        } else {
          await assert.rejects(conn.readReplicationSlot('pgfleet_test_slot'), { name: 'NotSupportedError' });
        }
        await conn.dropReplicationSlot('pgfleet_test_slot', { wait: true });
        await assert.rejects(conn.createReplicationSlot('Bad-Name'), {
          name: 'InvalidOptionError', message: 'replication slot name "Bad-Name" contains invalid character',
        });
      } finally {
        await conn.close();
      }
      // The temporary slot went away with the connection.
      for (let i = 0; i < 50; i++) {
        const left = await cluster.query('SELECT 1 FROM pg_replication_slots');
        if (left.rowCount === 0) break;
        await sleep(20);
      }
      assert.equal((await cluster.query('SELECT 1 FROM pg_replication_slots')).rowCount, 0);
    });

    // Both reading modes: a new buffer per socket read, and recycled slabs (what runBaseBackup uses).
    for (const recycleReadBuffers of [false, true]) {
      const mode = { recycleReadBuffers };
      const suffix = recycleReadBuffers ? ' (recycled read buffers)' : '';
      test(`BASE_BACKUP${suffix}: archives tar can list, terminated, manifest, tablespace info`, async () => {
        const dir = tmp();
        const conn = await connect(mode);
        try {
          const { handler, captured } = fileHandler(dir);
          const result = await conn.baseBackup(backupOptions, handler);
          const ts = cluster.tablespaces[0]!;
          assert.deepEqual(result.archives, [`${ts.oid}.tar`, 'base.tar']);
          assert.deepEqual(captured.events, [
            'start 1', `archive ${ts.oid}.tar`, 'archive end', 'archive base.tar', 'archive end', 'manifest', 'manifest end', 'end 1',
          ]);
          assert.deepEqual(captured.archives.map((a) => [a.tablespace.oid, a.tablespace.location]), [[ts.oid, ts.location], [null, null]]);
          assert.ok(captured.archives.every((a) => (a.tablespace.sizeEstimate ?? 0) > 0), 'PROGRESS gives size estimates');
          const base = tarList(join(dir, 'base.tar'));
          assert.equal(base[0], 'backup_label');
          assert.ok(base.includes('tablespace_map'));
          assert.ok(base.includes('global/pg_control'));
          assert.ok(tarList(join(dir, `${ts.oid}.tar`)).some((n) => n.startsWith(`PG_${version}_`)));
          for (const a of captured.archives) {
            const bytes = execFileSync('tail', ['-c', '1024', a.file]);
            assert.ok(bytes.length === 1024 && bytes.every((b) => b === 0), `${a.name} ends with two zero blocks`);
            assert.equal(a.bytes % 512, 0);
          }
          const label = execFileSync('tar', ['-xOf', join(dir, 'base.tar'), 'backup_label'], { encoding: 'utf8' });
          assert.match(label, /^LABEL: pgfleet's test$/m);
          assert.match(label, new RegExp(`^START WAL LOCATION: ${result.start.startLsn.replace('/', '\\/')} `, 'm'));
          const manifest = captured.manifest.toString('utf8');
          assert.match(manifest, version >= 17
            ? /^\{ "PostgreSQL-Backup-Manifest-Version": 2,\n"System-Identifier": \d+,\n"Files": \[/
            : /^\{ "PostgreSQL-Backup-Manifest-Version": 1,\n"Files": \[/);
          assert.match(manifest, /"Manifest-Checksum": "[0-9a-f]{64}"\}\n$/);
          assert.ok(captured.progress.length > 0);
          const total = captured.archives.reduce((s, a) => s + a.bytes, 0);
          const last = captured.progress.at(-1)!;
          assert.ok(last > 0 && last <= total, `progress ${last} of ${total}`);
          assert.ok(result.end.endLsn !== result.start.startLsn);
          assert.equal((await conn.identifySystem()).timeline, 1, 'usable after the backup');
          // Every file's checksum matches the manifest: no byte was lost or overwritten.
          writeFileSync(join(dir, 'backup_manifest'), captured.manifest);
          const verified = await verifyBackup(dir, { format: 'tar', checkWal: false });
          assert.deepEqual(verified.problems, []);
          assert.ok(verified.filesMatched > 900, `${verified.filesMatched} files checked`);
        } finally {
          await conn.close();
        }
      });

      test(`backpressure${suffix}: a slow handler keeps the read queue bounded`, async () => {
        const dir = tmp();
        const highWaterBytes = 128 * 1024;
        const conn = await connect({ highWaterBytes, ...mode });
        try {
          const { handler } = fileHandler(dir, 4);
          await conn.baseBackup({ ...backupOptions, manifest: 'no', progress: false }, handler);
          assert.ok(conn.readerStats.pauses > 0, 'the socket was paused');
          assert.ok(conn.readerStats.maxQueuedBytes <= highWaterBytes + 128 * 1024, `max queued ${conn.readerStats.maxQueuedBytes}`);
          if (recycleReadBuffers) assert.ok(conn.readerStats.slabsAllocated <= 8, `${conn.readerStats.slabsAllocated} slabs`);
          else assert.equal(conn.readerStats.slabsAllocated, 0);
        } finally {
          await conn.close();
        }
      });
    }

    if (version < 15) {
      test('server-side compression needs 15', async () => {
        const conn = await connect();
        try {
          await assert.rejects(conn.baseBackup({ ...backupOptions, compression: { method: 'gzip', detail: null } }, fileHandler(tmp()).handler),
            (err: unknown) => err instanceof NotSupportedError && err.message === `server version ${version} does not support server-side compression`);
        } finally {
          await conn.close();
        }
      });
    } else {
      test('server-side compression: the server names the archives', async () => {
        const dir = tmp();
        const conn = await connect();
        try {
          const { handler } = fileHandler(dir);
          const result = await conn.baseBackup({ ...backupOptions, compression: { method: 'gzip', detail: '1' } }, handler);
          assert.deepEqual(result.archives, [`${cluster.tablespaces[0]!.oid}.tar.gz`, 'base.tar.gz']);
          assert.ok(tarList(join(dir, 'base.tar.gz')).includes('global/pg_control'));
        } finally {
          await conn.close();
        }
      });
    }

    test('START_REPLICATION streams WAL from a segment start and stops on request', async () => {
      // Some flushed WAL past the segment start, so that there is something to stream.
      await cluster.query('SET synchronous_commit = on; CREATE TABLE wal_gen (x int); INSERT INTO wal_gen VALUES (1)');
      const conn = await connect();
      try {
        const id = await conn.identifySystem();
        const pos = BigInt(`0x${id.xlogPos.split('/')[0]}`) << 32n | BigInt(`0x${id.xlogPos.split('/')[1]}`);
        const start = pos - (pos % (16n * 1024n * 1024n));
        let received = 0;
        let first: bigint | null = null;
        const stream = await conn.startReplication({ startLsn: start, timeline: 1, statusIntervalMs: 100 }, {
          onXLogData: (m, s) => {
            first ??= m.dataStart;
            received += m.data.length;
            if (m.dataStart + BigInt(m.data.length) >= pos) s.stop();
          },
        });
        // Right after a backup the flush position may sit exactly on a segment boundary:
        // then there is nothing to wait for, and the stop comes from outside the handler.
        if (start === pos) stream.stop();
        const end = await stream.done;
        assert.equal(first, start);
        assert.equal(end.reason, 'stopped');
        assert.ok(end.position >= pos);
        assert.equal(BigInt(received), end.position - start);
        assert.equal((await conn.identifySystem()).systemId, id.systemId, 'usable after streaming');
      } finally {
        await conn.close();
      }
    });
  });
}

describe('connection failures (PostgreSQL 15)', () => {
  let cluster: TestCluster;
  before(async () => {
    cluster = await startCluster({
      version: 15,
      settings: ['max_wal_senders = 1'],
      hba: [
        'local all         all                 trust',
        'host  all         postgres 127.0.0.1/32 trust',
        'host  replication pwuser   127.0.0.1/32 scram-sha-256',
        'host  replication norepl   127.0.0.1/32 trust',
        'host  replication postgres 127.0.0.1/32 trust',
      ],
    });
    await cluster.query(`
      CREATE ROLE pwuser LOGIN REPLICATION PASSWORD 'right';
      CREATE ROLE norepl LOGIN;
      CREATE ROLE stranger LOGIN REPLICATION;
    `);
  });
  after(async () => {
    await cluster?.destroy();
  });

  const attempt = async (options: object): Promise<PgFleetError> => {
    try {
      const conn = await ReplicationConnection.connect({ host: '127.0.0.1', port: cluster.port, ...options });
      await conn.close();
    } catch (err) {
      assert.ok(err instanceof PgFleetError, String(err));
      return err;
    }
    assert.fail('connected unexpectedly');
  };

  test('pg_hba.conf has no replication line for the user', async () => {
    const err = await attempt({ user: 'stranger' });
    assert.ok(err instanceof HbaRejectedError);
    assert.equal(err.message, `could not connect for replication to "127.0.0.1:${cluster.port}": no pg_hba.conf entry for replication connection from host "127.0.0.1", user "stranger", no encryption`);
    assert.equal(err.hint, 'Add a line such as "host replication stranger 127.0.0.1/32 scram-sha-256" to pg_hba.conf and reload the server.');
    assert.equal(err.code, 42);
  });

  test('wrong password (SCRAM); the right one works, from the option, PGPASSWORD or a password file', async () => {
    const err = await attempt({ user: 'pwuser', password: 'wrong' });
    assert.ok(err instanceof AuthenticationError);
    assert.equal(err.message, `could not connect for replication to "127.0.0.1:${cluster.port}": password authentication failed for user "pwuser"`);
    assert.equal(err.hint, 'Check the password given in the connection string, with PGPASSWORD or in the password file.');

    const conn = await ReplicationConnection.connect({ connectionString: `host=127.0.0.1 port=${cluster.port} user=pwuser password=right` });
    assert.equal(conn.connectionParameters()['password'], 'right');
    await conn.close();

    const dir = tmp();
    const passfile = join(dir, 'pgpass');
    writeFileSync(passfile, `127.0.0.1:${cluster.port}:replication:pwuser:right\n`);
    chmodSync(passfile, 0o600);
    const saved = process.env['PGPASSWORD'];
    delete process.env['PGPASSWORD'];
    try {
      const viaFile = await ReplicationConnection.connect({ host: '127.0.0.1', port: cluster.port, user: 'pwuser', passfile });
      assert.equal(viaFile.connectionParameters()['passfile'], passfile);
      assert.equal(viaFile.connectionParameters()['password'], undefined);
      await viaFile.close();
      process.env['PGPASSWORD'] = 'right';
      const viaEnv = await ReplicationConnection.connect({ host: '127.0.0.1', port: cluster.port, user: 'pwuser', passfile: join(dir, 'none') });
      await viaEnv.close();
      delete process.env['PGPASSWORD'];
      const missing = await attempt({ user: 'pwuser', passfile: join(dir, 'none'), passwordPrompt: 'never' });
      assert.ok(missing instanceof AuthenticationError);
      assert.equal(missing.message, `could not connect for replication to "127.0.0.1:${cluster.port}": no password supplied`);
      const prompted = await ReplicationConnection.connect({
        host: '127.0.0.1', port: cluster.port, user: 'pwuser', passfile: join(dir, 'none'), promptPassword: async () => 'right',
      });
      await prompted.close();
    } finally {
      if (saved === undefined) delete process.env['PGPASSWORD'];
      else process.env['PGPASSWORD'] = saved;
    }
  });

  test('role without REPLICATION', async () => {
    const err = await attempt({ user: 'norepl' });
    assert.ok(err instanceof PrivilegeError);
    assert.equal(err.message, `could not connect for replication to "127.0.0.1:${cluster.port}": must be superuser or replication role to start walsender`);
    assert.equal(err.hint, 'Give the role the REPLICATION attribute with ALTER ROLE norepl REPLICATION, or connect as a role that has it.');
  });

  test('every WAL sender in use (max_wal_senders = 1)', async () => {
    const first = await ReplicationConnection.connect({ host: '127.0.0.1', port: cluster.port, user: 'postgres' });
    try {
      const err = await attempt({ user: 'postgres' });
      assert.ok(err instanceof TooManyConnectionsError);
      assert.equal(err.message, `could not connect for replication to "127.0.0.1:${cluster.port}": number of requested standby connections exceeds max_wal_senders (currently 1)`);
      assert.equal(err.hint, 'Raise max_wal_senders on the server (a backup that streams WAL uses two WAL senders), or wait until other replication connections end.');
    } finally {
      await first.close();
    }
  });

  test('nothing listens on the port; no socket file; timeout', async () => {
    const port = await freePort();
    const refused = await attempt({ port, user: 'postgres' });
    assert.ok(refused instanceof ConnectError);
    assert.equal(refused.message, `could not connect for replication to "127.0.0.1:${port}": connection refused`);
    assert.equal(refused.hint, `Check that the server is running on host "127.0.0.1" and accepts TCP/IP connections on port ${port}.`);

    const noSocket = await attempt({ host: '/nonexistent-pgfleet', port: 5432, user: 'postgres' });
    assert.ok(noSocket instanceof ConnectError);
    assert.equal(noSocket.message, 'could not connect for replication to "/nonexistent-pgfleet/.s.PGSQL.5432": no such file or directory');
    assert.equal(noSocket.hint, 'Check that the server is running locally and accepts connections on the Unix-domain socket "/nonexistent-pgfleet/.s.PGSQL.5432".');

    // A listener that never answers: connect_timeout applies.
    const net = await import('node:net');
    const silent = net.createServer(() => undefined);
    silent.listen(0, '127.0.0.1');
    await new Promise((r) => silent.once('listening', r));
    const silentPort = (silent.address() as { port: number }).port;
    try {
      const timedOut = await attempt({ port: silentPort, user: 'postgres', connect_timeout: 1, sslmode: 'disable' });
      assert.ok(timedOut instanceof ConnectError);
      assert.equal(timedOut.message, `could not connect for replication to "127.0.0.1:${silentPort}": timeout expired`);
    } finally {
      silent.close();
    }
  });

  test('sslmode=require against a server without SSL', async () => {
    const err = await attempt({ user: 'postgres', sslmode: 'require' });
    assert.ok(err instanceof ConnectError);
    assert.equal(err.message, `could not connect for replication to "127.0.0.1:${cluster.port}": server does not support SSL, but SSL was required`);
  });

  test('an abort signal cancels a connection in use', async () => {
    const controller = new AbortController();
    const conn = await ReplicationConnection.connect({ host: '127.0.0.1', port: cluster.port, user: 'postgres', signal: controller.signal });
    const id = await conn.identifySystem();
    const stream = await conn.startReplication({ startLsn: id.xlogPos, timeline: 1 }, { onXLogData: () => undefined });
    setTimeout(() => controller.abort('SIGINT'), 50);
    await assert.rejects(stream.done, {
      name: 'CancelledError', message: `replication connection to "127.0.0.1:${cluster.port}" was cancelled (SIGINT)`,
    });
    assert.equal(conn.isClosed, true);
  });
});

describe('TLS (PostgreSQL 15 with ssl = on)', () => {
  let cluster: TestCluster;
  let certDir: string;
  before(async () => {
    certDir = tmp();
    for (const [name, cn] of [['server', '127.0.0.1'], ['other', 'other-ca']] as const) {
      execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', `/CN=${cn}`,
        '-addext', `subjectAltName=IP:127.0.0.1`, '-keyout', join(certDir, `${name}.key`), '-out', join(certDir, `${name}.crt`)],
      { stdio: 'ignore' });
    }
    cluster = await startCluster({
      version: 15,
      hba: [
        'local     all         all                   trust',
        'host      all         postgres 127.0.0.1/32 trust',
        'hostnossl replication plainonly 127.0.0.1/32 trust',
        'host      replication postgres  127.0.0.1/32 trust',
      ],
    });
    // The server reads its key as the PostgreSQL OS user and wants it private.
    for (const f of ['server.crt', 'server.key']) {
      execFileSync('cp', [join(certDir, f), join(cluster.dataDir, f)]);
      chmodSync(join(cluster.dataDir, f), 0o600);
      await chownOne(join(cluster.dataDir, f));
    }
    writeFileSync(join(cluster.dataDir, 'postgresql.auto.conf'), "ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n");
    await chownOne(join(cluster.dataDir, 'postgresql.auto.conf'));
    await cluster.stop();
    await cluster.start();
    await cluster.query('CREATE ROLE plainonly LOGIN REPLICATION');
  });
  after(async () => {
    await cluster?.destroy();
  });

  const sslInUse = async (conn: ReplicationConnection): Promise<boolean> => {
    const r = await cluster.query<{ ssl: boolean }>('SELECT ssl FROM pg_stat_ssl WHERE pid = $1', [conn.backendPid]);
    return r.rows[0]?.ssl ?? false;
  };
  const open = (extra: object) => ReplicationConnection.connect({ host: '127.0.0.1', port: cluster.port, user: 'postgres', ...extra });

  test('sslmode prefer (the default) uses TLS when the server offers it; disable does not', async () => {
    const preferred = await open({});
    assert.equal(await sslInUse(preferred), true);
    assert.equal(preferred.connectionParameters()['sslmode'], 'prefer');
    assert.ok((await preferred.identifySystem()).systemId.length > 0, 'commands work over TLS');
    await preferred.close();
    const plain = await open({ sslmode: 'disable' });
    assert.equal(await sslInUse(plain), false);
    await plain.close();
  });

  test('prefer falls back to plain text when pg_hba.conf rejects the TLS connection (hostnossl)', async () => {
    const conn = await open({ user: 'plainonly' });
    assert.equal(await sslInUse(conn), false);
    await conn.close();
    const err = await ReplicationConnection.connect({ host: '127.0.0.1', port: cluster.port, user: 'plainonly', sslmode: 'require' })
      .then(() => null, (e: unknown) => e);
    assert.ok(err instanceof HbaRejectedError);
    assert.equal((err as Error).message, `could not connect for replication to "127.0.0.1:${cluster.port}": no pg_hba.conf entry for replication connection from host "127.0.0.1", user "plainonly", SSL encryption`);
  });

  test('verify-full and verify-ca check the certificate against sslrootcert', async () => {
    const full = await open({ sslmode: 'verify-full', sslrootcert: join(certDir, 'server.crt') });
    assert.equal(await sslInUse(full), true);
    await full.close();
    const ca = await open({ sslmode: 'verify-ca', sslrootcert: join(certDir, 'server.crt') });
    await ca.close();
    const err = await open({ sslmode: 'verify-full', sslrootcert: join(certDir, 'other.crt') }).then(() => null, (e: unknown) => e);
    assert.ok(err instanceof ConnectError, String(err));
    assert.equal((err as Error).message, `could not connect for replication to "127.0.0.1:${cluster.port}": SSL error: self-signed certificate`);
    assert.equal((err as ConnectError).hint, 'Check the server certificate against sslrootcert, or choose an sslmode that does not verify it.');
  });
});

