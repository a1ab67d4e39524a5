// Direct I/O: aligned buffers, and DirectFile writing a new file past the page cache, byte for
// byte and to the byte, however its chunks come.
import assert from 'node:assert/strict';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DIRECT_BUFFER_BYTES, DIRECT_IO_ALIGNMENT, DirectFile, alignUp, allocAligned, openExclusive, writeAt, type DirectTarget } from '../../src/archive/direct-io.js';
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
        // A misaligned write would have been refused and gone on buffered.
        assert.equal(file.direct, true);
        await file.handle.sync();
        await file.handle.close();
        assert.equal(statSync(path).size, size, path);
        assert.ok(readFileSync(path).equals(data), path);
        assert.equal(statSync(path).mode & 0o777, 0o600);
      }
    }
  });

  it('a direct write the file system refuses (EINVAL) goes on buffered, on the same file, from the same position', async () => {
    const path = join(dir, 'refused');
    const opened = await openExclusive(path, 0o600, true);
    assert.equal(opened.direct, true);
    // The refusal is simulated on the real descriptor: no file system here refuses O_DIRECT.
    let refusals = 1;
    const real = opened.handle;
    const refusing = new Proxy(real, {
      get(target, prop, receiver) {
        if (prop === 'write' && refusals > 0) {
          return async (...args: unknown[]) => {
            refusals--;
            // Part of the write landed before the refusal: it must be cut off.
            await (target.write as (...a: unknown[]) => Promise<unknown>)(...args);
            throw Object.assign(new Error('EINVAL: invalid argument, write'), { code: 'EINVAL', errno: -22 });
          };
        }
        const value = Reflect.get(target, prop, receiver);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const target: DirectTarget = { path, handle: refusing, direct: true, position: 0 };
    const first = allocAligned(8192);
    patternBytes(8192, 5).copy(first);
    first.fill(0, 5000);
    let told = 0;
    await writeAt(target, first, 0, 5000, 8192, () => told++);
    assert.equal(told, 1);
    assert.equal(target.direct, false);
    assert.equal(target.position, 5000);
    const second = patternBytes(3000, 6);
    await writeAt(target, second, 0, 3000, 3000);
    await target.handle.close();
    assert.ok(readFileSync(path).equals(Buffer.concat([first.subarray(0, 5000), second])));
  });

  it('DirectFile: never overwrites a file that is there', async () => {
    const path = join(dir, 'existing');
    writeFileSync(path, 'keep me');
    await assert.rejects(DirectFile.create(path, 0o600), { code: 'EEXIST' });
    assert.equal(readFileSync(path, 'utf8'), 'keep me');
  });
});
