import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ArchiveFormatError } from '../../src/errors.js';
import { TarParser, normalizeMemberName } from '../../src/archive/tar-parser.js';
import type { TarMember } from '../../src/archive/streamer.js';
import { member, parserContract, serverStyleTar } from './tar-parser-contract.js';
import { Recorder, feed, patternBytes, sha256 } from './helpers.js';

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
    await fx.feedReusing(new TarParser(slow, { inputOwned: true }), big, 65536).catch(() => undefined);
    const got = slow.members.find((m) => m.member.name === 'big');
    assert.notEqual(got === undefined ? null : sha256(got.data), sha256(data));
  });

  it('applies backpressure: content() waits for a slow next streamer', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => { release = resolve; });
    const rec = new Recorder({ delay: (kind) => (kind === 'contents' ? gate : Promise.resolve()) });
    const parser = new TarParser(rec);
    const data = patternBytes(1 << 20, 7);
    const tar = serverStyleTar([{ m: member('big', 'file', data.length), data }], { terminated: true });
    let settled = false;
    const pending = parser.content(null, tar, 'unknown').then(() => { settled = true; });
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    assert.equal(settled, false, 'content() resolved while the next streamer was blocked');
    release();
    await pending;
    await parser.finalize();
    assert.deepEqual(rec.byName('big').data, data);
  });

  it('propagates an error of the next streamer and stops', async () => {
    const failing = new Recorder({ delay: async (kind) => { if (kind === 'contents') throw new Error('disk full'); } });
    await assert.rejects(feed(new TarParser(failing), fx.gnuTar, 4096), { message: 'disk full' });
  });

  it('disposes the next streamer once, even when disposed twice', async () => {
    const rec = new Recorder();
    const parser = new TarParser(rec);
    await parser.content(null, fx.gnuTar.subarray(0, 700), 'unknown');
    await parser.dispose();
    await parser.dispose();
    assert.equal(rec.disposed, 1);
  });

  it('dispose() returns only once the member being passed on has settled: nothing reaches the next streamer after it', async () => {
    const members = Array.from({ length: 20 }, (_, i) => ({ m: member(`f${i}`, 'file', 4), data: Buffer.from('data') }));
    const archive = serverStyleTar(members, { terminated: true });
    const calls: string[] = [];
    let disposed = false;
    const slow = {
      async content(m: TarMember | null, _data: Buffer, kind: string): Promise<void> {
        if (disposed) calls.push(`after dispose: ${kind} ${m?.name ?? ''}`);
        await new Promise((r) => setTimeout(r, 5));
      },
      async finalize(): Promise<void> {},
      async dispose(): Promise<void> { disposed = true; },
    };
    const parser = new TarParser(slow);
    await parser.content(null, archive, 'unknown');
    await new Promise((r) => setTimeout(r, 12)); // the first members are being passed on
    await parser.dispose();
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(calls, []);
  });
});
