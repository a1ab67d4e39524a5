/**
 * untilAborted(): a promise raced against an AbortSignal. Reading the next message of a gRPC
 * stream waits for the peer, possibly forever (a client that stalls); a cancelled call or the
 * agent's shutdown must not wait with it. The abandoned promise is left to settle on its own
 * (the call it belongs to is being ended anyway); its rejection is swallowed.
 */

export async function untilAborted<T>(promise: Promise<T>, signal: AbortSignal | undefined, error: () => Error): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) {
    promise.catch(() => undefined);
    throw error();
  }
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = (): void => reject(error());
    signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    return await Promise.race([promise, aborted]);
  } finally {
    if (onAbort) signal.removeEventListener('abort', onAbort);
    promise.catch(() => undefined);
  }
}
