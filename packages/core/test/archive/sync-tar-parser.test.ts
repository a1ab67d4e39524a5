import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TarParser as StreamTarParser } from '../../src/archive/tar-parser.js';
import { SyncTarParser } from '../../src/archive/sync-tar-parser.js';
import type { ChunkKind, Streamer, TarMember } from '../../src/archive/streamer.js';
import { member, parserContract, serverStyleTar } from './tar-parser-contract.js';
import { feed, patternBytes, sha256 } from './helpers.js';

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
});
