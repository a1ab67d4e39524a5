// Polling for a condition in end-to-end tests: a server or a tool gets somewhere in its own time.

import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Waits until `check` holds, polling every 50 ms; fails naming `what` after `timeoutMs` (30 s),
 * with what `context` tells then (a tool's output, say) so that the failure can be understood.
 */
export async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 30_000,
  context: () => string = () => ''): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}\n${context()}`.trimEnd());
    await sleep(50);
  }
}
