// BASE_BACKUP responses of both protocol generations, built frame by frame, fed through the real
// MessageReader (whole, and split at every byte) into the real runner.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setImmediate as tick } from 'node:timers/promises';
import { receiveBaseBackup } from '../../src/replication/base-backup.js';
import { runCommand } from '../../src/replication/protocol-io.js';
import type { BaseBackupHandler } from '../../src/replication/base-backup-events.js';
import type { ReplicationSyntax } from '../../src/replication/base-backup-command.js';
import { ProtocolError, ServerError } from '../../src/errors.js';
import {
  commandComplete, copyData, copyDone, copyOutResponse, cstr, cut, dataRow, errorResponse, fakeIo, int64,
  noticeResponse, readyForQuery, resultSet, rowDescription,
} from './frames.js';

const tablespaceHeader = Buffer.concat([
  rowDescription(['spcoid', 'spclocation', 'size']),
  dataRow(['16384', '/srv/ts1', '10']),
  dataRow([null, null, '30']),
  commandComplete('SELECT'),
]);
const start = resultSet(['recptr', 'tli'], ['0/2000028', '1']);
const end = resultSet(['recptr', 'tli'], ['0/2000100', '1']);

const n = (name: string, path: string) => copyData(Buffer.concat([Buffer.from('n'), cstr(name), cstr(path)]));
const d = (text: string) => copyData(Buffer.concat([Buffer.from('d'), Buffer.from(text)]));
const p = (done: bigint) => copyData(Buffer.concat([Buffer.from('p'), int64(done)]));
const m = () => copyData(Buffer.from('m'));

const tail = Buffer.concat([commandComplete('BASE_BACKUP'), readyForQuery()]);
const modern = Buffer.concat([
  start, tablespaceHeader, noticeResponse('something'), copyOutResponse(),
  n('16384.tar', '/srv/ts1'), d('ts-part-1'), d('ts-part-2'), p(18n),
  n('base.tar', ''), d('base-1'), p(24n), m(), d('{"manifest"'), d(': 1}'), copyDone(),
  end, tail,
]);
/** The modern response up to (not including) the end-position result set / the final CommandComplete. */
const beforeEnd = modern.subarray(0, modern.length - tail.length - end.length);
const beforeFinal = modern.subarray(0, modern.length - tail.length);

const legacy = Buffer.concat([
  start, tablespaceHeader,
  copyOutResponse(), copyData(Buffer.from('ts-part-1')), copyData(Buffer.from('ts-part-2')), copyDone(),
  copyOutResponse(), copyData(Buffer.from('base-1')), copyDone(),
  copyOutResponse(), copyData(Buffer.from('{"manifest"')), copyData(Buffer.from(': 1}')), copyDone(),
  end, commandComplete('SELECT'), readyForQuery(),
]);

/** A handler that logs every call; async calls yield first, like a real sink would. */
function recorder(): { handler: BaseBackupHandler; log: string[] } {
  const log: string[] = [];
  const slow = async (entry: string) => {
    await tick();
    log.push(entry);
  };
  const handler: BaseBackupHandler = {
    onStart: (s) => slow(`start ${s.startLsn} tli ${s.timeline} ${JSON.stringify(s.tablespaces)}`),
    onArchiveStart: (name, ts) => slow(`archive ${name} oid ${ts.oid}`),
    onArchiveData: (data) => {
      log.push(`data ${data.every((b) => b === 0) ? `${data.length} zeros` : data.toString()}`);
    },
    onArchiveEnd: () => slow('archive end'),
    onManifestStart: () => slow('manifest'),
    onManifestData: (data) => slow(`manifest data ${data.toString()}`),
    onManifestEnd: () => slow('manifest end'),
    onProgress: (bytes) => {
      log.push(`progress ${bytes}`);
    },
    onEnd: (e) => slow(`end ${e.endLsn} tli ${e.timeline}`),
  };
  return { handler, log };
}

const startLine = 'start 0/2000028 tli 1 [{"oid":16384,"location":"/srv/ts1","sizeEstimate":10240},{"oid":null,"location":null,"sizeEstimate":30720}]';

