import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ArchiveFormatError } from '../../src/errors.js';
import { TarParser, normalizeMemberName } from '../../src/archive/tar-parser.js';
import { member, parserContract, serverStyleTar } from './tar-parser-contract.js';
import { Recorder, feed, feedReusing, patternBytes, sha256 } from './helpers.js';

describe('normalizeMemberName', () => {
  it('strips leading "./" and trailing "/"', () => {
    assert.equal(normalizeMemberName('./pg_wal/archive_status/'), 'pg_wal/archive_status');
    assert.equal(normalizeMemberName('pg_tblspc/16384/'), 'pg_tblspc/16384');
    assert.equal(normalizeMemberName('././a'), 'a');
    assert.equal(normalizeMemberName('./'), '.');
    assert.equal(normalizeMemberName('backup_label'), 'backup_label');
  });
});

describe('TarParser', () => {
  const fx = parserContract(TarParser);

  it('inputOwned: the buffers handed over are parsed as they are, with the same result as a copy', async () => {
    for (const [label, archive] of [['GNU', fx.gnuTar], ['pax', fx.paxTar], ['ustar', fx.ustarTar]] as const) {
      for (const slice of [undefined, 321, 1]) {
        const copied = new Recorder();
        await feed(new TarParser(copied), archive, slice);
        const owned = new Recorder();
        // Fresh buffers, as a caller that hands them over passes them.
        await feed(new TarParser(owned, { inputOwned: true }), Buffer.from(archive), slice);
        fx.checkTree(owned, `${label}/${slice ?? 'whole'} owned`);
        assert.deepEqual(fx.parsed(owned), fx.parsed(copied), `${label}/${slice ?? 'whole'}`);
      }
    }
    // And its errors are the same.
    const cut = fx.gnuTar.subarray(0, 2000);
    const error = await feed(new TarParser(new Recorder()), cut).then(() => null, (e: unknown) => e);
    assert.ok(error instanceof ArchiveFormatError);
    await assert.rejects(feed(new TarParser(new Recorder(), { inputOwned: true }), Buffer.from(cut)), { message: error.message });
  });

  it('inputOwned really skips the copy: a buffer written again after content() shows in what is parsed', async () => {
    // The contract's other side, so that the test above can fail: without the copy, tar-stream
    // still holds the caller's buffer when content() returns.
    const data = patternBytes(300_000, 3);
    const big = serverStyleTar([{ m: member('big', 'file', data.length), data }], { terminated: true });
    const slow = new Recorder({ delay: () => new Promise((r) => setImmediate(r)) });
    await feedReusing(new TarParser(slow, { inputOwned: true }), big, 65536).catch(() => undefined);
    const got = slow.members.find((m) => m.member.name === 'big');
    assert.notEqual(got === undefined ? null : sha256(got.data), sha256(data));
  });
});
