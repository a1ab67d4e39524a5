import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TarParser as StreamTarParser } from '../../src/archive/tar-parser.js';
import { SyncTarParser } from '../../src/archive/sync-tar-parser.js';
import type { ChunkKind, Streamer, TarMember } from '../../src/archive/streamer.js';
import { member, parserContract, serverStyleTar } from './tar-parser-contract.js';
import { Recorder, feed, patternBytes, sha256 } from './helpers.js';

// TarParser's contract, run against the in-place parser (TarParser's inputOwned tests aside: it
// copies nothing, and passes views of the input on while content() runs), plus a comparison of
// the two parsers' calls.
describe('SyncTarParser', () => {
  const fx = parserContract(SyncTarParser);

  /** Every call the parser makes on the next streamer, with a digest of its data. */
  class CallLog implements Streamer {
    readonly calls: unknown[] = [];
    private data: Buffer[] = [];
    async content(m: TarMember | null, data: Buffer, kind: ChunkKind): Promise<void> {
      // Contents in pieces of whatever size: one digest of them all, at the member's trailer.
      if (kind === 'contents') {
        this.data.push(Buffer.from(data));
        return;
      }
      if (kind === 'trailer') this.calls.push(sha256(Buffer.concat(this.data.splice(0))));
      this.calls.push([kind, m === null ? null : { ...m, mtime: m.mtime.toISOString() }, data.length]);
    }
    async finalize(): Promise<void> {}
    async dispose(): Promise<void> {}
  }

  it('makes the same calls as TarParser on GNU, pax, ustar and server-style archives', async () => {
    const server = serverStyleTar([
      { m: member('./', 'directory', 0, { rawName: './' }) },
      { m: member('pg_tblspc/16384', 'symlink', 0, { linkname: '/srv/ts' }) },
      { m: member('base/1/2', 'file', 70_000), data: patternBytes(70_000, 9) },
      { m: member('empty', 'file', 0) },
    ], { terminated: false });
    for (const [label, tar] of [['GNU', fx.gnuTar], ['pax', fx.paxTar], ['ustar', fx.ustarTar], ['server', server]] as const) {
      const a = new CallLog();
      await feed(new StreamTarParser(a), tar, 4096);
      const b = new CallLog();
      await feed(new SyncTarParser(b), tar, 4096);
      assert.deepEqual(b.calls, a.calls, label);
    }
  });

  it('applies backpressure: content() waits for a slow next streamer', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => { release = resolve; });
    const rec = new Recorder({ delay: (kind) => (kind === 'contents' ? gate : Promise.resolve()) });
    const parser = new SyncTarParser(rec);
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
    await assert.rejects(feed(new SyncTarParser(failing), fx.gnuTar, 4096), { message: 'disk full' });
  });

  it('disposes the next streamer once, even when disposed twice', async () => {
    const rec = new Recorder();
    const parser = new SyncTarParser(rec);
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
    const parser = new SyncTarParser(slow);
    await parser.content(null, archive, 'unknown');
    await new Promise((r) => setTimeout(r, 12)); // the first members are being passed on
    await parser.dispose();
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(calls, []);
  });
});