const expectedModern = [
  startLine,
  'archive 16384.tar oid 16384', 'data ts-part-1', 'data ts-part-2', 'progress 18', 'archive end',
  'archive base.tar oid null', 'data base-1', 'progress 24', 'archive end',
  'manifest', 'manifest data {"manifest"', 'manifest data : 1}', 'manifest end',
  'end 0/2000100 tli 1',
];

const expectedLegacy = [
  startLine,
  'archive 16384.tar oid 16384', 'data ts-part-1', 'progress 9', 'data ts-part-2', 'progress 18', 'data 1024 zeros', 'archive end',
  'archive base.tar oid null', 'data base-1', 'progress 24', 'data 1024 zeros', 'archive end',
  'manifest', 'manifest data {"manifest"', 'manifest data : 1}', 'manifest end',
  'end 0/2000100 tli 1',
];

async function runOn(chunks: Buffer[], syntax: ReplicationSyntax, handler: BaseBackupHandler) {
  const io = fakeIo(chunks);
  const result = await runCommand(io, 'BASE_BACKUP', 'could not initiate base backup',
    (x, ctx) => receiveBaseBackup(x, syntax, handler, ctx));
  return { io, result };
}

test('servers 15+: one CopyOut with n/d/p/m messages', async () => {
  const { handler, log } = recorder();
  const { result } = await runOn([modern], 'options', handler);
  assert.deepEqual(log, expectedModern);
  assert.deepEqual(result.archives, ['16384.tar', 'base.tar']);
  assert.equal(result.manifest, true);
  assert.deepEqual(result.end, { endLsn: '0/2000100', timeline: 1 });
});

test('servers <= 14: one CopyOut per tablespace, trailer appended, manifest CopyOut', async () => {
  const { handler, log } = recorder();
  const { result } = await runOn([legacy], 'legacy', handler);
  assert.deepEqual(log, expectedLegacy);
  assert.deepEqual(result.archives, ['16384.tar', 'base.tar']);
  assert.equal(result.manifest, true);
});

test('both generations give the same calls whatever the chunking (every split point)', async () => {
  for (const [bytes, syntax, expected] of [[modern, 'options', expectedModern], [legacy, 'legacy', expectedLegacy]] as const) {
    for (let i = 0; i <= bytes.length; i++) {
      const { handler, log } = recorder();
      await runOn(cut(bytes, [i]), syntax, handler);
      assert.deepEqual(log, expected, `${syntax} split at ${i}`);
    }
  }
});

test('a legacy backup without manifest goes from the last archive to the end position', async () => {
  const bytes = Buffer.concat([
    start, rowDescription(['spcoid', 'spclocation', 'size']), dataRow([null, null, null]), commandComplete('SELECT'),
    copyOutResponse(), copyData(Buffer.from('x')), copyDone(),
    end, commandComplete('SELECT'), readyForQuery(),
  ]);
  const { handler, log } = recorder();
  const { result } = await runOn([bytes], 'legacy', handler);
  assert.equal(result.manifest, false);
  assert.deepEqual(log.slice(1), ['archive base.tar oid null', 'data x', 'progress 1', 'data 1024 zeros', 'archive end', 'end 0/2000100 tli 1']);
});

