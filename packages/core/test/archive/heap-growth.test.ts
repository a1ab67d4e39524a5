import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';

const moduleUrl = new URL('../../src/archive/heap-growth.ts', import.meta.url).href;

/** growHeapForStreaming()'s answer in a fresh node process started with `nodeArgs`. */
function growInChild(nodeArgs: string[]): boolean {
  const script = `import { growHeapForStreaming } from ${JSON.stringify(moduleUrl)}; console.log(JSON.stringify(growHeapForStreaming()));`;
  const out = execFileSync(process.execPath, [...nodeArgs, '--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: fileURLToPath(new URL('../..', import.meta.url)),
    encoding: 'utf8',
  });
  return JSON.parse(out.trim()) as boolean;
}

describe('growHeapForStreaming', () => {
  it('sets the heap growing factor of a process started without one', () => {
    assert.equal(growInChild([]), true);
  });

  it('leaves an operator\'s own --heap-growing-percent alone', () => {
    assert.equal(growInChild(['--heap-growing-percent=30']), false);
  });
});
