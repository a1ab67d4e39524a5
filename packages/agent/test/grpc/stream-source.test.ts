import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { describe, test } from 'node:test';
import { ArchiveFormatError, InvalidOptionError, ProtocolError } from '@pgfleet/core';
import type { RestoreRequest__Output } from '@pgfleet/proto';
import { StreamBackupSource } from '../../src/grpc/stream-source.js';
import { makeTar, RecordingStreamer } from '../helpers/fixtures.js';

function messages(list: RestoreRequest__Output[]): AsyncIterator<RestoreRequest__Output> {
  return (async function* () {
    yield* list;
  })();
}

/** The file id of the messages built last (each begin() starts the next). */
let fileId = 0;
const begin = (name: string, size = 0): RestoreRequest__Output => {
  fileId += 1;
  return { item: 'fileBegin', fileBegin: { name, size: String(size), tablespaceOid: 0, tablespaceLocation: '', fileId } };
};
const data = (b: Buffer): RestoreRequest__Output => ({ item: 'data', data: { fileId, chunk: b } });
const end = (): RestoreRequest__Output => ({ item: 'fileEnd', fileEnd: { fileId } });
const file = (name: string, size = 0) => ({ name, size: String(size) });

/** Chunks of at most n bytes. */
function chunks(b: Buffer, n: number): RestoreRequest__Output[] {
  const out: RestoreRequest__Output[] = [];
  for (let i = 0; i < b.length; i += n) out.push(data(b.subarray(i, i + n)));
  return out;
}

async function collect(source: StreamBackupSource): Promise<RecordingStreamer[]> {
  const sinks: RecordingStreamer[] = [];
  await source.stream(async () => {
    const s = new RecordingStreamer();
    sinks.push(s);
    return s;
  }, () => undefined);
  return sinks;
}

describe('StreamBackupSource', () => {
  test('manifest first, then archives decompressed and parsed as they arrive, in any chunking', async () => {
    const base = gzipSync(await makeTar([{ name: 'PG_VERSION', body: '15\n' }, { name: 'backup_label', body: 'x' }]));
    const wal = await makeTar([{ name: '000000010000000000000001', body: 'w' }]);
    for (const size of [1, 7, 512, 100_000]) {
      const source = new StreamBackupSource([file('backup_manifest'), file('base.tar.gz', base.length), file('pg_wal.tar')], messages([
        begin('backup_manifest'), data(Buffer.from('{"PostgreSQL-Backup-Manifest-Version": 1,')), data(Buffer.from('...}')), end(),
        begin('base.tar.gz', base.length), ...chunks(base, size), end(),
        begin('pg_wal.tar'), ...chunks(wal, size), end(),
      ]), 'test');
      assert.deepEqual(source.archives.map((a) => [a.name, a.compression, a.size]), [['base.tar.gz', 'gzip', base.length], ['pg_wal.tar', 'none', null]]);
      assert.equal((await source.readManifest())?.toString(), '{"PostgreSQL-Backup-Manifest-Version": 1,...}');
      const [b, w] = await collect(source);
      assert.deepEqual(b?.names, ['PG_VERSION', 'backup_label']);
      assert.equal(b?.contents('PG_VERSION'), '15\n');
      assert.deepEqual(w?.names, ['000000010000000000000001']);
    }
  });

  test('the announced list must be complete and ordered', () => {
    const bad: Array<[Array<{ name: string; size: string }>, string]> = [
      [[file('16384.tar'), file('base.tar')], 'the files of a restore stream must come in the order backup_manifest, base.tar, <oid>.tar by OID, pg_wal.tar'],
      [[file('base.tar'), file('backup_manifest')], '"backup_manifest" must be the first file of a restore stream'],
      [[file('pg_wal.tar')], 'a restore stream needs a base.tar'],
      [[file('base.tar'), file('notes.txt')], 'file "notes.txt" does not belong in a restore stream'],
      [[file('base.tar'), file('base.tar')], 'file "base.tar" is announced twice'],
    ];
    for (const [files, message] of bad) {
      assert.throws(() => new StreamBackupSource(files, messages([]), 't'), (err: unknown) => err instanceof InvalidOptionError && err.message === message, message);
    }
  });

  test('the stream must keep to the announcement', async () => {
    const tar = await makeTar([{ name: 'PG_VERSION', body: '15\n' }]);
    const cases: Array<[RestoreRequest__Output[], new (...a: never[]) => Error, string]> = [
      [[begin('other.tar')], ProtocolError, 'the restore stream sent file "other.tar" where "base.tar" was announced'],
      [[data(tar)], ProtocolError, 'the restore stream sent "data" where the start of "base.tar" was expected'],
      [[begin('base.tar'), data(tar)], ProtocolError, 'the restore stream from t ended while "base.tar" was being received'],
      [[begin('base.tar'), data(tar), begin('x')], ProtocolError, 'the restore stream sent "fileBegin" inside file "base.tar"'],
      [[begin('base.tar'), data(tar.subarray(0, 100)), end()], ArchiveFormatError, `file "base.tar" of the restore stream has 100 bytes, but ${tar.length} were announced`],
      [[begin('base.tar'), data(tar), end(), data(tar)], ProtocolError, 'the restore stream sent "data" after its last announced file'],
    ];
    for (const [list, Cls, message] of cases) {
      const source = new StreamBackupSource([file('base.tar', tar.length)], messages(list), 't');
      await assert.rejects(collect(source), (err: unknown) => err instanceof Cls && (err as Error).message === message, message);
    }
  });
});