test('server errors name the phase they happened in and keep the SQLSTATE; onEnd only once the end position arrived', async () => {
  const cases: Array<[Buffer, string, string, boolean?]> = [
    [Buffer.concat([errorResponse('55000', 'WAL level not sufficient for making an online backup'), readyForQuery()]),
      'could not initiate base backup: WAL level not sufficient for making an online backup', '55000'],
    [Buffer.concat([start, errorResponse('XX000', 'boom'), readyForQuery()]),
      'could not get backup header: boom', 'XX000'],
    [Buffer.concat([start, tablespaceHeader, copyOutResponse(), n('16384.tar', '/srv/ts1'), d('x'),
      errorResponse('58P01', 'could not open file "base/1/2": No such file or directory'), readyForQuery()]),
      'could not read COPY data: could not open file "base/1/2": No such file or directory', '58P01'],
    [Buffer.concat([beforeEnd, errorResponse('XX000', 'no end'), readyForQuery()]),
      'could not get write-ahead log end position from server: no end', 'XX000'],
    [Buffer.concat([beforeFinal, errorResponse('XX001', 'checksum verification failure during base backup'), readyForQuery()]),
      'checksum error occurred: checksum verification failure during base backup', 'XX001', true],
    [Buffer.concat([beforeFinal, errorResponse('57P01', 'terminating connection'), readyForQuery()]),
      'final receive failed: terminating connection', '57P01', true],
  ];
  for (const [bytes, message, sqlState, endSeen] of cases) {
    const { handler, log } = recorder();
    await assert.rejects(runOn([bytes], 'options', handler), (err: unknown) => {
      assert.ok(err instanceof ServerError, `${message}: got ${String(err)}`);
      assert.equal(err.message, message);
      assert.equal(err.sqlState, sqlState);
      return true;
    });
    // pg_basebackup -v prints the end point before a final error too.
    assert.equal(log.some((l) => l.startsWith('end ')), endSeen === true, `onEnd for ${message}`);
  }
});

test('the last message before the checksum error is CommandComplete-free: data and the end position are all delivered', async () => {
  const bytes = Buffer.concat([beforeFinal, errorResponse('XX001', 'checksum verification failure during base backup'), readyForQuery()]);
  const { handler, log } = recorder();
  await assert.rejects(runOn([bytes], 'options', handler), { libpqText: 'checksum error occurred' });
  assert.deepEqual(log, expectedModern);
});

test('protocol violations abort the connection', async () => {
  const cases: Array<[Buffer, ReplicationSyntax, string]> = [
    [Buffer.concat([start, tablespaceHeader, copyOutResponse(), d('x')]), 'options',
      'unexpected payload data before the first archive'],
    [Buffer.concat([start, tablespaceHeader, copyOutResponse(), n('99.tar', '/elsewhere')]), 'options',
      'server sent archive "99.tar" for tablespace "/elsewhere", which is not in the backup header'],
    [Buffer.concat([start, tablespaceHeader, copyOutResponse(), n('base.tar', ''), copyDone(), end]), 'options',
      'server sent 1 archives for 2 tablespaces'],
    [Buffer.concat([start, tablespaceHeader, copyData(Buffer.from('x'))]), 'legacy',
      'unexpected CopyData message (1 bytes) while waiting for archive "16384.tar"'],
    [Buffer.concat([resultSet(['recptr', 'tli'], ['nonsense', '1'])]), 'options',
      'could not initiate base backup: invalid position "nonsense" on timeline "1"'],
    [Buffer.concat([start, rowDescription(['spcoid', 'spclocation', 'size']), dataRow(['1', '/a', null]), commandComplete('SELECT')]), 'options',
      'could not get backup header: the main data directory is not the last tablespace'],
  ];
  for (const [bytes, syntax, message] of cases) {
    const io = fakeIo([bytes]);
    const { handler } = recorder();
    await assert.rejects(runCommand(io, 'BASE_BACKUP', 'x', (x, ctx) => receiveBaseBackup(x, syntax, handler, ctx)), (err: unknown) => {
      assert.ok(err instanceof ProtocolError, String(err));
      assert.equal(err.message, message);
      return true;
    });
    assert.equal(io.aborted?.message, message);
  }
});

test('a handler error aborts the connection and propagates as is', async () => {
  const { handler } = recorder();
  const failing: BaseBackupHandler = { ...handler, onArchiveData: () => Promise.reject(new Error('disk full')) };
  const io = fakeIo([modern]);
  await assert.rejects(runCommand(io, 'BASE_BACKUP', 'x', (x, ctx) => receiveBaseBackup(x, 'options', failing, ctx)), {
    message: 'disk full',
  });
  assert.equal(io.aborted?.message, 'disk full');
});
