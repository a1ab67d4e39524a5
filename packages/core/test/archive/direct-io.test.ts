// Direct I/O: aligned buffers, and DirectFile writing a new file past the page cache, byte for
// byte and to the byte, however its chunks come.
import assert from 'node:assert/strict';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DIRECT_BUFFER_BYTES, DIRECT_IO_ALIGNMENT, DirectFile, alignUp, allocAligned } from '../../src/archive/direct-io.js';
import { nativeAddon } from '../../src/archive/native-addon.js';
import { patternBytes, removeDir, tempDir } from './helpers.js';

describe('direct I/O', () => {
  let dir: string;
  before(() => { dir = tempDir('direct-io'); });
  after(() => removeDir(dir));

  it('allocAligned: the first byte at a multiple of 4096, whatever the size', () => {
    for (const size of [1, 4096, 100_000, DIRECT_BUFFER_BYTES]) {
      const buf = allocAligned(size);
      assert.equal(buf.length, size);
      assert.equal(nativeAddon().alignmentOffset(buf, DIRECT_IO_ALIGNMENT), 0);
    }
    assert.equal(nativeAddon().alignmentOffset(allocAligned(8192).subarray(1), DIRECT_IO_ALIGNMENT), DIRECT_IO_ALIGNMENT - 1);
    assert.deepEqual([0, 1, 4096, 4097].map(alignUp), [0, 4096, 4096, 8192]);
  });

  it('DirectFile: every size and chunking comes out whole, written with O_DIRECT', async () => {
    const sizes = [0, 1, 4095, 4096, DIRECT_BUFFER_BYTES, DIRECT_BUFFER_BYTES + 1, 2 * DIRECT_BUFFER_BYTES + 12_345];
    for (const [i, size] of sizes.entries()) {
      for (const chunk of [65_537, 256 * 1024, DIRECT_BUFFER_BYTES + 3]) {
        const data = patternBytes(size, i + 3);
        const path = join(dir, `f-${size}-${chunk}`);
        const file = await DirectFile.create(path, 0o600);
        assert.equal(file.direct, true);
        for (let off = 0; off < data.length; off += chunk) await file.write(data.subarray(off, off + chunk));
        await file.end();
        await file.handle.sync();
        await file.handle.close();
        assert.equal(statSync(path).size, size, path);
        assert.ok(readFileSync(path).equals(data), path);
        assert.equal(statSync(path).mode & 0o777, 0o600);
      }
    }
  });

  it('DirectFile: never overwrites a file that is there', async () => {
    const path = join(dir, 'existing');
    writeFileSync(path, 'keep me');
    await assert.rejects(DirectFile.create(path, 0o600), { code: 'EEXIST' });
    assert.equal(readFileSync(path, 'utf8'), 'keep me');
  });
});
